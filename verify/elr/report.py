"""ELR trainings as results: the schedule comparison (constant rate, tuned linear warm-up, critical warm-up) with
its model-vs-measurement agreement, and the one-step scan around the critical rate; each as JSON-ready data
(``as_dict``) and as text (``table``), which ``abcscale elr --train`` / ``--scan`` print."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from verify.elr.train import (
    GAMMA_WINDOW,
    HORIZON_METRICS,
    HORIZONS,
    SMOOTH_WINDOW,
    ElrRunConfig,
    ScheduleSummary,
    bootstrap_ci,
    compare_schedules,
    one_step_scan,
)

SHOWN_METRICS = (("spread_model", "spread_persistence"), ("spread_smoothed_model", "spread_smoothed_persistence"),
                 ("layer_smoothed_model", "layer_smoothed_persistence"))
"""Pairs (model, persistence baseline) of ``HORIZON_METRICS`` in the text's horizon table."""


def arch_label(arch: str) -> str:
    """The architecture as the headers name it: nothing for the default MLP (older recordings print none)."""
    return " cnn" if arch == "cnn" else ""


def sgd_options(config: ElrRunConfig, separator: str) -> str:
    """The SGD options that differ from plain SGD, e.g. ' weight decay 0.01 momentum 0.9' (separator ' ')."""
    return "".join(f"{separator}{name} {value:g}" for name, value in (("weight decay", config.weight_decay),
                                                                      ("momentum", config.momentum)) if value)


def _cell(value: float | None, width: int, spec: str) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}{spec}}"


def _json_number(value: float) -> float | None:
    """A non-finite figure as JSON null: NaN (none, e.g. the norm residual under momentum) or inf (a spread
    over a layer whose gradient is exactly zero)."""
    return value if math.isfinite(value) else None


def schedule_row(key: str, s: ScheduleSummary, target_lr: float) -> dict[str, Any]:
    """One schedule's figures over seeds (means with bootstrap CIs, worst cases, MALE per horizon), JSON-ready."""
    return {"schedule": key, "final_loss_mean": float(np.mean(s.final_loss)),
            "final_loss_ci95": bootstrap_ci(s.final_loss),
            "steps_to_spread_below_2_mean": float(np.mean(s.steps_below_2)),
            "steps_ci95": bootstrap_ci(s.steps_below_2), "never_below_2": s.never_below_2,
            "diverged": s.diverged, "final_spread_mean": float(np.mean(s.spread[:, -1])),
            "steps_below_target_lr_mean": float(np.mean(np.sum(s.lr < target_lr * (1 - 1e-9), axis=1))),
            "max_abs_cos_w_g": s.max_cosine, "max_rel_norm_residual": _json_number(s.max_norm_residual),
            "measurement_noise_mean": float(np.nanmean(s.noise)),
            "final_gamma_spread_mean": _json_number(float(np.nanmean(s.gamma_spread))),
            "male_vs_horizon": {str(k): {m: {"mean": float(np.nanmean(v[m])), "ci95": bootstrap_ci(v[m]),
                                             "per_seed": [float(x) for x in v[m]]}
                                         for m in HORIZON_METRICS}
                                for k, v in s.horizon.items()}}


