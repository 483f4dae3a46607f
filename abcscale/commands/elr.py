"""abcscale elr: effective-learning-rate spread of normalized layers (model prediction; --train measures)."""

from __future__ import annotations

import argparse
import functools
import math

from theory.errors import InputError
from theory.outputs import check_writable
from theory.terminal import strict_json

DESCRIPTION = """Effective learning rates (ELRs) of scale-invariant (normalized) layers under plain SGD.
ELR E_l = lr * ||grad_l|| / ||w_l|| [inferred definition]; spread = max_l E_l / min_l E_l.
Without --train: the model (weight norms sigma^2 <- sigma^2 + lr^2 gamma^2 / sigma^2, per-layer gradient
norm gamma at unit weight norm) predicts the spread for a constant rate, a linear warm-up and the
critical-rate warm-up lr_t = min(lr, 1/sqrt(rho_max rho_min)).
With --train: deep BatchNorm/LayerNorm MLPs are trained with the three schedules (linear warm-up length
tuned on --warmup-grid by final loss), spread is logged every step and compared with the model: the
discrete map restarted every K steps (--horizons) from the measured weight norms and the gradient norms of
the last 8 steps, against holding that starting estimate (persistence); K = steps is gamma frozen at init.
With --scan: one SGD step at k x the critical rate (k from --factors), from initialization or after
--warm-steps steps at --lr; the spread after the step, measured on the same minibatch and modelled.
Training runs on one CPU thread (results depend on the thread count through float reduction order).
examples:
  abcscale elr --depth 32 --explosion 1.2 --lr 0.5
  abcscale elr --grad-norms 100,10,1 --json
  abcscale elr --train --depth 16 --steps 150 --seeds 0,1 --plot elr.png
  abcscale elr --scan --depth 32 --seeds 0,1"""


