"""``abcscale check sp --loss ce`` (the README's job) with ``--workers 1`` and ``--workers 2``: wall time of the
whole command and whether both print the same verdicts.

Each command runs as the user runs it (a fresh process, a fresh ``--db`` in its own directory), ``--repeat``
times in alternating order; the fastest and the median run of each are shown, and the load average before and
after (the machine may be shared).  ``--workers 1`` trains in the command's process with torch's default
threads; ``--workers 2`` starts a LocalCluster of 2 single-threaded workers (forked on Linux) and splits width
1024's 8 seeds over both (``verify.runs.plan``).  The job trains for about 0.6 s of its 2.4 s on an idle
machine (the rest: Python, torch's import, the fits); the cluster costs about 0.4 s (importing distributed,
starting and closing it), so on an idle machine the fastest ``--workers 1`` run can win, while with other
jobs running the in-process run's two torch threads lose far more than that.

Run: python benchmarks/bench_verify_workers.py [--repeat 5]
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


def run(workers: int) -> tuple[float, str]:
    """(seconds, stdout) of one command in a fresh directory."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "abcscale", *COMMAND, "--workers", str(workers)], cwd=folder,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    return seconds, done.stdout


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per setting (default 5)")
    args = parser.parse_args(argv)
    times: dict[int, list[float]] = {1: [], 2: []}
    outputs: dict[int, set[str]] = {1: set(), 2: set()}
    before = load()
    for rep in range(args.repeat):
        for workers in ((1, 2) if rep % 2 == 0 else (2, 1)):
            seconds, out = run(workers)
            times[workers].append(seconds)
            outputs[workers].add(out)
    after = load()
    best = {w: min(t) for w, t in times.items()}
    median = {w: statistics.median(t) for w, t in times.items()}
    verdict = next(iter(outputs[1])).strip().splitlines()[-1]
    print(f"command: abcscale {' '.join(COMMAND)}; {args.repeat} runs each, alternating")
    print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
    print(f"{'--workers':>9s} {'fastest s':>9s} {'median s':>8s}")
    for workers in (1, 2):
        print(f"{workers:9d} {best[workers]:9.2f} {median[workers]:8.2f}")
    print(f"--workers 2 / --workers 1 (above 1: --workers 2 is faster): median wall time x{median[1] / median[2]:.2f}, "
          f"fastest x{best[1] / best[2]:.2f}")
    print(f"identical output (every row and verdict) on every run: {len(outputs[1] | outputs[2]) == 1} ({verdict})")


if __name__ == "__main__":
    main()
