"""Depth sweeps: prediction vs measurement rows (slope with 95% bootstrap CI, tolerance, PASS/FAIL), their text
table, summary and figure (``format_rows``, ``summary_line``, ``rows_figure``).

Three experiments (docs/depth.md):
* ``mlp_l3``: one-step change of the last hidden pre-activation of a mean-field ReLU MLP vs depth L (slope 3,
  flat in width, the L^3 constant against numerics.depth.law's infinite-width recursion);
* ``ip``: first-step pre-activation exponents in width of IP and IP-LLR against the engine, and whether
  IP, IP-LLR and muP leave their initial loss;
* ``residual``: feature updates of Depth-muP / CompleteP residual MLPs vs depth.
Each experiment hands all its measurement calls (``verify.depth.units.Unit``) to ``units.many`` at once: computed
directly by default, or read from and written to the results store (``abcscale depth-sweep --db``), so a rerun
reports the stored values, and computed on Dask workers side by side when the store has an executor.
Tolerances (each a measured finite-size effect, see docs/depth.md): slope 3 +- 0.2; width slopes
+- 0.15 (the default of every check, for widths <= 4096); L^3 constant +- 10 %; residual depth slopes +- 0.15.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from theory.errors import InputError
from theory.terminal import text_table
from verify.depth.units import Unit, Units, Values, compute_only
from verify.fit import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, fit_slope

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from theory.parametrization import Parametrization
    from verify.depth.residual import ResidualConfig

SLOPE3_TOL = 0.2
WIDTH_TOL = 0.15
CONSTANT_TOL = 0.10
RESIDUAL_TOL = 0.15
LOSS_STAYS = 0.01  # |loss_T - loss_0| below this: "stays" (IP moves by < 1e-3 at n >= 256, eta = 0.01)
LOSS_TRAINS = 0.1  # loss_0 - loss_T above this: "trains" (IP-LLR and muP drop by > 0.2 in 60 steps, n >= 256)
IP_STEPS = 60
IP_LR = 0.01  # Hajjar et al.'s code default base learning rate
IP_LLR_FIRST_LR = 30.0  # eta of IP-LLR's first update; see docs/depth.md for why 1 is pre-asymptotic at n <= 4096
MUP_LR = 0.1


@dataclass(frozen=True)
class DepthRow:
    experiment: str
    item: str
    predicted: float
    measured: float | None
    low: float | None
    high: float | None
    tolerance: float
    verdict: str
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _row(experiment: str, item: str, predicted: float, measured: float | None, low: float | None,
         high: float | None, tolerance: float, note: str = "") -> DepthRow:
    ok = measured is not None and abs(measured - predicted) <= tolerance
    return DepthRow(experiment, item, predicted, measured, low, high, tolerance, "PASS" if ok else "FAIL", note)


def _ratio_ci(values: np.ndarray, reference: float) -> tuple[float, float, float]:
    """Seed-mean / reference with a 95% bootstrap interval over seeds."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, values.size, size=(BOOTSTRAP_SAMPLES, values.size))
    boot = values[picks].mean(axis=1) / reference
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(values.mean() / reference), float(low), float(high)


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def _l3_values(depth: int, width: int, seeds: list[int]) -> Values:
    from verify.depth.l3 import one_step_changes

    return {"preactivation_change": one_step_changes(depth, width, seeds)}


def _ip_values(param: Parametrization, width: int, seeds: list[int], *, lr: float, first_lr: float | None,
               steps: int) -> Values:
    from verify.depth.ip import run_ip

    run = run_ip(param, width, seeds, lr=lr, first_lr=first_lr, steps=steps)
    return {"first_step": run.first_step, "loss": run.losses}


def _ip_settings(param: Parametrization, lr: float, first_lr: float | None, steps: int) -> dict[str, Any]:
    from verify.depth.ip import BASE_WIDTH, BATCH

    return {"parametrization": param.training_dict(), "lr": lr, "first_lr": first_lr, "steps": steps,
            "base_width": BASE_WIDTH, "batch": BATCH, "data_seed": 0}


def _residual_values(cfg: ResidualConfig, width: int, depth: int, seeds: list[int]) -> Values:
    from verify.depth.residual import residual_updates

    return {q: v[:, None] for q, v in residual_updates(cfg, width, depth, seeds).items()}


