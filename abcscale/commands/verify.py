"""abcscale verify: train the parametrization across widths and fit the log-log slope of every quantity."""

from __future__ import annotations

import argparse
import sys

from abcscale.commands._common import add_parametrization_args

# the defaults of verify.width.check.check, shown in --help (tests/cli/test_api.py holds them equal)
DEFAULT_WIDTHS = "128,256,512,1024"
DEFAULT_SEEDS = 8
DEFAULT_STEPS = 3
GPT_WIDTHS = "128,256,512,1024"
GPT_SEEDS = 16
DEFAULT_DB = "abcscale.db"


def add_arguments(p: argparse.ArgumentParser, *, optional_spec: bool = False) -> None:
    """Flags shared by ``verify`` and ``check``."""
    add_parametrization_args(p, optional_spec=optional_spec,
                             lr_help="global LR exponent X (LR = eta0 (n/n0)^(X - c_l)); default: the engine's "
                             "maximal stable X, the edge where the theory makes its sharpest claims")
    p.add_argument("--widths", default=None, help=f"comma-separated widths (default {DEFAULT_WIDTHS}; a transformer "
                   f"{GPT_WIDTHS}; with --depths the first is the width, default 256)")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"seeds per width (default {DEFAULT_SEEDS}; a transformer {GPT_SEEDS})")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"training steps (default {DEFAULT_STEPS})")
    p.add_argument("--lr", type=float, default=None,
                   help="eta0, LR at the base width (default 0.1 sgd+ce, 0.003 sgd+mse, 1e-3 adam/signsgd, 0.02 muon)")
    p.add_argument("--base-width", type=int, default=None,
                   help="n0, where every layer is He-initialised (default 128; ip and ip-llr: 1, their source's "
                        "convention; a transformer: 64, where it is a plain GPT)")
    p.add_argument("--warmup-lr", type=float, default=None,
                   help="eta0 of the warm-up updates of a schedule (default eta0; ip-llr: 1)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="training examples per step (default 1, as mup's coord check: see docs/verify.md; a "
                        "transformer: 4 sequences)")
    p.add_argument("--data", default=None, help="synthetic (Gaussian + teacher, the default) or digits (sklearn) for "
                   "an MLP; pydoc (CPython's documentation, characters; the default) for a transformer")
    p.add_argument("--predict", default=None, metavar="PRESET|FILE.toml",
                   help="judge against the exponents of this parametrization instead (test a claim that "
                        "the trained model implements it)")
    p.add_argument("--tolerance", type=float, default=None, help="allowed |slope - exponent| (default 0.15)")
    p.add_argument("--db", default=DEFAULT_DB, help="SQLite results file (resumes finished runs)")
    p.add_argument("--export", default=None, metavar="PATH.csv|PATH.json", help="export the measurements")
    p.add_argument("--plot", default=None, metavar="PATH.png", help="write a coordinate-check figure")
    workers = p.add_mutually_exclusive_group()
    workers.add_argument("--workers", type=int, default=1,
                         help="N >= 2: a Dask LocalCluster of N worker processes on 127.0.0.1, each with cpu_count/N "
                              "torch threads, when the modelled training can repay its start-up (else in this "
                              "process; the header says which) (default 1: in this process)")
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
                                   "CIs.  'abcscale check' adds the PASS/FAIL verdicts.  With --module, your own "
                                   "torch GPT instead: its parametrization inferred, matched and judged.")
    add_arguments(p, optional_spec=True)
    p.add_argument("--module", default=None, metavar="FILE.py:FACTORY",
                   help="check your own model: FACTORY(width) returns an nn.Module (token ids -> logits) or "
                        "(module, optimizer); its abc is inferred, matched to a GPT preset (or --predict) and "
                        "judged (docs/custom_module.md); default widths 64,128,256,512")
    p.set_defaults(func=run)


def execute(args: argparse.Namespace, *, judged: bool) -> int:
    """Parse -> check (validates, trains, judges) -> print; shared by verify and check (``judged``)."""
    from verify.width.check import check

    def announce(line: str) -> None:
        print(line, flush=True)

    result = check(args.spec, layers=args.layers, loss=args.loss, optimizer=args.optimizer,
                   activation=args.activation, lr_exponent=args.lr_exponent, eps_exponent=args.eps_exponent,
                   widths=args.widths, seeds=args.seeds, steps=args.steps, lr=args.lr, base_width=args.base_width,
                   warmup_lr=args.warmup_lr,
                   batch_size=args.batch_size, data=args.data, predict=args.predict, tolerance=args.tolerance,
                   db=args.db, export=args.export, plot=args.plot, workers=args.workers,
                   scheduler=args.scheduler,
                   device=args.device, depths=args.depths, judged=judged,
                   progress=not args.json and sys.stderr.isatty(), announce=None if args.json else announce)
    print(result.to_json() if args.json else result.table(header=False))
    return 0 if result.passed else 1


MODULE_IGNORES = ("layers", "loss", "activation", "lr_exponent", "eps_exponent", "base_width", "warmup_lr", "data",
                  "export", "plot", "scheduler", "depths")


def run_module(args: argparse.Namespace) -> int:
    """``verify --module``: infer, match, train and judge the user's model; exit 1 unless it passes."""
    from theory.errors import InputError
    from verify.usermodel.check import verify_module

    if args.spec is not None:
        raise InputError(f"--module: give either PRESET|FILE.toml ({args.spec!r}) or --module, not both")
    if args.db is not DEFAULT_DB:  # given on the command line (argv's strings are other objects than the default)
        raise InputError("--db: --module keeps no results database (every run trains the user's model afresh)")
    for name in MODULE_IGNORES:
        if getattr(args, name, None) is not None:
            raise InputError(f"--{name.replace('_', '-')}: not used with --module (the model fixes it)")
    if args.workers != 1 or args.device != "cpu":
        raise InputError("--workers/--device: --module trains in this process on the CPU")
    result = verify_module(args.module, widths=args.widths, seeds=args.seeds, steps=args.steps, predict=args.predict,
                           optimizer=args.optimizer, lr=args.lr, tolerance=args.tolerance,
                           batch_size=args.batch_size)
    print(result.to_json() if args.json else result.table())
    return 0 if result.passed else 1


def run(args: argparse.Namespace) -> int:
    if getattr(args, "module", None) is not None:
        return run_module(args)
    if args.spec is None:
        from theory.errors import InputError

        raise InputError("verify: give PRESET|FILE.toml, or --module FILE.py:FACTORY")
    return execute(args, judged=False)
