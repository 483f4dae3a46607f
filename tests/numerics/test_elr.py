"""Model of weight norms and ELRs: discrete map vs closed form, ELR map, critical rate, schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.elr import dynamics as elr
from theory.errors import InputError

pos = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


@given(gamma=pos, sigma0_sq=pos, lr=st.floats(min_value=1e-3, max_value=10.0), steps=st.integers(2, 400))
@settings(max_examples=60, deadline=None)
def test_discrete_map_minus_flow_is_the_exact_sum_and_bounded_by_log(gamma: float, sigma0_sq: float, lr: float,
                                                                      steps: int) -> None:
    # sigma^4_{t+1} = sigma^4_t + 2c^2 + c^4/sigma^4_t exactly, so the gap to the flow solution is the sum
    # of c^4/sigma^4_s, which lies between 0 and c^4/sigma_0^4 + (c^2/2) ln(1 + 2c^2 (t-1)/sigma_0^4).
    tr = elr.simulate([gamma], sigma0_sq, elr.constant_schedule(lr), steps)
    c = lr * gamma
    sigma4 = tr.sigma2[:, 0] ** 2
    gap = sigma4[-1] - elr.closed_form_sigma4(sigma0_sq, c, steps)
    exact_gap = float(np.sum(c**4 / sigma4[:-1]))
    assert gap == pytest.approx(exact_gap, rel=1e-9, abs=1e-12 * sigma4[-1])
    bound = c**4 / sigma0_sq**2 + 0.5 * c**2 * math.log1p(2 * c**2 * (steps - 1) / sigma0_sq**2)
    assert -1e-9 * sigma4[-1] <= gap <= bound * (1 + 1e-9) + 1e-9 * sigma4[-1]


def test_elr_times_sqrt_2t_tends_to_one() -> None:
    # B-T2 of the reference notes, recomputed here from the map: E_t sqrt(2t) -> 1 like 1 - O(log t / t)
    tr = elr.simulate([10.0], 1.0, elr.constant_schedule(1.0), 10_000)
    ts = np.array([10, 100, 1000, 9999])
    scaled = tr.elr[ts, 0] * np.sqrt(2 * ts)
    assert np.all(np.diff(scaled) > 0)
    assert 1 - scaled[-1] < 10 * math.log(ts[-1]) / ts[-1]


@given(e=st.lists(pos, min_size=2, max_size=6), lr=st.floats(0.01, 10.0))
@settings(max_examples=60, deadline=None)
def test_elr_map_is_the_discrete_map_for_one_step(e: list[float], lr: float) -> None:
    # choose gamma so that E = lr * gamma / sigma0^2 with sigma0^2 = 1; the map must give E/(1+E^2)
    gamma = np.asarray(e) / lr
    tr = elr.simulate(gamma, 1.0, elr.constant_schedule(lr), 2)
    np.testing.assert_allclose(tr.elr[1], elr.elr_map(np.asarray(e)), rtol=1e-12)


@given(e=st.lists(pos, min_size=2, max_size=8, unique=True), steps=st.integers(1, 50))
@settings(max_examples=60, deadline=None)
def test_constant_rate_spread_never_grows(e: list[float], steps: int) -> None:
    tr = elr.simulate(np.asarray(e), 1.0, elr.constant_schedule(1.0), steps)
    s = tr.spread
    assert np.all(np.diff(s) <= 1e-12 * s[:-1])
    # every pair ratio r maps strictly inside (1/r, r) under E -> E/(1+E^2), so the spread shrinks unless it
    # is already 1 to within rounding
    assert s[-1] < s[0] or s[0] - 1 < 1e-6


@given(gammas=st.lists(st.floats(1e-2, 1e2), min_size=2, max_size=5), lr=st.floats(0.05, 1.0),
       decay=st.floats(0.01, 0.5))
@settings(max_examples=40, deadline=None)
def test_weight_decay_drives_every_elr_to_the_same_equilibrium(gammas: list[float], lr: float,
                                                                decay: float) -> None:
    # fixed point of sigma^2 <- (1 - eta lam)^2 sigma^2 + eta^2 gamma^2 / sigma^2: sigma^4 (1 - (1 - eta lam)^2)
    # = eta^2 gamma^2, so E = eta gamma / sigma^2 = sqrt(eta lam (2 - eta lam)) whatever gamma: spread 1.
    # sigma^2 relaxes to it geometrically, at about 2 eta lam per step, after at most one large first step
    # (sigma^2 can start 1e4 away from it here): 40 / (eta lam) steps leave a relative gap far below 1e-6.
    steps = int(40 / (lr * decay)) + 200
    tr = elr.simulate(gammas, 1.0, elr.constant_schedule(lr), steps, weight_decay=decay)
    target = math.sqrt(lr * decay * (2 - lr * decay))
    np.testing.assert_allclose(tr.elr[-1], target, rtol=1e-6)
    assert tr.spread[-1] < 1 + 1e-6


def test_weight_decay_zero_is_plain_sgd_and_negative_is_refused() -> None:
    plain = elr.simulate([3.0, 0.5], 2.0, elr.constant_schedule(0.4), 30)
    zero = elr.simulate([3.0, 0.5], 2.0, elr.constant_schedule(0.4), 30, weight_decay=0.0)
    np.testing.assert_array_equal(plain.sigma2, zero.sigma2)
    with pytest.raises(InputError, match="weight_decay"):
        elr.simulate([1.0], 1.0, elr.constant_schedule(0.1), 3, weight_decay=-0.1)


def test_closed_form_elr_ratio_tends_to_one_for_any_gradient_norms() -> None:
    e = elr.closed_form_elr([1e-2, 1.0, 1e3], 1.0, 0.1, np.array([0.0, 1e6, 1e12]))
    sp = elr.spread(e)
    assert sp[0] == pytest.approx(1e5)
    assert sp[-1] < 1.01


@given(ea=pos, eb=pos)
@settings(max_examples=100, deadline=None)
def test_critical_rate_equalizes_two_layers_and_larger_rates_widen(ea: float, eb: float) -> None:
    if abs(math.log(ea / eb)) < 1e-3:
        return
    k_crit = elr.critical_lr([ea, eb], 1.0)
    k = k_crit * np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    s = elr.one_step_spread([ea, eb], k)
    assert s[2] == pytest.approx(1.0, rel=1e-9)
    assert np.all(np.diff(s[:3]) < 0) and np.all(np.diff(s[2:]) > 0)
    # the order flips above the critical rate: the smaller ELR ends larger
    big, small = max(ea, eb), min(ea, eb)
    after = elr.elr_map(4 * k_crit * np.array([big, small]))
    assert after[0] < after[1]


def test_reference_two_layer_numbers_recomputed() -> None:
    # B-T3 (ratio 30 -> 3.03 after one step at E=(3, 0.1)) follows from E/(1+E^2) by hand: 30 * 1.01 / 10
    ratio = elr.elr_map(3.0) / elr.elr_map(0.1)
    assert ratio == pytest.approx(30 * (1 + 0.01) / (1 + 9), rel=1e-12)


def test_critical_warmup_reaches_spread_below_2_before_linear_in_the_model() -> None:
    gamma = elr.geometric_gradient_norms(32, 1.2)
    crit = elr.simulate(gamma, 1.0, elr.critical_warmup_schedule(0.5), 300)
    lin = [elr.steps_to_spread(elr.simulate(gamma, 1.0, elr.linear_warmup_schedule(0.5, w), 300).spread, 2.0)
           for w in (3, 10, 30, 100)]
    t_crit = elr.steps_to_spread(crit.spread, 2.0)
    assert t_crit is not None
    assert all(t is None or t > t_crit for t in lin)
    # the critical schedule never exceeds the target nor the critical rate of the state it acts on
    rho = crit.rho[:-1]
    assert np.all(crit.lr <= 0.5 + 1e-15)
    assert np.all(crit.lr[1:] <= 1 / np.sqrt(rho.max(1) * rho.min(1))[1:] * (1 + 1e-12))


def test_constant_rate_above_critical_keeps_spread_long_after_flow_has_converged() -> None:
    gamma = elr.geometric_gradient_norms(32, 1.2)
    tr = elr.simulate(gamma, 1.0, elr.constant_schedule(0.5), 100)
    flow = elr.spread(elr.closed_form_elr(gamma, 1.0, 0.5, np.array([100.0])))
    assert flow[0] < 1.05 and tr.spread[-1] > 5.0


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [float("nan")], [0.0]])
def test_bad_gradient_norms_raise_input_error(bad: list[float]) -> None:
    with pytest.raises(InputError, match="gamma"):
        elr.simulate(bad, 1.0, elr.constant_schedule(0.1), 3)


def test_bad_scalars_raise_input_error() -> None:
    with pytest.raises(InputError, match="lr"):
        elr.constant_schedule(-1.0)
    with pytest.raises(InputError, match="steps"):
        elr.simulate([1.0], 1.0, elr.constant_schedule(0.1), 0)
    with pytest.raises(InputError, match="warmup_steps"):
        elr.linear_warmup_schedule(0.1, 0)


# --- receding-horizon prediction ------------------------------------------------------------------------

def _exact_run(gamma: np.ndarray, sigma0: np.ndarray, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 'measured' run generated by the map itself: sigma2 (T+1, L) and unit-norm gradient norms (T, L)."""
    tr = elr.simulate_lrs(gamma, sigma0, lrs)
    return tr.sigma2, np.broadcast_to(gamma, (lrs.size, gamma.size)).copy()