def mlp_l3(depths: list[int], widths: list[int], seeds: list[int], progress: Progress = _quiet,
           units: Units = compute_only) -> list[DepthRow]:
    """Slope in L at each width, slope in n at each L, and measured/recursion S_L at the largest width."""
    from numerics.depth.law import fitted_exponent, last_layer_change
    from verify.depth.l3 import DEFAULT_ETA0

    if len(depths) < 2:
        raise InputError("--depths: need at least 2 depths to fit a slope")
    for n in widths:
        if n < 16 * max(depths):
            raise InputError(f"--widths: width {n} < 16 x depth {max(depths)}; the L^3 law needs n >= 16 L")
    keys = [(n, L) for n in widths for L in depths]
    got = units.many([Unit("mlp-l3", {"eta0": DEFAULT_ETA0, "dtype": "float32"}, n, L, seeds, partial(_l3_values, L, n),
                           label=f"mlp-l3 L={L} n={n}") for n, L in keys], progress)
    values = {key: v["preactivation_change"][:, -1] for key, v in zip(keys, got, strict=True)}
    theory = {L: float(last_layer_change(L)) for L in depths}
    local = fitted_exponent(depths, [theory[L] for L in depths])
    rows = []
    for n in widths:
        fit = fit_slope(depths, np.stack([values[(n, L)] for L in depths], axis=1))
        # the infinite-width recursion's own slope over these depths (its L^2 term bends it below the
        # asymptotic 3 at small L): what the theory predicts for exactly these runs
        rows.append(_row("mlp-l3", f"slope in L of |dz^L|^2, n={n}", local, fit.slope, fit.low, fit.high, SLOPE3_TOL,
                         "asymptotic slope 3 (eta* ~ L^-3/2)"))
    if len(widths) >= 2:
        for L in depths:
            fit = fit_slope(widths, np.stack([values[(n, L)] for n in widths], axis=1))
            rows.append(_row("mlp-l3", f"slope in n of |dz^L|^2, L={L}", 0.0, fit.slope, fit.low, fit.high,
                             WIDTH_TOL))
    top = max(widths)
    for L in depths:
        ratio, low, high = _ratio_ci(values[(top, L)], theory[L])
        rows.append(_row("mlp-l3", f"measured / recursion S_L, L={L}, n={top}", 1.0, ratio, low, high,
                         CONSTANT_TOL, f"recursion S_L/L^3 = {theory[L] / L**3:.4f}"))
    return rows


def ip(layers: int, widths: list[int], seeds: list[int], train_width: int,
       progress: Progress = _quiet, units: Units = compute_only) -> list[DepthRow]:
    """First-step exponents of IP and IP-LLR per layer vs the engine; loss after 60 steps of IP, IP-LLR, muP."""
    from theory.engine import derive
    from theory.presets import get_preset

    if len(widths) < 2:
        raise InputError("--widths: need at least 2 widths to fit a slope")
    first_steps = (("ip", IP_LR), ("ip-llr", IP_LLR_FIRST_LR))
    trainings: list[tuple[str, float, float | None]] = [("ip", IP_LR, None), ("ip-llr", IP_LR, IP_LLR_FIRST_LR),
                                                         ("mup", MUP_LR, None)]
    params = {name: get_preset(name, layers=layers) for name in ("ip", "ip-llr", "mup")}
    wanted = [Unit("ip", _ip_settings(params[name], IP_LR, first_lr, 1), n, layers, seeds,
                   partial(_ip_values, params[name], n, lr=IP_LR, first_lr=first_lr, steps=1), batched=True,
                   label=f"{name} L={layers} n={n}") for name, first_lr in first_steps for n in widths]
    wanted += [Unit("ip", _ip_settings(params[name], lr, warm_lr, IP_STEPS), train_width, layers, seeds,
                    partial(_ip_values, params[name], train_width, lr=lr, first_lr=warm_lr, steps=IP_STEPS),
                    batched=True, label=f"train {name} L={layers} n={train_width}") for name, lr, warm_lr in trainings]
    got = iter(units.many(wanted, progress))
    rows = []
    for name, _ in first_steps:
        report = derive(params[name])
        data = np.stack([next(got)["first_step"] for _ in widths], axis=2)  # seeds, layers, widths
        for i, layer in enumerate(report.layers):
            predicted = layer.first_step["preactivation_update"]
            if predicted is None:
                continue
            fit = fit_slope(widths, data[:, i, :])
            label = "logits" if i == len(report.layers) - 1 else f"h^{layer.index}"
            rows.append(_row(f"{name} first step", f"{label} exponent in n", float(predicted), fit.slope, fit.low,
                             fit.high, WIDTH_TOL, "engine: theory.engine.derive first_step"))
    for name, _, _ in trainings:
        losses = next(got)["loss"]
        drop = losses[:, 0] - losses[:, -1]
        measured = float(np.mean(drop)) if np.isfinite(drop).all() else None
        item = f"loss drop after {IP_STEPS} steps, n={train_width}"
        if name == "ip" and layers >= 3:
            rows.append(_row(f"{name} training", item, 0.0, measured, _min(drop), _max(drop), LOSS_STAYS,
                             "stays at its initial value"))
        else:
            ok = measured is not None and bool((drop > LOSS_TRAINS).all())
            rows.append(DepthRow(f"{name} training", item, LOSS_TRAINS, measured, _min(drop), _max(drop),
                                 LOSS_TRAINS, "PASS" if ok else "FAIL", f"trains: every seed drops by > {LOSS_TRAINS}"))
    return rows


