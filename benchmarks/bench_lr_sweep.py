"""LR-sweep benchmark: wall time of one sweep with 1 (serial) and 2 (Dask LocalCluster) workers, and the
trainings bisection needs per width against a plain log grid of the same precision.

Run: .venv/bin/python benchmarks/bench_lr_sweep.py   (40-60 s on 2 shared cores).  docs/lr_sweep.md shows it as
the recording docs/recorded/lr_bench.txt, whose re-run check masks the wall times and the speed-up.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from theory.config import resolve
from verify.lr.search import SearchSettings
from verify.lr.sweep import SweepResult, run_lr_sweep
from verify.lr.train import LrSettings
from verify.runs.executors import executor_for
from verify.runs.store import Store

WIDTHS = [64, 128, 256, 512]
SEEDS = [0, 1, 2]
SETTINGS = LrSettings(steps=30)
SEARCH = SearchSettings(grid_points=5)


def timed_sweep(workers: int, folder: Path) -> tuple[float, SweepResult]:
    param = resolve("sp", loss="ce")
    store = Store(folder / f"bench_{workers}.db")
    with executor_for(workers) as executor:  # cluster start-up is outside the timed region
        start = time.perf_counter()
        sweep = run_lr_sweep(param, SETTINGS, WIDTHS, SEEDS, store, search=SEARCH, executor=executor,
                             in_flight=workers, progress=False)
        seconds = time.perf_counter() - start
    store.close()
    return seconds, sweep


def main() -> None:
    import torch

    torch.set_num_threads(1)  # like each Dask worker: the comparison is 1 core against 2
    with tempfile.TemporaryDirectory() as folder:
        serial_s, serial = timed_sweep(1, Path(folder))
        dask_s, dask = timed_sweep(2, Path(folder))
    same = all([e.max_stable for e in serial.results[w].edges.values()]
               == [e.max_stable for e in dask.results[w].edges.values()] for w in WIDTHS)
    print(f"workload: sp sgd ce, widths {WIDTHS}, {len(SEEDS)} seeds, {SETTINGS.steps} steps, "
          f"{serial.trained} trainings (bisection + {SEARCH.grid_points}-point grid + refinement)")
    print(f"{'executor':28s} {'wall s':>8s} {'speed-up':>9s}")
    print(f"{'serial (1 worker)':28s} {serial_s:8.1f} {1.0:9.2f}")
    print(f"{'Dask LocalCluster, 2 workers':28s} {dask_s:8.1f} {serial_s / dask_s:9.2f}")
    print(f"same max-stable LRs seed by seed: {same}")
    print()
    print(f"{'width':>6s} {'bisection trainings':>20s} {'grid, explored range':>21s} {'grid, 1e-3..1e1':>16s}")
    lows = [e.lo.lr for r in serial.results.values() for e in r.edges.values() if e.lo is not None]
    highs = [e.hi.lr for r in serial.results.values() for e in r.edges.values() if e.hi is not None]
    step = math.log(SEARCH.precision)
    explored = math.ceil(math.log(max(highs) / min(lows)) / step) + 1
    fixed = math.ceil(math.log(1e1 / 1e-3) / step) + 1
    for w in WIDTHS:
        rounds = max(e.trainings for e in serial.results[w].edges.values())
        print(f"{w:6d} {rounds:20d} {explored:21d} {fixed:16d}")
    print(f"(precision: final bracket hi/lo <= {SEARCH.precision:.4f}; a grid of the same resolution needs one "
          "training per grid point; bisection trains all seeds of a round in one batched job)")


if __name__ == "__main__":
    main()
