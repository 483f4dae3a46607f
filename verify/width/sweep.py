"""The sweep over widths, through a ``concurrent.futures.Executor`` seam.

One job per width (its unfinished seeds, trained together).  The driver keeps at most ``in_flight`` jobs
submitted, writes each result to the store as soon as its future completes, and submits the next, so it
works with any Executor: the in-process one below, a ``ProcessPoolExecutor`` (``--workers N``) or Dask's
``client.get_executor()``.  Job keys are deterministic: (configuration hash, width, seeds).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from theory.exponents import format_exponent
from theory.parametrization import Parametrization
from verify.runs.store import Store
from verify.width.train import Job, JobResult, TrainSettings, train_job


def describe(param: Parametrization, settings: TrainSettings) -> dict[str, object]:
    """Canonical, JSON-able description of everything that fixes a training (the config key's content)."""
    return {
        "activation": param.activation, "loss": param.loss, "optimizer": param.optimizer.name,
        "momentum": param.optimizer.momentum, "lr_exponent": format_exponent(param.lr_exponent),
        "eps_exponent": format_exponent(param.optimizer.eps_exponent),
        "layers": [{"a": format_exponent(la.a), "b": format_exponent(la.b), "c": format_exponent(la.c),
                    "zero_init": la.zero_init, "eps_exponent": format_exponent(la.eps_exponent)}
                   for la in param.layers],
        "settings": settings.as_dict(),
        "eta0": settings.eta0(param.optimizer.name, param.loss),  # the default LR may change between versions
    }


def config_hash(param: Parametrization, settings: TrainSettings) -> str:
    text = json.dumps(describe(param, settings), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class InlineExecutor(Executor):
    """Runs each job in this process when it is submitted (``--workers 1``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the driver through the future, like any executor
            future.set_exception(err)
        return future


def _pin_threads(threads: int) -> None:
    import torch

    from verify.runs.runtime import tune_allocator

    torch.set_num_threads(threads)
    tune_allocator()


@contextmanager
def executor_for(workers: int) -> Iterator[Executor]:
    """In-process for 1 worker; else a spawn-based process pool with CPU threads split between workers."""
    if workers <= 1:
        yield InlineExecutor()
        return
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_pin_threads, initargs=(threads,)) as pool:
        yield pool


def pending_jobs(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int],
                 finished: set[tuple[int, int]], device: str = "cpu") -> list[Job]:
    """Jobs for the (width, seed) pairs not finished yet, widest first (the longest jobs start first)."""
    jobs = []
    for width in sorted(widths, reverse=True):
        todo = tuple(s for s in seeds if (width, s) not in finished)
        if todo:
            jobs.append(Job(param=param, width=width, seeds=todo, settings=settings, device=device))
    return jobs


def run_sweep(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int], store: Store,
              *, executor: Executor | None = None, in_flight: int = 1, progress: bool = True,
              on_result: Callable[[JobResult], None] | None = None, device: str = "cpu") -> str:
    """Train every unfinished (width, seed) on ``device``, writing each job to ``store`` as it completes;
    returns the configuration key."""
    from tqdm import tqdm

    key = config_hash(param, settings)
    store.add_config(key, describe(param, settings))
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
                running.add(runner.submit(train_job, job))
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
