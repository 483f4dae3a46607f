"""abcscale verify: train the parametrization across widths and fit the log-log slope of every quantity."""

from __future__ import annotations

import argparse
import sys

from abcscale.commands._common import add_parametrization_args
from theory.errors import InputError

DEFAULT_WIDTHS = "128,256,512,1024"
DEFAULT_SEEDS = 8
DEFAULT_STEPS = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``verify`` and ``check``."""
    add_parametrization_args(p, lr_help="global LR exponent X (LR = eta0 (n/n0)^(X - c_l)); default: the engine's "
                             "maximal stable X, the edge where the theory makes its sharpest claims")
    p.add_argument("--widths", default=DEFAULT_WIDTHS, help=f"comma-separated widths (default {DEFAULT_WIDTHS})")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help=f"seeds per width (default {DEFAULT_SEEDS})")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"training steps (default {DEFAULT_STEPS})")
    p.add_argument("--lr", type=float, default=None,
                   help="eta0, LR at the base width (default 0.1 sgd+ce, 0.003 sgd+mse, 1e-3 adam/signsgd, 0.02 muon)")
    p.add_argument("--base-width", type=int, default=128, help="n0, where every layer is He-initialised")
    p.add_argument("--batch-size", type=int, default=1,
                   help="training examples per step (default 1, as mup's coord check: see docs/verify.md)")
    p.add_argument("--data", default="synthetic", help="synthetic (Gaussian + teacher) or digits (sklearn)")
    p.add_argument("--predict", default=None, metavar="PRESET|FILE.toml",
                   help="judge against the exponents of this parametrization instead (test a claim that "
                        "the trained model implements it)")
    p.add_argument("--tolerance", type=float, default=None, help="allowed |slope - exponent| (default 0.15)")
    p.add_argument("--db", default="abcscale.db", help="SQLite results file (resumes finished runs)")
    p.add_argument("--export", default=None, metavar="PATH.csv|PATH.json", help="export the measurements")
    p.add_argument("--plot", default=None, metavar="PATH.png", help="write a coordinate-check figure")
    workers = p.add_mutually_exclusive_group()
    workers.add_argument("--workers", type=int, default=1,
                         help="N >= 2: a Dask LocalCluster of N worker processes on 127.0.0.1, each with cpu_count/N "
                              "torch threads (default 1: in this process)")
    workers.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                         help="run the trainings on an existing Dask scheduler")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N: where the trainings run; "
                   "initial weights are drawn on the CPU either way, so results agree up to matmul rounding")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--depths", default=None, metavar="4,8,16,32",
                   help="depth exponents instead of width ones, for the residual presets depth-mup, completep: "
                        "train across these depths at the first --widths entry and fit slopes in L")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="train across widths and fit log-log slopes of every quantity",
                       description="Build the MLP of a parametrization at each width, train all seeds of a "
                                   "width together, measure every quantity of 'abcscale derive' on a probe "
                                   "batch, store it in SQLite (reruns resume) and fit slopes with bootstrap "
                                   "CIs.  'abcscale check' adds the PASS/FAIL verdicts.")
    add_arguments(p)
    p.set_defaults(func=run)


def parse_widths(text: str) -> list[int]:
    try:
        widths = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InputError(f"--widths {text!r}: expected comma-separated integers like 128,256,512") from None
    if len(widths) < 2 or widths[0] < 2:
        raise InputError(f"--widths {text!r}: need at least 2 distinct widths >= 2")
    return widths


def execute(args: argparse.Namespace, *, with_verdict: bool) -> int:
    """Validate every flag, train, judge, print; shared by verify and check."""
    from theory.config import resolve
    from theory.depth import DEPTH_PRESETS
    from verify.runs.runtime import check_device
    from verify.width import check as pipeline
    from verify.width.train import DEFAULT_LR, TrainSettings
    from verify.width.verdict import DEFAULT_TOLERANCE, format_table, summary, to_json

    device = check_device(args.device, workers=args.workers, scheduler=args.scheduler)
    if args.depths is not None or args.spec in DEPTH_PRESETS:
        if device != "cpu":
            raise InputError(f"--device {device}: depth sweeps run on the cpu only")
        return _execute_depths(args)
    widths = parse_widths(args.widths)
    for flag, value, low in (("--seeds", args.seeds, 1), ("--steps", args.steps, 1), ("--workers", args.workers, 1),
                             ("--batch-size", args.batch_size, 1), ("--base-width", args.base_width, 1)):
        if value < low:
            raise InputError(f"{flag} {value}: must be at least {low}")
    if args.lr is not None and not args.lr > 0:
        raise InputError(f"--lr {args.lr}: must be a positive number")
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    if not tolerance > 0:
        raise InputError(f"--tolerance {args.tolerance}: must be positive")
    for flag, path, suffixes in (("--export", args.export, (".csv", ".json")), ("--plot", args.plot, (".png", ".pdf",
                                                                                                       ".svg"))):
        if path is not None and not path.endswith(suffixes):
            raise InputError(f"{flag} {path}: use a file name ending in {' or '.join(suffixes)}")
    from verify.data import DATASETS

    if args.data not in DATASETS:
        from theory.parametrization import suggest

        raise InputError(f"unknown --data {args.data!r}{suggest(args.data, DATASETS)}")
    param = resolve(args.spec, layers=args.layers, optimizer=args.optimizer, loss=args.loss,
                    activation=args.activation, eps_exponent=args.eps_exponent)
    if param.optimizer.name not in DEFAULT_LR or param.optimizer.name == "adafactor":
        raise InputError(f"--optimizer {param.optimizer.name}: the torch trainer supports sgd, adam, signsgd, muon")
    predict = None
    if args.predict is not None:
        predict = resolve(args.predict, layers=param.hidden_layers, optimizer=param.optimizer.name, loss=param.loss,
                          activation=param.activation)
    param, source = pipeline.choose_lr_exponent(param, args.lr_exponent)
    settings = TrainSettings(steps=args.steps, batch_size=args.batch_size, base_width=args.base_width, lr=args.lr,
                             data=args.data)
    from theory.exponents import format_exponent

    x_text = format_exponent(param.lr_exponent)
    if not args.json:
        eta0 = settings.eta0(param.optimizer.name, param.loss)
        print(f"{param.name} ({param.optimizer.name}, {param.loss}, L={param.hidden_layers}): lr exponent X = "
              f"{x_text} [{source}]; eta0 = {eta0:g} at n0 = {settings.base_width}; "
              f"widths {','.join(map(str, widths))}; {args.seeds} seeds; {args.steps} steps; data {args.data}",
              flush=True)
    seeds = list(range(args.seeds))
    outcome = pipeline.run(param, settings, widths, seeds, args.db, predict=predict, workers=args.workers,
                           scheduler=args.scheduler,
                           tolerance=tolerance, progress=not args.json and sys.stderr.isatty(), lr_source=source,
                           device=device)
    if args.export:
        from verify.runs.store import Store

        store = Store(args.db)
        store.export(args.export, [outcome.config])
        store.close()
    if args.plot:
        from verify.width.plot import coordinate_check

        coordinate_check(outcome, args.plot)
    diverged = [r for r in outcome.runs if r["status"] == "diverged"]
    counts = summary(outcome.rows)
    failed = with_verdict and counts["FAIL"] > 0
    if args.json:
        extra: dict[str, object] = {"parametrization": param.name, "lr_exponent": x_text, "lr_exponent_source": source,
                                    "regime": outcome.regime, "config": outcome.config, "widths": widths,
                                    "seeds": len(seeds), "steps": args.steps, "tolerance": tolerance,
                                    "diverged_runs": diverged, "passed": not failed,
                                    "resumed_runs": outcome.resumed, "device": device}
        print(to_json(outcome.rows, extra))
    else:
        total = len(widths) * len(seeds)
        print(f"engine regime at X = {x_text}: {outcome.regime}; tolerance +-{tolerance:g}; "
              f"config {outcome.config} in {args.db}: {total - outcome.resumed} of {total} (width, seed) runs "
              f"trained now, {outcome.resumed} resumed from the db")
        print(format_table(outcome.rows, show_verdict=with_verdict))
        for r in diverged:
            print(f"diverged: width {r['width']} seed {r['seed']} at step {r['diverged_step']}")
        if with_verdict:
            print(f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP")
        if args.plot:
            print(f"coordinate check written to {args.plot}")
        if args.export:
            print(f"measurements exported to {args.export}")
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    return execute(args, with_verdict=False)



def _execute_depths(args: argparse.Namespace) -> int:
    """Residual presets across depths: slopes in L (with CIs) against theory.depth's exponents."""
    from abcscale.commands._common import print_json
    from abcscale.commands.depth_sweep import _table
    from theory.depth import DEPTH_PRESETS
    from theory.parametrization import suggest

    if args.spec not in DEPTH_PRESETS:
        raise InputError(f"--depths: needs a residual preset ({', '.join(DEPTH_PRESETS)}), got {args.spec!r}"
                         f"{suggest(args.spec, tuple(DEPTH_PRESETS))}")
    if args.spec == "residual-sp":
        raise InputError("residual-sp: the stream diverges with depth at initialisation (abcscale derive "
                         "residual-sp); nothing to verify")
    try:
        depths = sorted({int(part) for part in (args.depths or "4,8,16,32").split(",") if part.strip()})
    except ValueError:
        raise InputError(f"--depths {args.depths!r}: expected comma-separated integers like 4,8,16,32") from None
    if len(depths) < 2 or depths[0] < 1:
        raise InputError(f"--depths {args.depths!r}: need at least 2 distinct depths >= 1")
    width = int(args.widths.split(",")[0]) if args.widths != DEFAULT_WIDTHS else 256
    if width < 16:
        raise InputError(f"--widths: residual runs need a width >= 16, got {width}")
    optimizer = args.optimizer or "sgd"
    if optimizer not in ("sgd", "adam"):
        raise InputError(f"--optimizer {optimizer}: depth runs support sgd and adam")
    from verify.depth import sweep as depth

    alpha = float(DEPTH_PRESETS[args.spec][2])
    rows = depth.residual(depths, width, list(range(args.seeds)), [alpha], [optimizer])
    failed = args.func.__module__.endswith("check") and any(r.verdict == "FAIL" for r in rows)
    if args.json:
        print_json({"parametrization": args.spec, "depths": depths, "width": width, "seeds": args.seeds,
                    "rows": [r.as_dict() for r in rows], "passed": not failed})
    else:
        print(f"{args.spec} ({optimizer}): residual MLP, alpha = {alpha:g}, width {width}, depths "
              f"{','.join(map(str, depths))}, {args.seeds} seeds; predictions from theory.depth")
        print(_table(rows))
    return 1 if failed else 0
