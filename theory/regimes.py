"""Regimes from derived exponents: stable / controlled divergence / vanishing init / catastrophic, and phase diagrams.

Following Haas et al. (2025) and Tensor Programs IV (TP4), in order of precedence:
* **catastrophic**: some hidden pre-activation grows with n (features blow up), or the loss
  gradient chi = d loss / d f grows (MSE with diverging logits), or exponents still grow at the horizon;
* **vanishing-init**: nothing blows up, but some hidden pre-activation h^l_0 (l <= L) vanishes with n at
  initialisation.  TP4 Thm 3.3 (condition 1) asks for h_0 = Theta(1), so no learning rate is stable;
  this replaces stable and controlled-divergence (the init does not depend on the learning rate);
* **controlled-divergence**: the logits grow with n while activations and chi stay bounded
  (possible under cross-entropy only, where chi = softmax(f) - y is bounded);
* **stable**: everything O(1) and Theta(1) at init (TP4 Thm 3.3).

Catastrophic wins over vanishing-init: a blow-up at some learning rate is the stronger statement there.
The readout may start small (a_{L+1} + b_{L+1} > 1/2 is allowed by TP4, e.g. muP, MFP): only hidden
pre-activations decide vanishing-init.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from theory.algebra import Maybe, mn, mx
from theory.piecewise import PiecewiseLinear, sample_points

if TYPE_CHECKING:
    from theory.network import Network

STABLE = "stable"
CONTROLLED = "controlled-divergence"
VANISHING = "vanishing-init"
CATASTROPHIC = "catastrophic"
REGIMES = (STABLE, CONTROLLED, VANISHING, CATASTROPHIC)
TRAINABLE = (STABLE, CONTROLLED)  # the regimes a maximal stable learning rate may sit in


@dataclass(frozen=True)
class Predicates:
    """The exponents that decide the regime (max or min over layers and steps)."""

    features: Maybe  # hidden pre-activations h^l_t, l <= L
    chi: Maybe  # d loss / d logits
    logits: Maybe  # f_t
    growth: Maybe  # largest increase of any exponent over the last unrolled step (> 0: positive feedback)
    init: Maybe  # smallest hidden pre-activation at init, min_l h^l_0 (< 0 or None: it vanishes)


GROWTH_KINDS = ("h", "x", "dh", "dx", "eff", "prop", "gx", "g", "G", "dw")


def bounded_nodes(net: Network, horizon: int) -> dict[str, list[tuple[object, ...]]]:
    """Graph nodes whose exponents must stay <= 0 for stable training, by predicate (the network's features:
    an MLP's hidden pre-activations; a GPT's every activation, residual stream and attention logits)."""
    steps = range(horizon + 1)
    # a decay rate eta lambda above Theta(1) flips the weights' sign each step: bounded like a feature
    decays: list[tuple[object, ...]] = [("shrink", l, t) for l in net.decays for t in steps if t > 0]
    features: list[tuple[object, ...]] = [(v.prefix, v.key, t) for v in net.features for t in steps]
    return {"features": features + decays,
            "chi": [("chi", t) for t in steps],
            "logits": [(v.prefix, v.key, t) for v in (net.logits, *net.saturating) for t in steps]}


def predicates(values: dict[tuple[object, ...], Maybe], net: Network, horizon: int) -> Predicates:
    """Regime-deciding exponents.  ``growth`` compares the last two unrolled steps: every feedback
    loop of training (update -> features -> gradient -> update) closes within one step, so a loop
    with positive gain shows up as an increase at every step, and its quantities grow without bound
    as t grows (at fixed t they are finite, but no finite-t stability holds uniformly)."""
    increases: list[Maybe] = []
    if horizon >= 2:
        for (kind, *rest), value in values.items():
            if kind in GROWTH_KINDS and len(rest) == 2 and rest[1] == horizon and value is not None:
                before = values.get((kind, rest[0], horizon - 1))
                if before is not None:
                    increases.append(value - before)
        increases.append(mx(*[values[("chi", horizon)]]) - values[("chi", horizon - 1)]  # type: ignore[operator]
                         if values[("chi", horizon - 1)] is not None else None)
    bounded = {name: mx(*[values[node] for node in nodes]) for name, nodes in bounded_nodes(net, horizon).items()}
    return Predicates(features=bounded["features"], chi=bounded["chi"], logits=bounded["logits"],
                      growth=mx(*increases), init=mn(*[values[(v.prefix, v.key, 0)] for v in net.init]))


def _positive(value: Maybe, at: Fraction | None = None) -> bool:
    if value is None:
        return False
    if isinstance(value, PiecewiseLinear):
        assert at is not None
        return value(at) > 0
    return bool(value > 0)


def vanishes(value: Maybe, at: Fraction | None = None) -> bool:
    """Whether an exponent is below 0 (None: the quantity is exactly zero, exponent -oo)."""
    if value is None:
        return True
    if isinstance(value, PiecewiseLinear):
        assert at is not None
        return value(at) < 0
    return bool(value < 0)


def blows_up(p: Predicates, at: Fraction | None = None) -> bool:
    """Features or chi grow with n within the horizon (catastrophic without the growth criterion)."""
    return _positive(p.features, at) or _positive(p.chi, at)


def classify(p: Predicates, at: Fraction | None = None) -> str:
    """Regime for numeric predicates (or piecewise-linear ones evaluated at ``at``), by the module's precedence."""
    if blows_up(p, at) or _positive(p.growth, at):
        return CATASTROPHIC
    if vanishes(p.init, at):
        return VANISHING
    if _positive(p.logits, at):
        return CONTROLLED
    return STABLE


@dataclass(frozen=True)
class Phase:
    """An interval of the LR exponent x with one regime; None ends are unbounded."""

    lower: Fraction | None
    upper: Fraction | None
    lower_closed: bool
    upper_closed: bool
    regime: str

    def contains(self, x: Fraction) -> bool:
        above = self.lower is None or x > self.lower or (self.lower_closed and x == self.lower)
        below = self.upper is None or x < self.upper or (self.upper_closed and x == self.upper)
        return above and below

    def interval(self) -> str:
        lo = "(-oo" if self.lower is None else ("[" if self.lower_closed else "(") + str(self.lower)
        hi = "oo)" if self.upper is None else str(self.upper) + ("]" if self.upper_closed else ")")
        return f"{lo}, {hi}"


def phase_diagram(p: Predicates) -> list[Phase]:
    """Exact regimes over x from piecewise-linear predicates (cells between sign changes)."""
    critical: set[Fraction] = set()
    for value in (p.features, p.chi, p.logits, p.growth, p.init):
        if isinstance(value, PiecewiseLinear):
            critical |= value.critical_points()
    phases: list[Phase] = []
    for lo, hi, probe in sample_points(critical):
        regime = classify(p, probe)
        point = lo is not None and lo == hi
        if phases and phases[-1].regime == regime:
            last = phases[-1]
            phases[-1] = Phase(last.lower, hi, last.lower_closed, point, regime)
        else:
            if phases and not point:  # an open cell after a point of another regime
                phases.append(Phase(lo, hi, False, False, regime))
            else:
                phases.append(Phase(lo, hi, point, point, regime))
    return phases


def sup_where(phases: list[Phase], allowed: tuple[str, ...]) -> tuple[Fraction | None, bool, bool]:
    """(sup of x in the allowed regimes, attained?, unbounded above?)."""
    best: Phase | None = None
    for phase in phases:
        if phase.regime in allowed:
            best = phase
    if best is None:
        return None, False, False
    if best.upper is None:
        return None, False, True
    return best.upper, best.upper_closed, False
