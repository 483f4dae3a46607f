"""Learning-rate sweeps across widths: the driver that runs every width's search through an Executor.

Each width runs the rounds of ``verify.lr.search.width_search`` (bisection for the maximal stable eta, then
the optimal-eta grid).  A round's requests are first looked up in the store (finished trainings are never
repeated: reruns are idempotent and resume); the missing ones become ``LrJob``s submitted to the Executor,
at most ``in_flight`` at a time, widest width first.  The driver writes each job's records to the store the
moment its future completes, so a worker or driver killed mid-sweep loses only the trainings in flight.
Job keys are deterministic: (config hash, width, seeds, lrs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field

from theory.parametrization import Parametrization
from verify.lr.search import Request, Round, SearchSettings, WidthResult, width_search
from verify.lr.stability import Criterion
from verify.lr.store import LrStore
from verify.lr.train import LrJob, LrJobResult, LrRecord, LrSettings, train_lr_job
from verify.width.sweep import InlineExecutor, describe
from verify.width.train import TrainSettings


def describe_config(param: Parametrization, settings: LrSettings) -> dict[str, object]:
    """What fixes a training's outcome (the parametrization without its LR exponent, and the settings).

    The divergence criterion and the search settings are not part of it: they only decide which
    trainings are run, so their records are shared between criteria."""
    base = describe(param.with_(lr_exponent=0), TrainSettings())
    base.pop("settings")
    base.pop("eta0")
    return {"kind": "lr-sweep", **base, "lr_settings": settings.as_dict()}


def config_hash(param: Parametrization, settings: LrSettings) -> str:
    text = json.dumps(describe_config(param, settings), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def job_key(config: str, width: int, seeds: tuple[int, ...], lrs: tuple[float, ...]) -> str:
    """Deterministic task name of one training (Dask key)."""
    text = json.dumps([config, width, list(seeds), [repr(x) for x in lrs]])
    return f"lr-train-{config}-{width}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


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
                 store: LrStore, *, criterion: Criterion | None = None, search: SearchSettings | None = None,
                 executor: Executor | None = None, in_flight: int = 1, progress: bool = True,
                 on_result: Callable[[LrJobResult], None] | None = None, device: str = "cpu") -> SweepResult:
    """Search every width (resuming from ``store``), training on ``device``; return the per-width results."""
    from tqdm import tqdm

    criterion = criterion or Criterion()
    search = search or SearchSettings()
    param = param.with_(lr_exponent=0)
    config = config_hash(param, settings)
    store.add_config(config, describe_config(param, settings))
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
                store.write(config, result)
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


def _lookup(store: LrStore, config: str, width: int, request: Request, found: list[LrRecord]
            ) -> list[tuple[int, float]]:
    """Append stored records of ``request`` to ``found``; return the (seed, lr) pairs still to train."""
    missing = []
    for seed, lr in zip(*request, strict=True):
        record = store.record(config, width, seed, lr)
        if record is None:
            missing.append((seed, lr))
        else:
            found.append(record)
    return missing


def _submit(executor: Executor, job: LrJob, key: str) -> Future[LrJobResult]:
    """Submit with the deterministic key where the executor takes one (verify.runs.executors.DaskExecutor)."""
    submit_keyed = getattr(executor, "submit_keyed", None)
    if submit_keyed is not None:
        future: Future[LrJobResult] = submit_keyed(key, train_lr_job, job)
        return future
    return executor.submit(train_lr_job, job)
