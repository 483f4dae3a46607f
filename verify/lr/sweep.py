"""Learning-rate sweeps across widths: the driver that runs every width's search through an Executor.

Each width runs the rounds of ``verify.lr.search.width_search`` (the maximal stable eta on a fixed lattice,
then the optimal-eta grid), all widths at once in a ``verify.lr.pool.SearchPool``.  A round's requests are
first looked up in the store (finished trainings are never repeated: reruns are idempotent and resume); the
missing ones become ``LrJob``s submitted to the Executor, at most ``in_flight`` (its slots) at a time, widest
width first.  The slots also set the plan (``sweep_plan``): the dominant widths' seeds are split into groups
(``verify.runs.plan``) and each width's search proposes ``fanout`` candidates a round (``verify.lr.fanout``),
so a round evaluates about as many candidates as there are workers; the results do not depend on it.  The
driver writes each job's records to the store the moment its future completes, so a worker or driver killed
mid-sweep loses only the trainings in flight.  Job keys are deterministic: (config hash, width, seeds, lrs).
Before submitting a job the driver claims its (width, seed, lr) runs in the store (``Store.claim``): another
process's runs are waited for and read, not trained again, unless its lease expires (it died), and then they
are trained here.

``lr_sweep(spec, ...)`` is ``abcscale lr-sweep`` as a library: it validates every option (one-line
``InputError``), runs the sweep through the store, fits the exponents of the maximal stable and optimal LR
(``verify.lr.fit``), judges the first against the engine's ``max_stable_lr_exponent`` and returns an
``LrSweepResult``: the text and JSON the command prints, one row per width, a DataFrame and the LR figure.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sympy

from theory.errors import InputError
from theory.exponents import Exponent, format_exponent
from theory.parametrization import Parametrization
from theory.terminal import text_table
from verify.fit import SlopeFit
from verify.lr.fanout import fanout_plan
from verify.lr.fit import EdgeRegime, edge_regime, fit_lr
from verify.lr.pool import SearchPool, Task
from verify.lr.search import Request, SearchSettings, WidthResult
from verify.lr.stability import Criterion
from verify.lr.train import LrJob, LrJobResult, LrRecord, LrSettings, train_lr_job
from verify.options import (
    PLOT_SUFFIXES,
    Ints,
    at_least,
    check_batch,
    check_callback,
    check_data,
    check_distinct_files,
    check_output,
    check_path,
    check_scheduler,
    check_text,
    parametrization,
    parse_widths,
    positive,
    trainable,
)
from verify.result import Result
from verify.runs.executors import InlineExecutor, executor_for, executor_slots, next_finished, submit_keyed
from verify.runs.keys import config_key, describe, task_key
from verify.runs.plan import seed_parts
from verify.runs.runtime import gpu_resources
from verify.runs.store import POLL_SECONDS, Store

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_WIDTHS = (64, 128, 256, 512, 1024)
DEFAULT_SEEDS = 3
DEFAULT_STEPS = 50
DEFAULT_BATCH_SIZE = 32
DEFAULT_BASE_WIDTH = 64
DEFAULT_TOLERANCE = 0.15
OPTIMIZERS = ("sgd", "adam")  # the MLP's; a GPT trains with verify.model.optim.GPT_SUPPORTED
# a transformer's (docs/lr_sweep.md "Transformers"): sequences of 32 characters per update, probe sequences, and
# the fixed training sequences whose loss decides the `loss` criterion and the optimum
GPT_BATCH_SIZE = 4
GPT_PROBE_SIZE = 8
GPT_EVAL_SIZE = 64


def description(param: Parametrization, settings: LrSettings) -> dict[str, Any]:
    """What fixes a training's outcome: the parametrization without its LR exponent (the sweep varies the
    global LR), and the settings.

    The divergence criterion and the search settings are not part of it: they only decide which trainings
    are run, so their records are shared between criteria.  A GPT's adds its fixed architecture numbers (head
    dimension, AdamW's decay), so its runs are keyed apart from any MLP's."""
    fields = settings.as_dict()
    if param.network is not None:
        from verify.lr.gpt_train import DEFAULT_WEIGHT_DECAY
        from verify.model.gpt import DEFAULT_HEAD_DIM

        fields = {**fields, "model": "gpt", "head_dim": DEFAULT_HEAD_DIM,
                  "weight_decay": DEFAULT_WEIGHT_DECAY if param.optimizer.name == "adamw" else 0.0}
    return describe("lr-sweep", param.with_(lr_exponent=0), fields)


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
    runs_trained: int = 0  # (seed, eta) runs trained by this call
    fanout: dict[int, int] = field(default_factory=dict)  # width -> candidates a round (verify.lr.fanout)
    parts: dict[int, int] = field(default_factory=dict)  # width -> seed groups (verify.runs.plan)


def sweep_plan(widths: list[int], seeds: int, slots: int, search: SearchSettings) -> tuple[dict[int, int],
                                                                                            dict[int, int]]:
    """(fan-out, seed groups) per width for ``slots`` parallel trainings: all 1 for one slot."""
    parts = seed_parts(widths, seeds, slots)
    fanout = fanout_plan(widths, seeds, slots, parts, expand=search.expand, precision=search.precision,
                         grid_points=search.grid_points)
    return fanout, parts


def run_lr_sweep(param: Parametrization, settings: LrSettings, widths: list[int], seeds: list[int],
                 store: Store, *, criterion: Criterion | None = None, search: SearchSettings | None = None,
                 executor: Executor | None = None, in_flight: int = 1, progress: bool = True,
                 on_result: Callable[[LrJobResult], None] | None = None, device: str = "cpu",
                 poll: float = POLL_SECONDS) -> SweepResult:
    """Search every width (resuming from ``store``), training on ``device``; return the per-width results.

    ``in_flight`` trainings are submitted at once: the executor's slots (``executor_slots``).  They also fix
    the plan (``sweep_plan``): the dominant widths' seeds split into groups, and the fan-out of each width's
    search; the results do not depend on it (if stability is monotone in eta), only the wall time does.
    Each job's (width, seed, lr) runs are claimed in the store first: runs another process holds are waited
    for (looked at again every ``poll`` seconds) and read from the store when it has written them."""
    from tqdm import tqdm

    criterion = criterion or Criterion()
    search = search or SearchSettings()
    param = param.with_(lr_exponent=0)
    config = config_hash(param, settings)
    store.add_config(config, description(param, settings))
    runner = executor or InlineExecutor()
    fanout, parts = sweep_plan(sorted(widths), len(seeds), max(1, in_flight), search)
    out = SweepResult(config=config, widths=sorted(widths), seeds=list(seeds), results={}, fanout=fanout,
                      parts=parts)
    bar = tqdm(desc="lr-sweep", unit="training", disable=not progress, leave=False)

    def lookup(width: int, request: Request, found: list[LrRecord]) -> list[tuple[int, float]]:
        return _lookup(store, config, width, request, found)

    pool = SearchPool(out.widths, out.seeds, criterion, search, fanout=fanout, parts=parts, lookup=lookup)
    running: dict[Future[LrJobResult], Task] = {}
    waiting: list[Task] = []  # runs another process holds: looked at again every ``poll`` seconds
    looked = time.monotonic()
    try:
        while pool.ready or running or waiting:
            while pool.ready and len(running) < max(1, in_flight):
                task = pool.take()
                claim = store.claim("lr-sweep", config, task.runs())
                if claim.busy:
                    waiting.append(task.only(claim.busy))
                if claim.claimed:
                    mine = task.only(claim.claimed)
                    key = job_key(config, mine.width, mine.seeds, mine.lrs)
                    out.keys.append(key)
                    job = LrJob(param, mine.width, mine.seeds, mine.lrs, settings, device)
                    running[_submit(runner, job, key)] = mine
                if claim.done:  # trained by another process meanwhile: read, as a resumed run
                    done_task = task.only(claim.done)
                    found: list[LrRecord] = []
                    _lookup(store, config, task.width, (done_task.seeds, done_task.lrs), found)
                    out.reused += len(found)
                    pool.deliver(task.width, found)
            done = next_finished(running, poll=poll, waiting=bool(waiting), since=looked)
            for future in done:
                result = future.result()
                store.write_lr(config, result)
                width = running.pop(future).width
                out.trained += 1
                out.runs_trained += len(result.records)
                bar.update(1)
                bar.set_postfix_str(f"n={width} widths done {len(pool.results)}/{len(widths)}")
                if on_result is not None:
                    on_result(result)
                pool.deliver(width, result.records)
            if waiting and time.monotonic() - looked >= poll:
                pool.ready[:0], waiting = waiting, []
                looked = time.monotonic()
    finally:
        for future in running:
            future.cancel()
        store.release("lr-sweep", config, [run for task in running.values() for run in task.runs()])
        bar.close()
    out.results = pool.results
    out.reused += pool.reused
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
    label = f"lr-sweep training at width {job.width}, seeds {_join(job.seeds)}, eta {_join(job.lrs)}"
    future: Future[LrJobResult] = submit_keyed(executor, key, train_lr_job, job, label=label)
    return future


def _join(values: tuple[object, ...]) -> str:
    return ",".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values)


@dataclass(frozen=True)
class WidthRow:
    """One width of a sweep: seed geometric means of the maximal stable and optimal eta, the per-seed values,
    the majority single-run regime at and beyond the edge, the trainings run and the search's notes."""

    width: int
    max_stable: float | None
    max_stable_per_seed: list[float | None]
    optimal: float | None
    optimal_per_seed: list[float | None]
    regime_at_edge: str | None
    regime_beyond_edge: str | None
    trainings: int
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def width_rows(sweep: SweepResult, criterion: Criterion) -> list[WidthRow]:
    """Per-width summary of a sweep (the rows of the table and of ``widths_detail`` in the JSON)."""
    rows = []
    for w in sweep.widths:
        res = sweep.results[w]
        ms = [e.max_stable for e in res.edges.values() if e.max_stable is not None]
        opt = [v for v in res.optimal.values() if v is not None]
        at = [criterion.regime(e.lo) for e in res.edges.values() if e.lo is not None]
        past = [criterion.regime(e.hi) for e in res.edges.values() if e.hi is not None]
        rows.append(WidthRow(w, _geo(ms), [e.max_stable for e in res.edges.values()], _geo(opt),
                             [res.optimal.get(s) for s in sweep.seeds], _majority(at), _majority(past),
                             res.trainings, sorted({e.note for e in res.edges.values() if e.note})))
    return rows


