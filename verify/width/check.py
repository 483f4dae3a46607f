"""derive -> train across widths -> fit -> judge: ``abcscale check`` and ``verify`` as a library.

``check(spec, ...)`` validates every option (one-line ``InputError`` naming it, before anything is trained or
written), resolves the defaults, trains through the results store (reruns resume) and returns a
``CheckResult``: the text and JSON the command line prints, the rows, a DataFrame and the coordinate-check
figure.  ``judged=False`` is ``abcscale verify``: the same measurements without PASS/FAIL.  The residual
presets of ``theory.depth`` (or ``depths=``) are checked across depths instead (``verify.depth.check``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from theory.errors import InputError
from theory.exponents import Exponent, format_exponent
from theory.outputs import replacing
from theory.parametrization import Parametrization
from theory.presets import Constants, constants_of
from verify.depth.check import DepthCheckResult
from verify.options import (
    EXPORT_SUFFIXES,
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
from verify.runs.executors import executor_for, executor_slots, uses_cluster
from verify.runs.runtime import gpu_resources
from verify.runs.store import Store
from verify.width.cost import heap_seeds, jobs_seconds
from verify.width.points import judge_check, model_size
from verify.width.sweep import pending_jobs, train_widths
from verify.width.train import TrainSettings
from verify.width.verdict import DEFAULT_TOLERANCE, Row, format_table, summary, value_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_WIDTHS = (128, 256, 512, 1024)
DEFAULT_SEEDS = 8
DEFAULT_STEPS = 3
DEFAULT_BASE_WIDTH = 128
# a transformer's defaults (verify.model.gpt; docs/transformers.md "Checking a GPT in torch")
GPT_WIDTHS = (128, 256, 512, 1024)
# a transformer's seeds per width: at 8, block 1's attention-logit own change measured -0.16 [-0.30, -0.04]
# against 0 for gpt-mup over 128..1024 (fails by its point estimate); at 16, inside the tolerance
GPT_SEEDS = 16
GPT_BASE_WIDTH = 64
GPT_BATCH_SIZE = 4  # sequences per update
GPT_PROBE_SIZE = 8  # probe sequences


@dataclass
class Outcome:
    param: Parametrization  # as trained (with the LR exponent used)
    lr_exponent_source: str  # "given" or "engine edge"
    regime: str | None
    config: str
    widths: list[int]
    seeds: list[int]
    rows: list[Row]
    runs: list[dict[str, object]]
    values: dict[tuple[str, int, int], np.ndarray]  # (quantity, layer, step) -> (seeds, widths)
    resumed: int = 0  # (width, seed) runs read from the store (finished before or by another process), not trained
    notes: list[str] = field(default_factory=list)  # where the widths are short of the limit (verify.width.notes)


def edge_lr_exponent(param: Parametrization) -> tuple[Exponent | None, str]:
    """The LR exponent at the engine's edge, and which edge: the maximal stable exponent, or, for a vanishing
    initialisation (no stable LR: TP4 Thm 3.3), the top of its vanishing-init phase (None: no finite edge)."""
    from theory.engine import derive
    from theory.regimes import VANISHING, sup_where

    report = derive(param)
    edge, what = report.max_stable_lr_exponent, "engine edge (max stable LR exponent)"
    if edge is None and report.vanishing_init and report.phases is not None:
        top, _, unbounded = sup_where(report.phases, (VANISHING,))
        edge = None if unbounded or top is None else sympy.Rational(top.numerator, top.denominator)
        what = "engine edge of the vanishing-init phase (the init vanishes: no stable LR, TP4 Thm 3.3)"
    if edge is None or edge in (sympy.oo, -sympy.oo):
        return None, what
    return edge, what


def choose_lr_exponent(param: Parametrization, given: object | None) -> tuple[Parametrization, str]:
    """``param`` with the LR exponent to train at, and where it came from (given, or the engine's edge)."""
    if given is not None:
        return param.with_(lr_exponent=given), "given"
    edge, what = edge_lr_exponent(param)
    if edge is None:
        return param, "parametrization (the engine finds no finite maximal stable LR exponent)"
    return param.with_(lr_exponent=edge), what


def train_and_judge(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int], db: str, *,
        predict: Parametrization | None = None, workers: int = 1,
        scheduler: str | None = None, tolerance: float = DEFAULT_TOLERANCE,
        progress: bool = True, lr_source: str = "given", device: str = "cpu",
        work_seconds: float | None = None) -> Outcome:
    """Train (resuming from ``db``), then judge against the engine's exponents for ``predict`` (or ``param``).

    ``work_seconds``: the modelled training time (``verify.width.cost``), which decides whether ``workers``
    start a local cluster (``verify.runs.executors.uses_cluster``)."""
    from theory.engine import derive

    target = (predict or param).with_(lr_exponent=param.lr_exponent)
    report = derive(target)
    if report.regime is None:
        raise InputError(f"{target.name}: exponents are symbolic; give numbers to verify")
    store = Store(db)
    try:
        trained: list[int] = []  # runs trained by this process (another may train some of the rest meanwhile)
        # a LocalCluster shares this machine's cores; a scheduler's workers are one single-threaded process a core
        threads = 1 if scheduler is not None else max(1, (os.cpu_count() or 1) // workers)
        with executor_for(workers, scheduler, threads=threads, resources=gpu_resources(device),
                          work_seconds=work_seconds) as executor:
            config = train_widths(param, settings, widths, seeds, store, executor=executor,
                                  in_flight=executor_slots(executor), progress=progress, device=device,
                                  on_result=lambda result: trained.append(len(result.diverged)))
        resumed = len(widths) * len(seeds) - sum(trained)
        values = value_table(store.measurements(config), widths, seeds)
        runs = [r for r in store.runs(config) if r["width"] in widths and r["seed"] in seeds]
    finally:
        store.close()
    from verify.width.notes import linear_softmax_notes

    rows = judge_check(report, param, values, widths, settings.steps, tolerance)
    return Outcome(param, lr_source, report.regime, config, widths, seeds, rows, runs, values, resumed,
                   linear_softmax_notes(report, values))


@dataclass(frozen=True)
class CheckPlan:
    """A validated width check, nothing trained yet: what ``check`` trains, where, and how it judges."""

    param: Parametrization  # with the LR exponent to train at
    lr_exponent_source: str
    predict: Parametrization | None
    settings: TrainSettings
    widths: list[int]
    seeds: int
    tolerance: float
    db: str
    judged: bool = True
    export: str | None = None
    plot: str | None = None
    workers: int = 1
    scheduler: str | None = None
    device: str = "cpu"

    def header(self) -> str:
        """The line the command prints before training: the model, the LR exponent and eta0, the sizes."""
        p, s = self.param, self.settings
        warmup = "" if not p.warmup else (f" (warm-up eta0 = {s.warmup_lr:g})" if isinstance(s.warmup_lr, float)
                                          else " (warm-up eta0 = eta0)")
        data = s.data if p.network is None else (f"{s.data} ({s.batch_size} sequences of {s.seq_len} characters "
                                                 f"per step, d_head {s.head_dim} at n0)")
        return (f"{p.name} ({p.optimizer.name}, {p.loss}, {model_size(p)}): lr exponent X = "
                f"{format_exponent(p.lr_exponent)} [{self.lr_exponent_source}]; eta0 = "
                f"{s.eta0(p.optimizer.name, p.loss):g}{warmup} at n0 = {s.base_width}; widths "
                f"{','.join(map(str, self.widths))}; {self.seeds} seeds; {s.steps} steps; data {data}"
                f"{self.where()}")

    @property
    def work_seconds(self) -> float:
        """Modelled single-threaded seconds of every training of the check: its CPU jobs as the sweep makes
        them (``verify.width.sweep.pending_jobs``), each as ``verify.width.cost.job_seconds`` models it."""
        return jobs_seconds(pending_jobs(self.param, self.settings, self.widths, list(range(self.seeds)), set()))

    def where(self) -> str:
        """The header's note when ``--workers`` asks for a cluster that cannot pay off (trained here instead)."""
        if self.workers < 2 or self.scheduler is not None or uses_cluster(self.workers, self.work_seconds):
            return ""
        return (f"; trained in this process: about {self.work_seconds:.1f} s of training, too little for "
                f"{self.workers} workers to repay a cluster's start-up")

    def run(self, *, progress: bool = False) -> CheckResult:
        """Train the missing runs (resuming from ``db``), judge, then write the export and the plot if asked."""
        outcome = train_and_judge(self.param, self.settings, self.widths, list(range(self.seeds)), self.db,
                                  predict=self.predict, workers=self.workers, scheduler=self.scheduler,
                                  tolerance=self.tolerance, progress=progress, lr_source=self.lr_exponent_source,
                                  device=self.device, work_seconds=self.work_seconds)
        result = CheckResult(self, outcome)
        if self.export:
            with Store(self.db) as store, replacing(self.export) as temporary:
                store.export(temporary, [outcome.config])
        if self.plot:
            result.write_figure(self.plot)
        return result


@dataclass
class CheckResult(Result):
    """The outcome of ``check`` / ``verify``: one ``Row`` per judged (quantity, layer, step)."""

    plan: CheckPlan
    outcome: Outcome
    rows: list[Row] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = self.outcome.rows

    @property
    def param(self) -> Parametrization:
        """The parametrization as trained (with the LR exponent used)."""
        return self.outcome.param

    @property
    def summary(self) -> dict[str, int]:
        """Counts of PASS, FAIL and SKIP rows."""
        return summary(self.rows)

    @property
    def diverged(self) -> list[dict[str, object]]:
        """The (width, seed) runs that stopped being finite, with the step where they did."""
        return [r for r in self.outcome.runs if r["status"] == "diverged"]

    @property
    def passed(self) -> bool:
        return not (self.plan.judged and self.summary["FAIL"] > 0)

    @property
    def notes(self) -> list[str]:
        """Where the widths are not yet in the regime of the engine's limit (``verify.width.notes``)."""
        return self.outcome.notes if self.plan.judged else []

    def table(self, *, header: bool = True) -> str:
        plan, outcome = self.plan, self.outcome
        x_text = format_exponent(outcome.param.lr_exponent)
        total = len(plan.widths) * plan.seeds
        lines = [plan.header()] if header else []
        lines.append(f"engine regime at X = {x_text}: {outcome.regime}; tolerance +-{plan.tolerance:g}; "
                     f"config {outcome.config} in {plan.db}: {total - outcome.resumed} of {total} (width, seed) "
                     f"runs trained now, {outcome.resumed} resumed from the db")
        lines.append(format_table(self.rows, show_verdict=plan.judged))
        for r in self.diverged:
            lines.append(f"diverged: width {r['width']} seed {r['seed']} at step {r['diverged_step']}")
        if plan.judged:
            counts = self.summary
            lines.append(f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP")
            lines += [f"note: {note}" for note in self.notes]
        if plan.plot:
            lines.append(f"coordinate check written to {plan.plot}")
        if plan.export:
            lines.append(f"measurements exported to {plan.export}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        plan, outcome = self.plan, self.outcome
        return {"parametrization": outcome.param.name, "lr_exponent": format_exponent(outcome.param.lr_exponent),
                "lr_exponent_source": outcome.lr_exponent_source, "regime": outcome.regime,
                "config": outcome.config, "widths": plan.widths, "seeds": plan.seeds, "steps": plan.settings.steps,
                "tolerance": plan.tolerance, "diverged_runs": self.diverged, "passed": self.passed,
                "resumed_runs": outcome.resumed, "device": plan.device, "summary": self.summary,
                "notes": self.notes, "rows": self.row_dicts()}

    def row_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]

    def figure(self) -> Figure:
        """The coordinate check: per quantity, seed means against width per layer and the predicted slopes."""
        from verify.width.plot import coordinate_figure

        return coordinate_figure(self.outcome)

    def __repr__(self) -> str:
        counts = self.summary
        verdicts = f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP" if self.plan.judged \
            else f"{len(self.rows)} rows"
        return (f"<CheckResult {self.param.name} ({self.param.optimizer.name}, {self.param.loss}): {verdicts}; "
                f"widths {','.join(map(str, self.plan.widths))}; {self.plan.seeds} seeds>")


def check_job_memory(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: int,
                     device: str) -> None:
    """Refuse a check whose measurements cannot fit in this machine's memory, or whose widest job cannot fit in
    the memory of ``device``: the seeds that ``pending_jobs`` batches together there (all of them on a GPU,
    heap-sized groups on the CPU)."""
    from verify.memory import Size, amount, check_fits, gpt_job_bytes, records_bytes, width_job_bytes

    records = functools.partial(records_bytes, widths=len(widths), steps=settings.steps, tensors=len(param.layers))
    check_fits(records, {"seeds": Size("--seeds", seeds)},
               f"keeping the measurements of {len(widths)} widths x {seeds} seeds")
    width = max(widths)
    if device == "cpu":
        seeds = min(seeds, heap_seeds(param, settings, width))
    count = f"{seeds} seed{'s' if seeds > 1 else ''}"
    if param.network is not None:
        estimate = functools.partial(gpt_job_bytes, blocks=param.network.blocks, batch_size=settings.batch_size,
                                     seq_len=settings.seq_len or 32)
        check_fits(estimate, {"width": Size("--widths", width, 2), "seeds": Size("--seeds", seeds)},
                   f"one width-{amount(width)} GPT job ({count})", device)
        return

    estimate = functools.partial(width_job_bytes, optimizer=param.optimizer.name, momentum=param.optimizer.momentum,
                                 probe=settings.probe_size, inputs=settings.inputs)
    check_fits(estimate, {"width": Size("--widths", width, 2), "seeds": Size("--seeds", seeds),
                          "batch_size": Size("--batch-size", settings.batch_size),
                          "layers": Size("--layers", param.hidden_layers)},
               f"one width-{amount(width)} job ({count})", device)


def check(spec: str | os.PathLike[str] | Parametrization, *, layers: int | None = None, loss: str | None = None,
          optimizer: str | None = None, activation: str | None = None, lr_exponent: object | None = None,
          eps_exponent: object | None = None, widths: Ints | None = None, seeds: int | None = None,
          steps: int = DEFAULT_STEPS, lr: float | None = None, base_width: int | None = None,
          warmup_lr: float | None = None,
          batch_size: int | None = None, data: str | None = None, predict: str | Parametrization | None = None,
          tolerance: float | None = None, db: str = "abcscale.db", export: str | None = None,
          plot: str | None = None, workers: int = 1, scheduler: str | None = None, device: str = "cpu",
          depths: Ints | None = None, judged: bool = True, progress: bool = False,
          announce: Callable[[str], None] | None = None) -> CheckResult | DepthCheckResult:
    """Derive, train across widths and judge: ``abcscale check`` (``judged=False``: ``verify``) from Python.

    The keywords are the command's flags: ``widths`` a list or "128,256" (default 128,256,512,1024), ``seeds``
    a count, ``lr`` eta0 at ``base_width`` (defaults: the preset source's constants, ``theory.presets.Constants``,
    else eta0 per optimizer and loss at n0 = 128), ``warmup_lr`` eta0 of a warm-up schedule's updates,
    ``lr_exponent`` the global LR exponent (default: the engine's edge), ``predict`` a parametrization to judge
    against instead,
    ``db`` the SQLite results file (finished runs are resumed), ``export`` (.csv/.json) and ``plot``
    (.png/.pdf/.svg) files to write.  Every option is validated first (``InputError``, one line).  ``announce``
    gets the header line before training (the command line prints it); ``progress`` draws a bar on stderr.
    A residual preset of ``theory.depth``, or ``depths``, checks exponents in the depth instead.

    A transformer (``gpt-sp``, ``gpt-mup``, a GPT TOML file) trains the torch GPT of ``verify.model.gpt`` on the
    ``pydoc`` character corpus; its defaults: widths 128,256,512,1024, 16 seeds, n0 = 64, batches of 4 sequences of 32
    characters, 8 probe sequences, d_head 32 at n0 (2 heads).  Batch sizes count examples (MLP, default 1) or
    sequences."""
    from verify.runs.runtime import check_device

    at_least("--workers", workers, 1)
    check_callback("--announce", announce)
    device = check_device(check_text("--device", device), workers=workers, scheduler=scheduler)
    if depths is not None or _is_depth_preset(spec):
        from verify.depth.check import check_depths

        if device != "cpu":
            raise InputError(f"--device {device}: depth sweeps run on the cpu only")
        return check_depths(spec, depths=depths, widths=widths, seeds=DEFAULT_SEEDS if seeds is None else seeds,
                            optimizer=optimizer, export=export,
                            plot=plot, judged=judged, progress=progress, announce=announce)
    width_list = None if widths is None else parse_widths(widths)
    constants = constants_of(spec) if isinstance(spec, str) else Constants()
    lr = lr if lr is not None else constants.lr
    warmup_lr = warmup_lr if warmup_lr is not None else constants.warmup_lr
    steps = DEFAULT_STEPS if steps is None else steps
    for option, value in (("--seeds", seeds), ("--steps", steps), ("--workers", workers),
                          ("--batch-size", batch_size), ("--base-width", base_width)):
        if value is not None:
            at_least(option, value, 1)
    lr = None if lr is None else positive("--lr", lr)  # a float, as the command line's: the config key
    warmup_lr = None if warmup_lr is None else positive("--warmup-lr", warmup_lr)
    tolerance = DEFAULT_TOLERANCE if tolerance is None else positive("--tolerance", tolerance)
    check_output("--export", export, EXPORT_SUFFIXES)
    check_output("--plot", plot, PLOT_SUFFIXES)
    db = check_path("--db", db)
    check_distinct_files(("--db", db), ("--export", export), ("--plot", plot))
    if data is not None:
        check_data(data)
    check_scheduler(scheduler)
    param = trainable(parametrization(spec, layers=layers, optimizer=optimizer, loss=loss, activation=activation,
                                      eps_exponent=eps_exponent))
    gpt = param.network is not None
    seeds = (GPT_SEEDS if gpt else DEFAULT_SEEDS) if seeds is None else seeds
    data = check_data(data if data is not None else "pydoc" if gpt else "synthetic", transformer=gpt)
    if batch_size is not None and not gpt:
        check_batch(batch_size, data)
    target = None
    if predict is not None:
        target = parametrization(predict, layers=param.network.blocks if gpt else param.hidden_layers,
                                 optimizer=param.optimizer.name, loss=param.loss, activation=param.activation)
        _same_tensors(param, target, predict)
    if warmup_lr is not None and not param.warmup:
        raise InputError(f"--warmup-lr: {param.name} has no warm-up schedule (warmup_c in a TOML file, or ip-llr)")
    param, source = choose_lr_exponent(param, lr_exponent)
    if gpt:
        settings = _gpt_settings(param, steps=steps, batch_size=batch_size, base_width=base_width, lr=lr, data=data)
    else:
        settings = TrainSettings(steps=steps, batch_size=1 if batch_size is None else batch_size,
                                 base_width=base_width or constants.base_width or DEFAULT_BASE_WIDTH, lr=lr,
                                 data=data, warmup_lr=warmup_lr)
    width_list = width_list or list(GPT_WIDTHS if gpt else DEFAULT_WIDTHS)
    if gpt:
        _check_heads(param, settings, width_list)
    if scheduler is None:  # a scheduler's workers are other machines
        check_job_memory(param, settings, width_list, seeds, device)
    plan = CheckPlan(param, source, target, settings, width_list, seeds, tolerance, db, judged, export, plot,
                     workers, scheduler, device)
    if announce is not None:
        announce(plan.header())
    return plan.run(progress=progress)


def _gpt_settings(param: Parametrization, *, steps: int, batch_size: int | None, base_width: int | None,
                  lr: float | None, data: str) -> TrainSettings:
    """A transformer's training settings (``GPT_*`` defaults where an option is not given)."""
    from verify.data import SEQ_LEN
    from verify.model.gpt import DEFAULT_HEAD_DIM
    from verify.width.gpt_train import DEFAULT_WEIGHT_DECAY

    return TrainSettings(steps=steps, batch_size=batch_size or GPT_BATCH_SIZE, probe_size=GPT_PROBE_SIZE,
                         base_width=base_width or GPT_BASE_WIDTH, lr=lr, data=data, seq_len=SEQ_LEN,
                         head_dim=DEFAULT_HEAD_DIM,
                         weight_decay=DEFAULT_WEIGHT_DECAY if param.optimizer.name == "adamw" else None)


def _check_heads(param: Parametrization, settings: TrainSettings, widths: list[int]) -> None:
    """Every width splits into the architecture's heads (InputError naming the first that does not)."""
    from verify.model.gpt import gpt_shape

    for width in widths:
        gpt_shape(param.network, width, base_width=settings.base_width, head_dim=settings.head_dim or 1,
                  seq_len=settings.seq_len or 1, vocab=1)


def _same_tensors(param: Parametrization, target: Parametrization, predict: object) -> None:
    """A prediction for the trained model's tensors: both MLPs, or networks with the same tensors."""
    mine = [layer.name for layer in param.layers]
    if (param.network is None) != (target.network is None) or mine != [layer.name for layer in target.layers]:
        what = "a transformer" if param.network is not None else "an MLP"
        raise InputError(f"--predict {predict}: {param.name} is {what}; judge it against a parametrization with the "
                         "same tensors")


def _is_depth_preset(spec: object) -> bool:
    from theory.depth import DEPTH_PRESETS

    return isinstance(spec, str) and spec in DEPTH_PRESETS
