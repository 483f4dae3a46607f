"""Learning-rate sweeps across widths: the driver that runs every width's search through an Executor.

Each width runs the rounds of ``verify.lr.search.width_search`` (bisection for the maximal stable eta, then
the optimal-eta grid).  A round's requests are first looked up in the store (finished trainings are never
repeated: reruns are idempotent and resume); the missing ones become ``LrJob``s submitted to the Executor,
at most ``in_flight`` at a time, widest width first.  The driver writes each job's records to the store the
moment its future completes, so a worker or driver killed mid-sweep loses only the trainings in flight.
Job keys are deterministic: (config hash, width, seeds, lrs).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

from theory.parametrization import Parametrization
from verify.lr.search import Request, Round, SearchSettings, WidthResult, width_search
from verify.lr.stability import Criterion
from verify.lr.train import LrJob, LrJobResult, LrRecord, LrSettings, train_lr_job
from verify.runs.executors import InlineExecutor, submit_keyed
from verify.runs.keys import config_key, describe, task_key
from verify.runs.store import Store


def description(param: Parametrization, settings: LrSettings) -> dict[str, Any]:
    """What fixes a training's outcome: the parametrization without its LR exponent (the sweep varies the
    global LR), and the settings.

    The divergence criterion and the search settings are not part of it: they only decide which trainings
    are run, so their records are shared between criteria."""
    return describe("lr-sweep", param.with_(lr_exponent=0), settings.as_dict())


def config_hash(param: Parametrization, settings: LrSettings) -> str:
    return config_key(description(param, settings))


def job_key(config: str, width: int, seeds: tuple[int, ...], lrs: tuple[float, ...]) -> str:
    """Deterministic task name of one training (Dask key)."""
    return task_key("lr-train", config, width, list(seeds), list(lrs))


@dataclass
class SweepResult:
    config: str
    widths: list[int]
    seeds: list[int]
    results: dict[int, WidthResult]
    trained: int = 0  # trainings (jobs) run by this call
    reused: int = 0  # (seed, eta) runs answered from the store
    keys: list[str] = field(default_factory=list)  # task keys submitted by this call


@dataclass
class _Pending:
    search: Generator[Round, list[LrRecord], WidthResult]
    records: list[LrRecord]
    outstanding: int


def run_lr_sweep(param: Parametrization, settings: LrSettings, widths: list[int], seeds: list[int],
                 store: Store, *, criterion: Criterion | None = None, search: SearchSettings | None = None,
                 executor: Executor | None = None, in_flight: int = 1, progress: bool = True,
                 on_result: Callable[[LrJobResult], None] | None = None, device: str = "cpu") -> SweepResult:
    """Search every width (resuming from ``store``), training on ``device``; return the per-width results."""
    from tqdm import tqdm

    criterion = criterion or Criterion()
    search = search or SearchSettings()
    param = param.with_(lr_exponent=0)
    config = config_hash(param, settings)
    store.add_config(config, description(param, settings))
    runner = executor or InlineExecutor()
    out = SweepResult(config=config, widths=sorted(widths), seeds=list(seeds), results={})
    pending: dict[int, _Pending] = {}
    queue: list[LrJob] = []
    bar = tqdm(desc="lr-sweep", unit="training", disable=not progress, leave=False)

    def start_round(width: int, requests: Round) -> None:
        state = pending[width]
        for seeds_, lrs in requests:
            missing = _lookup(store, config, width, (seeds_, lrs), state.records)
            out.reused += len(seeds_) - len(missing)
            if missing:
                ms, ml = tuple(s for s, _ in missing), tuple(lr for _, lr in missing)
                queue.append(LrJob(param, width, ms, ml, settings, device))
                state.outstanding += 1

    def advance(width: int) -> None:
        """Feed finished rounds to the search until one needs training (or the search ends)."""
        state = pending[width]
        while state.outstanding == 0:
            records, state.records = state.records, []
            try:
                requests = state.search.send(records)
            except StopIteration as stop:
                out.results[width] = stop.value
                del pending[width]
                return
            start_round(width, requests)

    for width in sorted(widths, reverse=True):
        search_gen = width_search(width, list(seeds), criterion, search)
        pending[width] = _Pending(search_gen, [], 0)
        start_round(width, next(search_gen))
        advance(width)
    running: dict[Future[LrJobResult], int] = {}
    try:
        while queue or running:
            queue.sort(key=lambda j: -j.width)
            while queue and len(running) < max(1, in_flight):
                job = queue.pop(0)
                key = job_key(config, job.width, job.seeds, job.lrs)
                out.keys.append(key)
                running[_submit(runner, job, key)] = job.width
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                width = running.pop(future)
                result = future.result()
                store.write_lr(config, result)
                out.trained += 1
                bar.update(1)
                bar.set_postfix_str(f"n={width} widths done {len(out.results)}/{len(widths)}")
                if on_result is not None:
                    on_result(result)
                state = pending[width]
                state.records.extend(result.records)
                state.outstanding -= 1
                advance(width)
    finally:
        for future in running:
            future.cancel()
        bar.close()
    return out


def _lookup(store: Store, config: str, width: int, request: Request, found: list[LrRecord]
            ) -> list[tuple[int, float]]:
    """Append stored records of ``request`` to ``found``; return the (seed, lr) pairs still to train."""
    missing = []
    for seed, lr in zip(*request, strict=True):
        stored = store.lr_run(config, width, seed, lr)
        if stored is None:
            missing.append((seed, lr))
        else:
            found.append(LrRecord(seed=seed, lr=lr, **stored))
    return missing


def _submit(executor: Executor, job: LrJob, key: str) -> Future[LrJobResult]:
    future: Future[LrJobResult] = submit_keyed(executor, key, train_lr_job, job)
    return future