@dataclass(frozen=True)
class ScheduleComparison:
    """``compare_schedules`` over ``seeds``: per-schedule summaries ('constant', 'linear-W' for every tuned
    length W, 'critical') and their ``schedule_row`` figures, in that order."""

    base: ElrRunConfig
    seeds: list[int]
    tuned_warmup: int
    summaries: dict[str, ScheduleSummary]
    rows: list[dict[str, Any]]

    @property
    def shown(self) -> list[str]:
        """The schedules the horizon table and the plot show: constant, the tuned linear warm-up, critical."""
        return ["constant", f"linear-{self.tuned_warmup}", "critical"]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: config, seeds, tuned warm-up, how agreement is measured, and the rows."""
        return {"config": self.base.__dict__, "seeds": self.seeds, "tuned_warmup": self.tuned_warmup,
                "agreement": {"metric": "mean over steps 1..T-1 of |log10 measured / predicted|",
                              "gamma_window": GAMMA_WINDOW, "smooth_window": SMOOTH_WINDOW,
                              "horizons": sorted(next(iter(self.summaries.values())).horizon)},
                "rows": self.rows}

    def table(self) -> str:
        """The schedules' figures with notes on reading them, then the model-vs-measurement MALE per horizon."""
        base, summaries = self.base, self.summaries
        lines = [f"depth {base.depth} width {base.width} {base.norm}{arch_label(base.arch)} {base.data} "
                 f"lr {base.lr:g}{sgd_options(base, ' ')} steps {base.steps} seeds {self.seeds}; tuned linear warm-up "
                 f"{self.tuned_warmup} (by mean final loss)",
                 f"{'schedule':<12} {'final loss [95% CI]':<26} {'steps to spread<2 [95% CI]':<28} {'never':>5} "
                 f"{'final spread':>12} {'gamma spr.':>10} {'lr<target':>9} {'max|cos|':>9} {'max norm res':>12}"]
        for r in self.rows:
            lo, hi = r["final_loss_ci95"]
            s_lo, s_hi = r["steps_ci95"]
            lines.append(f"{r['schedule']:<12} {r['final_loss_mean']:.3f} [{lo:.3f}, {hi:.3f}]{'':<8} "
                         f"{r['steps_to_spread_below_2_mean']:7.1f} [{s_lo:.0f}, {s_hi:.0f}]{'':<12} "
                         f"{r['never_below_2']:>5} {r['final_spread_mean']:>12.3g} "
                         f"{_cell(r['final_gamma_spread_mean'], 10, '.3g')} "
                         f"{r['steps_below_target_lr_mean']:>9.1f} "
                         f"{r['max_abs_cos_w_g']:>9.1e} "
                         f"{_cell(r['max_rel_norm_residual'], 12, '.1e')}")
        lines += ["steps to spread<2 counts the budget for runs that never got there; lr<target: steps per run "
                  "below the target rate",
                  "(warm-up length; for the critical warm-up its probe step plus the capped steps); CIs: bootstrap "
                  "of the mean over seeds",
                  f"gamma spr.: final max/min over layers of the unit-norm gradient norm ||g|| ||w|| (trailing RMS, "
                  f"{SMOOTH_WINDOW} steps); the spread is that of gamma / ||w||^2"]
        if base.momentum:
            lines.append("max norm res: n/a with momentum (no exact norm recursion)")
        lines += ["",
                  f"model vs measurement: MALE = mean over steps 1..{base.steps - 1} of |log10 measured / predicted| "
                  "(mean over seeds)",
                  f"  model:     the norm map restarted every K steps at the measured ||w_l||^2, gamma_l = RMS of "
                  f"the last {GAMMA_WINDOW}",
                  "             unit-norm gradient norms (at t0 = 0 the init probe), driven by the run's learning "
                  "rates"]
        if base.momentum:
            lines.append("             (the map is that of SGD without momentum: momentum is not modelled)")
        lines += ["  persist:   the model's starting estimate gamma_l / ||w_l||^2 held for the K steps (naive "
                  "baseline)",
                  f"  smoothed:  trailing RMS over {SMOOTH_WINDOW} steps of measured and predicted per-layer rho "
                  "alike",
                  "  per-layer: log error of every layer's ELR (smoothed), not only of the extremes' ratio",
                  f"{'schedule':<12} {'K':>4} {'spread: model':>14} {'persist':>8} {'smoothed: model':>16} "
                  f"{'persist':>8} {'per-layer sm.: model':>21} {'persist':>8}"]
        for key in self.shown:
            for k, v in summaries[key].horizon.items():
                cells = [float(np.nanmean(v[m])) for pair in SHOWN_METRICS for m in pair]
                lines.append(f"{key:<12} {k:>4} {cells[0]:>14.3f} {cells[1]:>8.3f} {cells[2]:>16.3f} "
                             f"{cells[3]:>8.3f} {cells[4]:>21.3f} {cells[5]:>8.3f}"
                             + ("  (full run)" if k == base.steps else ""))
        lines.append("measurement noise, mean |log10 raw / smoothed measured spread|: "
                     + ", ".join(f"{key} {float(np.nanmean(summaries[key].noise)):.3f}" for key in self.shown))
        return "\n".join(lines)


