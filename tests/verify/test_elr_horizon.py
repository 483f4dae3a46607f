"""Receding-horizon model vs a real (small) run: the code paths agree and the norm map is exact one step ahead."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from numerics.elr.dynamics import mean_abs_log10_error, receding_horizon, spread
from verify.elr.train import ElrRunConfig, ElrRunLog, horizon_agreement, horizons_for, predict_spread, train


@pytest.fixture(scope="module")
def log() -> ElrRunLog:
    torch.set_num_threads(1)
    return train(ElrRunConfig(depth=8, width=32, lr=0.2, steps=40, batch=64, seed=1))


def test_full_horizon_equals_the_frozen_gamma_prediction(log: ElrRunLog) -> None:
    full = horizon_agreement(log, log.config.steps)
    frozen = predict_spread(log)  # the independent open-loop path (simulate_lrs over the whole run)
    assert full["spread_model"] == pytest.approx(mean_abs_log10_error(log.spread[1:], frozen[1:]), rel=1e-12)
    assert horizons_for(40, (1, 10, 39, 100)) == [1, 10, 40]


def test_one_step_ahead_with_the_last_gradient_is_exact_up_to_float32(log: ElrRunLog) -> None:
    # K = 1, gamma from the last step only: predicted sigma^2(t+1) is the norm recursion with the measured g(t),
    # which holds exactly (scale invariance), so rho_pred(t+1) * ||w(t+1)||^2 must be ||g(t)|| ||w(t)||
    rh = receding_horizon(log.sigma2, log.unit_grad_norm, log.lr, 1, gamma_window=1)
    np.testing.assert_allclose(rh.rho[1:] * log.sigma2[1:-1], log.unit_grad_norm[:-1], rtol=1e-6)
    # so the remaining one-step error is entirely the change of the unit-norm gradient between two minibatches
    change = mean_abs_log10_error(spread(log.rho[1:]), spread(log.unit_grad_norm[:-1] / log.sigma2[1:-1]))
    assert mean_abs_log10_error(spread(log.rho[1:]), spread(rh.rho[1:])) == pytest.approx(change, rel=1e-5)


def test_every_metric_is_finite_at_every_horizon(log: ElrRunLog) -> None:
    for k in horizons_for(log.config.steps):
        m = horizon_agreement(log, k)
        assert all(np.isfinite(v) and v >= 0 for v in m.values()), (k, m)


def test_final_gamma_spread_is_that_of_the_unit_norm_gradients() -> None:
    from dataclasses import replace

    from verify.elr.train import final_gamma_spread

    # hand-made log, 3 steps x 2 layers: ||g|| ||w|| = 1 and 4 at every step, so the smoothed spread is 4
    # whatever the norms; then layer 2's unit-norm gradient falls to 2 at the last step (RMS over 2 steps:
    # sqrt((16 + 4) / 2) = sqrt(10)), and a diverged last row (NaN) is skipped
    sigma2 = np.array([[1.0, 4.0], [4.0, 9.0], [9.0, 16.0], [16.0, 25.0]])
    unit = np.array([[1.0, 4.0], [1.0, 4.0], [1.0, 4.0]])
    cfg = ElrRunConfig(depth=2, steps=3)
    base = ElrRunLog(config=cfg, lr=np.ones(3), loss=np.ones(3), sigma2=sigma2,
                     grad_norm=unit / np.sqrt(sigma2[:-1]), cosine=np.zeros((3, 2)),
                     norm_residual=np.zeros((3, 2)), gamma0=np.ones(2), final_loss=1.0)
    assert final_gamma_spread(base, window=8) == pytest.approx(4.0)
    fallen = replace(base, grad_norm=np.array([[1.0, 4.0], [1.0, 4.0], [1.0, 2.0]]) / np.sqrt(sigma2[:-1]))
    assert final_gamma_spread(fallen, window=2) == pytest.approx(np.sqrt(10.0))
    diverged = replace(fallen, grad_norm=np.vstack([fallen.grad_norm[:2], np.full((1, 2), np.nan)]))
    assert final_gamma_spread(diverged, window=2) == pytest.approx(4.0)
