"""Residual ReLU MLPs with a depth-scaled branch, h^{l+1} = h^l + L^{-alpha} W_l relu(h^l), trained a few steps.

Width scaling is muP relative to the base width n0 = 64 (input W_in ~ N(0, 1/d), blocks W_l ~ N(0, 2/n),
readout ~ N(0, (n0/n^2)): f = O(n^{-1/2}) at init).  Depth scaling of the learning rates (the theory-width
reference, section 5: Depth-muP alpha = 1/2, CompleteP alpha = 1):

* SGD:  input eta n/n0, blocks eta L^{2 alpha - 1}, readout eta n0/n;
* Adam: input eta, blocks eta (n0/n) L^{alpha - 1}, readout eta n0/n, epsilon eps0 (n0/n) L^{-alpha}.

Measured on a fixed probe batch after ``steps`` updates, per seed:
* stream:    RMS of h^{L+1}_t - h^{L+1}_0 (the final residual stream);
* block:     mean over blocks of RMS of F_l,t - F_l,0 with F_l = W_l relu(h^l) (the branch output before L^{-alpha});
* effective: mean over blocks of RMS of (W_l,t - W_l,0) relu(h^l_t) (the part of the block change that
  comes from the block's own weights).
Predicted depth exponents: stream 0 and block 0 for both alphas (each block changes by Theta(1), the
stream sums L blocks times L^{-alpha}: L^{1 - 2 alpha} aligned... balanced by the LR factor to Theta(1));
effective alpha - 1 (Depth-muP: the blocks' own updates vanish like L^{-1/2}; CompleteP: Theta(1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from theory.errors import InputError
from verify import data as datasets

BASE_WIDTH = 64
QUANTITIES = ("stream", "block", "effective")
DEFAULT_LR = {"sgd": 0.05, "adam": 0.003}  # at n = n0, L = 1 (stable for L <= 32 at n <= 512, checked by the runs)
EPS0 = 1e-8


@dataclass(frozen=True)
class ResidualConfig:
    alpha: float
    optimizer: str = "sgd"
    steps: int = 5
    batch: int = 32
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in DEFAULT_LR:
            raise InputError(f"optimizer {self.optimizer!r}: residual runs support sgd and adam")
        if not (math.isfinite(self.alpha) and 0 <= self.alpha <= 2):
            raise InputError(f"alpha: need a number in [0, 2], got {self.alpha!r}")
        if self.steps < 1:
            raise InputError(f"steps: need >= 1, got {self.steps}")

    @property
    def eta(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr


def _groups(cfg: ResidualConfig, width: int, depth: int, params: dict[str, list[torch.Tensor]]) -> list[dict]:
    ratio = width / BASE_WIDTH
    eta = cfg.eta
    if cfg.optimizer == "sgd":
        lrs = {"input": eta * ratio, "blocks": eta * depth ** (2 * cfg.alpha - 1), "readout": eta / ratio}
        return [{"params": params[k], "lr": lrs[k]} for k in lrs]
    lrs = {"input": eta, "blocks": eta / ratio * depth ** (cfg.alpha - 1), "readout": eta / ratio}
    eps = EPS0 / ratio * depth ** (-cfg.alpha)
    return [{"params": params[k], "lr": lrs[k], "eps": eps} for k in lrs]


def _forward(w_in: torch.Tensor, blocks: list[torch.Tensor], w_out: torch.Tensor, x: torch.Tensor,
             scale: float) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Logits, block inputs relu(h^l), block outputs F_l, final stream h^{L+1}."""
    h = x @ w_in.T
    acts, outs = [], []
    for w in blocks:
        a = torch.relu(h)
        branch = a @ w.T
        acts.append(a)
        outs.append(branch)
        h = h + scale * branch
    return h @ w_out.T, acts, outs, h


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def residual_updates(cfg: ResidualConfig, width: int, depth: int, seeds: list[int],
                     data_seed: int = 0) -> dict[str, np.ndarray]:
    """Per-seed stream/block/effective feature updates after ``cfg.steps`` updates; NaN marks a diverged seed."""
    if width < 2 or depth < 1 or not seeds:
        raise InputError(f"need width >= 2, depth >= 1 and a seed, got width {width}, depth {depth}, seeds {seeds}")
    data = datasets.load("synthetic", "ce", seed=data_seed, probe_size=64)
    scale = depth ** -cfg.alpha
    out = {q: np.full(len(seeds), np.nan) for q in QUANTITIES}
    for row, seed in enumerate(seeds):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + depth * 7_919 + width)
        w_in = torch.randn(width, data.input_dim, generator=gen) / math.sqrt(data.input_dim)
        blocks = [torch.randn(width, width, generator=gen) * math.sqrt(2.0 / width) for _ in range(depth)]
        w_out = torch.randn(data.output_dim, width, generator=gen) * (math.sqrt(BASE_WIDTH) / width)
        params = {"input": [w_in.requires_grad_(True)], "blocks": [w.requires_grad_(True) for w in blocks],
                  "readout": [w_out.requires_grad_(True)]}
        groups = _groups(cfg, width, depth, params)
        opt = torch.optim.SGD(groups) if cfg.optimizer == "sgd" else torch.optim.Adam(groups)
        init_blocks = [w.detach().clone() for w in blocks]
        with torch.no_grad():
            _, _, outs0, stream0 = _forward(w_in, blocks, w_out, data.probe_x, scale)
        finite = True
        for step in range(1, cfg.steps + 1):
            x, y = data.batch(step, cfg.batch)
            opt.zero_grad()
            logits = _forward(w_in, blocks, w_out, x, scale)[0]
            loss = torch.nn.functional.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                finite = False
                break
            loss.backward()
            opt.step()
        if not finite:
            continue
        with torch.no_grad():
            _, acts, outs, stream = _forward(w_in, blocks, w_out, data.probe_x, scale)
            values = {
                "stream": _rms(stream - stream0),
                "block": float(np.mean([_rms(o - o0) for o, o0 in zip(outs, outs0, strict=True)])),
                "effective": float(np.mean([_rms(a @ (w - w0).T)
                                            for a, w, w0 in zip(acts, blocks, init_blocks, strict=True)])),
            }
        if all(math.isfinite(v) for v in values.values()):
            for q, v in values.items():
                out[q][row] = v
    return out


def predicted_slope(quantity: str, alpha: float, optimizer: str = "sgd") -> float:
    """Depth exponent of ``quantity`` derived by the engine (theory.depth) for this alpha and optimizer.

    stream -> the stream update; effective -> a block's own update before its L^-alpha multiplier; block ->
    the branch output's total change before the multiplier: own update or W_0 Delta x (the engine's
    block_propagating_update carries the multiplier, so it is added back).
    """
    from fractions import Fraction

    from theory.algebra import mx
    from theory.depth import Pair, derive_depth, residual_parametrization

    rp = residual_parametrization(Fraction(str(alpha)), optimizer=optimizer)
    settled = derive_depth(rp).settled
    value: object
    if quantity == "stream":
        value = settled["stream_update"]
    elif quantity == "effective":
        value = settled["block_internal_update"]
    else:
        propagating = settled["block_propagating_update"]
        unscaled = None if propagating is None else propagating + Pair(Fraction(0), Fraction(str(alpha)))
        value = mx(settled["block_internal_update"], unscaled)
    if not isinstance(value, Pair) or value.inf:
        raise ValueError(f"the engine finds no finite depth exponent for {quantity} at alpha {alpha}")
    return float(value.L)
