"""The per-width search: the maximal stable LR on a fixed lattice (``fanout`` candidates a round), then a log
grid for the optimal LR.

A width's search is a generator (``width_search``) that yields rounds of trainings to run, each a list of
``(seeds, lrs)`` requests, and receives the records of the whole round back.  The driver (verify.lr.sweep)
runs the rounds of many widths at once through any Executor and answers finished requests from the store.

Maximal stable LR, per seed (``verify.lr.bracket``: every seed has its own bracket; request i of a round
trains every seed's i-th candidate, batched):
1. bracket: start at ``start_lr``; probe the lattice start_lr * expand^j until the seed has a stable ``lo``
   and an unstable ``hi`` one factor ``expand`` apart;
2. refine on the dyadic lattice inside it until hi / lo <= ``precision``: with ``fanout`` 1 this is bisection
   at the geometric midpoint sqrt(lo * hi); with k candidates a round they are spread evenly over the bracket.
The estimate is sqrt(lo * hi), within a factor sqrt(precision) of the true edge if stability is monotone
in eta; then the bracket, and so the estimate, is the same for every ``fanout``.  ``lo`` is the run "at the
edge", ``hi`` the run "beyond the edge".

Optimal LR (shared by the seeds): a log grid eta_k = E * spacing^-k, k = 0..grid_points-1, where E is the
geometric mean of the seeds' ``lo``; then the two points spacing^(+-1/2) around the grid point of lowest
seed-mean final loss (or highest accuracy); finally, per seed, the vertex of the parabola through the best
point and its two neighbours on the refined grid (in log eta; clipped to that interval).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import asdict, dataclass, field

from theory.errors import InputError
from verify.lr.bracket import Bracket
from verify.lr.records import LrRecord
from verify.lr.stability import Criterion

Request = tuple[tuple[int, ...], tuple[float, ...]]  # (seeds, lrs), one training
Round = list[Request]
TARGETS = ("loss", "accuracy")


@dataclass(frozen=True)
class SearchSettings:
    """How the LR axis is searched (documented defaults; see docs/lr_sweep.md)."""

    start_lr: float = 0.1
    expand: float = 4.0
    precision: float = 2 ** 0.125
    min_lr: float = 1e-7
    max_lr: float = 1e4
    grid_points: int = 5
    spacing: float = 2.0
    target: str = "loss"
    fanout: int = 1  # candidates per seed a round; the driver sets it from the executor's slots

    def __post_init__(self) -> None:
        if not isinstance(self.fanout, int) or self.fanout < 1:
            raise InputError(f"fanout {self.fanout!r}: must be an integer >= 1")
        if not self.start_lr > 0 or not self.min_lr < self.start_lr < self.max_lr:
            raise InputError(f"--start-lr {self.start_lr}: must lie in ({self.min_lr:g}, {self.max_lr:g})")
        if not self.expand > 1 or not 1 < self.precision < self.expand:
            raise InputError(f"--precision {self.precision}: need 1 < precision < expand ({self.expand:g})")
        if self.grid_points < 0:
            raise InputError(f"--grid-points {self.grid_points}: must be 0 or more")
        if self.grid_points and not self.spacing > 1:
            raise InputError(f"--grid-spacing {self.spacing}: must be above 1")
        if self.target not in TARGETS:
            raise InputError(f"--optimal-by {self.target!r}: choose loss or accuracy")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class SeedEdge:
    """Search outcome of one seed; ``lo``/``hi`` are the records at and beyond the edge."""

    seed: int
    lo: LrRecord | None = None
    hi: LrRecord | None = None
    trainings: int = 0
    note: str = ""

    @property
    def max_stable(self) -> float | None:
        if self.lo is None or self.hi is None:
            return None
        return math.sqrt(self.lo.lr * self.hi.lr)


@dataclass
class WidthResult:
    width: int
    edges: dict[int, SeedEdge]
    grid: dict[float, list[LrRecord]] = field(default_factory=dict)  # eta -> records of every seed
    optimal: dict[int, float | None] = field(default_factory=dict)  # seed -> refined optimal eta
    best_grid_lr: float | None = None
    trainings: int = 0  # requests (trainings batched over seeds) this width needed
    rounds: int = 0  # rounds of requests (set by the driver, verify.lr.pool)


def score(record: LrRecord, target: str) -> float:
    """Lower is better: final loss, or minus the final accuracy; a diverged run scores +inf."""
    if target == "accuracy":
        return math.inf if record.final_accuracy is None else -record.final_accuracy
    return math.inf if record.final_loss is None else record.final_loss


def parabola_vertex(xs: tuple[float, float, float], ys: tuple[float, float, float]) -> float:
    """x of the vertex of the parabola through three points with xs equally spaced; the middle x when the
    parabola is not convex or a value is infinite; clipped to [xs[0], xs[2]]."""
    y0, y1, y2 = ys
    if not all(math.isfinite(y) for y in ys):
        return xs[1]
    curvature = y0 - 2 * y1 + y2
    if curvature <= 0:
        return xs[1]
    step = xs[1] - xs[0]
    vertex = xs[1] + 0.5 * step * (y0 - y2) / curvature
    return min(max(vertex, xs[0]), xs[2])


def width_search(width: int, seeds: list[int], criterion: Criterion, settings: SearchSettings
                 ) -> Generator[Round, list[LrRecord], WidthResult]:
    """Rounds of trainings for one width; send back each round's records, get the WidthResult at the end."""
    edges = {s: SeedEdge(s) for s in seeds}
    result = WidthResult(width=width, edges=edges)
    brackets = {s: Bracket(settings) for s in seeds}
    runs: dict[int, dict[float, LrRecord]] = {s: {} for s in seeds}
    while True:
        todo = {s: b.candidates(settings.fanout) for s, b in brackets.items()}
        todo = {s: lrs for s, lrs in todo.items() if lrs}
        if not todo:
            break
        requests = []
        for i in range(max(len(lrs) for lrs in todo.values())):
            row = {s: lrs[i] for s, lrs in todo.items() if i < len(lrs)}
            requests.append((tuple(row), tuple(row.values())))
        records = yield requests
        result.trainings += len(requests)
        for record in records:
            edges[record.seed].trainings += 1
            runs[record.seed][record.lr] = record
            brackets[record.seed].add(record.lr, criterion.unstable(record))
        for bracket in brackets.values():
            bracket.settle()
    for seed, edge in edges.items():
        lo, hi = brackets[seed].bounds
        edge.lo = None if lo is None else runs[seed][lo]
        edge.hi = None if hi is None else runs[seed][hi]
        edge.note = brackets[seed].note
    stable_los = [e.lo.lr for e in edges.values() if e.lo is not None and e.hi is not None]
    if not settings.grid_points or not stable_los:
        return result
    top = math.exp(sum(math.log(x) for x in stable_los) / len(stable_los))
    grid = [top * settings.spacing ** -k for k in range(settings.grid_points)]
    seed_tuple = tuple(seeds)
    records = yield [(seed_tuple, (lr,) * len(seeds)) for lr in grid]
    result.trainings += len(grid)
    _collect(result.grid, records)
    best = _best_lr(result.grid, settings.target)
    half = math.sqrt(settings.spacing)
    refine = [lr for lr in (best * half, best / half) if lr not in result.grid]
    records = yield [(seed_tuple, (lr,) * len(seeds)) for lr in refine]
    result.trainings += len(refine)
    _collect(result.grid, records)
    best = _best_lr(result.grid, settings.target)
    result.best_grid_lr = best
    ordered = sorted(result.grid)
    i = ordered.index(best)
    for seed in seeds:
        if 0 < i < len(ordered) - 1:
            lrs = (ordered[i - 1], best, ordered[i + 1])
            ys = tuple(score(_of(result.grid[lr], seed), settings.target) for lr in lrs)
            logs = tuple(math.log(lr) for lr in lrs)
            result.optimal[seed] = math.exp(parabola_vertex(logs, ys))  # type: ignore[arg-type]
        else:
            result.optimal[seed] = best  # optimum at the end of the grid: no refinement possible
    return result


def _of(records: list[LrRecord], seed: int) -> LrRecord:
    return next(r for r in records if r.seed == seed)


def _collect(grid: dict[float, list[LrRecord]], records: list[LrRecord]) -> None:
    for record in records:
        grid.setdefault(record.lr, []).append(record)


def _best_lr(grid: dict[float, list[LrRecord]], target: str) -> float:
    """Grid point with the lowest seed-mean score (ties: the larger eta)."""
    def mean_score(lr: float) -> float:
        return sum(score(r, target) for r in grid[lr]) / len(grid[lr])

    return min(sorted(grid, reverse=True), key=mean_score)