def compare(base: ElrRunConfig, seeds: list[int], warmup_grid: list[int], *, progress: bool = False,
            horizons: tuple[int, ...] | list[int] = HORIZONS) -> ScheduleComparison:
    """Train ``base`` under the three schedules for every seed (linear warm-up tuned on ``warmup_grid`` by mean
    final loss) and summarise them (``progress``: a bar on stderr)."""
    res = compare_schedules(base, seeds, warmup_grid, progress=progress, horizons=horizons)
    summaries: dict[str, ScheduleSummary] = {}
    for key in ["constant"] + [f"linear-{w}" for w in warmup_grid] + ["critical"]:
        s = res[key]
        assert isinstance(s, ScheduleSummary)
        summaries[key] = s
    tuned = res["tuned_warmup"]
    assert isinstance(tuned, int)
    rows = [schedule_row(key, s, base.lr) for key, s in summaries.items()]
    return ScheduleComparison(base, seeds, tuned, summaries, rows)


@dataclass(frozen=True)
class OneStepScan:
    """``one_step_scan`` of ``base`` for every seed at the same multiples ``factors`` of the critical rate."""

    base: ElrRunConfig
    factors: list[float]
    warm_steps: int
    warm_lr: float
    results: dict[int, dict[str, np.ndarray]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: factors, warm-up, and per seed the scan's arrays as lists."""
        return {"factors": self.factors, "warm_steps": self.warm_steps, "warm_lr": self.warm_lr, "seeds": {
            str(s): {k: [float(x) for x in np.atleast_1d(v)] for k, v in r.items() if k != "factors"}
            for s, r in self.results.items()}}

    def table(self) -> str:
        """Per seed: the spread before and eta_crit, then measured and modelled spread after the step per k."""
        base = self.base
        where = "initialization" if self.warm_steps == 0 else f"{self.warm_steps} steps at lr {self.warm_lr:g}"
        lines = [f"one SGD step at k x eta_crit from {where}; depth {base.depth} {base.norm}{arch_label(base.arch)} "
                 f"{base.data}; spread after the step on the same minibatch",
                 f"{'':<12}" + "".join(f"{'k=' + format(k, 'g'):>9}" for k in self.factors)]

        def cell(v: float) -> str:
            return f"{v:>9.0f}" if v >= 100 else f"{v:>9.3g}"

        for s, r in self.results.items():
            lines.append(f"seed {s}: spread before {float(r['spread_before'][0]):.4g}, "
                         f"eta_crit {float(r['eta_crit'][0]):.3g}")
            lines.append(f"{'  measured':<12}" + "".join(cell(float(v)) for v in r["measured"]))
            lines.append(f"{'  model':<12}" + "".join(cell(float(v)) for v in r["predicted"]))
        return "\n".join(lines)


def scan(base: ElrRunConfig, seeds: list[int], factors: list[float], *, warm_steps: int = 0,
         warm_lr: float = 0.05) -> OneStepScan:
    """One SGD step at k x the critical rate for each k in ``factors``, per seed (``base`` with that seed), from
    initialization or after ``warm_steps`` steps at ``warm_lr``."""
    results = {s: one_step_scan(replace(base, seed=s), factors, warm_steps=warm_steps, warm_lr=warm_lr)
               for s in seeds}
    return OneStepScan(base, factors, warm_steps, warm_lr, results)
