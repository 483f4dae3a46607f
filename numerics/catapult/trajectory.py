"""A single-sample GD trajectory (residual r_t = f_t - y and NTK lambda_t) and its phase summary.

Entries are Python floats (float64) or ``mpmath.mpf`` (arbitrary precision); losses are
``L_t = r_t^2 / 2`` and are summarised as log10 values so both kinds are treated alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mpmath

from numerics.catapult.phases import CatapultPhase, Classification, PhaseCriterion, classify


def log10_half_square(r: Any) -> float:
    """log10(r^2 / 2) as a float for a float or mpf residual (-inf at r = 0, inf/nan kept)."""
    if isinstance(r, mpmath.mpf):
        return -math.inf if r == 0 else float(2 * mpmath.log10(abs(r)) - mpmath.log10(2))
    value = float(r)
    if math.isnan(value):
        return math.nan
    if math.isinf(value):
        return math.inf
    return -math.inf if value == 0 else 2 * math.log10(abs(value)) - math.log10(2)


@dataclass(frozen=True)
class Trajectory:
    """Residuals and kernels at steps 0..T (T may be shorter than asked when the loss passed the cap)."""

    residual: list[Any]
    lam: list[Any]

    def log10_loss(self) -> list[float]:
        return [log10_half_square(r) for r in self.residual]


@dataclass(frozen=True)
class RunSummary:
    """One run at learning rate eta: what the phase table shows."""

    eta: float
    ratio: float  # eta * lambda_0
    phase: CatapultPhase
    log10_loss0: float
    peak_log10_loss: float
    peak_step: int
    final_eta_lambda: float
    final_log10_loss: float
    diverged_step: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"eta": self.eta, "eta_lambda0": self.ratio, "phase": self.phase.value,
                "log10_loss0": self.log10_loss0, "peak_log10_loss": self.peak_log10_loss,
                "peak_step": self.peak_step, "final_eta_lambda": self.final_eta_lambda,
                "final_log10_loss": self.final_log10_loss, "diverged_step": self.diverged_step}


def summarize(eta: float, trajectory: Trajectory, criterion: PhaseCriterion) -> RunSummary:
    """Classify ``trajectory`` and collect the numbers of its phase-table row."""
    losses = trajectory.log10_loss()
    verdict: Classification = classify(losses, criterion)
    lam0 = float(trajectory.lam[0])
    final_lam = float(trajectory.lam[-1]) if verdict.diverged_step is None else math.nan
    return RunSummary(eta=eta, ratio=eta * lam0, phase=verdict.phase, log10_loss0=losses[0],
                      peak_log10_loss=verdict.peak_log10_loss, peak_step=verdict.peak_step,
                      final_eta_lambda=eta * final_lam, final_log10_loss=losses[-1],
                      diverged_step=verdict.diverged_step)
