"""Quadratic model: exact spectral map vs parameter space, the uv model as a special case, window bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.catapult import homogeneity, quadratic_model, uv_model
from numerics.catapult import tables as catapult
from numerics.catapult.phases import CatapultPhase


@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("ratio", [1.5, 3.0])
def test_spectral_map_matches_parameter_space(linear: bool, ratio: float) -> None:
    # Horizon 40 steps (catapult peak ~ step 4, then decay); float64 in both, a loose 1e-9 because the
    # residual passes through a cancellation theta^T psi theta ~ sqrt(N) |z| (measured max 2.4e-10).
    model, theta0 = quadratic_model.toy_model(400, seed=1, linear=linear)
    state = quadratic_model.spectral_state(model, theta0)
    eta = ratio / state.ntk
    param = quadratic_model.parameter_gd(model, theta0, eta, 40)
    func = quadratic_model.function_map(state, model.zeta, eta, 40)
    # residual compared while |r_t| >= 1e-3 |r_0|: below that the parameter-space value is dominated by
    # the rounding floor of the cancellation (the lazy run decays there after ~10 steps)
    rel = [abs(a - b) / abs(a) for a, b in zip(param.residual, func.residual, strict=True)
           if abs(a) >= 1e-3 * abs(param.residual[0])]
    assert len(rel) >= 5 and max(rel) < 1e-9
    assert np.allclose(param.lam, func.lam, rtol=1e-9, atol=0)


def test_uv_model_is_a_quadratic_model() -> None:
    n = 50
    u, v = uv_model.sample_params(n, seed=4)
    psi = np.block([[np.zeros((n, n)), np.eye(n)], [np.eye(n), np.zeros((n, n))]])
    model = quadratic_model.QuadraticModel(psi=psi, phi=np.zeros(2 * n), zeta=1 / math.sqrt(n))
    theta = np.concatenate([u, v])
    r0, lam0 = uv_model.state_of_params(u, v)
    eta = 3.0 / lam0
    quad = quadratic_model.parameter_gd(model, theta, eta, 30)
    uv = uv_model.function_map(r0, lam0, eta, n, 30)
    assert np.allclose(quad.residual, uv.residual, rtol=1e-10, atol=1e-300)
    assert quadratic_model.eta_up_pure(model, theta) * lam0 == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 2])
def test_pure_quadratic_window_contains_the_proven_bound(seed: int) -> None:
    exp = catapult.quadratic_experiment(400, steps=600, seed=seed)
    edges = catapult.locate_edges(exp)
    # lower edge: lambda drifts by O(zeta) = O(N^-1/2) ~ 5% at N = 400 before the spike; measured
    # shifts +0.0% .. +1.25% over seeds 0-3 (N = 400 and 1000)
    assert edges.lower == pytest.approx(2.0, rel=0.03)
    assert edges.upper_closed <= 4.0  # eta_up lam_0 <= 4 always (equality iff theta_0 in the top eigenspace)
    assert edges.upper_closed < edges.upper  # eta_up is sufficient for convergence, so below the edge
    for ratio in np.linspace(2.1, edges.upper_closed, 4):
        summary = exp.summary(float(ratio))
        assert summary.phase == CatapultPhase.CATAPULT and summary.final_eta_lambda < 2.0


def test_norm_never_grows_while_the_loss_is_large_inside_the_proven_window() -> None:
    # y != 0, so the norm change -4 eta r f + eta^2 lam r^2 is not trivially negative; eta just below
    # eta_up where the spike is large (at the window's midpoint it stays below 10 L_0 at this width)
    model, theta = quadratic_model.toy_model(1000, seed=2, y=0.3)
    eta = 0.98 * quadratic_model.eta_up_pure(model, theta)
    loss0 = 0.5 * (model.value(theta) - model.y) ** 2
    large_steps = 0
    for _ in range(300):
        r = model.value(theta) - model.y
        new = theta - eta * r * model.grad(theta)
        if 0.5 * r * r > 10 * loss0:
            large_steps += 1
            assert new @ new < theta @ theta
        theta = new
    assert large_steps > 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), eta=st.floats(0.01, 2.0), y=st.floats(-2, 2))
def test_norm_identity_on_pure_quadratic_model(seed: int, eta: float, y: float) -> None:
    model, theta = quadratic_model.toy_model(20, seed=seed, y=y)
    check = homogeneity.check_norm_identity(theta, lambda t: np.array([model.value(t)]),
                                            lambda t: model.grad(t)[None, :], np.array([y]), eta, degree=2)
    assert check.euler_defect < 1e-12
    scale = max(abs(check.measured), float(theta @ theta) * 1e-12)
    assert abs(check.predicted - check.measured) < 1e-9 * scale + 1e-12 * float(theta @ theta)


def test_norm_identity_detects_a_non_homogeneous_model() -> None:
    model, theta = quadratic_model.toy_model(20, seed=0, linear=True)
    check = homogeneity.check_norm_identity(theta, lambda t: np.array([model.value(t)]),
                                            lambda t: model.grad(t)[None, :], np.array([0.0]), 0.3, degree=2)
    assert check.euler_defect > 1e-3
    assert abs(check.predicted - check.measured) > 1e-6
