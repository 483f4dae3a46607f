"""abcscale lr-sweep: measure how the maximal stable and the optimal learning rate scale with width."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from abcscale.commands._common import add_parametrization_args
from theory.errors import InputError

if TYPE_CHECKING:
    from theory.exponents import Exponent
    from theory.parametrization import Parametrization
    from verify.fit import SlopeFit
    from verify.lr.search import SearchSettings
    from verify.lr.stability import Criterion
    from verify.lr.train import LrSettings

DEFAULT_WIDTHS = "64,128,256,512,1024"
DEFAULT_TOLERANCE = 0.15


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lr-sweep", help="maximal stable and optimal LR across widths: measured exponents vs the engine",
        description="For each width, bisect the global learning rate eta (layer l trains with "
                    "eta (n/n0)^-c_l) for the largest eta that passes the divergence criterion, then "
                    "search a log grid below it for the optimal eta; fit both exponents against width "
                    "with bootstrap CIs over seeds and compare with the engine's max_stable_lr_exponent. "
                    "Results stream into the SQLite file (reruns resume).  Exit 1 when the measured "
                    "max-stable exponent is further than --tolerance from the prediction.")
    add_parametrization_args(p, with_lr=False)  # the global LR is what the sweep varies
    p.add_argument("--widths", default=DEFAULT_WIDTHS, help=f"comma-separated widths (default {DEFAULT_WIDTHS})")
    p.add_argument("--seeds", type=int, default=3, help="seeds per width (default 3)")
    p.add_argument("--steps", type=int, default=50, help="training steps per run (default 50)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--base-width", type=int, default=64, help="n0, where every layer is He-initialised")
    p.add_argument("--data", default="synthetic", help="synthetic (Gaussian + teacher) or digits (sklearn)")
    p.add_argument("--criterion", default="loss", help="loss (default), nonfinite or activation")
    p.add_argument("--loss-factor", type=float, default=1.0,
                   help="criterion loss: unstable when final train loss > factor x initial (default 1)")
    p.add_argument("--activation-bound", type=float, default=10.0,
                   help="hidden activation RMS growth counted as blow-up (default 10)")
    p.add_argument("--start-lr", type=float, default=None, help="first eta tried (default 0.1 sgd, 1e-3 adam)")
    p.add_argument("--precision", type=float, default=2 ** 0.125,
                   help="bisection stops when hi/lo <= this ratio (default 2^(1/8))")
    p.add_argument("--grid-points", type=int, default=5,
                   help="optimal-LR grid points below the edge, factor 2 apart (0: skip; default 5)")
    p.add_argument("--optimal-by", default="loss", help="loss (default) or accuracy")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"allowed |measured - predicted| max-stable exponent (default {DEFAULT_TOLERANCE})")
    exec_group = p.add_mutually_exclusive_group()
    exec_group.add_argument("--workers", type=int, default=1,
                            help="N >= 2: a Dask LocalCluster of N worker processes on 127.0.0.1 (default 1: "
                                 "serial, in this process)")
    exec_group.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                            help="use an existing Dask scheduler")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N: where the trainings run "
                   "(initial weights drawn on the CPU either way)")
    p.add_argument("--db", default="abcscale.db", help="SQLite results file (resumes finished trainings)")
    p.add_argument("--plot", default=None, metavar="PATH.png", help="write the LR figures")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _positive(flag: str, value: float, integer: bool = False) -> None:
    if not value > 0 or (integer and value < 1):
        raise InputError(f"{flag} {value}: must be a positive {'integer' if integer else 'number'}")


def run(args: argparse.Namespace) -> int:
    from abcscale.commands.verify import parse_widths
    from theory.config import resolve
    from theory.engine import derive
    from verify.data import DATASETS
    from verify.lr.search import SearchSettings
    from verify.lr.stability import Criterion
    from verify.lr.train import LrSettings

    widths = parse_widths(args.widths)
    for flag, value in (("--seeds", args.seeds), ("--steps", args.steps), ("--batch-size", args.batch_size),
                        ("--base-width", args.base_width), ("--workers", args.workers)):
        _positive(flag, value, integer=True)
    for flag, value in (("--tolerance", args.tolerance), ("--loss-factor", args.loss_factor),
                        ("--activation-bound", args.activation_bound)):
        _positive(flag, value)
    if args.data not in DATASETS:
        from theory.parametrization import suggest

        raise InputError(f"unknown --data {args.data!r}{suggest(args.data, DATASETS)}")
    if args.scheduler is not None:
        from verify.runs.executors import check_address

        check_address(args.scheduler)
    if args.plot is not None and not args.plot.endswith((".png", ".pdf", ".svg")):
        raise InputError(f"--plot {args.plot}: use a file name ending in .png, .pdf or .svg")
    from verify.runs.runtime import check_device

    args.device = check_device(args.device, workers=args.workers, scheduler=args.scheduler)
    param = resolve(args.spec, layers=args.layers, optimizer=args.optimizer, loss=args.loss,
                    activation=args.activation).with_(lr_exponent=0)
    if param.optimizer.name not in ("sgd", "adam"):
        raise InputError(f"--optimizer {param.optimizer.name}: lr-sweep trains with sgd or adam")
    criterion = Criterion(kind=args.criterion, loss_factor=args.loss_factor,
                          activation_bound=args.activation_bound)
    start = args.start_lr if args.start_lr is not None else (0.1 if param.optimizer.name == "sgd" else 1e-3)
    search = SearchSettings(start_lr=start, precision=args.precision, grid_points=args.grid_points,
                            target=args.optimal_by)
    settings = LrSettings(steps=args.steps, batch_size=args.batch_size, base_width=args.base_width,
                          data=args.data)
    predicted = derive(param).max_stable_lr_exponent
    return _sweep(args, param, settings, search, criterion, widths, predicted)


def _sweep(args: argparse.Namespace, param: Parametrization, settings: LrSettings, search: SearchSettings,
           criterion: Criterion, widths: list[int], predicted: Exponent | None) -> int:
    import json

    import sympy

    from abcscale.commands._common import text_table
    from theory.exponents import format_exponent
    from verify.lr.fit import edge_regime, fit_lr
    from verify.lr.sweep import run_lr_sweep
    from verify.runs.executors import executor_for
    from verify.runs.store import Store

    seeds = list(range(args.seeds))
    finite = predicted is not None and predicted not in (sympy.oo, -sympy.oo)
    pred_value = float(predicted) if finite and predicted is not None else None
    pred_text = format_exponent(predicted) if finite and predicted is not None else "none (no finite edge)"
    name = f"{param.name} ({param.optimizer.name}, {param.loss}, L={param.hidden_layers}, {args.data})"
    if not args.json:
        print(f"{name}: widths {','.join(map(str, widths))}; {len(seeds)} seeds; {args.steps} steps; "
              f"{criterion.describe()}; predicted max-stable exponent {pred_text}", flush=True)
    in_flight = max(args.workers, 4 if args.scheduler else 1)
    store = Store(args.db)
    try:
        with executor_for(args.workers, args.scheduler) as executor:
            sweep = run_lr_sweep(param, settings, widths, seeds, store, criterion=criterion,
                                 search=search, executor=executor, in_flight=in_flight,
                                 progress=not args.json and sys.stderr.isatty(), device=args.device)
    finally:
        store.close()
    max_fit = fit_lr(sweep.widths, seeds, sweep.results, "max_stable")
    opt_fit = fit_lr(sweep.widths, seeds, sweep.results, "optimal")
    edge = edge_regime(sweep.widths, seeds, sweep.results, criterion, args.steps, len(param.layers),
                       args.tolerance)
    passed = (pred_value is not None and max_fit.slope is not None
              and abs(max_fit.slope - pred_value) <= args.tolerance)
    verdict = "PASS" if passed else "FAIL"
    rows = []
    for w in sweep.widths:
        res = sweep.results[w]
        ms = [e.max_stable for e in res.edges.values() if e.max_stable is not None]
        opt = [v for v in res.optimal.values() if v is not None]
        at = [criterion.regime(e.lo) for e in res.edges.values() if e.lo is not None]
        past = [criterion.regime(e.hi) for e in res.edges.values() if e.hi is not None]
        rows.append({"width": w, "max_stable": _geo(ms),
                     "max_stable_per_seed": [e.max_stable for e in res.edges.values()],
                     "optimal": _geo(opt), "optimal_per_seed": [res.optimal.get(s) for s in seeds],
                     "regime_at_edge": _majority(at), "regime_beyond_edge": _majority(past),
                     "trainings": res.trainings, "notes": sorted({e.note for e in res.edges.values() if e.note})})

    def fit_dict(fit: SlopeFit) -> dict[str, object]:
        return {"slope": fit.slope, "low": fit.low, "high": fit.high, "note": fit.note}

    if args.json:
        print(json.dumps({
            "parametrization": param.name, "optimizer": param.optimizer.name, "loss": param.loss,
            "data": args.data, "widths": sweep.widths, "seeds": len(seeds), "steps": args.steps,
            "criterion": criterion.as_dict(), "config": sweep.config, "db": args.db,
            "predicted_max_stable_exponent": pred_text if finite else None,
            "max_stable_exponent": fit_dict(max_fit), "optimal_exponent": fit_dict(opt_fit),
            "edge_regime": edge.regime, "beyond_edge_regime": edge.beyond,
            "edge_slopes": {k: fit_dict(v) for k, v in edge.slopes.items()},
            "tolerance": args.tolerance, "verdict": verdict, "widths_detail": rows,
            "trained": sweep.trained, "reused": sweep.reused}, indent=1))
    else:
        print(text_table(["width", "max stable eta", "optimal eta", "regime at edge", "beyond edge", "trainings"],
                         [[str(r["width"]), _fmt(r["max_stable"]), _fmt(r["optimal"]), str(r["regime_at_edge"]),
                           str(r["regime_beyond_edge"]), str(r["trainings"])] for r in rows], right={0, 1, 2, 5}))
        print()
        print(f"max-stable exponent {_fit_text(max_fit)}  predicted {pred_text}  "
              f"(tolerance {args.tolerance:g}): {verdict}")
        print(f"optimal exponent    {_fit_text(opt_fit)}")
        print(f"regime at the edge across widths: {edge.regime}; beyond the edge: {edge.beyond}")
        for quantity, fit in edge.slopes.items():
            print(f"  width slope at the edge of {quantity:30s} {_fit_text(fit)}")
        print(f"{sweep.trained} trainings run, {sweep.reused} runs reused from {args.db} (config {sweep.config})")
    if args.plot:
        from verify.lr.plot import lr_figure

        lr_figure(sweep, args.plot, title=name, predicted=pred_value, max_fit=max_fit, opt_fit=opt_fit)
        if not args.json:
            print(f"figure written to {args.plot}")
    return 0 if passed else 1


def _geo(values: list[float]) -> float | None:
    import math

    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _majority(labels: list[str]) -> str | None:
    from collections import Counter

    return Counter(labels).most_common(1)[0][0] if labels else None


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.4g}"


def _fit_text(fit: SlopeFit) -> str:
    if fit.slope is None or fit.low is None or fit.high is None:
        return f"n/a ({fit.note})"
    return f"{fit.slope:+.3f} [{fit.low:+.3f}, {fit.high:+.3f}]"
