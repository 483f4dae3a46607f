"""Weight-norm and effective-learning-rate (ELR) dynamics of a stack of scale-invariant layers.

Model (numpy only).  Layer l has a weight block w_l whose loss is invariant under w_l -> a w_l (a linear
layer without bias followed by BatchNorm in training mode or LayerNorm).  Then, exactly,

    <grad_l, w_l> = 0   and   grad_l(w) = g_hat_l / ||w_l||,

with g_hat_l the gradient at the unit-norm point of the same direction.  Plain SGD without momentum or
weight decay with learning rate eta_t therefore gives (Pythagoras, exact):

    sigma_l^2(t+1) = sigma_l^2(t) + eta_t^2 ||g_hat_l||^2 / sigma_l^2(t),      sigma_l^2 := ||w_l||^2.

The *model* replaces ||g_hat_l(t)|| by a fixed per-layer input gamma_l (the expected gradient norm at unit
weight norm).  Provenance of the pieces (the paper's body could not be read, only its abstract):

* norm recursion and orthogonality: [DERIVED] exact consequences of scale invariance;
* continuous time sigma^4(t) = sigma_0^4 + 2 c^2 t with c = eta * gamma: [DERIVED] solution of
  d sigma^2/dt = c^2/sigma^2 (this ODE is quoted by a third-party summary of the paper);
* ELR E_l := eta * ||grad_l|| / ||w_l|| = eta * gamma_l / sigma_l^2 (the angular update size): [INFERRED]
  definition; it is the one under which all ELR ratios tend to 1 for any constant rate, as the
  abstract states;
* one-step ELR map E -> E / (1 + E^2) at fixed eta and gamma: [DERIVED] from the two lines above;
* critical learning rate eta_crit = eta / sqrt(E_max * E_min) (the rate at which the extreme layers'
  ELRs multiply to 1; above it the post-step spread grows again): [INFERRED] reading of the abstract's
  "critical learning rate ... which only depends on current ELRs";
* critical-rate warm-up eta_t = min(eta_target, eta_crit(t)): [INFERRED] rule, not verified against the
  paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from theory.errors import InputError

FloatArray = np.ndarray
Schedule = Callable[[int, FloatArray], float]
"""A learning-rate rule: (step index t, current gradient-to-weight ratios rho_l(t)) -> eta_t."""


def _positive_vector(values: Sequence[float] | FloatArray, field: str) -> FloatArray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{field}: need a non-empty list of numbers, got shape {arr.shape}")
    bad = np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))
    if bad.size:  # one entry named: a list of a million infinities is no message
        raise InputError(f"{field}: every entry must be a finite positive number; entry {bad[0] + 1} of "
                         f"{arr.size} is {float(arr[bad[0]])}")
    return arr


def _positive_number(value: float, field: str, allow_zero: bool = False) -> float:
    x = float(value)
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise InputError(f"{field}: must be a finite {'non-negative' if allow_zero else 'positive'} "
                         f"number, got {value!r}")
    return x


def _step_count(value: int, field: str = "steps") -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise InputError(f"{field}: must be a positive integer, got {value!r}")
    return int(value)


# --- elementary pieces ------------------------------------------------------------------------------

def elr_map(elr: FloatArray | float) -> FloatArray:
    """ELR after one SGD step at unchanged eta and gamma: E -> E / (1 + E^2) [DERIVED]."""
    e = np.asarray(elr, dtype=float)
    return e / (1.0 + e * e)


def spread(values: FloatArray) -> FloatArray:
    """max/min over the last axis (the layers); invariant under a common learning-rate factor.  A layer whose
    gradient is exactly 0 (every unit dead on the batch, seen in depth-48 runs) makes it infinite."""
    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore"):
        return v.max(axis=-1) / v.min(axis=-1)


def critical_lr(elr: Sequence[float] | FloatArray, lr: float) -> float:
    """eta_crit = eta / sqrt(E_max E_min), from the ELRs E_l measured at learning rate eta [INFERRED].

    At eta_crit the extreme layers' ELRs multiply to 1, so one step maps them to the same value
    (E -> E/(1+E^2) is symmetric under E -> 1/E); with two layers the post-step spread is exactly 1 there,
    smaller rates leave spread, larger ones flip the order and widen it again.
    """
    e = _positive_vector(elr, "elr")
    eta = _positive_number(lr, "lr")
    return eta / float(np.sqrt(e.max() * e.min()))


def critical_lr_from_ratios(rho: Sequence[float] | FloatArray) -> float:
    """eta_crit from the gradient-to-weight ratios rho_l = ||grad_l|| / ||w_l|| (= E_l / eta)."""
    r = _positive_vector(rho, "rho")
    return 1.0 / float(np.sqrt(r.max() * r.min()))


def one_step_spread(elr: Sequence[float] | FloatArray, factor: float | FloatArray) -> FloatArray:
    """Spread after one step when the learning rate that produced ``elr`` is multiplied by ``factor``.

    Model prediction for "what happens above the critical rate": max_l f(k E_l) / min_l f(k E_l) with
    f(x) = x / (1 + x^2).  ``factor`` may be an array (one prediction per entry).
    """
    e = _positive_vector(elr, "elr")
    k = np.atleast_1d(np.asarray(factor, dtype=float))
    if not np.all(np.isfinite(k)) or np.any(k <= 0):
        raise InputError(f"factor: every entry must be a finite positive number, got {k.tolist()}")
    after = elr_map(k[:, None] * e[None, :])
    out: FloatArray = spread(after)
    return out


# --- schedules ----------------------------------------------------------------------------------------

def constant_schedule(lr: float) -> Schedule:
    """eta_t = lr."""
    eta = _positive_number(lr, "lr")
    return lambda t, rho: eta


def linear_warmup_schedule(lr: float, warmup_steps: int) -> Schedule:
    """eta_t = lr * min(1, (t + 1) / warmup_steps): the first step already moves (torch LambdaLR form)."""
    eta = _positive_number(lr, "lr")
    w = _step_count(warmup_steps, "warmup_steps")
    return lambda t, rho: eta * min(1.0, (t + 1) / w)


def critical_warmup_schedule(lr: float, probe_step: bool = True) -> Schedule:
    """eta_t = min(lr, eta_crit(t)) with eta_crit = 1 / sqrt(rho_max rho_min) [INFERRED rule].

    ``probe_step`` mirrors the torch scheduler (verify/elr/warmup.py), whose first step has rate 0 because
    it has not seen a gradient yet.
    """
    eta = _positive_number(lr, "lr")

    def rule(t: int, rho: FloatArray) -> float:
        if probe_step and t == 0:
            return 0.0
        return min(eta, 1.0 / float(np.sqrt(rho.max() * rho.min())))

    return rule


# --- trajectories -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ElrTrajectory:
    """Discrete-map trajectory; step t uses lr[t] on weights with squared norms sigma2[t]."""

    lr: FloatArray       # (T,)
    sigma2: FloatArray   # (T+1, L) squared weight norms
    rho: FloatArray      # (T+1, L) ||grad|| / ||w|| = gamma / sigma^2
    elr: FloatArray      # (T, L)   lr[t] * rho[t]

    @property
    def spread(self) -> FloatArray:
        """ELR spread max_l E_l / min_l E_l before each of the T+1 states (rate-independent)."""
        out: FloatArray = spread(self.rho)
        return out


def simulate(gamma: Sequence[float] | FloatArray, sigma0_sq: float | Sequence[float] | FloatArray,
             schedule: Schedule, steps: int, weight_decay: float = 0.0) -> ElrTrajectory:
    """Iterate sigma^2 <- (1 - eta_t lambda)^2 sigma^2 + eta_t^2 gamma^2 / sigma^2 for every layer, eta_t from
    ``schedule`` (lambda = ``weight_decay``, torch's coupled SGD weight decay; 0: plain SGD)."""
    g = _positive_vector(gamma, "gamma")
    lam = _positive_number(weight_decay, "weight_decay", allow_zero=True)
    s0 = np.broadcast_to(np.asarray(sigma0_sq, dtype=float), g.shape).copy()
    _positive_vector(s0, "sigma0_sq")
    n = _step_count(steps)
    sigma2 = np.empty((n + 1, g.size))
    lrs = np.empty(n)
    sigma2[0] = s0
    for t in range(n):
        rho = g / sigma2[t]
        eta = float(schedule(t, rho))
        lrs[t] = eta
        shrink = (1.0 - eta * lam) ** 2 if lam else 1.0
        sigma2[t + 1] = shrink * sigma2[t] + (eta * g) ** 2 / sigma2[t]
    rho_all = g[None, :] / sigma2
    return ElrTrajectory(lr=lrs, sigma2=sigma2, rho=rho_all, elr=lrs[:, None] * rho_all[:-1])


def simulate_lrs(gamma: Sequence[float] | FloatArray, sigma0_sq: float | Sequence[float] | FloatArray,
                 lrs: Sequence[float] | FloatArray, weight_decay: float = 0.0) -> ElrTrajectory:
    """The discrete map driven by a given learning-rate sequence (e.g. the one a real run used)."""
    seq = np.asarray(lrs, dtype=float)
    if seq.ndim != 1 or seq.size == 0 or not np.all(np.isfinite(seq)) or np.any(seq < 0):
        raise InputError("lrs: need a non-empty list of finite non-negative learning rates")
    return simulate(gamma, sigma0_sq, lambda t, rho: float(seq[t]), seq.size, weight_decay)


def closed_form_sigma4(sigma0_sq: float | FloatArray, c: float | FloatArray,
                       t: float | FloatArray) -> FloatArray:
    """Gradient-flow solution sigma^4(t) = sigma_0^4 + 2 c^2 t of d sigma^2/dt = c^2/sigma^2 [DERIVED]."""
    s0 = np.asarray(sigma0_sq, dtype=float)
    return s0 * s0 + 2.0 * np.asarray(c, dtype=float) ** 2 * np.asarray(t, dtype=float)


def closed_form_elr(gamma: Sequence[float] | FloatArray, sigma0_sq: float, lr: float,
                    t: float | FloatArray) -> FloatArray:
    """Continuous-time ELR E_l(t) = c_l / sqrt(sigma_0^4 + 2 c_l^2 t), c_l = lr * gamma_l; shape (T, L)."""
    g = _positive_vector(gamma, "gamma")
    s0 = _positive_number(sigma0_sq, "sigma0_sq")
    c = _positive_number(lr, "lr") * g
    tt = np.atleast_1d(np.asarray(t, dtype=float))[:, None]
    out: FloatArray = c[None, :] / np.sqrt(closed_form_sigma4(s0, c[None, :], tt))
    return out


def steps_to_spread(spreads: FloatArray, threshold: float) -> int | None:
    """First index whose spread is below ``threshold``; None if never."""
    below = np.flatnonzero(np.asarray(spreads) < threshold)
    return int(below[0]) if below.size else None


def geometric_gradient_norms(depth: int, explosion: float) -> FloatArray:
    """gamma_l = explosion^(depth - l), l = 1..depth: a gradient that grows geometrically towards the input,
    a stand-in for the gradient explosion of deep BatchNorm MLPs at initialization."""
    d = _step_count(depth, "depth")
    q = _positive_number(explosion, "explosion")
    return q ** np.arange(d - 1, -1, -1, dtype=float)


# --- receding-horizon prediction (model vs a measured run) ----------------------------------------------

def trailing_rms(values: FloatArray, window: int) -> FloatArray:
    """Root mean square over the trailing ``window`` rows (fewer at the start): out[t] = RMS(values[t-w+1 .. t]).

    Applied along axis 0; used both to estimate gamma_l from the last few minibatch gradients and to smooth a
    measured and a predicted series with the same operator before comparing them.
    """
    w = _step_count(window, "window")
    x = np.asarray(values, dtype=float)
    csum = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x * x, axis=0)])
    idx = np.arange(x.shape[0])
    lo = np.maximum(0, idx - w + 1)
    count = (idx + 1 - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    out: FloatArray = np.sqrt(np.maximum(csum[idx + 1] - csum[lo], 0.0) / count)
    return out


@dataclass(frozen=True)
class RecedingHorizon:
    """Per-step predictions rho_l(t) of a run, each made at the latest anchor t0 = K floor((t-1)/K) < t.

    ``rho[t]`` comes from the discrete map started at the measured sigma_l^2(t0) with gamma_l estimated at t0,
    driven ``lead[t] = t - t0`` steps by the learning rates the run used.  ``persistence[t]`` is the naive
    baseline with the same information: the state estimate gamma_l(t0) / sigma_l^2(t0) held fixed.  Row 0 is
    the anchor-0 estimate itself (lead 0).
    """

    horizon: int
    rho: FloatArray          # (T, L)
    persistence: FloatArray  # (T, L)
    lead: np.ndarray         # (T,) int


def receding_horizon(sigma2: FloatArray, unit_grad_norm: FloatArray, lrs: FloatArray, horizon: int,
                     gamma_window: int = 8, gamma0: FloatArray | None = None,
                     weight_decay: float = 0.0) -> RecedingHorizon:
    """Predict rho_l = gamma_l / sigma_l^2 at every step from anchors t0 = 0, K, 2K, ... (K = ``horizon``).

    Inputs are a run's measurements: ``sigma2`` (T or T+1 rows, L layers) squared weight norms before step t,
    ``unit_grad_norm`` (T, L) the unit-norm gradient norms ||g_l(t)|| ||w_l(t)||, ``lrs`` (T,) the rates used.
    At anchor t0 the model knows sigma_l^2(t0) and gamma_l(t0) = RMS of unit_grad_norm over steps
    max(0, t0-W+1) .. t0 (W = ``gamma_window``; the gradient of step t0 is computed before its update, so it is
    available), except that ``gamma0`` (e.g. an RMS over probe minibatches at initialization) replaces it at
    t0 = 0 when given.  With K >= T-1 this is the open-loop model with gamma frozen at its t0 = 0 value.
    ``weight_decay``: the run's coupled SGD weight decay on these weights (the map's shrink factor).
    """
    k = _step_count(horizon, "horizon")
    u = np.asarray(unit_grad_norm, dtype=float)
    s2 = np.asarray(sigma2, dtype=float)
    eta = np.asarray(lrs, dtype=float)
    if u.ndim != 2 or s2.ndim != 2 or s2.shape[0] < u.shape[0] or s2.shape[1] != u.shape[1] \
            or eta.shape != (u.shape[0],):
        raise InputError(f"receding_horizon: shapes sigma2 {s2.shape}, unit_grad_norm {u.shape}, lrs {eta.shape} "
                         "do not fit (need (T[+1], L), (T, L), (T,))")
    n_steps, n_layers = u.shape
    gamma_hat = trailing_rms(u, gamma_window)
    if gamma0 is not None:
        gamma_hat[0] = _positive_vector(gamma0, "gamma0")
    rho = np.full((n_steps, n_layers), np.nan)
    base = np.full((n_steps, n_layers), np.nan)
    lead = np.zeros(n_steps, dtype=int)
    rho[0] = base[0] = gamma_hat[0] / s2[0]
    for t0 in range(0, n_steps - 1, k):
        n = min(k, n_steps - 1 - t0)
        g, start = gamma_hat[t0], s2[t0]
        if not (np.all(np.isfinite(g)) and np.all(g > 0) and np.all(np.isfinite(start)) and np.all(start > 0)):
            continue  # diverged or dead run: leave NaN
        traj = simulate_lrs(g, start, np.nan_to_num(eta[t0:t0 + n], nan=0.0), weight_decay)
        rho[t0 + 1:t0 + n + 1] = traj.rho[1:]
        base[t0 + 1:t0 + n + 1] = g / start
        lead[t0 + 1:t0 + n + 1] = np.arange(1, n + 1)
    return RecedingHorizon(horizon=k, rho=rho, persistence=base, lead=lead)


def mean_abs_log10_error(measured: FloatArray, predicted: FloatArray) -> float:
    """mean |log10(measured / predicted)| over the entries where both are finite and positive (NaN if none)."""
    m = np.asarray(measured, dtype=float)
    p = np.asarray(predicted, dtype=float)
    ok = np.isfinite(m) & np.isfinite(p) & (m > 0) & (p > 0)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(np.log10(m[ok] / p[ok]))))
