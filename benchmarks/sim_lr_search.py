"""Simulated LR sweep on 1 to 64 workers: rounds, trainings and modelled wall time of the parallel search
against a grid of the same resolution (no torch: a fake trainer with a known edge).

The search is the real one: ``verify.lr.pool.SearchPool`` with the plan ``verify.lr.sweep.sweep_plan`` gives for
each worker count (seed groups, fan-out), run by a discrete-event scheduler that hands the widest ready task to
each free worker, as the driver does.  A task of s seeds at width n lasts ``job_cost(n, s)`` units
(``verify.runs.plan``: s n^2 + 200^2, measured on 1 torch thread), shown as modelled seconds at the measured
1.3 us a unit.  The fake trainer: seed s of width n is stable iff eta <= 2 (n/64)^-1/2 x exp(0.05 (s - 1)) (a
known edge), and its final loss is a parabola in log eta with its minimum a factor 4 below the edge.

The grid: per width, a log grid of ratio ``precision`` from 1e-3 to 1e1 (the edge is not known beforehand),
one batched training of all seeds per point, all in one round; it finds the same edge cell.

Run: python benchmarks/sim_lr_search.py [--plot sim.png]   (docs/lr_sweep.md shows its output and figure)
"""

from __future__ import annotations

import argparse
import heapq
import math
from dataclasses import dataclass

from verify.lr.pool import SearchPool, Task
from verify.lr.records import LrRecord
from verify.lr.search import SearchSettings
from verify.lr.stability import Criterion
from verify.runs.plan import SECONDS_PER_UNIT, job_cost

GRID_RANGE = (1e-3, 1e1)
WORKERS = (1, 2, 4, 8, 16, 64)


def edge(width: int, seed: int) -> float:
    """The fake trainer's maximal stable eta."""
    return 2.0 * (width / 64) ** -0.5 * math.exp(0.05 * (seed - 1))


def train(task: Task) -> list[LrRecord]:
    """The fake trainer's records: stable iff eta <= edge; loss a parabola in log eta, lowest at edge / 4."""
    records = []
    for seed, lr in zip(task.seeds, task.lrs, strict=True):
        top = edge(task.width, seed)
        stable = lr <= top
        loss = 1.0 + 0.1 * (math.log(lr) - math.log(top / 4)) ** 2 if stable else None
        records.append(LrRecord(seed=seed, lr=lr, init_loss=2.5, final_loss=loss, final_accuracy=None,
                                diverged_step=None if stable else 3, peak_hidden_ratio=1.0, peak_logit_rms=1.0,
                                init_logit_rms=1.0, peak_batch_loss=2.5, steps_run=50))
    return records


@dataclass
class Outcome:
    workers: int
    rounds: int  # rounds of the widest width's search (its critical path in rounds)
    trainings: int  # batched jobs
    runs: int  # (seed, eta) trainings
    wall: float  # modelled seconds
    busy: float  # fraction of worker time spent training
    fanout: dict[int, int]
    parts: dict[int, int]
    max_stable: dict[int, list[float | None]]
    optimal: dict[int, dict[int, float | None]]


def simulate(widths: list[int], seeds: int, workers: int, search: SearchSettings) -> Outcome:
    """The search on ``workers`` simulated workers; every task's duration from the cost model."""
    from verify.lr.sweep import sweep_plan

    fanout, parts = sweep_plan(widths, seeds, workers, search)
    pool = SearchPool(widths, list(range(seeds)), Criterion(kind="nonfinite"), search, fanout=fanout, parts=parts)
    now, free, order = 0.0, workers, 0
    running: list[tuple[float, int, Task]] = []
    trainings = runs = 0
    work = 0.0
    while pool.ready or running:
        while pool.ready and free:
            task = pool.take()
            cost = job_cost(task.width, len(task.seeds)) * SECONDS_PER_UNIT
            heapq.heappush(running, (now + cost, order, task))
            order, free = order + 1, free - 1
            trainings, runs, work = trainings + 1, runs + len(task.seeds), work + cost
        now, _, task = heapq.heappop(running)
        free += 1
        pool.deliver(task.width, train(task))
    results = pool.results
    return Outcome(workers, results[max(widths)].rounds, trainings, runs, now, work / (workers * now), fanout, parts,
                   {w: [e.max_stable for e in r.edges.values()] for w, r in results.items()},
                   {w: dict(r.optimal) for w, r in results.items()})


