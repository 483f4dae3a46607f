"""abcscale catapult: learning-rate phases (lazy / catapult / divergent) of solvable models and ReLU nets."""

from __future__ import annotations

import argparse
import functools
import math
from typing import TYPE_CHECKING, Any

from abcscale.commands._common import print_json
from theory.errors import InputError

if TYPE_CHECKING:
    from numerics.catapult.report import ModelSweep
    from verify.catapult.report import NetSweep

DESCRIPTION = """Sweep the learning rate in units of eta*lambda_0 (lambda_0 = top NTK eigenvalue at init,
NTK = J J^T / m paired with the loss (1/2m) sum (f-y)^2, so the lazy/catapult edge is eta*lambda_0 = 2)
and print the phase of every run.

models:
  uv         two-layer linear net f = v.u x / sqrt(n), exact (f, lambda) map; --n may be huge with --dps
  quadratic  quadratic model z = phi.theta + zeta/2 theta^T psi theta (--linear adds phi), exact map
  mlp        bias-free NTK ReLU net (--depth weight layers) trained by full-batch GD on digits 0/1 or a
             synthetic task; lambda_t tracked, inactive-ReLU fraction per layer

examples:
  abcscale catapult uv --n 10000 --edges
  abcscale catapult uv --n 1e400 --dps 30 --steps 3000 --ratios 1,2.5,3,4.1
  abcscale catapult quadratic --linear --edges --plot quad.png
  abcscale catapult mlp --ratios 1:4:0.5 --seeds 0,1 --plot mlp.png
"""


