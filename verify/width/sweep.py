"""The sweep over widths: one job per width (its unfinished seeds, trained together), through an Executor.

The driver keeps at most ``in_flight`` jobs submitted (the executor's slots), writes each result to the store as
soon as its future completes, and submits the next, so it works with any ``concurrent.futures.Executor``
(``verify.runs.executors``: in-process, or Dask).  With more than one slot the dominant widths' seeds are split
into groups (``verify.runs.plan.seed_parts``: the widest width alone is most of the work), widest first; every
seed's numbers are the same in any group.  Configurations are keyed by ``verify.runs.keys``; task keys are
deterministic: (configuration key, width, seeds).

Before submitting a job the driver claims its (width, seed) runs in the store (``Store.claim``): it trains the
seeds it claimed, drops those another process finished meanwhile, and comes back every ``poll`` seconds to
the seeds another live process holds, until that process has written them (read from the store, never
trained twice) or its lease has expired (trained here).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import replace
from typing import Any

from theory.parametrization import Parametrization
from verify.runs.executors import InlineExecutor, next_finished, submit_keyed
from verify.runs.keys import config_key, describe, task_key
from verify.runs.plan import seed_groups, seed_parts
from verify.runs.store import POLL_SECONDS, Store
from verify.width.cost import heap_seeds
from verify.width.train import Job, JobResult, TrainSettings, train_job


def description(param: Parametrization, settings: TrainSettings) -> dict[str, Any]:
    """What fixes a width check's trainings: every training field of ``param``, the settings and eta0."""
    return describe("width", param, {**settings.as_dict(),
                                     "eta0": settings.eta0(param.optimizer.name, param.loss)})


def config_hash(param: Parametrization, settings: TrainSettings) -> str:
    """The store key of a width check's configuration."""
    return config_key(description(param, settings))


def pending_jobs(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int],
                 finished: set[tuple[int, int]], device: str = "cpu", slots: int = 1) -> list[Job]:
    """Jobs for the (width, seed) pairs not finished yet, widest first (the longest jobs start first), each
    width's seeds in the groups ``seed_parts`` gives for ``slots`` parallel trainings, and on the CPU in groups
    small enough for glibc's heap (``verify.width.cost.heap_seeds``)."""
    parts = seed_parts(widths, len(seeds), slots)
    if device == "cpu":
        parts = {w: max(p, math.ceil(len(seeds) / heap_seeds(param, settings, w))) for w, p in parts.items()}
    jobs = []
    for width in sorted(widths, reverse=True):
        todo = tuple(s for s in seeds if (width, s) not in finished)
        for group in seed_groups(todo, parts[width]) if todo else []:
            jobs.append(Job(param=param, width=width, seeds=group, settings=settings, device=device))
    return jobs


def train_widths(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int],
                 store: Store, *, executor: Executor | None = None, in_flight: int = 1, progress: bool = True,
                 on_result: Callable[[JobResult], None] | None = None, device: str = "cpu",
                 poll: float = POLL_SECONDS) -> str:
    """Train every unfinished (width, seed) on ``device``, writing each job to ``store`` as it completes;
    returns the configuration key.

    Runs another process has claimed are waited for (looked at again every ``poll`` seconds), not trained;
    ``on_result`` sees only the jobs trained here."""
    from tqdm import tqdm

    key = config_hash(param, settings)
    store.add_config(key, description(param, settings))
    queue = pending_jobs(param, settings, widths, seeds, store.finished(key), device, max(1, in_flight))
    runner = executor or InlineExecutor()
    bar = tqdm(total=sum(len(job.seeds) for job in queue), desc="widths", unit="run", disable=not progress or not queue,
               leave=False)
    running: dict[Future[JobResult], Job] = {}
    waiting: list[Job] = []  # jobs of the seeds another process holds
    looked = time.monotonic()
    try:
        while queue or running or waiting:
            while queue and len(running) < max(1, in_flight):
                job = queue.pop(0)
                claim = store.claim("width", key, [(job.width, seed) for seed in job.seeds])
                if claim.busy:
                    waiting.append(replace(job, seeds=tuple(seed for _, seed in claim.busy)))
                if claim.claimed:
                    job = replace(job, seeds=tuple(seed for _, seed in claim.claimed))
                    bar.set_postfix_str(f"n={job.width} seeds={len(job.seeds)}")
                    label = f"width check training at width {job.width}, seeds {','.join(map(str, job.seeds))}"
                    running[submit_keyed(runner, task_key("width", key, job.width, job.seeds), train_job, job,
                                         label=label)] = job
                bar.update(len(claim.done))  # finished by another process meanwhile
            done = next_finished(running, poll=poll, waiting=bool(waiting), since=looked)
            for future in done:
                result = future.result()
                store.write(key, result)
                del running[future]
                if on_result is not None:
                    on_result(result)
                bar.update(len(result.diverged))
            if waiting and time.monotonic() - looked >= poll:  # look again: claim, read or keep waiting
                queue[:0], waiting = sorted(waiting, key=lambda j: -j.width), []
                looked = time.monotonic()
    finally:
        for future in running:
            future.cancel()
        store.release("width", key, [(job.width, seed) for job in running.values() for seed in job.seeds])
        bar.close()
    return key