def _geo(values: list[float]) -> float | None:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _majority(labels: list[str]) -> str | None:
    return Counter(labels).most_common(1)[0][0] if labels else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _fit_text(fit: SlopeFit) -> str:
    if fit.slope is None or fit.low is None or fit.high is None:
        return f"n/a ({fit.note})"
    return f"{fit.slope:+.3f} [{fit.low:+.3f}, {fit.high:+.3f}]"


def _fit_dict(fit: SlopeFit) -> dict[str, object]:
    return {"slope": fit.slope, "low": fit.low, "high": fit.high, "note": fit.note}


@dataclass(frozen=True)
class LrSweepPlan:
    """A validated LR sweep, nothing trained yet: the model, the settings, the search and the verdict's terms."""

    param: Parametrization  # LR exponent 0: the sweep varies the global LR
    settings: LrSettings
    search: SearchSettings
    criterion: Criterion
    widths: list[int]
    seeds: int
    tolerance: float
    db: str
    predicted: Exponent | None  # the engine's max_stable_lr_exponent
    plot: str | None = None
    workers: int = 1
    scheduler: str | None = None
    device: str = "cpu"

    @property
    def predicted_value(self) -> float | None:
        """The predicted exponent as a number, None when the engine finds no finite edge."""
        if self.predicted is None or self.predicted in (sympy.oo, -sympy.oo):
            return None
        return float(self.predicted)

    @property
    def predicted_text(self) -> str:
        if self.predicted_value is None or self.predicted is None:
            return "none (no finite edge)"
        return format_exponent(self.predicted)

    @property
    def name(self) -> str:
        """The model as the header and the figure's title name it."""
        p = self.param
        depth = f"L={p.hidden_layers}" if p.network is None else f"{p.network.blocks} blocks"
        return f"{p.name} ({p.optimizer.name}, {p.loss}, {depth}, {self.settings.data})"

    def header(self) -> str:
        """The line the command prints before training: model, sizes, criterion and the prediction."""
        return (f"{self.name}: widths {','.join(map(str, self.widths))}; {self.seeds} seeds; "
                f"{self.settings.steps} steps; {self.criterion.describe()}; predicted max-stable exponent "
                f"{self.predicted_text}")

    def run(self, *, progress: bool = False) -> LrSweepResult:
        """Search every width (resuming from ``db``), fit, judge; write the figure if asked."""
        seeds = list(range(self.seeds))
        store = Store(self.db)
        try:
            with executor_for(self.workers, self.scheduler, resources=gpu_resources(self.device)) as executor:
                sweep = run_lr_sweep(self.param, self.settings, self.widths, seeds, store, criterion=self.criterion,
                                     search=self.search, executor=executor, in_flight=executor_slots(executor),
                                     progress=progress, device=self.device)
        finally:
            store.close()
        max_fit = fit_lr(sweep.widths, seeds, sweep.results, "max_stable")
        opt_fit = fit_lr(sweep.widths, seeds, sweep.results, "optimal")
        keys = None
        if self.param.network is not None:
            from verify.lr.gpt_train import gpt_edge_keys

            keys = gpt_edge_keys(self.param)
        edge = edge_regime(sweep.widths, seeds, sweep.results, self.criterion, self.settings.steps,
                           len(self.param.layers), self.tolerance, keys)
        result = LrSweepResult(self, sweep, max_fit, opt_fit, edge, width_rows(sweep, self.criterion))
        if self.plot:
            result.write_figure(self.plot)
        return result


