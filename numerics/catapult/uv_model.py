"""The uv model f(x) = n^{-1/2} v.u x (Lewkowycz et al. 2020) under GD on L = (f - y)^2 / 2.

Two exact descriptions of the same dynamics, one sample (x, y):

* parameter space (their eq. 1): u <- u - eta r n^{-1/2} x v, v <- v - eta r n^{-1/2} x u, r = f - y;
* function space, residual form (expanding eq. 1; reduces to their eq. 2 at (x, y) = (1, 0)):
  r' = r (1 - eta lam + eta^2 x^2 r f / n),  lam' = lam + eta x^2 r (eta lam r - 4 f) / n,
  with lam = x^2 (|u|^2 + |v|^2) / n the (scalar) NTK.

The catapult exists only through the 1/n terms, so large-n or long runs can be done in mpmath
(``dps`` digits); float64 is the default.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np

from numerics.catapult.trajectory import Trajectory, log10_half_square
from theory.errors import InputError

FLOAT64_MAX_N = 1e300  # beyond this n itself (and f^2 ~ n at the peak) overflows float64
SAMPLED_MAX_N = 10**6  # above this the initial state is drawn from its large-n (CLT) law


def _check_common(n: Any, eta: float, steps: int) -> None:
    if not n > 0:
        raise InputError(f"width n must be > 0, got {n}")
    if not (isinstance(eta, int | float) and math.isfinite(eta) and eta > 0):
        raise InputError(f"learning rate eta must be a finite number > 0, got {eta}")
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")


def as_width(n: Any) -> mpmath.mpf:
    """Width as an mpmath number (accepts int, float, or a decimal string such as "1e400")."""
    try:
        width = mpmath.mpf(n)
    except (TypeError, ValueError):
        raise InputError(f"width n must be a number, got {n!r}") from None
    if not (mpmath.isfinite(width) and width > 0):
        raise InputError(f"width n must be finite and > 0, got {n}")
    return width


def sample_params(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """u, v with i.i.d. N(0, 1) entries (the paper's initialisation)."""
    if n < 1:
        raise InputError(f"width n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n), rng.standard_normal(n)


def state_of_params(u: np.ndarray, v: np.ndarray, x: float = 1.0, y: float = 0.0) -> tuple[float, float]:
    """(residual r = f - y, kernel lam) of parameters u, v."""
    n = u.shape[0]
    f = x * float(v @ u) / math.sqrt(n)
    return f - y, x * x * float(u @ u + v @ v) / n


def initial_state(n: Any, seed: int, x: float = 1.0, y: float = 0.0) -> tuple[float, float]:
    """(r_0, lam_0) at width n: exact from sampled u, v for n <= 10^6, else from the CLT law.

    For n > 10^6: f_0 ~ N(0, x^2) and lam_0 ~ x^2 (2 + sqrt(8/n) N(0, 1)) (sum of 2n chi^2_1 / n).
    """
    width = as_width(n)
    if width <= SAMPLED_MAX_N:
        if int(width) != width:
            raise InputError(f"width n must be an integer, got {n}")
        return state_of_params(*sample_params(int(width), seed), x=x, y=y)
    rng = np.random.default_rng(seed)
    f0 = x * rng.standard_normal()
    lam0 = x * x * (2.0 + float(mpmath.sqrt(8 / width)) * rng.standard_normal())
    return f0 - y, lam0


def parameter_gd(u: np.ndarray, v: np.ndarray, eta: float, steps: int, x: float = 1.0, y: float = 0.0,
                 cap_log10: float = 300.0) -> Trajectory:
    """GD in parameter space (float64); stops after the step whose loss passes ``cap_log10``."""
    n = u.shape[0]
    _check_common(n, eta, steps)
    u, v = u.astype(np.float64).copy(), v.astype(np.float64).copy()
    scale = x / math.sqrt(n)
    residuals, lams = [], []
    with np.errstate(all="ignore"):
        for _ in range(steps + 1):
            r, lam = state_of_params(u, v, x, y)
            residuals.append(r)
            lams.append(lam)
            if not log10_half_square(r) <= cap_log10:
                break
            u, v = u - eta * r * scale * v, v - eta * r * scale * u
    return Trajectory(residuals, lams)


def parameter_gd_mp(u: np.ndarray, v: np.ndarray, eta: float, steps: int, x: float = 1.0,
                    y: float = 0.0, dps: int = 50) -> Trajectory:
    """GD in parameter space in mpmath (``dps`` digits): the reference for the exactness check."""
    n = u.shape[0]
    _check_common(n, eta, steps)
    with mpmath.workdps(dps):
        uu = [mpmath.mpf(float(a)) for a in u]
        vv = [mpmath.mpf(float(a)) for a in v]
        xm, ym, em = mpmath.mpf(x), mpmath.mpf(y), mpmath.mpf(eta)
        scale = xm / mpmath.sqrt(n)
        residuals, lams = [], []
        for _ in range(steps + 1):
            r = scale * mpmath.fsum(a * b for a, b in zip(uu, vv, strict=True)) - ym
            lam = xm * xm * mpmath.fsum(a * a + b * b for a, b in zip(uu, vv, strict=True)) / n
            residuals.append(r)
            lams.append(lam)
            c = em * r * scale
            uu, vv = [a - c * b for a, b in zip(uu, vv, strict=True)], [b - c * a for a, b in zip(uu, vv,
                                                                                               strict=True)]
    return Trajectory(residuals, lams)


def function_map(r0: float, lam0: float, eta: float, n: Any, steps: int, x: float = 1.0, y: float = 0.0,
                 dps: int | None = None, cap_log10: float = 300.0) -> Trajectory:
    """Iterate the exact (r, lam) recursion; float64 when ``dps`` is None, else mpmath with dps digits.

    Stops after the step whose loss passes ``cap_log10`` (a divergent run). ``n`` may be an mpmath
    number or a decimal string such as "1e400" in mpmath mode.
    """
    if dps is None:
        if not as_width(n) <= FLOAT64_MAX_N:
            raise InputError(f"n={n} is beyond float64 range for the uv recursion; use mpmath (dps)")
        num: Any = float
    else:
        if dps < 15:
            raise InputError(f"dps must be >= 15, got {dps}")
        num = mpmath.mpf
    with mpmath.workdps(dps or 15):
        n_value = num(as_width(n))
        _check_common(n_value, eta, steps)
        e, xx, yy = num(eta), num(x) * num(x), num(y)
        r, lam = num(r0), num(lam0)
        residuals, lams = [r], [lam]
        for _ in range(steps):
            if not log10_half_square(r) <= cap_log10:
                break
            f = r + yy
            r, lam = (r * (1 - e * lam + e * e * xx * r * f / n_value),
                      lam + e * xx * r * (e * lam * r - 4 * f) / n_value)
            residuals.append(r)
            lams.append(lam)
    return Trajectory(residuals, lams)


def default_cap_log10(n: Any, log10_loss0: float) -> float:
    """Divergence cap: 10^6 times the largest catapult peak the theory allows, ~ n max(L_0, 1).

    Measured catapult peaks stay below 0.4 n L_0 for eta lam_0 <= 3.9 (docs/catapult.md); close to the
    upper edge the peak grows like n / (4 - eta lam_0), so the margin 10^6 keeps bisection exact to
    ~10^-6 in eta lam_0.
    """
    log10_n = float(mpmath.log10(as_width(n)))
    return log10_n + max(log10_loss0, 0.0) + 6.0
