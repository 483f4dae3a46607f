"""Deep plain (no-skip) MLPs and CNNs with a normalization after every linear/conv layer, and their data.

Every hidden block of the MLP is Linear(bias=False) -> BatchNorm1d | LayerNorm -> ReLU, so the loss is
invariant under rescaling each hidden weight matrix (first layer included).  The CNN's blocks are
Conv2d(3x3, bias=False) -> BatchNorm2d | GroupNorm(1 group: LayerNorm over channels and positions) -> ReLU
on the 8x8 digits images.  The readout Linear (with bias) is *not* scale-invariant and is excluded from
``scale_invariant_weights``.

The normalization's eps breaks scale invariance at relative order eps / Var(pre-activation); torch's
default 1e-5 is visible at float32 precision, so the default here is 1e-10 (it only guards against a
zero variance: in float32, var + 1e-10 == var for var > ~1e-3).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from theory.errors import InputError

NORMS = ("bn", "ln")
DATASETS = ("synthetic", "digits")
ARCHS = ("mlp", "cnn")
DIGITS_SIDE = 8


class NormalizedNet(nn.Module):
    """``hidden`` blocks [weight layer without bias -> norm -> ReLU], then ``readout``; what MLP and CNN share."""

    hidden: nn.ModuleList
    readout: nn.Linear

    @staticmethod
    def _check(norm: str, **sizes: int) -> None:
        if norm not in NORMS:
            raise InputError(f"norm: expected one of {', '.join(NORMS)}, got {norm!r}")
        for name, value in sizes.items():
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise InputError(f"{name}: must be a positive integer, got {value!r}")

    def scale_invariant_weights(self) -> list[nn.Parameter]:
        """The hidden blocks' weights, input layer first; the readout is excluded (not scale-invariant)."""
        return [block[0].weight for block in self.hidden]  # type: ignore[index]


class NormalizedMLP(NormalizedNet):
    """depth x [Linear(no bias) -> norm -> ReLU] -> Linear readout."""

    def __init__(self, in_dim: int, width: int, depth: int, out_dim: int, norm: str = "bn",
                 eps: float = 1e-10) -> None:
        super().__init__()
        self._check(norm, in_dim=in_dim, width=width, depth=depth, out_dim=out_dim)
        self.hidden = nn.ModuleList()
        fan_in = in_dim
        for _ in range(depth):
            norm_layer: nn.Module = (nn.BatchNorm1d(width, eps=eps) if norm == "bn"
                                      else nn.LayerNorm(width, eps=eps))
            self.hidden.append(nn.Sequential(nn.Linear(fan_in, width, bias=False), norm_layer, nn.ReLU()))
            fan_in = width
        self.readout = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.hidden:
            x = block(x)
        out: torch.Tensor = self.readout(x)
        return out


class NormalizedCNN(NormalizedNet):
    """depth x [Conv2d 3x3 (no bias, padding 1) -> norm -> ReLU] on 8x8 single-channel images -> global average
    pool -> Linear readout.  ``width`` is the number of channels.  Inputs arrive flattened (B, 64)."""

    def __init__(self, width: int, depth: int, out_dim: int, norm: str = "bn", eps: float = 1e-10) -> None:
        super().__init__()
        self._check(norm, width=width, depth=depth, out_dim=out_dim)
        self.hidden = nn.ModuleList()
        channels = 1
        for _ in range(depth):
            norm_layer: nn.Module = (nn.BatchNorm2d(width, eps=eps) if norm == "bn"
                                      else nn.GroupNorm(1, width, eps=eps))
            self.hidden.append(nn.Sequential(nn.Conv2d(channels, width, 3, padding=1, bias=False), norm_layer,
                                             nn.ReLU()))
            channels = width
        self.readout = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 1, DIGITS_SIDE, DIGITS_SIDE)
        for block in self.hidden:
            x = block(x)
        out: torch.Tensor = self.readout(x.mean(dim=(2, 3)))
        return out


def load_dataset(name: str, seed: int = 0, n_synthetic: int = 2048,
                 dim_synthetic: int = 32) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(inputs float32, integer labels, number of classes).

    ``digits``: scikit-learn's 8x8 digits (1797 samples, shipped with sklearn), features standardized.
    ``synthetic``: Gaussian inputs labelled by the argmax of a random two-layer tanh teacher (10 classes).
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        x = np.asarray(data.data, dtype=np.float64)
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
        return torch.tensor(x, dtype=torch.float32), torch.tensor(data.target, dtype=torch.long), 10
    if name == "synthetic":
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n_synthetic, dim_synthetic))
        w1 = rng.standard_normal((dim_synthetic, 64)) / np.sqrt(dim_synthetic)
        w2 = rng.standard_normal((64, 10))
        y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long), 10
    raise InputError(f"data: expected one of {', '.join(DATASETS)}, got {name!r}")