@dataclass
class LrSweepResult(Result):
    """The outcome of ``lr_sweep``: the sweep, the fitted exponents, the edge regime and one row per width."""

    plan: LrSweepPlan
    sweep: SweepResult
    max_fit: SlopeFit  # exponent of the maximal stable LR against width
    opt_fit: SlopeFit  # exponent of the optimal LR
    edge: EdgeRegime
    rows: list[WidthRow]

    @property
    def passed(self) -> bool:
        """The measured max-stable exponent lies within the tolerance of the engine's."""
        predicted, slope = self.plan.predicted_value, self.max_fit.slope
        return predicted is not None and slope is not None and abs(slope - predicted) <= self.plan.tolerance

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def table(self, *, header: bool = True) -> str:
        plan, sweep = self.plan, self.sweep
        lines = [plan.header()] if header else []
        lines.append(text_table(["width", "max stable eta", "optimal eta", "regime at edge", "beyond edge",
                                 "trainings"],
                                [[str(r.width), _fmt(r.max_stable), _fmt(r.optimal), str(r.regime_at_edge),
                                  str(r.regime_beyond_edge), str(r.trainings)] for r in self.rows],
                                right={0, 1, 2, 5}))
        lines.append("")
        lines.append(f"max-stable exponent {_fit_text(self.max_fit)}  predicted {plan.predicted_text}  "
                     f"(tolerance {plan.tolerance:g}): {self.verdict}")
        lines.append(f"optimal exponent    {_fit_text(self.opt_fit)}")
        lines.append(f"regime at the edge across widths: {self.edge.regime}; beyond the edge: {self.edge.beyond}")
        for quantity, fit in self.edge.slopes.items():
            lines.append(f"  width slope at the edge of {quantity:30s} {_fit_text(fit)}")
        lines.append(f"{sweep.trained} trainings run, {sweep.reused} runs reused from {plan.db} "
                     f"(config {sweep.config})")
        if plan.plot:
            lines.append(f"figure written to {plan.plot}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        plan, sweep, p = self.plan, self.sweep, self.plan.param
        return {
            "parametrization": p.name, "optimizer": p.optimizer.name, "loss": p.loss,
            "data": plan.settings.data, "widths": sweep.widths, "seeds": plan.seeds, "steps": plan.settings.steps,
            "criterion": plan.criterion.as_dict(), "config": sweep.config, "db": plan.db,
            "predicted_max_stable_exponent": plan.predicted_text if plan.predicted_value is not None else None,
            "max_stable_exponent": _fit_dict(self.max_fit), "optimal_exponent": _fit_dict(self.opt_fit),
            "edge_regime": self.edge.regime, "beyond_edge_regime": self.edge.beyond,
            "edge_slopes": {k: _fit_dict(v) for k, v in self.edge.slopes.items()},
            "tolerance": plan.tolerance, "verdict": self.verdict, "widths_detail": self.row_dicts(),
            "trained": sweep.trained, "reused": sweep.reused}

    def row_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rows]

    def figure(self) -> Figure:
        """Loss against eta per width, and the maximal stable and optimal eta against width with the fits."""
        from verify.lr.plot import lr_figure

        return lr_figure(self.sweep, title=self.plan.name, predicted=self.plan.predicted_value,
                         max_fit=self.max_fit, opt_fit=self.opt_fit)

    def __repr__(self) -> str:
        p = self.plan.param
        return (f"<LrSweepResult {p.name} ({p.optimizer.name}, {p.loss}): max-stable exponent "
                f"{_fit_text(self.max_fit)}, predicted {self.plan.predicted_text}: {self.verdict}; "
                f"widths {','.join(map(str, self.sweep.widths))}; {self.plan.seeds} seeds>")


