"""How a sweep's trainings spread over an executor's slots: the cost model and the seed groups of each width.

Cost model (``job_cost``): a job of ``s`` seeds at width n costs ``s * n^2 + JOB_OVERHEAD`` units, the n^2 of
the matmuls of every step plus a fixed part (data, Python, evaluation).  Measured for ``lr-sweep``'s
trainings (50 steps, batch 32, 1 torch thread, 3 seeds): 0.075, 0.12, 0.30, 1.09 and 3.6 s at widths 64,
128, 256, 512 and 1024, i.e. about 1.3 us per seed and n^2 plus 0.05 s a job, which is JOB_OVERHEAD = 200^2
(``SECONDS_PER_UNIT``).

Seed groups (``seed_parts``): a width whose job costs more than a slot's fair share of one job of every width
(the total over the slots) is split into consecutive seed groups until each group's job fits in that share,
at most one group per seed and per slot.  Seeds are independent in the batched trainers (every seed's result
is bit for bit the same in any group; tests/verify/test_plan.py), so groups change the wall time, not a
number.  With one slot nothing is split.  The plan is a pure function of widths, seeds and slots: a rerun
with the same workers submits the same jobs, under the same task keys.

Whether a local cluster pays off at all (``cluster_pays``): a LocalCluster of N workers costs
``CLUSTER_SECONDS`` (importing distributed, forking and connecting the workers, closing them) and can save at
most ``work * (1 - 1/N)`` of ``work`` seconds of single-threaded training, when the split is perfect and this
process's own torch threads would gain nothing.  When even that is less than its cost, the cluster cannot
finish first, and ``executor_for`` trains in this process instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

JOB_OVERHEAD = 200 ** 2
SECONDS_PER_UNIT = 1.3e-6  # measured, see the module docstring
# measured on the 2-core CPU (benchmarks/bench_verify_workers.py --model prints it): 0.37-0.47 s from importing
# distributed to a closed 2-worker LocalCluster that ran one task, after torch was imported
CLUSTER_SECONDS = 0.4


def job_cost(width: int, seeds: int) -> float:
    """Modelled cost of one job of ``seeds`` seeds at ``width`` (units: one seed's n^2 at n = 1)."""
    return seeds * width ** 2 + JOB_OVERHEAD


def cluster_pays(work_seconds: float, workers: int) -> bool:
    """Whether a local cluster of ``workers`` could finish ``work_seconds`` of single-threaded training before
    this process alone: the most it saves, a perfect split, must exceed its start-up (module docstring)."""
    return workers > 1 and work_seconds * (1 - 1 / workers) > CLUSTER_SECONDS


def seed_parts(widths: Sequence[int], seeds: int, slots: int) -> dict[int, int]:
    """Into how many seed groups each width's job is split for ``slots`` parallel trainings."""
    if slots <= 1 or seeds <= 1:
        return {w: 1 for w in widths}
    share = sum(job_cost(w, seeds) for w in widths) / slots
    parts = {}
    for w in widths:
        p = 1
        while p < min(seeds, slots) and job_cost(w, math.ceil(seeds / p)) > share:
            p += 1
        parts[w] = p
    return parts


def seed_groups(seeds: Sequence[int], parts: int) -> list[tuple[int, ...]]:
    """``seeds`` in ``parts`` consecutive groups whose sizes differ by at most one (larger groups first)."""
    parts = max(1, min(parts, len(seeds)))
    size, extra = divmod(len(seeds), parts)
    groups, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        groups.append(tuple(seeds[start:end]))
        start = end
    return groups
