"""Learning-rate phases (lazy / catapult / divergent) read off a loss trajectory, and edge bisection.

The criterion is the same for the solvable models and for real networks, so the two can be compared:

* **divergent**: the loss became non-finite or exceeded ``cap`` at some step (that step is recorded),
  or the run ended with a loss not below its initial value (no net progress over the horizon);
* **catapult**: not divergent, and the peak loss exceeded the initial loss by more than the relative
  margin ``spike`` (loss spike, then return below the initial loss); for real networks the spike is
  looked for in the loss along the initial top NTK eigenvector (see ``classify``);
* **lazy**: neither: the loss never rose above ``(1 + spike) * L_0`` and ended below ``L_0``.

Losses are handled as log10 values so that mpmath trajectories with losses beyond float64 range
(n = 10^400) are classified with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from theory.errors import InputError


class CatapultPhase(StrEnum):
    """A run's learning-rate phase (not ``theory.regimes.Phase``, an interval of the engine's LR exponent)."""

    LAZY = "lazy"
    CATAPULT = "catapult"
    DIVERGENT = "divergent"


@dataclass(frozen=True)
class PhaseCriterion:
    """Thresholds of the phase criterion (see module docstring); ``cap_log10`` is absolute.

    Not ``verify.lr.stability.Criterion``, which judges a width-sweep training stable or not."""

    spike: float = 1e-3
    cap_log10: float = 300.0

    def __post_init__(self) -> None:
        if not self.spike > 0:
            raise InputError(f"spike margin must be > 0, got {self.spike}")


@dataclass(frozen=True)
class Classification:
    phase: CatapultPhase
    peak_log10_loss: float
    peak_step: int
    diverged_step: int | None


def classify(log10_loss: Sequence[float], criterion: PhaseCriterion,
             spike_log10_loss: Sequence[float] | None = None) -> Classification:
    """Classify one trajectory of log10 losses (index = step, entry 0 = initial loss).

    ``spike_log10_loss`` (optional, same steps) is the loss used for the spike test instead of the
    total loss: for many samples, the loss along the initial top NTK eigenvector, which grows as soon
    as eta lambda_0 > 2 even while the other modes still make the total loss fall.
    """
    if len(log10_loss) < 2:
        raise InputError("a trajectory needs at least 2 losses to be classified")
    start = log10_loss[0]
    peak, peak_step = start, 0
    for step, value in enumerate(log10_loss):
        if math.isnan(value) or value > criterion.cap_log10:  # +inf counts as above the cap
            return Classification(CatapultPhase.DIVERGENT, math.inf, step, step)
        if value > peak:
            peak, peak_step = value, step
    final = log10_loss[-1]
    if not final < start:
        return Classification(CatapultPhase.DIVERGENT, peak, peak_step, None)
    spike_series = log10_loss if spike_log10_loss is None else spike_log10_loss
    spiked = max(spike_series) > spike_series[0] + math.log10(1.0 + criterion.spike)
    return Classification(CatapultPhase.CATAPULT if spiked else CatapultPhase.LAZY, peak, peak_step, None)


def bisect_edge(phase_of: Callable[[float], CatapultPhase], lo: float, hi: float, below: CatapultPhase,
                rel_tol: float = 1e-4) -> float:
    """Learning rate where ``phase_of`` stops returning ``below``: bisection on ``[lo, hi]``.

    Requires ``phase_of(lo) == below != phase_of(hi)``; returns the bracket midpoint once the bracket
    is narrower than ``rel_tol * hi``.
    """
    if not 0 < lo < hi:
        raise InputError(f"edge bracket must satisfy 0 < lo < hi, got lo={lo}, hi={hi}")
    if phase_of(lo) != below:
        raise InputError(f"edge bracket: lower end {lo} is not {below.value}")
    if phase_of(hi) == below:
        raise InputError(f"edge bracket: upper end {hi} is still {below.value}")
    while hi - lo > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        if phase_of(mid) == below:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
