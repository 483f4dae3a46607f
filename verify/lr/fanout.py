"""The LR search's fan-out per width: how many candidates a round proposes, chosen from the executor's slots.

With one slot every width proposes one candidate a round (bisection).  With more, the driver first splits the
dominant widths' seeds (``verify.runs.plan.seed_parts``); the slots left over go to fan-out, widest width
first, while the modelled makespan shrinks.  The model of one width with fan-out k and p seed groups:

* a round is ``ceil(k * p / slots)`` waves of one job of ceil(seeds / p) seeds (``job_cost``);
* the expansion needs ``EXPANSION`` lattice points (typical from the default start), ceil(E / k) rounds;
* the refinement cuts the 2^D leaves to one, a round leaving ceil(L / (k + 1)) of L;
* the grid and its refinement are two rounds of grid_points and 2 requests, whatever k;
* the makespan is the larger of the longest width's path and the total work over the slots.

The longest width's fan-out moves to the value that shortens the makespan most, as long as it falls.  A
width's result does not depend on its fan-out (``verify.lr.bracket``), so the plan only trades trainings for
rounds.  It is computed once, from widths, seeds and slots (every width is still searching at the start), so
the same workers always submit the same trainings and a rerun finds all of them in the store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from verify.lr.bracket import halvings
from verify.runs.plan import job_cost

EXPANSION = 3  # lattice points from the start to the edge's cell, typically (0.1 -> 0.4 -> 1.6 for SGD)
MAX_FANOUT = 64


def refinement(depth: int, k: int) -> tuple[int, int]:
    """(rounds, candidates per seed) to cut 2^depth leaves down to one with k evenly spaced probes a round."""
    leaves, rounds, probes = 1 << depth, 0, 0
    while leaves > 1:
        probes += min(k, leaves - 1)
        leaves = math.ceil(leaves / (k + 1))
        rounds += 1
    return rounds, probes


def width_model(width: int, seeds: int, parts: int, k: int, slots: int, depth: int, grid: int
                ) -> tuple[float, float]:
    """(critical path, total work) of one width's search in ``job_cost`` units."""
    job = job_cost(width, math.ceil(seeds / parts))
    expand_rounds = math.ceil(EXPANSION / k)
    refine_rounds, refine_probes = refinement(depth, k)
    path = (expand_rounds + refine_rounds) * math.ceil(k * parts / slots) * job
    work = (expand_rounds * k + refine_probes) * parts * job
    if grid:
        path += (math.ceil(grid * parts / slots) + math.ceil(2 * parts / slots)) * job
        work += (grid + 2) * parts * job
    return path, work


def fanout_plan(widths: Sequence[int], seeds: int, slots: int, parts: dict[int, int], *, expand: float,
                precision: float, grid_points: int) -> dict[int, int]:
    """Candidates a round per width for ``slots`` parallel trainings (1 everywhere for one slot)."""
    plan = {w: 1 for w in widths}
    if slots <= 1:
        return plan
    depth = halvings(expand, precision)

    def makespan(choice: dict[int, int]) -> tuple[float, int]:
        models = {w: width_model(w, seeds, parts[w], choice[w], slots, depth, grid_points) for w in widths}
        return max(max(p for p, _ in models.values()), sum(w for _, w in models.values()) / slots), \
            max(models, key=lambda w: (models[w][0], w))

    best, longest = makespan(plan)
    while True:
        trials = [({**plan, longest: k}, *makespan({**plan, longest: k})) for k in range(plan[longest] + 1,
                                                                                      MAX_FANOUT + 1)]
        if not trials:
            return plan
        trial, cost, nxt = min(trials, key=lambda t: t[1])  # the first (smallest k) of the best
        if cost >= best:
            return plan
        plan, best, longest = trial, cost, nxt