def lr_sweep(spec: str | os.PathLike[str] | Parametrization, *, layers: int | None = None, loss: str | None = None,
             optimizer: str | None = None, activation: str | None = None, widths: Ints | None = None,
             seeds: int = DEFAULT_SEEDS, steps: int = DEFAULT_STEPS, batch_size: int | None = None,
             base_width: int = DEFAULT_BASE_WIDTH, data: str | None = None, criterion: str = "loss",
             loss_factor: float = 1.0, activation_bound: float = 10.0, start_lr: float | None = None,
             precision: float = 2 ** 0.125, grid_points: int = 5, optimal_by: str = "loss",
             tolerance: float = DEFAULT_TOLERANCE, workers: int = 1, scheduler: str | None = None,
             device: str = "cpu", db: str = "abcscale.db", plot: str | None = None, progress: bool = False,
             announce: Callable[[str], None] | None = None) -> LrSweepResult:
    """Maximal stable and optimal LR across widths against the engine: ``abcscale lr-sweep`` from Python.

    The keywords are the command's flags: ``widths`` a list or "64,128" (default 64,...,1024), ``seeds`` a
    count, ``criterion`` loss, nonfinite or activation, ``start_lr`` the first eta tried (default 0.1 for SGD,
    1e-3 for Adam), ``precision`` the bisection's final hi/lo ratio, ``grid_points`` the optimal-LR grid below the
    edge, ``db`` the SQLite results file (finished trainings are reused), ``plot`` a figure file to write.  Every
    option is validated first (``InputError``, one line).  ``announce`` gets the header line before training
    (the command line prints it); ``progress`` draws a bar on stderr.  ``passed``: the measured max-stable
    exponent is within ``tolerance`` of the engine's ``max_stable_lr_exponent``.

    A transformer (``gpt-sp``, ``gpt-mup``, a GPT TOML file) trains the batched GPT of ``verify.model.gpt`` on the
    ``pydoc`` character corpus (``verify.lr.gpt_train``), with cross-entropy and the GPT trainer's optimizers;
    ``batch_size`` counts sequences (default 4; an MLP's examples, default 32) and ``data`` defaults to pydoc
    (an MLP's to synthetic)."""
    from theory.engine import derive
    from verify.runs.runtime import check_device

    check_callback("--announce", announce)
    width_list = parse_widths(DEFAULT_WIDTHS if widths is None else widths)
    for option, value in (("--seeds", seeds), ("--steps", steps), ("--base-width", base_width),
                          ("--workers", workers)):
        at_least(option, value, 1)
    if batch_size is not None:
        at_least("--batch-size", batch_size, 1)
    tolerance = positive("--tolerance", tolerance)
    loss_factor = positive("--loss-factor", loss_factor)
    activation_bound = positive("--activation-bound", activation_bound)
    start_lr = None if start_lr is None else positive("--start-lr", start_lr)
    precision = positive("--precision", precision)
    at_least("--grid-points", grid_points, 0)
    if data is not None:
        check_data(data)
    check_scheduler(scheduler)
    check_output("--plot", plot, PLOT_SUFFIXES)
    db = check_path("--db", db)
    check_distinct_files(("--db", db), ("--plot", plot))
    device = check_device(check_text("--device", device), workers=workers, scheduler=scheduler)
    param = parametrization(spec, layers=layers, optimizer=optimizer, loss=loss,
                            activation=activation).with_(lr_exponent=0)
    gpt = param.network is not None
    if gpt:
        param = trainable(param)  # the GPT trainer's optimizers, cross-entropy
    elif param.optimizer.name not in OPTIMIZERS:
        raise InputError(f"--optimizer {param.optimizer.name}: lr-sweep trains an MLP with {' or '.join(OPTIMIZERS)}")
    data = check_data(data if data is not None else "pydoc" if gpt else "synthetic", transformer=gpt)
    rule = Criterion(kind=criterion, loss_factor=loss_factor, activation_bound=activation_bound)
    if start_lr is None:
        start_lr = 0.1 if param.optimizer.name == "sgd" else 1e-3
    search = SearchSettings(start_lr=start_lr, precision=precision, grid_points=grid_points, target=optimal_by)
    if gpt:
        settings = _gpt_settings(param, width_list, seeds=seeds, steps=steps, batch_size=batch_size,
                                 base_width=base_width, device=device if scheduler is None else None)
    else:
        batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        check_batch(batch_size, data)
        settings = LrSettings(steps=steps, batch_size=batch_size, base_width=base_width, data=data)
    if scheduler is None and not gpt:  # a scheduler's workers are other machines
        from verify.data import input_width
        from verify.memory import Size, amount, check_fits, lr_job_bytes

        widest = width_list[-1]
        estimate = functools.partial(lr_job_bytes, optimizer=param.optimizer.name, momentum=param.optimizer.momentum,
                                     eval_size=settings.eval_size,
                                     inputs=input_width(data, settings.input_dim))
        check_fits(estimate, {"width": Size("--widths", widest, 2), "seeds": Size("--seeds", seeds),
                              "batch_size": Size("--batch-size", settings.batch_size),
                              "layers": Size("--layers", param.hidden_layers)},
                   f"one width-{amount(widest)} job ({seeds} seeds)", device)
    plan = LrSweepPlan(param, settings, search, rule, width_list, seeds, tolerance, db,
                       derive(param).max_stable_lr_exponent, plot, workers, scheduler, device)
    if announce is not None:
        announce(plan.header())
    return plan.run(progress=progress)


