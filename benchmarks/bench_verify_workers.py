"""``abcscale check sp --loss ce`` (the README's job) with ``--workers 1`` and ``--workers 2``: wall time of the
whole command and whether both print the same verdicts; and the two measurements behind the choice
``--workers 2`` makes for it.

Each command runs as the user runs it (a fresh process, a fresh ``--db`` in its own directory), ``--repeat``
times in alternating order; the fastest and the median run of each are shown, and the load average before and
after (the machine may be shared).  ``--workers 1`` trains in the command's process with torch's default
threads.  ``--workers 2`` first models the job's single-threaded work (``verify.width.cost``: about 0.6 s) and
starts a LocalCluster only if two workers could repay its start-up (``verify.runs.plan.cluster_pays``); for this
job they cannot, so it trains in the command's process too.  The third setting forces the cluster (2 forked,
single-threaded workers, width 1024's 8 seeds split 4 + 4) to show what it would cost: the same command
through ``python -c`` with ``uses_cluster`` patched to say yes.

``--model`` adds the evidence for the two constants: the cluster's cost (importing distributed, starting 2
forked workers, one task, closing; ``CLUSTER_SECONDS``) and, for one job of each kind, the modelled
single-threaded seconds (``verify.width.cost.job_seconds``) next to the measured ones (1 torch thread, best
of 2).

Run: python benchmarks/bench_verify_workers.py [--repeat 5] [--model]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMAND = ["check", "sp", "--loss", "ce"]
FORCED = ("import sys; import verify.runs.executors as e, verify.width.check as c; "
          "c.uses_cluster = e.uses_cluster = lambda workers, work=None: workers > 1; "
          "from abcscale.cli import main; sys.exit(main(sys.argv[1:]))")
SETTINGS = {"--workers 1": ["-m", "abcscale", *COMMAND, "--workers", "1"],
            "--workers 2": ["-m", "abcscale", *COMMAND, "--workers", "2"],
            "--workers 2, cluster forced": ["-c", FORCED, *COMMAND, "--workers", "2"]}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv: list[str]) -> tuple[float, str]:
    """(seconds, stdout) of one command in a fresh directory."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *argv], cwd=folder, env=env, capture_output=True, text=True,
                              check=False)
        seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    return seconds, done.stdout


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


CLUSTER = ("import time, torch; start = time.perf_counter(); from verify.runs.executors import executor_for\n"
           "with executor_for(2, cluster=True) as executor: executor.submit(abs, -1).result()\n"
           "print(time.perf_counter() - start)")


def cluster_seconds() -> float:
    """From importing distributed to a closed 2-worker LocalCluster that ran one task, in a fresh process that
    has imported torch (as the command has when it starts a cluster)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", CLUSTER], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout)


def model_table() -> list[str]:
    """Modelled against measured single-threaded seconds of one job of each kind."""
    import torch

    from verify.options import parametrization, trainable
    from verify.runs.runtime import tune_allocator
    from verify.width.check import _gpt_settings, choose_lr_exponent
    from verify.width.cost import job_seconds
    from verify.width.train import Job, TrainSettings, train_job

    tune_allocator()
    torch.set_num_threads(1)
    cases = [("sp", "sgd", "ce", 1024, 8), ("sp", "sgd", "ce", 128, 8), ("mup", "adam", "mse", 1024, 8),
             ("sp", "signsgd", "ce", 512, 8), ("sp", "muon", "ce", 512, 8), ("gpt-mup", "adam", "ce", 256, 16),
             ("gpt-sp", "sgd", "ce", 128, 16)]
    lines = [f"{'job (3 steps)':34s} {'modelled s':>10s} {'measured s':>10s}"]
    for name, optimizer, loss, width, seeds in cases:
        param, _ = choose_lr_exponent(trainable(parametrization(name, optimizer=optimizer, loss=loss)), None)
        settings = (_gpt_settings(param, steps=3, batch_size=None, base_width=None, lr=None, data="pydoc")
                    if param.network is not None else TrainSettings(steps=3, base_width=128, batch_size=1))
        job = Job(param=param, width=width, seeds=tuple(range(seeds)), settings=settings)
        measured = []
        for _ in range(2):
            start = time.perf_counter()
            train_job(job)
            measured.append(time.perf_counter() - start)
        lines.append(f"{f'{name} {optimizer} {loss} n={width} {seeds} seeds':34s} "
                     f"{job_seconds(param, settings, width, seeds):10.2f} {min(measured):10.2f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per setting (default 5)")
    parser.add_argument("--model", action="store_true", help="also measure the cluster's cost and the job model")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    outputs: dict[str, set[str]] = {name: set() for name in SETTINGS}
    before = load()
    names = list(SETTINGS)
    for rep in range(args.repeat):
        for name in (names if rep % 2 == 0 else names[::-1]):
            seconds, out = run(SETTINGS[name])
            times[name].append(seconds)
            header, _, rows = out.partition("\n")
            outputs[name].add(rows)
            if name == "--workers 2":
                note = header.partition("data synthetic; ")[2]
    after = load()
    best = {name: min(t) for name, t in times.items()}
    median = {name: statistics.median(t) for name, t in times.items()}
    verdict = next(iter(outputs["--workers 1"])).strip().splitlines()[-1]
    print(f"command: abcscale {' '.join(COMMAND)}; {args.repeat} runs each, alternating")
    print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
    print(f"--workers 2 says: {note or 'a cluster'}")
    print(f"{'setting':27s} {'fastest s':>9s} {'median s':>8s}")
    for name in SETTINGS:
        print(f"{name:27s} {best[name]:9.2f} {median[name]:8.2f}")
    for name in names[1:]:
        print(f"{name} / --workers 1 (above 1: faster): median wall time x{median['--workers 1'] / median[name]:.2f}, "
              f"fastest x{best['--workers 1'] / best[name]:.2f}")
    same = len(set.union(*outputs.values())) == 1
    print(f"identical rows and verdicts on every run of every setting: {same} ({verdict})")
    if args.model:
        costs = [cluster_seconds() for _ in range(3)]
        print(f"2-worker LocalCluster, import to close (3 runs): {', '.join(f'{c:.2f}' for c in costs)} s")
        print("\n".join(model_table()))


if __name__ == "__main__":
    main()
