"""The sweep over widths: one job per width (its unfinished seeds, trained together), through an Executor.

The driver keeps at most ``in_flight`` jobs submitted, writes each result to the store as soon as its future
completes, and submits the next, so it works with any ``concurrent.futures.Executor``
(``verify.runs.executors``: in-process, or Dask).  Configurations are keyed by ``verify.runs.keys``; task
keys are deterministic: (configuration key, width, seeds).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any

from theory.parametrization import Parametrization
from verify.runs.executors import InlineExecutor, submit_keyed
from verify.runs.keys import config_key, describe, task_key
from verify.runs.store import Store
from verify.width.train import Job, JobResult, TrainSettings, train_job


def description(param: Parametrization, settings: TrainSettings) -> dict[str, Any]:
    """What fixes a width check's trainings: every training field of ``param``, the settings and eta0."""
    return describe("width", param, {**settings.as_dict(),
                                     "eta0": settings.eta0(param.optimizer.name, param.loss)})


def config_hash(param: Parametrization, settings: TrainSettings) -> str:
    """The store key of a width check's configuration."""
    return config_key(description(param, settings))


def pending_jobs(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int],
                 finished: set[tuple[int, int]], device: str = "cpu") -> list[Job]:
    """Jobs for the (width, seed) pairs not finished yet, widest first (the longest jobs start first)."""
    jobs = []
    for width in sorted(widths, reverse=True):
        todo = tuple(s for s in seeds if (width, s) not in finished)
        if todo:
            jobs.append(Job(param=param, width=width, seeds=todo, settings=settings, device=device))
    return jobs


def train_widths(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int],
                 store: Store, *, executor: Executor | None = None, in_flight: int = 1, progress: bool = True,
                 on_result: Callable[[JobResult], None] | None = None, device: str = "cpu") -> str:
    """Train every unfinished (width, seed) on ``device``, writing each job to ``store`` as it completes;
    returns the configuration key."""
    from tqdm import tqdm

    key = config_hash(param, settings)
    store.add_config(key, description(param, settings))
    jobs = pending_jobs(param, settings, widths, seeds, store.finished(key), device)
    runner = executor or InlineExecutor()
    bar = tqdm(total=len(jobs), desc="widths", unit="job", disable=not progress or not jobs, leave=False)
    queue = list(jobs)
    running: set[Future[JobResult]] = set()
    try:
        while queue or running:
            while queue and len(running) < max(1, in_flight):
                job = queue.pop(0)
                bar.set_postfix_str(f"n={job.width} seeds={len(job.seeds)}")
                running.add(submit_keyed(runner, task_key("width", key, job.width, job.seeds), train_job, job))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                store.write(key, result)
                if on_result is not None:
                    on_result(result)
                bar.update(1)
    finally:
        for future in running:
            future.cancel()
        bar.close()
    return key
