"""uv model: parameter space vs exact function-space map, and the phases of Lewkowycz et al. Thm 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numerics.catapult import tables as catapult
from numerics.catapult import uv_model
from numerics.catapult.phases import CatapultPhase, PhaseCriterion, classify


def _rel(a: list, b: list) -> float:
    return max(abs(float(p - q)) / abs(float(p)) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("n", [10**2, 10**3, 10**4, 10**5])
def test_float64_parameter_and_function_space_agree_through_the_catapult(n: int) -> None:
    # Horizon: every step until the loss is back below L_0 after the peak (the whole catapult, where the
    # 1/n terms act), plus lambda over all 200 steps. Beyond it the parameter-space residual
    # f = x v.u / sqrt(n) is a cancellation with an absolute rounding floor ~ eps sqrt(n) (measured:
    # relative error 1e-6 once |r| ~ 1e4 eps sqrt(n)), so relative agreement of r is then a float64
    # limit of parameter space, not of the map: that part is checked in mpmath below.
    u, v = uv_model.sample_params(n, seed=0)
    r0, lam0 = uv_model.state_of_params(u, v)
    eta = 3.0 / lam0
    param = uv_model.parameter_gd(u, v, eta, 200)
    func = uv_model.function_map(r0, lam0, eta, n, 200)
    losses = param.log10_loss()
    peak = int(np.argmax(losses))
    horizon = next(t for t in range(peak, len(losses)) if losses[t] < losses[0])
    assert horizon > peak > 2
    assert _rel(param.residual[:horizon], func.residual[:horizon]) < 1e-12
    assert _rel(param.lam, func.lam) < 1e-12


@pytest.mark.parametrize(("x", "y", "ratio"), [(1.0, 0.0, 3.0), (1.7, 0.6, 3.0), (0.8, -1.3, 1.5),
                                               (1.2, 0.4, 4.2)])
def test_mpmath_parameter_and_function_space_agree_for_general_sample(x: float, y: float, ratio: float) -> None:
    # 60 digits, n = 100, 120 steps: the residual falls to ~1e-30 (lazy/catapult) or explodes
    # (ratio 4.2), so this covers the whole horizon; rounding at 60 digits stays below 1e-40.
    u, v = uv_model.sample_params(100, seed=3)
    eta = ratio / uv_model.state_of_params(u, v, x, y)[1]
    param = uv_model.parameter_gd_mp(u, v, eta, 120, x, y, dps=60)
    # start the map from parameter space's own (60-digit) r_0, lambda_0
    func = uv_model.function_map(param.residual[0], param.lam[0], eta, 100, 120, x, y, dps=60, cap_log10=1e6)
    # Horizon: until the divergent run (ratio 4.2) passes log10 L = 10^6, and while |r_t| >= 1e-15 max(1, |y|):
    # parameter space carries f, so r = f - y has an absolute floor ~ 10^-60 max(1, |y|) and relative
    # agreement below it would measure that cancellation, not the map (measured 3e-23 at |r| ~ 1e-37).
    floor = 1e-15 * max(1.0, abs(y))
    horizon = next((t for t, r in enumerate(func.residual) if abs(r) < floor), len(func.residual))
    assert horizon > 20
    assert _rel(param.residual[:horizon], func.residual[:horizon]) < 1e-40
    assert _rel(param.lam[:horizon], func.lam[:horizon]) < 1e-40


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_peak_loss_grows_with_n_and_final_eta_lambda_below_two(seed: int) -> None:
    peaks = []
    for n in (10**2, 10**3, 10**4, 10**5):
        summary = catapult.uv_experiment(n, steps=1000, seed=seed).summary(3.0)
        assert summary.phase == CatapultPhase.CATAPULT
        assert summary.final_eta_lambda < 2.0
        peaks.append(summary.peak_log10_loss)
    assert all(b > a for a, b in zip(peaks, peaks[1:], strict=False))  # Thm 1: peak Omega(n / log n)


def test_catapult_persists_at_huge_width_in_mpmath() -> None:
    summary = catapult.uv_experiment("1e400", steps=3000, dps=30).summary(3.0)
    assert summary.phase == CatapultPhase.CATAPULT and summary.final_eta_lambda < 2.0
    assert summary.peak_log10_loss > 390  # peak ~ 0.2 n: log10 ~ 399 (measured 399.2)


@pytest.mark.parametrize("n", [10**2, 10**3, 10**4])
@pytest.mark.parametrize("ratio", [4.1, 4.5, 6.0])
def test_runs_at_or_above_4_1_diverge(n: int, ratio: float) -> None:
    summary = catapult.uv_experiment(n, steps=1000, seed=0).summary(ratio)
    assert summary.phase == CatapultPhase.DIVERGENT and summary.diverged_step is not None


@pytest.mark.parametrize("ratio", [0.5, 1.0, 1.9])
def test_lazy_below_two_keeps_the_kernel(ratio: float) -> None:
    n = 10**4
    summary = catapult.uv_experiment(n, steps=1000, seed=0).summary(ratio)
    assert summary.phase == CatapultPhase.LAZY
    # |lambda_T - lambda_0| = O(1/n): lambda changes by eta f^2/n (eta lambda - 4) per step and
    # sum_t f_t^2 ~ f_0^2 / (1 - (1 - eta lam)^2) = O(1); 20/n leaves room for that O(1) factor.
    assert abs(summary.final_eta_lambda - ratio) / ratio < 20 / n


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bisected_edges_match_2_and_4_over_lambda0_at_n_1e4(seed: int) -> None:
    edges = catapult.locate_edges(catapult.uv_experiment(10**4, steps=1000, seed=seed))
    assert edges.lower == pytest.approx(2.0, rel=0.02)
    assert edges.upper == pytest.approx(4.0, rel=0.02)
    # measured: within 0.2% (bisection to 1e-4; the lazy drift of lambda is O(1/n))
    assert math.isclose(edges.upper, 4.0, rel_tol=2e-3) and math.isclose(edges.lower, 2.0, rel_tol=2e-3)


def test_infinite_width_limit_has_no_catapult() -> None:
    # A0-T6: dropping the 1/n terms (n -> inf) turns every eta lam_0 > 2 into divergence.
    r0, lam0 = 1.0, 2.0
    assert catapult.uv_experiment(10**4).summary(3.0).phase == CatapultPhase.CATAPULT
    trajectory = uv_model.function_map(r0, lam0, 3.0 / lam0, "1e300", 1000, cap_log10=290)
    assert classify(trajectory.log10_loss(), PhaseCriterion(cap_log10=290)).phase == CatapultPhase.DIVERGENT
    assert all(abs(float(lam) - lam0) < 1e-12 for lam in trajectory.lam[:50])
