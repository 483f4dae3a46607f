"""Top NTK eigenvalue: Lanczos (JVP/VJP) and exact Jacobian routes against an analytic NTK."""

from __future__ import annotations

import math

import pytest
import torch

from verify.catapult import ntk
from verify.catapult.net import ReLUNet, load_task


def _analytic_two_layer_ntk(model: ReLUNet, x: torch.Tensor) -> torch.Tensor:
    """Theta = J J^T / m of f = a . relu(W x / sqrt d) / sqrt n, written out by hand."""
    w, a = model.weights[0].detach(), model.weights[1].detach().reshape(-1)
    d, n = x.shape[1], w.shape[0]
    h = x @ w.T / math.sqrt(d)
    act, gate = torch.relu(h), (h > 0).double()
    from_a = act @ act.T / n
    from_w = ((gate * a) @ (gate * a).T) * (x @ x.T) / (n * d)
    return (from_a + from_w) / x.shape[0]


def test_exact_jacobian_ntk_matches_the_hand_written_formula() -> None:
    x, _ = load_task("synthetic", 24, seed=0, dim=7)
    model = ReLUNet(7, 64, 2, seed=1)
    assert torch.allclose(ntk.ntk_matrix(model, x), _analytic_two_layer_ntk(model, x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("depth", [2, 3])
def test_lanczos_top_eigenvalue_matches_exact(depth: int) -> None:
    x, _ = load_task("digits", 64, seed=0)
    model = ReLUNet(x.shape[1], 128, depth, seed=2)
    exact = ntk.top_eigenvalue_exact(model, x)
    result = ntk.top_eigenvalue_lanczos(model, x, max_iter=40)
    assert result.converged
    assert result.value == pytest.approx(exact, rel=1e-9)  # stop rule 1e-10 on the Ritz value


def test_auto_uses_exact_for_small_models_and_rejects_bad_method() -> None:
    x, _ = load_task("synthetic", 8, seed=0, dim=3)
    model = ReLUNet(3, 16, 2, seed=0)
    assert ntk.top_eigenvalue(model, x) == ntk.top_eigenvalue_exact(model, x)
    with pytest.raises(ValueError, match="NTK method"):
        ntk.top_eigenvalue(model, x, method="power")