def test_trailing_rms_by_hand() -> None:
    x = np.array([[3.0], [4.0], [0.0], [12.0]])
    out = elr.trailing_rms(x, 2)[:, 0]
    np.testing.assert_allclose(out, [3.0, math.sqrt(12.5), math.sqrt(8.0), math.sqrt(72.0)], rtol=1e-14)
    np.testing.assert_allclose(elr.trailing_rms(x, 1), x, rtol=0)


@given(k=st.integers(1, 60), window=st.integers(1, 12), seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_constant_gamma_makes_every_horizon_exact(k: int, window: int, seed: int) -> None:
    # gamma constant in time: the map is the exact law of the weight norms, so whatever the horizon and the
    # estimation window, each prediction equals the generated rho_l = gamma_l / sigma_l^2 to rounding
    rng = np.random.default_rng(seed)
    gamma = 10 ** rng.uniform(-1, 2, size=5)
    sigma0 = 10 ** rng.uniform(-1, 1, size=5)
    lrs = rng.uniform(0.01, 0.3, size=50)
    sigma2, u = _exact_run(gamma, sigma0, lrs)
    rh = elr.receding_horizon(sigma2, u, lrs, k, window)
    truth = gamma / sigma2[:-1]
    np.testing.assert_allclose(rh.rho, truth, rtol=1e-12)
    assert elr.mean_abs_log10_error(truth[1:], rh.rho[1:]) < 1e-12
    assert rh.lead[0] == 0 and np.all((rh.lead[1:] >= 1) & (rh.lead[1:] <= k))
    # persistence ignores the norm growth, so it is wrong whenever a rate was positive before the step
    assert elr.mean_abs_log10_error(truth[1:], rh.persistence[1:]) > 0


def test_full_horizon_is_the_frozen_gamma_model() -> None:
    rng = np.random.default_rng(1)
    steps, layers = 40, 4
    sigma2 = np.cumsum(rng.uniform(0.5, 1.0, size=(steps + 1, layers)), axis=0)   # any measured norms
    u = 10 ** rng.uniform(-1, 1, size=(steps, layers))                              # any measured gradients
    lrs = rng.uniform(0.0, 0.5, size=steps)
    gamma0 = np.array([5.0, 1.0, 0.2, 0.1])
    frozen = elr.simulate_lrs(gamma0, sigma2[0], lrs).rho[:steps]
    for k in (steps - 1, steps, 10 * steps):
        rh = elr.receding_horizon(sigma2, u, lrs, k, gamma0=gamma0)
        np.testing.assert_allclose(rh.rho, frozen, rtol=1e-13)
        np.testing.assert_array_equal(rh.lead, np.arange(steps))


def test_horizon_one_with_window_one_is_wrong_only_where_gamma_jumps() -> None:
    # gamma_l drops by a factor 100 in layer 0 at step 20; with K = 1 and a one-step gamma estimate the norm map
    # is exact, so the only error is at step 20 and equals the jump; the frozen model is off by 100x after it
    steps = 60
    gamma_t = np.tile([100.0, 1.0], (steps, 1))
    gamma_t[20:, 0] = 1.0
    lrs = np.full(steps, 0.05)
    sigma2 = np.empty((steps + 1, 2))
    sigma2[0] = 1.0
    for t in range(steps):
        sigma2[t + 1] = sigma2[t] + (lrs[t] * gamma_t[t]) ** 2 / sigma2[t]
    truth = gamma_t / sigma2[:-1]
    one = elr.receding_horizon(sigma2, gamma_t, lrs, 1, gamma_window=1)
    err = np.abs(np.log10(truth / one.rho))
    np.testing.assert_allclose(np.delete(err, 20, axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(err[20], [2.0, 0.0], atol=1e-12)
    full = elr.receding_horizon(sigma2, gamma_t, lrs, steps, gamma_window=1)
    # off by the 100x jump less the extra norm growth it assumes: by the flow, sigma^4 ~ 1 + 2 * 5^2 t, so at
    # step 60 sqrt(3001 / 1001) ~ 1.73 (0.24 decades) too much; hence more than 1.75 decades throughout
    assert np.all(np.abs(np.log10(truth[21:, 0] / full.rho[21:, 0])) > 1.75)


def test_mean_abs_log10_error_skips_non_finite_entries() -> None:
    assert elr.mean_abs_log10_error(np.array([10.0, 1.0, np.nan, 5.0]), np.array([1.0, 10.0, 1.0, 0.0])) == 1.0
    assert math.isnan(elr.mean_abs_log10_error(np.array([np.nan]), np.array([1.0])))


def test_receding_horizon_rejects_mismatched_shapes() -> None:
    with pytest.raises(InputError, match="shapes"):
        elr.receding_horizon(np.ones((5, 2)), np.ones((5, 3)), np.ones(5), 2)
    with pytest.raises(InputError, match="horizon"):
        elr.receding_horizon(np.ones((6, 2)), np.ones((5, 2)), np.ones(5), 0)


@settings(max_examples=200)
@given(st.lists(st.floats(1e-4, 1e4), min_size=2, max_size=40), st.floats(1e-3, 1e3))
def test_critical_rate_after_a_step_grows_by_at_least_sqrt2_times_spread_to_the_quarter(
        rho: list[float], lr: float) -> None:
    """[DERIVED] Why the critical-rate warm-up caps only a few steps under plain SGD without weight decay
    (docs/elr.md, section 3b): after a step at rate eta, rho' = rho / (1 + eta^2 rho^2) <= 1/(2 eta) for every
    layer and min rho' <= min(rho_min, 1/(eta^2 rho_max)), so eta_crit' >= eta sqrt(2) S^(1/4), S = the
    spread before the step; a capped step (eta = eta_crit) therefore multiplies the critical rate by
    sqrt(2) S^(1/4) at least, and once the target rate is reached the next critical rate exceeds it."""
    r = np.array(rho)
    after = elr.elr_map(lr * r) / lr  # rho' from E' = E / (1 + E^2), E = eta rho
    bound = lr * np.sqrt(2.0) * elr.spread(r) ** 0.25
    assert elr.critical_lr_from_ratios(after) >= bound * (1 - 1e-9)
