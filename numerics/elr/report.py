"""The model's prediction of the ELR spread under three schedules (constant rate, linear warm-up, critical-rate
warm-up) as one result: spread at a few steps, the gradient-flow closed form, steps until the spread is below 2;
as JSON-ready data (``as_dict``) and as a text table (``abcscale elr`` without --train prints these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from numerics.elr import dynamics as elr

SHOWN_TIMES = (0, 1, 2, 3, 5, 10, 30, 100, 300, 1000, 3000)
"""Steps the prediction reports (those within the run, plus its last step)."""


@dataclass(frozen=True)
class SchedulePrediction:
    """Spread max E / min E of the norm map for ``layers`` layers at the steps ``times``, per schedule."""

    layers: int
    lr: float
    warmup: int
    critical_lr_t0: float
    initial_spread: float
    times: list[int]
    spread: dict[str, list[float]]
    """schedule ('constant', 'linear', 'critical') -> spread at each of ``times``."""
    flow: list[float]
    """Gradient flow at the constant rate (closed form) at each of ``times``."""
    steps_below_2: dict[str, int | None]

    def as_dict(self) -> dict[str, object]:
        """The JSON form (no layer count or warm-up length: they are the caller's input)."""
        return {"lr": self.lr, "critical_lr_t0": self.critical_lr_t0, "initial_spread": self.initial_spread,
                "times": self.times, "spread": self.spread, "spread_gradient_flow_constant": self.flow,
                "steps_to_spread_below_2": self.steps_below_2}

    def table(self) -> str:
        """A header line, the spread per step and schedule, and the steps until it is below 2."""
        lines = [f"model: {self.layers} layers, initial spread {self.initial_spread:.4g}, "
                 f"critical lr at t=0 {self.critical_lr_t0:.4g}, target lr {self.lr:g}, "
                 f"linear warm-up {self.warmup}",
                 f"{'step':>6} {'constant':>10} {'flow(const)':>12} {'linear':>10} {'critical':>10}"]
        s = self.spread
        for i, t in enumerate(self.times):
            lines.append(f"{t:>6} {s['constant'][i]:>10.4g} {self.flow[i]:>12.4g} {s['linear'][i]:>10.4g} "
                         f"{s['critical'][i]:>10.4g}")
        lines.append("steps to spread < 2: " + ", ".join(f"{k} {'never' if v is None else v}"
                                                         for k, v in self.steps_below_2.items()))
        return "\n".join(lines)


def predict_schedules(gamma: Sequence[float], sigma0_sq: float, lr: float, warmup: int,
                      steps: int) -> SchedulePrediction:
    """Run the norm map for ``steps`` steps from ``sigma0_sq`` with per-layer gradient norms ``gamma`` (at unit
    weight norm) under the constant rate ``lr``, a linear warm-up of ``warmup`` steps and the critical warm-up."""
    g = np.asarray(gamma, dtype=float)
    schedules = {"constant": elr.constant_schedule(lr), "linear": elr.linear_warmup_schedule(lr, warmup),
                 "critical": elr.critical_warmup_schedule(lr)}
    trajs = {k: elr.simulate(g, sigma0_sq, s, steps) for k, s in schedules.items()}
    times = sorted({t for t in (*SHOWN_TIMES, steps) if t <= steps})
    flow = elr.spread(elr.closed_form_elr(g, sigma0_sq, lr, np.asarray(times, dtype=float)))
    rho0 = g / sigma0_sq
    return SchedulePrediction(
        layers=g.size, lr=lr, warmup=warmup, critical_lr_t0=elr.critical_lr_from_ratios(rho0),
        initial_spread=float(elr.spread(rho0)), times=times,
        spread={k: [float(tr.spread[t]) for t in times] for k, tr in trajs.items()},
        flow=[float(v) for v in flow],
        steps_below_2={k: elr.steps_to_spread(tr.spread, 2.0) for k, tr in trajs.items()})
