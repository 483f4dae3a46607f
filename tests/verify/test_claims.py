"""Processes sharing one results file train each run once: claims with leases (verify.runs.store).

The subprocesses run the real command line with ``verify.width.sweep.train_job`` wrapped to log every training
(pid, width, seeds) to a file, so the count comes from the trainings themselves, not from what the commands
report.  A barrier in the first training makes the two processes overlap for certain on a busy machine.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from tests.cli.helpers import ENV, ROOT
from theory.config import resolve
from verify.lr.search import SearchSettings
from verify.lr.sweep import run_lr_sweep
from verify.lr.train import LrSettings
from verify.runs.store import Store

VERIFY = ["verify", "sp", "--widths", "16,32,64,128", "--seeds", "2", "--steps", "1", "--base-width", "16", "--json"]
RUNS = {(w, s) for w in (16, 32, 64, 128) for s in (0, 1)}

# argv: log file, barrier folder, parties at the barrier, "hang" to stop forever in the first training
# (a claimer to kill), lease seconds, then the command line
LOGGED = """
import os, sys, time, pathlib
import verify.runs.store as store
import verify.width.sweep as sweep
log, barrier, parties, mode, lease = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3]), \\
    sys.argv[4], float(sys.argv[5])
store.LEASE_SECONDS = lease
real, first = sweep.train_job, [True]
def logged(job):
    if first[0]:
        first[0] = False
        (barrier / str(os.getpid())).touch()
        end = time.time() + 120
        while len(list(barrier.iterdir())) < parties and time.time() < end:
            time.sleep(0.02)
        while mode == "hang":
            time.sleep(1)
    with log.open("a") as handle:
        handle.write(f"{os.getpid()} {job.width} {' '.join(map(str, job.seeds))}\\n")
    return real(job)
sweep.train_job = logged
from abcscale.cli import main
sys.exit(main(sys.argv[6:]))
"""


def _start(tmp: Path, db: Path, parties: int, mode: str = "train", lease: float = 120) -> subprocess.Popen[str]:
    (tmp / "barrier").mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", LOGGED, str(tmp / "trainings.log"), str(tmp / "barrier"),
                             str(parties), mode, str(lease), *VERIFY, "--db", str(db)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _trainings(tmp: Path) -> list[tuple[int, int, int]]:
    """(pid, width, seed) of every training the wrapped processes ran."""
    log = tmp / "trainings.log"
    lines = log.read_text().split("\n") if log.exists() else []
    return [(int(pid), int(width), int(seed)) for pid, width, *seeds in (line.split() for line in lines if line)
            for seed in seeds]


def test_two_concurrent_verify_processes_train_each_run_once(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    procs = [_start(tmp_path, db, parties=2) for _ in range(2)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outs.append(json.loads(out))
    trainings = _trainings(tmp_path)
    per_run = Counter((width, seed) for _, width, seed in trainings)
    assert set(per_run) == RUNS and set(per_run.values()) == {1}  # every run trained, once in total
    by_pid = Counter(pid for pid, _, _ in trainings)
    assert set(by_pid) == {p.pid for p in procs}  # the barrier made them overlap: both trained some
    for proc, out in zip(procs, outs, strict=True):  # each reports what it trained; it read the rest
        assert len(RUNS) - out["resumed_runs"] == by_pid[proc.pid]
    assert outs[0]["rows"] == outs[1]["rows"]  # the same stored runs, the same slopes
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(RUNS)


def test_a_killed_claimers_runs_are_retrained_by_the_next_run(tmp_path: Path) -> None:
    """SIGKILL in the middle of a training: nothing is released, yet the next run trains those runs, at once
    (the claimer's pid is gone from this host; another host would wait out the 120 s lease, as the in-process
    tests in test_store.py show with a short one)."""
    db = tmp_path / "killed.db"
    claimer = _start(tmp_path, db, parties=1, mode="hang")
    try:
        end = time.time() + 120
        while not list((tmp_path / "barrier").iterdir()) and time.time() < end and claimer.poll() is None:
            time.sleep(0.05)
        assert claimer.poll() is None, claimer.stderr.read() if claimer.stderr else ""
        with sqlite3.connect(db) as conn:  # it holds the widest width's runs, mid-training
            held = conn.execute("SELECT key, owner FROM claims").fetchall()
        assert sorted(json.loads(key)[2:] for key, _ in held) == [[128, 0], [128, 1]]
        assert {owner.split("@")[0] for _, owner in held} == {str(claimer.pid)}
    finally:
        os.killpg(claimer.pid, signal.SIGKILL)
        claimer.communicate()
    start = time.perf_counter()
    rerun = _start(tmp_path, db, parties=1)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert json.loads(out)["resumed_runs"] == 0  # the killed process wrote nothing; its claims expired
    per_run = Counter((width, seed) for pid, width, seed in _trainings(tmp_path))
    assert set(per_run) == RUNS and set(per_run.values()) == {1}
    assert time.perf_counter() - start < 60  # well inside the lease: the dead owner was seen at once
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


LR_SETTINGS = LrSettings(steps=3, batch_size=8, base_width=8, eval_size=32, probe_size=8, input_dim=8)
LR_SEARCH = SearchSettings(start_lr=0.5, precision=1.5, grid_points=1)


def test_two_lr_sweeps_as_two_owners_train_each_run_once(tmp_path: Path) -> None:
    """Two drivers under different owners (as two processes would be) share one file: each (width, seed, lr)
    is trained once in total and both searches end where a lone sweep does."""
    param = resolve("sp", loss="ce")
    widths, seeds = [8, 16, 32], [0, 1]
    with Store(tmp_path / "alone.db") as alone:
        reference = run_lr_sweep(param, LR_SETTINGS, widths, seeds, alone, search=LR_SEARCH, progress=False)
    trained: list[tuple[int, int, float]] = []
    results = {}

    def sweep(name: str) -> None:
        with Store(tmp_path / "shared.db") as store:
            store.owner = name
            results[name] = run_lr_sweep(param, LR_SETTINGS, widths, seeds, store, search=LR_SEARCH, progress=False,
                                         poll=0.02, on_result=lambda r: trained.extend(
                                             (r.width, rec.seed, rec.lr) for rec in r.records))

    threads = [threading.Thread(target=sweep, args=(f"{i}@test/owner",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(Counter(trained).values()) == {1}  # no run trained twice
    with sqlite3.connect(tmp_path / "shared.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM lr_runs").fetchone()[0] == len(trained)
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    first, second = results.values()
    assert first.trained > 0 and second.trained > 0  # the work was shared
    for res in (first, second):
        assert {w: r.optimal for w, r in res.results.items()} == {w: r.optimal for w, r in reference.results.items()}
        assert {w: [e.max_stable for e in r.edges.values()] for w, r in res.results.items()} == \
            {w: [e.max_stable for e in r.edges.values()] for w, r in reference.results.items()}