def _gpt_settings(param: Parametrization, widths: list[int], *, seeds: int, steps: int, batch_size: int | None,
                  base_width: int, device: str | None) -> LrSettings:
    """A transformer's settings (``GPT_*`` defaults), after checking that every width splits into heads, that
    the batch fits the corpus and (``device`` given) that the widest job fits in memory."""
    from verify.data import SEQ_LEN, load_for
    from verify.memory import Size, amount, check_fits, gpt_job_bytes
    from verify.model.gpt import DEFAULT_HEAD_DIM, gpt_shape

    assert param.network is not None
    for width in widths:
        gpt_shape(param.network, width, base_width=base_width, head_dim=DEFAULT_HEAD_DIM, seq_len=1, vocab=1)
    batch_size = GPT_BATCH_SIZE if batch_size is None else batch_size
    settings = LrSettings(steps=steps, batch_size=batch_size, base_width=base_width, data="pydoc",
                          eval_size=GPT_EVAL_SIZE, probe_size=GPT_PROBE_SIZE)
    pool = load_for(settings, "ce").train_x.shape[0]
    if batch_size > pool:
        raise InputError(f"--batch-size {batch_size}: the pydoc training split has {pool} sequences")
    if device is not None:
        def estimate(width: int, seeds: int, batch_size: int) -> float:
            return gpt_job_bytes(width=width, seeds=seeds, blocks=blocks, batch_size=max(batch_size, GPT_EVAL_SIZE),
                                 seq_len=SEQ_LEN)

        blocks = param.network.blocks
        check_fits(estimate, {"width": Size("--widths", widths[-1], 2), "seeds": Size("--seeds", seeds),
                              "batch_size": Size("--batch-size", batch_size)},
                   f"one width-{amount(widths[-1])} GPT job ({seeds} seeds)", device)
    return settings
