"""Infinite-width recursion of the one-step change vs a direct numpy simulation and vs the hand-summed form."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.depth import law as depth_law
from theory.errors import InputError


@given(depth=st.integers(min_value=1, max_value=300))
@settings(max_examples=50, deadline=None)
def test_recursion_equals_hand_summed_closed_form(depth: int) -> None:
    # b_l = (l+1)/2 and S_L = b_L^2/2 + sum_{k<L} b_k^2, summed by hand; the recursion knows neither
    assert depth_law.last_layer_change(depth) == depth_law.closed_form_default(depth)


def test_recursion_matches_direct_simulation_layer_by_layer() -> None:
    # 120 independent (network, input) draws at n = 512, L = 4, float64.  Per-seed values are log-normal-ish
    # with relative spread ~0.3-0.4 here, so the seed mean has a standard error of ~3-4 %; the torch runs of
    # docs/depth.md (300 seeds, n = 256) put the finite-width excess at L = 4 at +3 to +5 %.  12 % covers both.
    sim = depth_law.simulate_layer_changes(4, 512, 120, seed=1)
    theory = np.array([float(v) for v in depth_law.layer_changes(4)])
    ratio = sim.mean(axis=0) / theory
    assert np.all(np.abs(ratio - 1) < 0.12), ratio


def test_simulation_is_first_order_in_eta() -> None:
    small = depth_law.simulate_layer_changes(3, 256, 2, eta=1e-5, seed=3)
    large = depth_law.simulate_layer_changes(3, 256, 2, eta=1e-3, seed=3)
    assert np.allclose(small, large, rtol=0.02)


def test_recursion_with_other_setups_matches_simulation() -> None:
    # |x|^2 = n/2 and hidden LR 2 eta: checks the input-moment and learning-rate entries of the recursion
    setup = depth_law.DepthLawSetup(input_second_moment=Fraction(1, 2), lr_hidden=Fraction(2))
    sim = depth_law.simulate_layer_changes(3, 512, 120, setup=setup, seed=2)
    theory = np.array([float(v) for v in depth_law.layer_changes(3, setup)])
    assert np.all(np.abs(sim.mean(axis=0) / theory - 1) < 0.12)


def test_exponent_three_and_eta_star_minus_three_halves() -> None:
    depths = [200, 400, 800, 1600]
    s = [float(depth_law.last_layer_change(L)) for L in depths]
    assert depth_law.fitted_exponent(depths, s) == pytest.approx(3.0, abs=0.01)
    etas = [depth_law.max_update_lr(L) for L in depths]
    assert depth_law.fitted_exponent(depths, etas) == pytest.approx(-1.5, abs=0.005)
    # eta* L^{3/2} -> sqrt(12): S_L = L^3/12 (1 + 3/L + ...)
    assert etas[-1] * 1600**1.5 == pytest.approx(math.sqrt(12), rel=2e-3)


def test_local_slope_over_8_to_32_is_below_three() -> None:
    # the L^2 term makes the local slope over L = 8..32 smaller than 3: the torch sweep is judged against 3 +- 0.2
    slope = depth_law.fitted_exponent([8, 16, 32], [float(depth_law.last_layer_change(L)) for L in (8, 16, 32)])
    assert 2.75 < slope < 2.85


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_depth(bad: object) -> None:
    with pytest.raises(InputError, match="depth"):
        depth_law.layer_changes(bad)  # type: ignore[arg-type]


def test_bad_setup() -> None:
    with pytest.raises(InputError, match="hidden_var"):
        depth_law.DepthLawSetup(hidden_var=-1)