def grid_points(search: SearchSettings) -> int:
    """Points of a log grid of ratio ``precision`` over ``GRID_RANGE``."""
    low, high = GRID_RANGE
    return math.ceil(math.log(high / low) / math.log(search.precision)) + 1


def simulate_grid(widths: list[int], seeds: int, workers: int, search: SearchSettings) -> tuple[int, float]:
    """(trainings, modelled seconds) of the grid: every point of every width in one round, widest first."""
    finish = [0.0] * workers
    jobs = [w for w in sorted(widths, reverse=True) for _ in range(grid_points(search))]
    for width in jobs:
        i = min(range(workers), key=finish.__getitem__)
        finish[i] += job_cost(width, seeds) * SECONDS_PER_UNIT
    return len(jobs), max(finish)


def table(widths: list[int], seeds: int, workers: tuple[int, ...], search: SearchSettings
          ) -> tuple[str, list[Outcome], list[tuple[int, float]]]:
    outcomes = [simulate(widths, seeds, n, search) for n in workers]
    grids = [simulate_grid(widths, seeds, n, search) for n in workers]
    base, grid_base = outcomes[0].wall, grids[0][1]
    lines = [f"widths {','.join(map(str, widths))}; {seeds} seeds; precision {search.precision:.4f}; grid of "
             f"{search.grid_points} + 2 for the optimum; modelled seconds ({SECONDS_PER_UNIT * 1e6:.1f} us per seed "
             "and n^2 + 0.05 s a job)",
             f"{'workers':>7s} {'candidates':>10s} {'widest: k x groups':>18s} {'rounds':>6s} {'trainings':>9s} "
             f"{'seed runs':>9s} "
             f"{'wall s':>8s} {'speed-up':>8s} {'busy':>5s} | {'grid trainings':>14s} {'grid wall s':>11s} "
             f"{'grid speed-up':>13s}"]
    for out, (grid_jobs, grid_wall) in zip(outcomes, grids, strict=True):
        top = max(widths)
        candidates = sum(out.fanout[w] * out.parts[w] for w in widths)
        widest = f"{out.fanout[top]} x {out.parts[top]}"
        lines.append(f"{out.workers:7d} {candidates:10d} {widest:>18s} {out.rounds:6d} {out.trainings:9d} "
                     f"{out.runs:9d} {out.wall:8.1f} {base / out.wall:8.2f} {out.busy:5.0%} | "
                     f"{grid_jobs:14d} {grid_wall:11.1f} {grid_base / grid_wall:13.2f}")
    same = all(o.max_stable == outcomes[0].max_stable and o.optimal == outcomes[0].optimal for o in outcomes)
    lines.append(f"same maximal stable and optimal etas for every worker count: {same}")
    return "\n".join(lines), outcomes, grids


def figure(outcomes: list[Outcome], grids: list[tuple[int, float]], path: str) -> None:
    """Left: modelled wall time against workers; right: the speed-up over one worker (log-log)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    workers = [o.workers for o in outcomes]
    left.plot(workers, [o.wall for o in outcomes], "o-", label="parallel search")
    left.plot(workers, [g[1] for g in grids], "s--", label="grid of the same resolution")
    left.set_ylabel("modelled wall time (s)")
    right.plot(workers, workers, "k:", label="linear")
    right.plot(workers, [outcomes[0].wall / o.wall for o in outcomes], "o-", label="parallel search")
    right.plot(workers, [grids[0][1] / g[1] for g in grids], "s--", label="grid of the same resolution")
    right.set_ylabel("speed-up over 1 worker")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("workers")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", default="64,128,256,512,1024")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", default=",".join(map(str, WORKERS)))
    parser.add_argument("--plot", default=None, help="write the speed-up curve (PNG)")
    args = parser.parse_args(argv)
    widths = sorted(int(w) for w in args.widths.split(","))
    workers = tuple(int(n) for n in args.workers.split(","))
    text, outcomes, grids = table(widths, args.seeds, workers, SearchSettings())
    print(text)
    if args.plot:
        figure(outcomes, grids, args.plot)


if __name__ == "__main__":
    main()
