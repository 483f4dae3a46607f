"""abcscale elr: effective-learning-rate spread of normalized layers (model prediction; --train measures)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from theory.errors import InputError

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


def _model_gradient_norms(args: argparse.Namespace) -> list[float]:
    from numerics.elr.dynamics import geometric_gradient_norms

    if args.grad_norms:
        values = _float_list(args.grad_norms, "--grad-norms")
        if not values or not all(0 < v < float("inf") for v in values):
            raise InputError(f"--grad-norms: need finite positive numbers, got {args.grad_norms!r}")
        return values
    return [float(g) for g in geometric_gradient_norms(args.depth, args.explosion)]


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from numerics.elr import dynamics as elr

    gamma = np.asarray(_model_gradient_norms(args))
    lr = 0.5 if args.lr is None else args.lr
    steps = 1000 if args.steps is None else args.steps
    schedules = {"constant": elr.constant_schedule(lr), "linear": elr.linear_warmup_schedule(lr, args.warmup),
                 "critical": elr.critical_warmup_schedule(lr)}
    trajs = {k: elr.simulate(gamma, args.sigma0_sq, s, steps) for k, s in schedules.items()}
    times = sorted({t for t in (0, 1, 2, 3, 5, 10, 30, 100, 300, 1000, 3000, steps) if t <= steps})
    flow = elr.spread(elr.closed_form_elr(gamma, args.sigma0_sq, lr, np.asarray(times, dtype=float)))
    rho0 = gamma / args.sigma0_sq
    result: dict[str, Any] = {
        "lr": lr, "critical_lr_t0": elr.critical_lr_from_ratios(rho0),
        "initial_spread": float(elr.spread(rho0)),
        "times": times, "spread": {k: [float(tr.spread[t]) for t in times] for k, tr in trajs.items()},
        "spread_gradient_flow_constant": [float(v) for v in flow],
        "steps_to_spread_below_2": {k: elr.steps_to_spread(tr.spread, 2.0) for k, tr in trajs.items()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model: {gamma.size} layers, initial spread {result['initial_spread']:.4g}, "
          f"critical lr at t=0 {result['critical_lr_t0']:.4g}, target lr {lr:g}, "
          f"linear warm-up {args.warmup}")
    print(f"{'step':>6} {'constant':>10} {'flow(const)':>12} {'linear':>10} {'critical':>10}")
    for i, t in enumerate(times):
        s = result["spread"]
        print(f"{t:>6} {s['constant'][i]:>10.4g} {flow[i]:>12.4g} {s['linear'][i]:>10.4g} "
              f"{s['critical'][i]:>10.4g}")
    reach = result["steps_to_spread_below_2"]
    print("steps to spread < 2: " + ", ".join(f"{k} {'never' if v is None else v}" for k, v in reach.items()))
    return 0


SHOWN_METRICS = (("spread_model", "spread_persistence"), ("spread_smoothed_model", "spread_smoothed_persistence"),
                 ("layer_smoothed_model", "layer_smoothed_persistence"))


def _train(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from verify.elr.train import (
        GAMMA_WINDOW,
        HORIZON_METRICS,
        SMOOTH_WINDOW,
        ElrRunConfig,
        ScheduleSummary,
        bootstrap_ci,
        compare_schedules,
    )

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
    if args.plot and not args.plot.lower().endswith(".png"):
        raise InputError(f"--plot: expected a .png path, got {args.plot!r}")
    torch.set_num_threads(1)
    res = compare_schedules(base, seeds, grid, progress=not args.json, horizons=horizons)
    keys = ["constant"] + [f"linear-{w}" for w in grid] + ["critical"]
    summaries: dict[str, ScheduleSummary] = {}
    for key in keys:
        s = res[key]
        assert isinstance(s, ScheduleSummary)
        summaries[key] = s
    rows: list[dict[str, Any]] = []
    for key, s in summaries.items():
        rows.append({"schedule": key, "final_loss_mean": float(np.mean(s.final_loss)),
                     "final_loss_ci95": bootstrap_ci(s.final_loss),
                     "steps_to_spread_below_2_mean": float(np.mean(s.steps_below_2)),
                     "steps_ci95": bootstrap_ci(s.steps_below_2), "never_below_2": s.never_below_2,
                     "diverged": s.diverged, "final_spread_mean": float(np.mean(s.spread[:, -1])),
                     "steps_below_target_lr_mean": float(np.mean(np.sum(s.lr < base.lr * (1 - 1e-9), axis=1))),
                     "max_abs_cos_w_g": s.max_cosine, "max_rel_norm_residual": _json_number(s.max_norm_residual),
                     "measurement_noise_mean": float(np.nanmean(s.noise)),
                     "final_gamma_spread_mean": _json_number(float(np.nanmean(s.gamma_spread))),
                     "male_vs_horizon": {str(k): {m: {"mean": float(np.nanmean(v[m])), "ci95": bootstrap_ci(v[m]),
                                                      "per_seed": [float(x) for x in v[m]]}
                                                  for m in HORIZON_METRICS}
                                         for k, v in s.horizon.items()}})
    out = {"config": base.__dict__, "seeds": seeds, "tuned_warmup": res["tuned_warmup"],
           "agreement": {"metric": "mean over steps 1..T-1 of |log10 measured / predicted|",
                         "gamma_window": GAMMA_WINDOW, "smooth_window": SMOOTH_WINDOW,
                         "horizons": sorted(next(iter(summaries.values())).horizon)},
           "rows": rows}
    shown = ["constant", f"linear-{res['tuned_warmup']}", "critical"]
    if args.plot:
        _plot(summaries, [shown[1], shown[0], shown[2]], base, args.plot)
        out["plot"] = args.plot
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"depth {base.depth} width {base.width} {base.norm}{_arch(base.arch)} {base.data} lr {base.lr:g}"
          f"{_sgd_options(base, ' ')} steps {base.steps} seeds {seeds}; tuned linear warm-up {res['tuned_warmup']} "
          "(by mean final loss)")
    print(f"{'schedule':<12} {'final loss [95% CI]':<26} {'steps to spread<2 [95% CI]':<28} {'never':>5} "
          f"{'final spread':>12} {'gamma spr.':>10} {'lr<target':>9} {'max|cos|':>9} {'max norm res':>12}")
    for r in rows:
        lo, hi = r["final_loss_ci95"]
        s_lo, s_hi = r["steps_ci95"]
        print(f"{r['schedule']:<12} {r['final_loss_mean']:.3f} [{lo:.3f}, {hi:.3f}]{'':<8} "
              f"{r['steps_to_spread_below_2_mean']:7.1f} [{s_lo:.0f}, {s_hi:.0f}]{'':<12} "
              f"{r['never_below_2']:>5} {r['final_spread_mean']:>12.3g} "
              f"{_cell(r['final_gamma_spread_mean'], 10, '.3g')} "
              f"{r['steps_below_target_lr_mean']:>9.1f} "
              f"{r['max_abs_cos_w_g']:>9.1e} "
              f"{_cell(r['max_rel_norm_residual'], 12, '.1e')}")
    print("steps to spread<2 counts the budget for runs that never got there; lr<target: steps per run below the "
          "target rate")
    print("(warm-up length; for the critical warm-up its probe step plus the capped steps); CIs: bootstrap of the "
          "mean over seeds")
    print(f"gamma spr.: final max/min over layers of the unit-norm gradient norm ||g|| ||w|| (trailing RMS, "
          f"{SMOOTH_WINDOW} steps); the spread is that of gamma / ||w||^2")
    if base.momentum:
        print("max norm res: n/a with momentum (no exact norm recursion)")
    print()
    print(f"model vs measurement: MALE = mean over steps 1..{base.steps - 1} of |log10 measured / predicted| "
          "(mean over seeds)")
    print(f"  model:     the norm map restarted every K steps at the measured ||w_l||^2, gamma_l = RMS of the last "
          f"{GAMMA_WINDOW}")
    print("             unit-norm gradient norms (at t0 = 0 the init probe), driven by the run's learning rates")
    if base.momentum:
        print("             (the map is that of SGD without momentum: momentum is not modelled)")
    print("  persist:   the model's starting estimate gamma_l / ||w_l||^2 held for the K steps (naive baseline)")
    print(f"  smoothed:  trailing RMS over {SMOOTH_WINDOW} steps of measured and predicted per-layer rho alike")
    print("  per-layer: log error of every layer's ELR (smoothed), not only of the extremes' ratio")
    print(f"{'schedule':<12} {'K':>4} {'spread: model':>14} {'persist':>8} {'smoothed: model':>16} {'persist':>8} "
          f"{'per-layer sm.: model':>21} {'persist':>8}")
    for key in shown:
        s = summaries[key]
        for k, v in s.horizon.items():
            cells = [float(np.nanmean(v[m])) for pair in SHOWN_METRICS for m in pair]
            print(f"{key:<12} {k:>4} {cells[0]:>14.3f} {cells[1]:>8.3f} {cells[2]:>16.3f} {cells[3]:>8.3f} "
                  f"{cells[4]:>21.3f} {cells[5]:>8.3f}" + ("  (full run)" if k == base.steps else ""))
    print("measurement noise, mean |log10 raw / smoothed measured spread|: "
          + ", ".join(f"{key} {float(np.nanmean(summaries[key].noise)):.3f}" for key in shown))
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


def _arch(arch: str) -> str:
    """The architecture as the headers name it: nothing for the default MLP (older recordings print none)."""
    return " cnn" if arch == "cnn" else ""


def _sgd_options(config: Any, separator: str) -> str:
    """The SGD options that differ from plain SGD, e.g. ' weight decay 0.01 momentum 0.9' (separator ' ')."""
    return "".join(f"{separator}{name} {value:g}" for name, value in (("weight decay", config.weight_decay),
                                                                      ("momentum", config.momentum)) if value)


def _cell(value: float | None, width: int, spec: str) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}{spec}}"


def _json_number(value: float) -> float | None:
    """A non-finite figure as JSON null: NaN (none, e.g. the norm residual under momentum) or inf (a spread
    over a layer whose gradient is exactly zero)."""
    return value if math.isfinite(value) else None


def _plot(summaries: dict[str, Any], keys: list[str], base: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    for key, color in zip(keys, ("tab:blue", "tab:orange", "tab:green"), strict=False):
        s = summaries[key]
        t = np.arange(s.spread.shape[1])
        ax.plot(t, np.exp(np.mean(np.log(s.spread), axis=0)), color=color, label=f"{key} (measured)")
        ax.plot(t, np.exp(np.mean(np.log(s.predicted), axis=0)), color=color, ls="--", lw=1,
                label=f"{key} (model, gamma frozen)")
        ks = sorted(s.horizon)
        bx.plot(ks, [np.nanmean(s.horizon[k]["spread_smoothed_model"]) for k in ks], color=color, marker="o",
                label=f"{key}: model")
        bx.plot(ks, [np.nanmean(s.horizon[k]["spread_smoothed_persistence"]) for k in ks], color=color,
                marker="x", ls=":", label=f"{key}: persistence")
    ax.axhline(2.0, color="grey", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("ELR spread max E / min E (geo. mean over seeds)")
    ax.set_title(f"depth {base.depth} {base.norm} {base.arch.upper()}, {base.data}, lr {base.lr:g}"
                 f"{_sgd_options(base, ', ')}")
    ax.legend(fontsize=7)
    bx.set_xscale("log")
    bx.set_xlabel("horizon K (steps between restarts of the model)")
    bx.set_ylabel("MALE of the smoothed spread (log10)")
    bx.set_title("model vs persistence of its start", fontsize=10)
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scan(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from verify.elr.train import ElrRunConfig, one_step_scan

    seeds = _int_list(args.seeds, "--seeds")
    factors = _float_list(args.factors, "--factors")
    if not factors or not all(0 < k < float("inf") for k in factors):
        raise InputError(f"--factors: need finite positive numbers, got {args.factors!r}")
    if args.warm_steps < 0:
        raise InputError(f"--warm-steps: must be a non-negative integer, got {args.warm_steps}")
    lr = 0.05 if args.lr is None else args.lr
    torch.set_num_threads(1)
    results = {s: one_step_scan(ElrRunConfig(depth=args.depth, width=args.width, norm=args.norm, data=args.data,
                                             seed=s, arch=args.arch), factors, warm_steps=args.warm_steps,
                                warm_lr=lr)
               for s in seeds}
    if args.json:
        print(json.dumps({"factors": factors, "warm_steps": args.warm_steps, "warm_lr": lr, "seeds": {
            str(s): {k: [float(x) for x in np.atleast_1d(v)] for k, v in r.items() if k != "factors"}
            for s, r in results.items()}}, indent=2))
        return 0
    where = "initialization" if args.warm_steps == 0 else f"{args.warm_steps} steps at lr {lr:g}"
    print(f"one SGD step at k x eta_crit from {where}; depth {args.depth} {args.norm}{_arch(args.arch)} {args.data}; "
          "spread after the step on the same minibatch")
    def cell(v: float) -> str:
        return f"{v:>9.0f}" if v >= 100 else f"{v:>9.3g}"

    print(f"{'':<12}" + "".join(f"{'k=' + format(k, 'g'):>9}" for k in factors))
    for s, r in results.items():
        print(f"seed {s}: spread before {float(r['spread_before'][0]):.4g}, eta_crit {float(r['eta_crit'][0]):.3g}")
        print(f"{'  measured':<12}" + "".join(cell(float(v)) for v in r["measured"]))
        print(f"{'  model':<12}" + "".join(cell(float(v)) for v in r["predicted"]))
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
    if args.scan:
        return _scan(args)
    return _train(args) if args.train else _predict(args)
