"""Torch measurement of the one-step pre-activation change of a deep mean-field ReLU MLP (the L^3 law).

The model and its constants are those of ``numerics.depth.law`` (default DepthLawSetup): input dimension =
width n, |x|^2 = n, W^1 ~ N(0, 1/n), W^l ~ N(0, 2/n), readout ~ N(0, 1/n^2), SGD with learning rate eta
on W^1..W^L and eta/n on the readout, one step of MSE (target 1) on one input.  Each seed draws its own
weights and input.  The recorded value per layer is |z^l_1 - z^l_0|^2 / (n eta^2 chi^2), chi = f_0 - 1,
which the recursion predicts at infinite width and first order in eta.  The gradient comes from torch
autograd and the update is a real in-place SGD step (nothing here shares code with the numpy recursion).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from theory.errors import InputError

DEFAULT_ETA0 = 0.01  # eta = eta0 * L^{-3/2}: the RMS change of z^L stays ~ 0.3 eta0, deep in the linear regime


def _seed_generator(seed: int, depth: int, width: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + depth * 7_919 + width * 104_729) % (2**62))


def one_step_changes(depth: int, width: int, seeds: list[int], *, eta0: float = DEFAULT_ETA0,
                     dtype: torch.dtype = torch.float32) -> np.ndarray:
    """|z^l_1 - z^l_0|^2 / (n eta^2 chi^2) per seed and layer, shape (len(seeds), depth).

    eta = eta0 * depth^{-3/2}.  A non-finite value (a diverged step) is recorded as NaN.
    """
    if depth < 1 or width < 2 or not seeds:
        raise InputError(f"need depth >= 1, width >= 2 and a seed, got depth {depth}, width {width}, seeds {seeds}")
    if not (math.isfinite(eta0) and eta0 > 0):
        raise InputError(f"eta0: need a finite positive number, got {eta0!r}")
    eta = eta0 * depth ** -1.5
    n = width
    out = np.empty((len(seeds), depth))
    for row, seed in enumerate(seeds):
        gen = _seed_generator(seed, depth, width)
        x = torch.randn(n, generator=gen, dtype=dtype)
        x = x * (math.sqrt(n) / x.norm())
        stds = [1.0 / math.sqrt(n)] + [math.sqrt(2.0 / n)] * (depth - 1)
        weights = [torch.randn(n, n, generator=gen, dtype=dtype).mul_(s) for s in stds]
        readout = torch.randn(n, generator=gen, dtype=dtype) / n
        pre = _forward(weights, x, track=True)
        f0 = readout @ torch.relu(pre[-1])
        chi = float(f0.detach()) - 1.0
        # backprop by autograd to the pre-activations; dLoss/dW^l = (dLoss/dz^l) x^{l-1}^T is then a rank-1
        # outer product, applied in place (the same SGD step as w -= eta * w.grad, without an n x n grad buffer)
        grads = torch.autograd.grad(0.5 * (f0 - 1.0) ** 2, pre)
        with torch.no_grad():
            inputs = [x] + [torch.relu(z) for z in pre[:-1]]
            for w, g, h in zip(weights, grads, inputs, strict=True):
                w.addr_(g, h.detach(), alpha=-eta)
            new = _forward(weights, x)
            for l in range(depth):
                change = (new[l] - pre[l].detach()).double().pow(2).sum().item()
                out[row, l] = change / (n * (eta * chi) ** 2)
        del weights
    out[~np.isfinite(out)] = np.nan
    return out


def _forward(weights: list[torch.Tensor], x: torch.Tensor, track: bool = False) -> list[torch.Tensor]:
    """Pre-activations z^1..z^L of one input (``track``: record the graph from z^1 on, weights stay constants)."""
    pre: list[torch.Tensor] = []
    h = x
    for w in weights:
        z = w @ h
        if track and not pre:
            z.requires_grad_(True)
        pre.append(z)
        h = torch.relu(z)
    return pre
