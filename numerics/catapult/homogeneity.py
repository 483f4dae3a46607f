"""Weight-norm identity of degree-k homogeneous models under one full-batch GD step (numpy arrays).

If theta . grad f(x) = k f(x) for every sample (k = 2: uv model, pure quadratic model, bias-free
two-layer ReLU/leaky-ReLU net), then one GD step on L = (1/2m) sum_a r_a^2, r = f - y, gives exactly

    |theta'|^2 - |theta|^2 = -(2 k eta / m) sum_a r_a f_a + (eta^2 / m) r^T Theta r,   Theta = J J^T / m,

because theta' = theta - (eta/m) J^T r. When |f| >> |y| the right side is about
(eta/m) (eta r^T Theta r - 2k |r|^2) <= (eta |r|^2 / m) (eta lam_max - 2k): for k = 2 the norm falls
whenever the loss is large and eta lam_max < 4.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory.errors import InputError


def predicted_norm_change(eta: float, outputs: np.ndarray, targets: np.ndarray, jacobian: np.ndarray,
                          degree: float) -> float:
    """Right side of the identity from outputs f (m,), targets y (m,) and Jacobian J (m, P)."""
    outputs, targets = np.atleast_1d(outputs), np.atleast_1d(targets)
    m = outputs.shape[0]
    if jacobian.shape[0] != m or targets.shape != outputs.shape:
        raise InputError(f"shapes disagree: outputs {outputs.shape}, targets {targets.shape}, "
                         f"jacobian {jacobian.shape}")
    r = outputs - targets
    jr = jacobian.T @ r
    return float(-2 * degree * eta / m * (r @ outputs) + eta**2 / m**2 * (jr @ jr))


@dataclass(frozen=True)
class NormCheck:
    predicted: float
    measured: float
    # max_a |theta . grad f_a - k f_a| / max_a |grad f_a| |theta|: 0 for a homogeneous model.  Relative to the size of
    # the terms compared (not to |f|, which can be tiny where theta . grad f_a cancels: float64 rounding then
    # looked like a defect of 1e-12 relative to f)
    euler_defect: float


def check_norm_identity(theta: np.ndarray, outputs_of: Callable[[np.ndarray], np.ndarray],
                        jacobian_of: Callable[[np.ndarray], np.ndarray], targets: np.ndarray,
                        eta: float, degree: float) -> NormCheck:
    """Take one GD step with the given model functions and compare the norm change with the identity."""
    f = np.atleast_1d(outputs_of(theta))
    jac = np.atleast_2d(jacobian_of(theta))
    r = f - np.atleast_1d(targets)
    new_theta = theta - eta / f.shape[0] * (jac.T @ r)
    measured = float(new_theta @ new_theta - theta @ theta)
    scale = float(np.max(np.linalg.norm(jac, axis=1))) * float(np.linalg.norm(theta))
    euler = float(np.max(np.abs(jac @ theta - degree * f)) / max(scale, 1e-300))
    return NormCheck(predicted_norm_change(eta, f, targets, jac, degree), measured, euler)