def _min(x: np.ndarray) -> float | None:
    return float(np.min(x)) if np.isfinite(x).all() else None


def _max(x: np.ndarray) -> float | None:
    return float(np.max(x)) if np.isfinite(x).all() else None


def residual(depths: list[int], width: int, seeds: list[int], alphas: list[float], optimizers: list[str],
             progress: Progress = _quiet, units: Units = compute_only) -> list[DepthRow]:
    """Depth slopes of stream/block/effective feature updates for each (alpha, optimizer)."""
    from verify.depth.residual import QUANTITIES, ResidualConfig, predicted_slope

    if len(depths) < 2:
        raise InputError("--depths: need at least 2 depths to fit a slope")
    configs = [ResidualConfig(alpha=alpha, optimizer=opt) for alpha in alphas for opt in optimizers]
    got = iter(units.many([Unit("residual", {**asdict(cfg), "eta": cfg.eta, "data_seed": 0}, width, L, seeds,
                                partial(_residual_values, cfg, width, L),
                                label=f"residual alpha={cfg.alpha:g} {cfg.optimizer} L={L}")
                           for cfg in configs for L in depths], progress))
    rows = []
    for cfg in configs:
        per_depth = [{q: v[:, 0] for q, v in next(got).items()} for _ in depths]
        for q in QUANTITIES:
            fit = fit_slope(depths, np.stack([d[q] for d in per_depth], axis=1))
            rows.append(_row(f"residual alpha={cfg.alpha:g} {cfg.optimizer}", f"{q} update slope in L, n={width}",
                             predicted_slope(q, cfg.alpha, cfg.optimizer), fit.slope, fit.low, fit.high, RESIDUAL_TOL,
                             fit.note))
    return rows


EXPERIMENTS = ("mlp-l3", "ip", "residual")


def run_experiment(experiment: str, *, widths: list[int], seeds: list[int], depths: list[int] | None = None,
                   layers: int = 3, alphas: list[float] | None = None, optimizers: list[str] | None = None,
                   progress: Progress = _quiet, units: Units = compute_only) -> list[DepthRow]:
    """One of ``EXPERIMENTS`` by name: ``mlp_l3`` and ``residual`` take ``depths`` (residual: the first width,
    ``alphas``, ``optimizers``); ``ip`` takes ``layers`` and trains its losses at 4 x max(first width, 256).
    ``units``: ``verify.depth.units.StoredUnits(store)`` to read and write the results store."""
    if experiment == "ip":
        return ip(layers, widths, seeds, max(widths[0], 256) * 4, progress, units)
    if depths is None:
        raise InputError(f"{experiment}: needs depths")
    if experiment == "mlp-l3":
        return mlp_l3(depths, widths, seeds, progress, units)
    if experiment == "residual":
        return residual(depths, widths[0], seeds, [0.5, 1.0] if alphas is None else alphas,
                        ["sgd", "adam"] if optimizers is None else optimizers, progress, units)
    raise InputError(f"experiment: expected one of {', '.join(EXPERIMENTS)}, got {experiment!r}")


def _cell(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_rows(rows: list[DepthRow]) -> str:
    """The rows as the terminal shows them: predicted | measured | CI or range | tolerance | verdict | note."""
    body = [[r.experiment, r.item, _cell(r.predicted), _cell(r.measured), f"[{_cell(r.low)}, {_cell(r.high)}]",
             f"{r.tolerance:g}", r.verdict, r.note] for r in rows]
    return text_table(["experiment", "quantity", "predicted", "measured", "95% CI / range", "tol", "verdict", "note"],
                      body, right={2, 3})


def summary_line(rows: list[DepthRow]) -> str:
    """'k/n PASS' over the rows."""
    return f"{sum(r.verdict == 'PASS' for r in rows)}/{len(rows)} PASS"


def rows_figure(rows: list[DepthRow]) -> Figure:
    """One line per row: the prediction (x) and the measurement with its CI (o, green PASS, red FAIL)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.4 * len(rows) + 1.5))
    ax = fig.subplots()
    for i, r in enumerate(rows):
        ax.plot([r.predicted], [i], "kx")
        if r.measured is not None:
            err = [[r.measured - (r.low if r.low is not None else r.measured)],
                   [(r.high if r.high is not None else r.measured) - r.measured]]
            ax.errorbar([r.measured], [i], xerr=err, fmt="o", color="tab:green" if r.verdict == "PASS" else "tab:red")
    ax.set_yticks(range(len(rows)), [f"{r.experiment}: {r.item}" for r in rows], fontsize=7)
    ax.set_xlabel("value (x: predicted, o: measured with 95% CI)")
    fig.tight_layout()
    return fig
