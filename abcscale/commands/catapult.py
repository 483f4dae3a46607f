"""abcscale catapult: learning-rate phases (lazy / catapult / divergent) of solvable models and ReLU nets."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from typing import Any

from theory.errors import InputError

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
    p.add_argument("--dps", type=int, default=None, help="use mpmath with this many digits (uv, quadratic)")
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
    if args.plot is not None and not args.plot.strip():
        raise InputError("--plot needs a file path")
    if args.model == "mlp":
        result = _run_mlp(args, ratios, seeds, steps)
    else:
        result = _run_model(args, ratios, seeds, steps)
    if args.json:
        print(json.dumps(result["json"], indent=2, default=_jsonable))
    else:
        print(result["text"])
    if args.plot:
        write_plot(args.plot, result["curves"], result["diagram"], args.model)
        if not args.json:
            print(f"plot written: {args.plot}")
    return 0


def _jsonable(value: Any) -> Any:
    return float(value) if hasattr(value, "__float__") else str(value)


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def _run_model(args: argparse.Namespace, ratios: tuple[float, ...], seeds: tuple[int, ...],
               steps: int) -> dict[str, Any]:
    from numerics.catapult import tables as catapult

    if args.dps is not None and args.dps < 15:
        raise InputError(f"--dps must be >= 15, got {args.dps}")
    rows: list[dict[str, Any]] = []
    curves: list[tuple[int, float, list[float]]] = []
    diagram: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for seed in seeds:
        if args.model == "uv":
            exp = catapult.uv_experiment(args.n or 10_000, steps, seed, args.x, args.y, args.dps)
        else:
            width = _int_width(args.n or 1000)
            exp = catapult.quadratic_experiment(width, steps, seed, args.linear, args.dps)
        for summary in exp.sweep(ratios):
            rows.append({"seed": seed, **summary.as_dict()})
            curves.append((seed, summary.ratio, exp.trajectory(summary.ratio).log10_loss()))
        diagram.extend({"seed": seed, **row} for row in catapult.diagram_rows(exp.sweep(ratios)))
        if args.edges:
            edges.append({"seed": seed, **catapult.locate_edges(exp).as_dict()})
    header = f"{'seed':>4} {'eta*lam0':>9} {'phase':>9} {'log10 L0':>9} {'log10 Lmax':>10} {'t_peak':>6} " \
             f"{'eta*lam_T':>9} {'log10 L_T':>9} {'div@':>5}"
    lines = [f"abcscale catapult {args.model}: n={args.n or (10_000 if args.model == 'uv' else 1000)}, "
             f"steps={steps}, {'mpmath dps=' + str(args.dps) if args.dps else 'float64'}", header]
    for r in rows:
        lines.append(f"{r['seed']:>4} {r['eta_lambda0']:>9.3f} {r['phase']:>9} {_fmt(r['log10_loss0']):>9} "
                     f"{_fmt(r['peak_log10_loss']):>10} {r['peak_step']:>6} {_fmt(r['final_eta_lambda']):>9} "
                     f"{_fmt(r['final_log10_loss']):>9} {_step(r['diverged_step']):>5}")
    for e in edges:
        lines.append(f"edges (seed {e['seed']}, eta*lam0): lower {e['lower']:.4f} vs 2 "
                     f"({100 * (e['lower'] / 2 - 1):+.2f}%), upper {e['upper']:.4f} vs {e['upper_closed_name']} "
                     f"= {e['upper_closed']:.4f} ({100 * (e['upper'] / e['upper_closed'] - 1):+.2f}%)")
    return {"text": "\n".join(lines), "json": {"model": args.model, "runs": rows, "edges": edges,
                                                "phase_diagram": diagram},
            "curves": curves, "diagram": diagram}


def _step(step: int | None) -> str:
    return "-" if step is None else str(step)


def _int_width(text: Any) -> int:
    try:
        width = int(str(text))
    except ValueError:
        raise InputError(f"--n {text!r}: quadratic width must be an integer") from None
    return width


def _run_mlp(args: argparse.Namespace, ratios: tuple[float, ...], seeds: tuple[int, ...],
             steps: int) -> dict[str, Any]:
    import torch

    from verify.catapult import sweep as vc

    torch.set_num_threads(min(2, torch.get_num_threads()))
    config = vc.SweepConfig(dataset=args.dataset, inputs=args.inputs, samples=args.samples, width=args.width,
                            depth=args.depth, ratios=ratios, seeds=seeds, steps=steps, ntk_every=args.ntk_every)
    records = vc.run_sweep(config, progress=not args.json)
    edges = vc.window_edges(records)
    correlations = []
    for layer in range(args.depth - 1):
        try:
            correlations.append(vc.sparsity_rank_correlation(records, layer=layer))
        except InputError:
            break
    header = f"{'seed':>4} {'eta*lam0':>8} {'phase':>9} {'L0':>7} {'Lmax':>9} {'t_peak':>6} {'L_T':>8} " \
             f"{'eta*lam_T':>9} {'|th|2/P 0->max->T':>20} {'inactive/layer':>16} {'div@':>5}"
    lines = [f"abcscale catapult mlp: {args.dataset} ({args.inputs}), m={args.samples}, width={args.width}, "
             f"depth={args.depth}, steps={steps}", header]
    diagram: list[dict[str, Any]] = []
    curves: list[tuple[int, float, list[float]]] = []
    for r in records:
        wn = f"{r.weight_norm[0]:.3f}->{max(r.weight_norm):.3g}->{r.weight_norm[-1]:.3g}"
        inactive = ",".join(f"{v:.3f}" for v in r.inactive_final) or "-"
        lines.append(f"{r.seed:>4} {r.ratio:>8.2f} {r.phase:>9} {r.loss[0]:>7.3g} {r.peak_loss:>9.3g} "
                     f"{r.peak_step:>6} {r.loss[-1]:>8.3g} {_fmt(r.final_eta_lambda):>9} {wn:>20} "
                     f"{inactive:>16} {_step(r.diverged_step):>5}")
        diagram.append({"seed": r.seed, "eta": r.eta, "final_lambda": r.lam[-1] if r.diverged_step is None
                        else math.nan, "two_over_eta": 2 / r.eta, "phase": r.phase})
        curves.append((r.seed, r.ratio, [math.log10(v) if v > 0 else -math.inf for v in r.loss]))
    lines.append(f"window (eta*lam0, grid midpoints, mean over seeds +- std (+) half spacing): lower "
                 f"{_fmt(edges.lower, 4)} +- {_fmt(edges.lower_err, 2)}, upper {_fmt(edges.upper, 4)} +- "
                 f"{_fmt(edges.upper_err, 2)}{' (no divergence in grid)' if math.isnan(edges.upper) else ''}")
    for layer, c in enumerate(correlations):
        lines.append(f"inactive fraction vs eta*lam0 (layer {layer + 1}, {c.runs} catapult runs): Spearman "
                     f"rho {c.rho:.3f}, 95% bootstrap CI [{c.ci_low:.3f}, {c.ci_high:.3f}]")
    payload = {"model": "mlp", "config": asdict(config),
               "runs": [r.as_dict() for r in records], "edges": vars(edges),
               "sparsity_correlation": [vars(c) for c in correlations]}
    return {"text": "\n".join(lines), "json": payload, "curves": curves, "diagram": diagram}


def write_plot(path: str, curves: list[tuple[int, float, list[float]]], diagram: list[dict[str, Any]],
               model: str) -> None:
    """Left: final lambda against eta with the 2/eta curve; right: log10 loss curves (first seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_d, ax_l) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"lazy": "tab:blue", "catapult": "tab:orange", "divergent": "tab:red"}
    etas = sorted(row["eta"] for row in diagram)
    for phase, colour in colours.items():
        pts = [(row["eta"], row["final_lambda"]) for row in diagram if row["phase"] == phase]
        if pts and phase != "divergent":
            ax_d.plot(*zip(*pts, strict=True), "o", color=colour, label=phase)
    for row in diagram:
        if row["phase"] == "divergent":
            ax_d.axvline(row["eta"], color=colours["divergent"], alpha=0.15)
    ax_d.plot(etas, [2 / e for e in etas], "k--", label="2/eta")
    ax_d.set_xlabel("eta")
    ax_d.set_ylabel("final lambda (top NTK eigenvalue)")
    ax_d.set_title(f"{model}: phase diagram (red lines: divergent)")
    ax_d.legend()
    first_seed = curves[0][0] if curves else 0
    cmap = plt.get_cmap("viridis")
    mine = [c for c in curves if c[0] == first_seed]
    for i, (_, ratio, losses) in enumerate(mine):
        ax_l.plot(range(len(losses)), losses, color=cmap(i / max(len(mine) - 1, 1)), label=f"{ratio:.2f}")
    finite = [v for _, _, losses in mine for v in losses if math.isfinite(v)]
    if finite:  # show the spikes: the first 80 steps, 12 decades below the start
        ax_l.set_ylim(min(finite[0] - 12, max(finite)) , max(finite) + 1)
    ax_l.set_xlim(0, 80)
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("log10 loss")
    ax_l.set_title(f"loss curves (seed {first_seed}), label = eta*lambda_0")
    ax_l.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as err:
        raise InputError(f"--plot {path!r}: cannot write ({err})") from None
    finally:
        plt.close(fig)
