"""Quadratic model z(theta) = phi.theta + (zeta/2) theta^T psi theta (Meltzer, Chen, Liu 2023), one sample.

GD on L = (z - y)^2 / 2 with gradient g = phi + zeta psi theta and NTK lam = |g|^2.
Exact function-space map (derived here, checked against parameter space in the tests): in the
eigenbasis psi = Q diag(mu) Q^T, with spectral weights p_k = (Q^T g)_k^2 and r = z - y,

    z' = z - eta r lam + (zeta/2) eta^2 r^2 sum_k mu_k p_k,    p_k' = p_k (1 - eta r zeta mu_k)^2,

since theta' = theta - eta r g gives g' = g - eta r zeta psi g. It holds with and without the linear
term phi; lam = sum_k p_k. The uv model is the case psi = [[0, I], [I, 0]], zeta = x n^{-1/2}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from numerics.catapult.trajectory import Trajectory, log10_half_square
from theory.errors import InputError


@dataclass(frozen=True)
class QuadraticModel:
    """psi (N x N, symmetric), phi (N,; zeros for the pure model), zeta, target y."""

    psi: np.ndarray
    phi: np.ndarray
    zeta: float
    y: float = 0.0

    def value(self, theta: np.ndarray) -> float:
        return float(self.phi @ theta + 0.5 * self.zeta * theta @ self.psi @ theta)

    def grad(self, theta: np.ndarray) -> np.ndarray:
        return self.phi + self.zeta * (self.psi @ theta)

    def ntk(self, theta: np.ndarray) -> float:
        g = self.grad(theta)
        return float(g @ g)


def toy_model(width: int, seed: int, linear: bool = False, eig_low: float = 1.0, eig_high: float = 2.0,
              y: float = 0.0) -> tuple[QuadraticModel, np.ndarray]:
    """The paper's Fig. 1 toy at x = 1, d = 1: psi = Q diag(+-U(eig_low, eig_high)) Q^T, theta_0 ~ N(0, I).

    zeta = (N/2)^{-1/2}; with ``linear`` phi = N^{-1/2} U, U ~ N(0, I) ("quadratic with bias").
    Q is Haar-orthogonal (QR of a Gaussian) instead of the code's expm of a skew matrix: the dynamics
    depend on Q only through the spectral weights of theta_0, whose law is the same for any Q
    independent of theta_0 ~ N(0, I).
    """
    if width < 2 or width % 2:
        raise InputError(f"quadratic-model width must be an even integer >= 2, got {width}")
    if not 0 < eig_low <= eig_high:
        raise InputError(f"eigenvalue range must satisfy 0 < low <= high, got ({eig_low}, {eig_high})")
    rng = np.random.default_rng(seed)
    half = rng.uniform(eig_low, eig_high, width // 2)
    mu = np.concatenate([half, -half])
    q, _ = np.linalg.qr(rng.standard_normal((width, width)))
    psi = (q * mu) @ q.T
    phi = rng.standard_normal(width) / math.sqrt(width) if linear else np.zeros(width)
    theta0 = rng.standard_normal(width)
    return QuadraticModel(psi=0.5 * (psi + psi.T), phi=phi, zeta=math.sqrt(2.0 / width), y=y), theta0


def parameter_gd(model: QuadraticModel, theta0: np.ndarray, eta: float, steps: int,
                 cap_log10: float = 300.0) -> Trajectory:
    """GD in parameter space (float64); stops after the step whose loss passes ``cap_log10``."""
    if not eta > 0 or steps < 1:
        raise InputError(f"need eta > 0 and steps >= 1, got eta={eta}, steps={steps}")
    theta = theta0.astype(np.float64).copy()
    residuals, lams = [], []
    with np.errstate(all="ignore"):
        for _ in range(steps + 1):
            g = model.grad(theta)
            r = model.value(theta) - model.y
            residuals.append(r)
            lams.append(float(g @ g))
            if not log10_half_square(r) <= cap_log10:
                break
            theta = theta - eta * r * g
    return Trajectory(residuals, lams)


@dataclass(frozen=True)
class SpectralState:
    """Function-space state: residual r, eigenvalues mu of psi, spectral weights p of the gradient."""

    residual: float
    mu: np.ndarray
    weights: np.ndarray

    @property
    def ntk(self) -> float:
        return float(self.weights.sum())


def spectral_state(model: QuadraticModel, theta: np.ndarray) -> SpectralState:
    mu, q = np.linalg.eigh(model.psi)
    g = q.T @ model.grad(theta)
    return SpectralState(model.value(theta) - model.y, mu, g * g)


def function_map(state: SpectralState, zeta: float, eta: float, steps: int,
                 dps: int | None = None, cap_log10: float = 300.0) -> Trajectory:
    """Iterate the exact (r, p) map; float64 when ``dps`` is None, else mpmath with ``dps`` digits.

    The target enters only through r_0 = z_0 - y (the map is closed in r and p).
    """
    if not eta > 0 or steps < 1:
        raise InputError(f"need eta > 0 and steps >= 1, got eta={eta}, steps={steps}")
    if dps is None:
        return _function_map_float(state, zeta, eta, steps, cap_log10)
    with mpmath.workdps(dps):
        e, z = mpmath.mpf(eta), mpmath.mpf(zeta)
        mu = [mpmath.mpf(float(m)) for m in state.mu]
        p = [mpmath.mpf(float(w)) for w in state.weights]
        r = mpmath.mpf(state.residual)
        residuals, lams = [r], [mpmath.fsum(p)]
        for _ in range(steps):
            if not log10_half_square(r) <= cap_log10:
                break
            curvature = mpmath.fsum(m * w for m, w in zip(mu, p, strict=True))
            step = e * r * z  # p_{t+1} uses the residual r_t before the update
            p = [w * (1 - step * m) ** 2 for m, w in zip(mu, p, strict=True)]
            r = r - e * r * lams[-1] + z / 2 * e * e * r * r * curvature
            residuals.append(r)
            lams.append(mpmath.fsum(p))
    return Trajectory(residuals, lams)


def _function_map_float(state: SpectralState, zeta: float, eta: float, steps: int,
                        cap_log10: float) -> Trajectory:
    mu, p = state.mu.astype(np.float64), state.weights.astype(np.float64)
    r = float(state.residual)
    residuals, lams = [r], [float(p.sum())]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            if not log10_half_square(r) <= cap_log10:
                break
            curvature = float(mu @ p)
            p = p * (1 - eta * r * zeta * mu) ** 2
            r = r - eta * r * lams[-1] + zeta / 2 * eta * eta * r * r * curvature
            residuals.append(r)
            lams.append(float(p.sum()))
    return Trajectory(residuals, lams)


def eta_up_pure(model: QuadraticModel, theta0: np.ndarray) -> float:
    """Sufficient upper edge 4 / (zeta^2 |theta_0|^2 lam_max(psi^2)) of the proven window (pure model).

    Follows from the 2-homogeneous norm identity: |theta| cannot grow while the loss is large and
    eta lam < 4, and lam <= zeta^2 lam_max(psi^2) |theta|^2.
    """
    top = float(np.max(np.linalg.eigvalsh(model.psi @ model.psi)))
    return 4.0 / (model.zeta**2 * float(theta0 @ theta0) * top)


def eta_up_linear_as_coded(model: QuadraticModel, theta0: np.ndarray) -> float:
    """Upper bound for the model with a linear term, transcribed from the authors' code (eq. 163 there).

    4 / (2|phi|^2 + zeta^2 |theta_0|^2 lam_max(psi^2) + zeta^2 lam_max(psi^2) (phi.theta_0)^2 / |phi|^2).
    Not derived here: compare it with the bisected edge, do not trust it.
    """
    phi2 = float(model.phi @ model.phi)
    if phi2 == 0:
        raise InputError("eta_up_linear_as_coded needs a model with a nonzero linear term phi")
    top = float(np.max(np.linalg.eigvalsh(model.psi @ model.psi)))
    overlap = float(model.phi @ theta0) ** 2 / phi2
    return 4.0 / (2 * phi2 + model.zeta**2 * float(theta0 @ theta0) * top + model.zeta**2 * top * overlap)
