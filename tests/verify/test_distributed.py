"""LR sweeps on a real Dask LocalCluster (two worker processes on 127.0.0.1) against the serial executor,
resumption after a worker or the whole driver is killed mid-sweep, and a task that kills every worker."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import torch

from theory.config import resolve
from verify.lr.search import SearchSettings
from verify.lr.sweep import SweepResult, run_lr_sweep
from verify.lr.train import LrSettings
from verify.runs.executors import executor_for
from verify.runs.store import Store

pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[2]
SETTINGS = LrSettings(steps=5, batch_size=8, base_width=8, eval_size=64, probe_size=16, input_dim=8)
SEARCH = SearchSettings(start_lr=0.5, precision=1.3, grid_points=3)
CLI_FLAGS = ["lr-sweep", "sp", "--widths", "16,32,64,128", "--seeds", "2", "--steps", "150", "--base-width", "16",
             "--precision", "1.1", "--grid-points", "3", "--json"]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The workers run single-threaded; so does the serial reference (identical float reductions)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _summary(sweep: SweepResult) -> dict[int, tuple[list[float | None], dict[int, float | None]]]:
    return {w: ([e.max_stable for e in r.edges.values()], r.optimal) for w, r in sweep.results.items()}


@pytest.mark.slow
def test_local_cluster_matches_the_serial_executor(tmp_path: Path, one_thread: None) -> None:
    param = resolve("sp", loss="ce")
    widths, seeds = [8, 16, 256], [0, 1, 2]
    serial_store = Store(tmp_path / "serial.db")
    serial = run_lr_sweep(param, SETTINGS, widths, seeds, serial_store, search=SEARCH, progress=False)
    dask_store = Store(tmp_path / "dask.db")
    with executor_for(workers=2) as executor:
        assert type(executor).__name__ == "DaskExecutor"
        pids = set(executor.client.run(os.getpid).values())  # type: ignore[attr-defined]
        threads = set(executor.client.run(torch.get_num_threads).values())  # type: ignore[attr-defined]
        dask = run_lr_sweep(param, SETTINGS, widths, seeds, dask_store, search=SEARCH, executor=executor,
                            in_flight=2, progress=False)
    assert len(pids) == 2 and os.getpid() not in pids and threads == {1}
    assert dask.parts[256] == 2 and serial.parts[256] == 1  # the widest width's seeds went to both workers
    assert _summary(dask) == _summary(serial)  # the same search path and grid, seed by seed
    assert dask.runs_trained == serial.runs_trained and len(set(dask.keys)) == len(dask.keys)
    rows = "SELECT width, seed, lr, final_loss, diverged_step FROM lr_runs ORDER BY width, seed, lr"
    assert dask_store.conn.execute(rows).fetchall() == serial_store.conn.execute(rows).fetchall()
    serial_store.close()
    dask_store.close()


def _start(db: Path, workers: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "abcscale", *CLI_FLAGS, "--db", str(db), "--workers",
                             str(workers)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _runs(db: Path) -> list[tuple[int, int, float]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT width, seed, lr FROM lr_runs ORDER BY width, seed, lr").fetchall()


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM lr_runs").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _wait_rows(db: Path, at_least: int, proc: subprocess.Popen[str], timeout: float = 300) -> int:
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        rows = _rows(db)
        if rows >= at_least:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"sweep did not reach {at_least} stored runs (exit {proc.poll()})")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The uninterrupted sweep on the same two single-threaded workers (like for like, bit for bit); its
    stored runs under "runs"."""
    db = tmp_path_factory.mktemp("ref") / "ref.db"
    done = subprocess.run([sys.executable, "-m", "abcscale", *CLI_FLAGS, "--db", str(db), "--workers", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    return {**json.loads(done.stdout), "runs": _runs(db)}


def _same_sweep(out: dict, ref: dict) -> None:
    for key in ("max_stable_exponent", "optimal_exponent"):
        assert out[key] == ref[key]
    for mine, theirs in zip(out["widths_detail"], ref["widths_detail"], strict=True):
        assert mine["max_stable_per_seed"] == theirs["max_stable_per_seed"]
        assert mine["optimal_per_seed"] == theirs["optimal_per_seed"]


def _workers(pid: int) -> list[psutil.Process]:
    """The LocalCluster's worker processes: the driver's children (forked on Linux, spawned elsewhere)."""
    return [c for c in psutil.Process(pid).children() if "resource_tracker" not in " ".join(c.cmdline())]


@pytest.mark.slow
def test_killed_worker_loses_nothing(tmp_path: Path, reference: dict) -> None:
    """SIGKILL to one of the two workers mid-sweep: the nanny restarts it, Dask reruns its task elsewhere, and
    the sweep prints exactly the undisturbed result, with exactly its stored runs, none twice."""
    db = tmp_path / "w.db"
    proc = _start(db, workers=2)
    try:
        _wait_rows(db, 8, proc)
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        before = _rows(db)
        os.kill(workers[0].pid, signal.SIGKILL)  # Dask's nanny restarts it; its task is rescheduled
        out_text, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (0, 1), err
    out = json.loads(out_text)
    assert before < _rows(db)  # killed mid-sweep: trainings were still to come
    mine = {k: v for k, v in out.items() if k != "db"}
    theirs = {k: v for k, v in reference.items() if k not in ("db", "runs")}
    assert mine == theirs  # the final table, every field: exponents, per-seed etas, trainings, trained, reused
    runs = _runs(db)
    assert runs == reference["runs"] and len(set(runs)) == len(runs)  # the same runs, each stored once


@pytest.mark.slow
def test_killed_driver_resumes_on_rerun(tmp_path: Path, reference: dict) -> None:
    db = tmp_path / "d.db"
    proc = _start(db, workers=2)
    try:
        _wait_rows(db, 8, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its cluster and its workers, all at once
        proc.wait()
    kept = _rows(db)
    assert kept >= 8
    rerun = subprocess.run([sys.executable, "-m", "abcscale", *CLI_FLAGS, "--db", str(db), "--workers", "2"],
                           cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode in (0, 1), rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["reused"] >= kept and out["trained"] > 0  # finished trainings were not repeated
    _same_sweep(out, reference)


DIE = """
import os
import sys

import verify.lr.sweep


def die(job):
    os._exit(3)  # what an out-of-memory kill looks like to Dask


if __name__ == "__main__":
    verify.lr.sweep.train_lr_job = die
    from abcscale.cli import main

    sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_task_that_kills_every_worker_is_one_line_exit_2(tmp_path: Path) -> None:
    """Every training kills its worker: after Dask's allowed failures the CLI names the task in one line (no
    traceback, no Dask log), exits 2 and leaves no claim and no half-written run behind."""
    script = tmp_path / "die.py"
    script.write_text(DIE, encoding="utf-8")
    db = tmp_path / "die.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    done = subprocess.run([sys.executable, str(script), *CLI_FLAGS, "--db", str(db), "--workers", "2"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("abcscale: error: task lr-train-") and "(lr-sweep training at width 128" in lines[0]
    assert "killed every worker that ran it (2 in a row)" in lines[0]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM lr_runs").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_scheduler_and_workers_started_by_hand_give_the_same_sweep(tmp_path: Path, reference: dict) -> None:
    """docs/distributed.md's recipe on one machine: ``dask scheduler``, ``dask worker`` with 2 single-threaded
    processes, then ``--scheduler``: the same table and the same stored runs as ``--workers 2``."""
    import distributed

    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    host, port = address.removeprefix("tcp://").split(":")
    started = [subprocess.Popen([dask, "scheduler", "--host", host, "--port", port, "--no-dashboard"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        started.append(subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                         "--no-dashboard"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True))
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        db = tmp_path / "h.db"
        done = subprocess.run([sys.executable, "-m", "abcscale", *CLI_FLAGS, "--db", str(db), "--scheduler", address],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        for proc in reversed(started):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    assert done.returncode in (0, 1), done.stderr
    out = json.loads(done.stdout)
    theirs = {k: v for k, v in reference.items() if k not in ("db", "runs")}
    assert {k: v for k, v in out.items() if k != "db"} == theirs and _runs(db) == reference["runs"]
