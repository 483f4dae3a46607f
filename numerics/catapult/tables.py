"""Catapult phase tables, phase diagrams and numerically located edges for the uv and quadratic models.

Learning rates are given as ratios eta * lambda_0 (lambda_0 = the run's own initial NTK). Edges are
located by a coarse scan over the ratio followed by bisection (``numerics.catapult.phases.bisect_edge``) and
compared with the closed forms: 2/lambda_0 (both models), 4/lambda_0 (uv), and the quadratic model's
sufficient bound eta_up (a lower bound on its divergence edge, not an estimate of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.catapult import quadratic_model, uv_model
from numerics.catapult.phases import CatapultPhase, PhaseCriterion, bisect_edge
from numerics.catapult.trajectory import RunSummary, Trajectory, summarize
from theory.errors import InputError

SCAN_RATIOS = tuple(float(r) for r in np.arange(0.5, 12.01, 0.25))


@dataclass(frozen=True)
class Edges:
    """Located edges and closed forms, all in units of eta * lambda_0."""

    lam0: float
    lower: float
    upper: float
    lower_closed: float
    upper_closed: float
    upper_closed_name: str

    def as_dict(self) -> dict[str, Any]:
        return {"lambda0": self.lam0, "lower": self.lower, "upper": self.upper,
                "lower_closed": self.lower_closed, "upper_closed": self.upper_closed,
                "upper_closed_name": self.upper_closed_name}


@dataclass(frozen=True)
class Experiment:
    """A model at fixed initialisation: run(eta) gives its trajectory; lam0 its initial NTK."""

    lam0: float
    run: Callable[[float], Trajectory]
    criterion: PhaseCriterion
    upper_closed: float
    upper_closed_name: str

    def summary(self, ratio: float) -> RunSummary:
        eta = ratio / self.lam0
        return summarize(eta, self.run(eta), self.criterion)

    def sweep(self, ratios: Sequence[float]) -> list[RunSummary]:
        _check_ratios(ratios)
        return [self.summary(r) for r in ratios]

    def trajectory(self, ratio: float) -> Trajectory:
        return self.run(ratio / self.lam0)


def uv_experiment(n: Any, steps: int = 1000, seed: int = 0, x: float = 1.0, y: float = 0.0,
                  dps: int | None = None) -> Experiment:
    """uv model at width n (function-space map; mpmath when ``dps`` is given)."""
    r0, lam0 = uv_model.initial_state(n, seed, x, y)
    cap = uv_model.default_cap_log10(n, float(np.log10(r0 * r0 / 2)))
    if dps is None:
        cap = min(cap, 300.0)

    def run(eta: float) -> Trajectory:
        return uv_model.function_map(r0, lam0, eta, n, steps, x, y, dps=dps, cap_log10=cap)

    return Experiment(lam0, run, PhaseCriterion(cap_log10=cap), 4.0, "4 (Lewkowycz Thm 1)")


def quadratic_experiment(width: int, steps: int = 1000, seed: int = 0, linear: bool = False,
                         dps: int | None = None) -> Experiment:
    """Pure (or, with ``linear``, with-bias) quadratic toy model via its exact spectral map."""
    model, theta0 = quadratic_model.toy_model(width, seed, linear=linear)
    state = quadratic_model.spectral_state(model, theta0)
    cap = uv_model.default_cap_log10(width, float(np.log10(state.residual**2 / 2)))
    if linear:
        bound, name = quadratic_model.eta_up_linear_as_coded(model, theta0), "eta_up (authors' code)"
    else:
        bound, name = quadratic_model.eta_up_pure(model, theta0), "eta_up (sufficient)"

    def run(eta: float) -> Trajectory:
        return quadratic_model.function_map(state, model.zeta, eta, steps, dps=dps,
                                            cap_log10=cap)

    return Experiment(state.ntk, run, PhaseCriterion(cap_log10=cap), bound * state.ntk, name)


def locate_edges(experiment: Experiment, scan: Sequence[float] = SCAN_RATIOS,
                 rel_tol: float = 1e-4) -> Edges:
    """Lower edge (lazy -> not lazy) and upper edge (catapult -> divergent) in units of eta lambda_0."""
    phases = [experiment.summary(r).phase for r in scan]
    lower_hi = next((i for i, p in enumerate(phases) if p != CatapultPhase.LAZY), None)
    if lower_hi is None or lower_hi == 0:
        raise InputError("edge scan: no lazy-to-catapult change found in the scanned ratios")
    upper_hi = next((i for i in range(lower_hi, len(phases)) if phases[i] == CatapultPhase.DIVERGENT), None)
    catapults = [i for i in range(lower_hi, upper_hi or 0) if phases[i] == CatapultPhase.CATAPULT]
    if upper_hi is None or not catapults:
        raise InputError("edge scan: no catapult-to-divergent change found in the scanned ratios")

    def phase_of(eta: float) -> CatapultPhase:
        return summarize(eta, experiment.run(eta), experiment.criterion).phase

    lam0 = experiment.lam0
    lower = bisect_edge(phase_of, scan[lower_hi - 1] / lam0, scan[lower_hi] / lam0, CatapultPhase.LAZY, rel_tol)
    upper = bisect_edge(phase_of, scan[catapults[-1]] / lam0, scan[upper_hi] / lam0, CatapultPhase.CATAPULT,
                        rel_tol)
    return Edges(lam0, lower * lam0, upper * lam0, 2.0, experiment.upper_closed,
                 experiment.upper_closed_name)


def diagram_rows(summaries: Sequence[RunSummary]) -> list[dict[str, float | str]]:
    """Rows (eta, final lambda, 2/eta, phase) of the catapult plot: lambda_final sits on lambda_0 (lazy), below
    2/eta (catapult).  Named apart from ``theory.regimes.phase_diagram`` (regimes over the LR exponent)."""
    return [{"eta": s.eta, "final_lambda": s.final_eta_lambda / s.eta, "two_over_eta": 2.0 / s.eta,
             "phase": s.phase.value} for s in summaries]


def _check_ratios(ratios: Sequence[float]) -> None:
    if not ratios:
        raise InputError("the eta*lambda_0 grid is empty")
    bad = [r for r in ratios if not (np.isfinite(r) and r > 0)]
    if bad:
        raise InputError(f"eta*lambda_0 values must be finite and > 0, got {bad[0]}")
