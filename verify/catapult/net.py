"""Bias-free ReLU MLPs in NTK parametrisation and the two small binary tasks of the catapult sweep.

Network (depth L = number of weight layers): h_1 = W_1 x / sqrt(d), h_l = W_l relu(h_{l-1}) / sqrt(n),
f = w_L . relu(h_{L-1}) / sqrt(n), all weights N(0, 1). A two-layer net (L = 2) is 2-homogeneous in its
parameters, an L-layer net L-homogeneous.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from theory.errors import InputError

DATASETS = ("digits", "synthetic")
INPUT_SCALINGS = ("standardised", "raw")


class ReLUNet(nn.Module):
    """NTK-parametrised ReLU MLP without biases, scalar output."""

    def __init__(self, in_dim: int, width: int, depth: int, seed: int, dtype: torch.dtype = torch.float64):
        super().__init__()
        if depth < 2:
            raise InputError(f"depth (number of weight layers) must be >= 2, got {depth}")
        if width < 1 or in_dim < 1:
            raise InputError(f"width and input dimension must be >= 1, got width={width}, in_dim={in_dim}")
        gen = torch.Generator().manual_seed(seed)
        shapes = [(width, in_dim)] + [(width, width)] * (depth - 2) + [(1, width)]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(*shape, generator=gen, dtype=dtype)) for shape in shapes)

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Hidden pre-activations h_1 .. h_{L-1} (m x n each)."""
        hidden = []
        h = x @ self.weights[0].T / math.sqrt(x.shape[1])
        hidden.append(h)
        for w in self.weights[1:-1]:
            h = torch.relu(h) @ w.T / math.sqrt(w.shape[1])
            hidden.append(h)
        return hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = self.weights[-1]
        return (torch.relu(self.preactivations(x)[-1]) @ last.T / math.sqrt(last.shape[1])).reshape(-1)


def inactive_fractions(model: ReLUNet, x: torch.Tensor) -> list[float]:
    """Per hidden layer: fraction of pre-activations <= 0 over the batch (the paper's sparsity)."""
    with torch.no_grad():
        return [float((h <= 0).double().mean()) for h in model.preactivations(x)]


def load_task(name: str, samples: int, seed: int, dim: int = 32, inputs: str = "standardised",
              dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, y) with y = +-1.

    ``digits``: scikit-learn's 8x8 digits, classes 0 (y = -1) and 1 (y = +1), ``samples`` drawn at
    random (at most 360). ``synthetic``: X ~ N(0, I_dim), y = sign(w . x) for a random teacher w.
    ``inputs``: "standardised" (per feature zero mean, unit variance) or "raw" (digits pixels left
    non-negative, as in the papers' MNIST runs, scaled to unit mean square; synthetic unchanged).
    """
    if name not in DATASETS:
        raise InputError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")
    if inputs not in INPUT_SCALINGS:
        raise InputError(f"inputs must be one of {', '.join(INPUT_SCALINGS)}, got {inputs!r}")
    if samples < 2:
        raise InputError(f"samples must be >= 2, got {samples}")
    rng = np.random.default_rng(seed)
    if name == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        keep = np.isin(data.target, (0, 1))
        x_all, labels = data.data[keep], data.target[keep]
        if samples > x_all.shape[0]:
            raise InputError(f"digits 0/1 has {x_all.shape[0]} samples, asked for {samples}")
        pick = rng.choice(x_all.shape[0], samples, replace=False)
        x, y = x_all[pick], np.where(labels[pick] == 1, 1.0, -1.0)
    else:
        if dim < 1:
            raise InputError(f"synthetic input dimension must be >= 1, got {dim}")
        x = rng.standard_normal((samples, dim))
        teacher = rng.standard_normal(dim)
        y = np.where(x @ teacher >= 0, 1.0, -1.0)
    if inputs == "standardised":
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    else:
        x = x / np.sqrt(np.mean(x * x))
    return torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