MIN_DPS, MAX_DPS = 15, 1000  # 30 digits resolve n = 1e400; at 5000 the default sweep takes half an hour


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catapult", help="catapult phases: uv / quadratic models and ReLU nets",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=("uv", "quadratic", "mlp"), help="which system to sweep")
    p.add_argument("--ratios", default=None,
                   help="eta*lambda_0 grid: 'start:stop:step' (inclusive) or a comma list "
                        "(default 0.5:4.5:0.25 for uv/quadratic, 0.5:6:0.5 for mlp)")
    p.add_argument("--steps", type=int, default=None, help="GD steps per run (default 1000; mlp 300)")
    p.add_argument("--seeds", default="0", help="comma list of seeds (initialisations), default 0")
    p.add_argument("--n", default=None,
                   help="uv width (default 10000; '1e400' allowed with --dps) / quadratic width (default 1000)")
    p.add_argument("--dps", type=int, default=None, help="use mpmath with this many digits, 15 to 1000 (uv, quadratic)")
    p.add_argument("--x", type=float, default=1.0, help="uv sample input x (default 1)")
    p.add_argument("--y", type=float, default=0.0, help="uv sample target y (default 0)")
    p.add_argument("--linear", action="store_true", help="quadratic model with a linear term phi")
    p.add_argument("--edges", action="store_true",
                   help="locate the window edges by bisection and compare with closed forms (uv, quadratic)")
    p.add_argument("--dataset", default="digits", help="mlp task: digits | synthetic (default digits)")
    p.add_argument("--inputs", default="standardised", help="mlp inputs: standardised | raw (default standardised)")
    p.add_argument("--width", type=int, default=256, help="mlp hidden width (default 256)")
    p.add_argument("--depth", type=int, default=2, help="mlp weight layers, 2 = one hidden layer (default 2)")
    p.add_argument("--samples", type=int, default=128, help="mlp training samples (default 128)")
    p.add_argument("--ntk-every", type=int, default=25, help="mlp: track lambda_t every k steps (default 25)")
    p.add_argument("--plot", default=None, metavar="PATH", help="write phase diagram + loss curves (PNG/PDF)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def parse_ratios(text: str) -> tuple[float, ...]:
    """'a:b:s' (inclusive of b up to rounding) or 'r1,r2,...'; every value finite and > 0."""
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if not step > 0 or stop < start:
                raise InputError(f"--ratios {text!r}: need start <= stop and step > 0")
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            if count > 10_000:
                raise InputError(f"--ratios {text!r}: more than 10000 values")
            values = tuple(start + i * step for i in range(count))
        else:
            values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--ratios {text!r}: expected 'start:stop:step' or a comma list of numbers") from None
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise InputError(f"--ratios {text!r}: values must be finite and > 0")
    return values


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--seeds {text!r}: expected a comma list of integers") from None
    if any(s < 0 for s in seeds):
        raise InputError(f"--seeds {text!r}: seeds must be >= 0")
    return seeds


def run(args: argparse.Namespace) -> int:
    steps = args.steps if args.steps is not None else (300 if args.model == "mlp" else 1000)
    if steps < 2:
        raise InputError(f"--steps must be >= 2, got {steps}")
    seeds = parse_seeds(args.seeds)
    default_ratios = "0.5:6:0.5" if args.model == "mlp" else "0.5:4.5:0.25"
    ratios = parse_ratios(args.ratios or default_ratios)
    if args.plot is not None:
        from verify.options import PLOT_SUFFIXES, check_output

        check_output("--plot", args.plot, PLOT_SUFFIXES)
    sweep = _sweep_net(args, ratios, seeds, steps) if args.model == "mlp" else _sweep_model(args, ratios, seeds, steps)
    if args.json:
        print_json(sweep.as_dict())
    else:
        print(f"{_title(args, steps)}\n{sweep.table()}")
    if args.plot:
        from numerics.catapult.plot import plot_sweep
        from theory.outputs import replacing

        with replacing(args.plot) as temporary:
            plot_sweep(temporary, sweep.curves, sweep.diagram, args.model)
        if not args.json:
            print(f"plot written: {args.plot}")
    return 0


def _title(args: argparse.Namespace, steps: int) -> str:
    if args.model == "mlp":
        return (f"abcscale catapult mlp: {args.dataset} ({args.inputs}), m={args.samples}, width={args.width}, "
                f"depth={args.depth}, steps={steps}")
    return (f"abcscale catapult {args.model}: n={args.n or (10_000 if args.model == 'uv' else 1000)}, "
            f"steps={steps}, {'mpmath dps=' + str(args.dps) if args.dps else 'float64'}")


def _sweep_model(args: argparse.Namespace, ratios: tuple[float, ...], seeds: tuple[int, ...],
                 steps: int) -> ModelSweep:
    from numerics.catapult.report import sweep_model

    if args.dps is not None and not MIN_DPS <= args.dps <= MAX_DPS:
        raise InputError(f"--dps: need {MIN_DPS} to {MAX_DPS} digits, got {args.dps}")
    if args.model == "uv":  # the sample (x, y): lambda_0 ~ 2 x^2 sets every learning rate of the sweep
        if not 0 < args.x * args.x < math.inf:
            raise InputError(f"--x {args.x}: need a finite x with 0 < x^2 < inf (the NTK eigenvalue is ~2 x^2)")
        if not math.isfinite(args.y):
            raise InputError(f"--y {args.y}: must be a finite number")
    n = (args.n or 10_000) if args.model == "uv" else _int_width(args.n or 1000)
    from verify.memory import Size, amount, catapult_curves_bytes, check_fits, quadratic_model_bytes

    runs = len(ratios) * len(seeds)
    check_fits(functools.partial(catapult_curves_bytes, runs=runs, digits=args.dps or 0),
               {"steps": Size("--steps", steps, 2)}, f"a sweep of {runs} runs over {amount(steps)} steps")
    if args.model == "quadratic" and isinstance(n, int) and n >= 2:
        check_fits(quadratic_model_bytes, {"n": Size("--n", n, 2)}, f"the width-{amount(n)} quadratic model")
    return sweep_model(args.model, n, ratios, seeds, steps, x=args.x, y=args.y, linear=args.linear, dps=args.dps,
                       edges=args.edges)


def _int_width(text: Any) -> int:
    try:
        width = int(str(text))
    except ValueError:
        raise InputError(f"--n {text!r}: quadratic width must be an integer") from None
    return width


def _sweep_net(args: argparse.Namespace, ratios: tuple[float, ...], seeds: tuple[int, ...],
               steps: int) -> NetSweep:
    import torch

    from verify.catapult.report import sweep_net
    from verify.catapult.sweep import SweepConfig
    from verify.memory import Size, amount, catapult_curves_bytes, catapult_run_bytes, check_fits

    config = SweepConfig(dataset=args.dataset, inputs=args.inputs, samples=args.samples, width=args.width,
                         depth=args.depth, ratios=ratios, seeds=seeds, steps=steps, ntk_every=args.ntk_every)
    inputs = 64 if args.dataset == "digits" else 32

    def estimate(*, width: int, depth: int, samples: int, steps: int) -> float:
        """One net at a time, and the records of every run: loss, top-mode loss, norms, lambda (<= 5 per step)."""
        return (catapult_run_bytes(width=width, depth=depth, samples=samples, inputs=inputs)
                + catapult_curves_bytes(steps=steps, runs=len(ratios) * len(seeds), per_step=5))

    check_fits(estimate, {"width": Size("--width", args.width), "depth": Size("--depth", args.depth, 2),
                          "samples": Size("--samples", args.samples, 2), "steps": Size("--steps", steps, 2)},
               f"one width-{amount(args.width)} depth-{args.depth} net on {args.samples} samples over "
               f"{amount(steps)} steps")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return sweep_net(config, progress=not args.json)
