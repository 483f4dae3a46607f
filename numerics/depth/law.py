"""Infinite-width law of the one-step pre-activation change of a deep mean-field ReLU MLP (Jelassi et al. 2023).

Setup (chosen as the "uniform width" setting of Jelassi et al.: input dimension = hidden width = n; the
reference notes' working setup is [INFERRED], the numbers below are this module's own choice and derivation):

* input x in R^n with |x|^2 = rho * n (default rho = 1, e.g. x ~ N(0, I_n) normalised to |x|^2 = n);
* z^1 = W^1 x, z^l = W^l relu(z^{l-1}) (l = 2..L), f = w . relu(z^L); L hidden layers, L+1 weight matrices;
* init W^1_ij ~ N(0, s1/n) (s1 = 1), W^l_ij ~ N(0, s/n) (s = 2, He: every z^l has unit variance),
  readout w_i ~ N(0, nu/n^2) (nu = 1, the mean-field readout: f = O(n^{-1/2}) at init);
* one SGD step on the loss with loss gradient chi = dLoss/df on the single input x, learning rate
  lam1 * eta for W^1, lam * eta for W^2..W^L (both independent of n: this is muP for uniform width)
  and eta / n for the readout (it does not move z^l).

The measured quantity is S_l = lim_{n->inf} |z^l_1 - z^l_0|^2 / (n eta^2 chi^2) at first order in eta.
Tensor-Program bookkeeping (coordinates of n-vectors become random variables; backward vectors are
rescaled by n) gives, with D^l = 1[z^l > 0] (Bernoulli(1/2)), independent Gaussians G^l (backward,
variance gam_l) and Yhat^l (forward, variance v_l):

    dz^l = b_l D^l G^l + Yhat^l,   b_1 = a_1,  b_l = a_l + s b_{l-1} / 2,
    v_1 = 0,  v_l = s (b_{l-1}^2 gam_{l-1} + v_{l-1}) / 2,   S_l = b_l^2 gam_l / 2 + v_l,

where a_1 = lam1 rho (own update of W^1: |x|^2 / n), a_l = lam q_{l-1} / 2 (own update of W^l: |relu(z^{l-1})|^2/n),
q_1 = s1 rho, q_l = s q_{l-1} / 2, gam_L = nu, gam_l = s gam_{l+1} / 2.  The term s b_{l-1} / 2 in b_l is the
"Zdot" of W^l acting on a vector that contains W^l^T g^l: the update of every lower layer is carried up
coherently, which is where the extra power of L comes from (b_l grows like l/2, so S_L ~ sum_k b_k^2 ~ L^3/12).
For the default setup S_L = (2 L^3 + 6 L^2 + 7 L - 3) / 24 exactly.

The maximal-update learning rate eta*(L) is the eta at which chi^2 eta^2 S_L reaches a threshold (default 1),
so eta*(L) = sqrt(threshold / S_L) (chi^2 = 1: target 1, f_0 -> 0) -> sqrt(12 threshold) L^{-3/2}.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from theory.errors import InputError

Number = Fraction | float


@dataclass(frozen=True)
class DepthLawSetup:
    """Constants of the model above (Fractions give exact results)."""

    input_second_moment: Number = Fraction(1)  # rho = |x|^2 / n
    first_var: Number = Fraction(1)  # s1 = n Var W^1
    hidden_var: Number = Fraction(2)  # s = n Var W^l, l >= 2 (2 = He, critical for ReLU)
    readout_var: Number = Fraction(1)  # nu = n^2 Var w
    lr_first: Number = Fraction(1)  # lam1: W^1 trains with lam1 * eta
    lr_hidden: Number = Fraction(1)  # lam: W^2..W^L train with lam * eta

    def __post_init__(self) -> None:
        for name in ("input_second_moment", "first_var", "hidden_var", "readout_var", "lr_first", "lr_hidden"):
            value = getattr(self, name)
            if not (isinstance(value, int | float | Fraction) and math.isfinite(value) and value > 0):
                raise InputError(f"{name}: need a finite positive number, got {value!r}")


def _check_depth(depth: int) -> None:
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise InputError(f"depth L: need a positive number of hidden layers, got {depth!r}")


def layer_changes(depth: int, setup: DepthLawSetup = DepthLawSetup()) -> list[Number]:
    """S_l for l = 1..L of a network with L = ``depth`` hidden layers (the recursion in the module docstring)."""
    _check_depth(depth)
    s1, s, rho = setup.first_var, setup.hidden_var, setup.input_second_moment
    q = [s1 * rho]
    for _ in range(1, depth):
        q.append(s * q[-1] / 2)
    gam = [setup.readout_var]
    for _ in range(1, depth):
        gam.insert(0, s * gam[0] / 2)
    a = [setup.lr_first * rho] + [setup.lr_hidden * q[l - 1] / 2 for l in range(1, depth)]
    out: list[Number] = []
    b, v = a[0], a[0] * 0
    for l in range(depth):
        if l > 0:
            b, v = a[l] + s * b / 2, s * (b * b * gam[l - 1] + v) / 2
        out.append(b * b * gam[l] / 2 + v)
    return out


def last_layer_change(depth: int, setup: DepthLawSetup = DepthLawSetup()) -> Number:
    """S_L: mean squared one-step change of the last hidden pre-activation per (eta chi)^2, infinite width."""
    return layer_changes(depth, setup)[-1]


def closed_form_default(depth: int) -> Fraction:
    """S_L for the default setup summed by hand: b_l = (l+1)/2, S_L = b_L^2/2 + sum_{k<L} b_k^2."""
    _check_depth(depth)
    return Fraction(2 * depth**3 + 6 * depth**2 + 7 * depth - 3, 24)


def max_update_lr(depth: int, setup: DepthLawSetup = DepthLawSetup(), threshold: float = 1.0) -> float:
    """eta*(L) = sqrt(threshold / S_L): the LR at which the mean squared change of z^L reaches ``threshold``."""
    if not (math.isfinite(threshold) and threshold > 0):
        raise InputError(f"threshold: need a finite positive number, got {threshold!r}")
    return math.sqrt(threshold / float(last_layer_change(depth, setup)))


def fitted_exponent(depths: Sequence[int], values: Sequence[float]) -> float:
    """Least-squares slope of log(values) against log(depths)."""
    x = np.log(np.asarray(depths, dtype=float))
    y = np.log(np.asarray(values, dtype=float))
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def simulate_layer_changes(depth: int, width: int, seeds: int, *, eta: float = 1e-4, target: float = 1.0,
                           setup: DepthLawSetup = DepthLawSetup(), seed: int = 0) -> np.ndarray:
    """Direct float64 simulation of the model: |z^l_1 - z^l_0|^2 / (n eta^2 chi^2), shape (seeds, L).

    Loss (f - target)^2 / 2 on one input per seed, so chi = f_0 - target.  Independent of the recursion.
    """
    _check_depth(depth)
    if width < 2 or seeds < 1:
        raise InputError(f"need width >= 2 and seeds >= 1, got width {width}, seeds {seeds}")
    rng = np.random.default_rng(seed)
    n = width
    out = np.empty((seeds, depth))
    lrs = [float(setup.lr_first) * eta] + [float(setup.lr_hidden) * eta] * (depth - 1)
    for r in range(seeds):
        x = rng.standard_normal(n)
        x *= math.sqrt(float(setup.input_second_moment) * n) / np.linalg.norm(x)
        ws = [rng.standard_normal((n, n)) * math.sqrt(float(setup.first_var) / n)]
        ws += [rng.standard_normal((n, n)) * math.sqrt(float(setup.hidden_var) / n) for _ in range(depth - 1)]
        readout = rng.standard_normal(n) * math.sqrt(float(setup.readout_var)) / n
        zs, posts = _forward(ws, x)
        chi = float(readout @ posts[-1]) - target
        grad = readout * (zs[-1] > 0)  # df/dz^L
        new_ws = list(ws)
        for l in range(depth - 1, -1, -1):
            new_ws[l] = ws[l] - lrs[l] * chi * np.outer(grad, posts[l])
            if l > 0:
                grad = (ws[l].T @ grad) * (zs[l - 1] > 0)
        zs_new, _ = _forward(new_ws, x)
        for l in range(depth):
            out[r, l] = float(np.sum((zs_new[l] - zs[l]) ** 2)) / (n * (eta * chi) ** 2)
    return out


def _forward(ws: list[np.ndarray], x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations z^1..z^L and layer inputs x^0..x^L (x^0 = input, x^l = relu(z^l))."""
    zs: list[np.ndarray] = []
    posts = [x]
    for w in ws:
        zs.append(w @ posts[-1])
        posts.append(np.maximum(zs[-1], 0.0))
    return zs, posts
