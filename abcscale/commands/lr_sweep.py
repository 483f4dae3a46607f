"""abcscale lr-sweep: measure how the maximal stable and the optimal learning rate scale with width."""

from __future__ import annotations

import argparse
import sys

from abcscale.commands._common import add_parametrization_args

# the defaults of verify.lr.sweep.lr_sweep, shown in --help (tests/cli/test_api.py holds them equal)
DEFAULT_WIDTHS = "64,128,256,512,1024"
DEFAULT_TOLERANCE = 0.15


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lr-sweep", help="maximal stable and optimal LR across widths: measured exponents vs the engine",
        description="An MLP preset or TOML file trains the batched MLP; a transformer (gpt-sp, gpt-mup, a GPT "
                    "TOML file) trains the batched GPT on the pydoc character corpus.  For each width, bisect "
                    "the global learning rate eta (layer l trains with eta (n/n0)^-c_l) for the largest eta "
                    "that passes the divergence criterion, then "
                    "search a log grid below it for the optimal eta; fit both exponents against width "
                    "with bootstrap CIs over seeds and compare with the engine's max_stable_lr_exponent. "
                    "Results stream into the SQLite file (reruns resume).  Exit 1 when the measured "
                    "max-stable exponent is further than --tolerance from the prediction.")
    add_parametrization_args(p, with_lr=False)  # the global LR is what the sweep varies
    p.add_argument("--widths", default=None, help=f"comma-separated widths (default {DEFAULT_WIDTHS})")
    p.add_argument("--seeds", type=int, default=3, help="seeds per width (default 3)")
    p.add_argument("--steps", type=int, default=50, help="training steps per run (default 50)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="examples per update (MLP, default 32) or sequences of 32 characters (GPT, default 4)")
    p.add_argument("--base-width", type=int, default=64, help="n0, where every layer is He-initialised")
    p.add_argument("--data", default=None, help="MLP: synthetic (Gaussian + teacher, default) or digits (sklearn); "
                   "GPT: pydoc (the character corpus, default)")
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


def run(args: argparse.Namespace) -> int:
    """Parse -> lr_sweep (validates, sweeps, fits, judges) -> print."""
    from verify.lr.sweep import lr_sweep

    def announce(line: str) -> None:
        print(line, flush=True)

    result = lr_sweep(args.spec, layers=args.layers, loss=args.loss, optimizer=args.optimizer,
                      activation=args.activation, widths=args.widths, seeds=args.seeds, steps=args.steps,
                      batch_size=args.batch_size, base_width=args.base_width, data=args.data,
                      criterion=args.criterion, loss_factor=args.loss_factor, activation_bound=args.activation_bound,
                      start_lr=args.start_lr, precision=args.precision, grid_points=args.grid_points,
                      optimal_by=args.optimal_by, tolerance=args.tolerance, workers=args.workers,
                      scheduler=args.scheduler, device=args.device, db=args.db, plot=args.plot,
                      progress=not args.json and sys.stderr.isatty(), announce=None if args.json else announce)
    print(result.to_json() if args.json else result.table(header=False))
    return 0 if result.passed else 1