def _float_list(text: str, field: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{field}: expected comma-separated numbers, got {text!r}") from None


def _int_list(text: str, field: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{field}: expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise InputError(f"{field}: need at least one non-negative integer, got {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("elr", help="ELR spread of normalized layers: model prediction, --train to measure",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grad-norms", help="model input: comma-separated gradient norms at unit weight norm, "
                   "one per layer (overrides --depth/--explosion)")
    p.add_argument("--depth", type=int, default=32, help="number of normalized layers (default 32)")
    p.add_argument("--explosion", type=float, default=1.2,
                   help="model input: gamma_l = explosion^(depth-l) (default 1.2)")
    p.add_argument("--sigma0-sq", type=float, default=1.0,
                   help="model: initial squared weight norm (default 1)")
    p.add_argument("--lr", type=float, default=None,
                   help="target learning rate (default 0.5 model, 0.05 train)")
    p.add_argument("--steps", type=int, default=None, help="steps (default 1000 model, 300 train)")
    p.add_argument("--warmup", type=int, default=30, help="model: linear warm-up length (default 30)")
    p.add_argument("--train", action="store_true", help="train real networks and measure the spread")
    p.add_argument("--scan", action="store_true",
                   help="measure the spread after one step at multiples of the critical rate")
    p.add_argument("--factors", default="0.125,0.25,0.5,1,2,4,8,16,64",
                   help="scan: multiples k of the critical rate (default 0.125,...,64)")
    p.add_argument("--warm-steps", type=int, default=0,
                   help="scan: SGD steps at --lr before the scanned step (default 0: from initialization)")
    p.add_argument("--width", type=int, default=64, help="train/scan: hidden width (default 64)")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="train: SGD weight decay on the normalized layers' weights only (default 0)")
    p.add_argument("--momentum", type=float, default=0.0, help="train: SGD momentum (default 0)")
    p.add_argument("--norm", choices=("bn", "ln"), default="bn",
                   help="train/scan: BatchNorm or LayerNorm (for the cnn: GroupNorm with one group)")
    p.add_argument("--arch", choices=("mlp", "cnn"), default="mlp",
                   help="train/scan: plain MLP, or CNN of 3x3 convolutions on the 8x8 digits (--width: channels)")
    p.add_argument("--data", choices=("digits", "synthetic"), default="digits", help="train: data set")
    p.add_argument("--seeds", default="0,1,2", help="train: comma-separated seeds (default 0,1,2)")
    p.add_argument("--warmup-grid", default="10,30,100",
                   help="train: linear warm-up lengths to tune over (default 10,30,100)")
    p.add_argument("--horizons", default="1,10,30,100",
                   help="train: model-vs-measurement horizons K in steps (default 1,10,30,100; the full run is "
                   "always added)")
    p.add_argument("--plot", help="train: write a spread-over-time plot to this PNG path")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


MAX_EXPONENT = 700.0  # exp(700) ~ 1e304: the largest gradient-norm ratio the float64 model holds


def _model_gradient_norms(args: argparse.Namespace) -> list[float]:
    from numerics.elr.dynamics import geometric_gradient_norms

    if args.grad_norms is not None:
        values = _float_list(args.grad_norms, "--grad-norms")
        if not values or not all(0 < v < float("inf") for v in values):
            raise InputError(f"--grad-norms: need finite positive numbers, got {args.grad_norms!r}")
        return values
    if (args.depth - 1) * abs(math.log(args.explosion)) > MAX_EXPONENT:
        raise InputError(f"--depth {args.depth}: gradient norms {args.explosion:g}^(depth - 1) leave float64 "
                         f"range; need (depth - 1) |ln explosion| <= {MAX_EXPONENT:g}")
    return [float(g) for g in geometric_gradient_norms(args.depth, args.explosion)]


def _predict(args: argparse.Namespace) -> int:
    from numerics.elr.report import predict_schedules
    from verify.memory import Size, check_fits, elr_model_bytes

    for option, value in (("--explosion", args.explosion), ("--sigma0-sq", args.sigma0_sq)):
        if not 0 < value < float("inf"):
            raise InputError(f"{option}: must be a finite positive number, got {value}")
    steps = 1000 if args.steps is None else args.steps
    given = None if args.grad_norms is None else _model_gradient_norms(args)  # as many as the command line holds
    layers = args.depth if given is None else len(given)
    # before the norms are computed from --depth (a million layers take seconds)
    check_fits(elr_model_bytes, {"depth": Size("--depth" if given is None else "--grad-norms", layers),
                                 "steps": Size("--steps", steps)}, f"the model of {layers} layers over {steps} steps")
    norms = _model_gradient_norms(args) if given is None else given
    prediction = predict_schedules(norms, args.sigma0_sq, 0.5 if args.lr is None else args.lr, args.warmup, steps)
    print(strict_json(prediction.as_dict()) if args.json else prediction.table())
    return 0


def _train(args: argparse.Namespace) -> int:
    import torch

    from verify.elr.report import compare
    from verify.elr.train import ElrRunConfig

    seeds = _int_list(args.seeds, "--seeds")
    grid = _int_list(args.warmup_grid, "--warmup-grid")
    if min(grid) < 1:
        raise InputError(f"--warmup-grid: lengths must be positive, got {args.warmup_grid!r}")
    horizons = _int_list(args.horizons, "--horizons")
    if min(horizons) < 1:
        raise InputError(f"--horizons: horizons must be positive, got {args.horizons!r}")
    base = ElrRunConfig(depth=args.depth, width=args.width, norm=args.norm, data=args.data,
                        lr=0.05 if args.lr is None else args.lr,
                        steps=300 if args.steps is None else args.steps,
                        weight_decay=args.weight_decay, momentum=args.momentum, arch=args.arch)
    _check_memory(args)
    torch.set_num_threads(1)
    comparison = compare(base, seeds, grid, progress=not args.json, horizons=horizons)
    out = comparison.as_dict()
    if args.plot:
        from theory.outputs import replacing
        from verify.elr.plot import plot_comparison

        with replacing(args.plot) as temporary:
            plot_comparison(comparison, temporary)
        out["plot"] = args.plot
    if args.json:
        print(strict_json(out))
        return 0
    print(comparison.table())
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


def _check_memory(args: argparse.Namespace) -> None:
    """Refuse a network (--train, --scan) that cannot fit in memory."""
    from verify.memory import Size, amount, check_fits, elr_run_bytes

    estimate = functools.partial(elr_run_bytes, cnn=int(args.arch == "cnn"), momentum=int(args.momentum > 0),
                                 examples=1797 if args.data == "digits" else 2048)
    check_fits(estimate, {"width": Size("--width", args.width), "depth": Size("--depth", args.depth)},
               f"one width-{amount(args.width)} depth-{amount(args.depth)} {args.arch}")


def _scan(args: argparse.Namespace) -> int:
    import torch

    from verify.elr.report import scan
    from verify.elr.train import ElrRunConfig

    seeds = _int_list(args.seeds, "--seeds")
    factors = _float_list(args.factors, "--factors")
    if not factors or not all(0 < k < float("inf") for k in factors):
        raise InputError(f"--factors: need finite positive numbers, got {args.factors!r}")
    if args.warm_steps < 0:
        raise InputError(f"--warm-steps: must be a non-negative integer, got {args.warm_steps}")
    base = ElrRunConfig(depth=args.depth, width=args.width, norm=args.norm, data=args.data, arch=args.arch)
    _check_memory(args)
    torch.set_num_threads(1)
    result = scan(base, seeds, factors, warm_steps=args.warm_steps, warm_lr=0.05 if args.lr is None else args.lr)
    print(strict_json(result.as_dict()) if args.json else result.table())
    return 0


def run(args: argparse.Namespace) -> int:
    for name in ("depth", "width", "warmup"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name}: must be a positive integer, got {getattr(args, name)}")
    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps: must be a positive integer, got {args.steps}")
    if args.lr is not None and not (args.lr > 0 and args.lr < float("inf")):
        raise InputError(f"--lr: must be a finite positive number, got {args.lr}")
    if not (0 <= args.weight_decay < float("inf")):
        raise InputError(f"--weight-decay: must be a finite number >= 0, got {args.weight_decay}")
    if not (0 <= args.momentum < 1):
        raise InputError(f"--momentum: must be in [0, 1), got {args.momentum}")
    if not args.train and (args.weight_decay or args.momentum):
        raise InputError("--weight-decay/--momentum: only with --train (the model and the scan use plain SGD)")
    if args.arch == "cnn" and args.data != "digits":
        raise InputError(f"--arch cnn: it takes the 8x8 digits images; got --data {args.data}")
    if not (args.train or args.scan) and args.arch != "mlp":
        raise InputError("--arch: only with --train or --scan (the model has no architecture)")
    if args.train and args.scan:
        raise InputError("--train and --scan: choose one")
    if args.grad_norms is not None and (args.train or args.scan):
        raise InputError("--grad-norms: only without --train and --scan (an input of the model)")
    if args.plot is not None:
        if not args.train:
            raise InputError("--plot: only with --train (the figure shows the trained spread over time)")
        if not args.plot.lower().endswith(".png"):
            raise InputError(f"--plot: expected a .png path, got {args.plot!r}")
        check_writable("--plot", args.plot)
    if args.scan:
        return _scan(args)
    return _train(args) if args.train else _predict(args)
