"""Integrable parametrizations in torch: first-step update exponents in width, and whether training starts.

Networks come from ``verify.model.mlp`` with base width n0 = 1, i.e. Hajjar et al.'s code convention
(``base_abc_param.py``): W^l = n^{-a_l} U^l, U^l ~ N(0, 2 n^{-2 b_l}) (input layer N(0, 2/d)), learning rate
eta n^{-c_l}.  IP-LLR's first update uses the preset's warm-up exponents (``Parametrization.c_at(l, 1)``),
every later update the layer's own c.  The data are verify.data's synthetic teacher task (CE, d = 32).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from theory.parametrization import Parametrization
from verify import data as datasets
from verify.model.mlp import BatchedMLP, LayerScale, init_weights, layer_scales, per_seed_loss
from verify.model.optim import BatchedOptimizer

BASE_WIDTH = 1
BATCH = 32


@dataclass(frozen=True)
class IPRun:
    """Per-seed first-step RMS change of every pre-activation (layers 1..L+1) and the loss curve."""

    first_step: np.ndarray  # (seeds, L+1)
    losses: np.ndarray  # (seeds, steps+1) training-batch loss before each update, then after the last
    diverged_step: list[int | None]


def _scales(param: Parametrization, width: int, update: int, data: datasets.Dataset, lr: float,
            first_lr: float) -> list[LayerScale]:
    """Layer scales with the learning-rate exponents in force at ``update`` (1-based)."""
    cs = [param.c_at(layer.index, update) for layer in param.layers]
    fixed = replace(param.with_layers(c=cs), warmup=())  # this update's exponents, no schedule on top
    return layer_scales(fixed, width, base_width=BASE_WIDTH, input_dim=data.input_dim, output_dim=data.output_dim,
                        lr=first_lr if update == 1 else lr)


def run_ip(param: Parametrization, width: int, seeds: list[int], *, lr: float, first_lr: float | None = None,
           steps: int = 1, data_seed: int = 0) -> IPRun:
    """Train ``steps`` SGD updates (batch 32) of every seed; record the first-step change on the probe batch.

    ``lr`` is eta (layer l trains with eta n^{-c_l}); ``first_lr`` replaces it for update 1 (default: eta).
    """
    first_lr = lr if first_lr is None else first_lr
    data = datasets.load("synthetic", param.loss, seed=data_seed, probe_size=64)
    scales = _scales(param, width, 1, data, lr, first_lr)
    model = BatchedMLP(scales, param.activation, init_weights(scales, seeds, width))
    with torch.no_grad():
        before = model.forward(data.probe_x).pre
    losses = np.full((len(seeds), steps + 1), np.nan)
    first = np.full((len(seeds), len(scales)), np.nan)
    diverged: list[int | None] = [None] * len(seeds)
    for step in range(1, steps + 1):
        x, y = data.batch(step, BATCH)
        loss = per_seed_loss(model.forward(x).logits, y, param.loss)
        losses[:, step - 1] = loss.detach().numpy()
        grads = list(torch.autograd.grad(loss.sum(), model.weights))
        step_scales = _scales(param, width, step, data, lr, first_lr)
        BatchedOptimizer("sgd", step_scales).step(model.weights, grads)
        if step == 1:
            with torch.no_grad():
                after = model.forward(data.probe_x).pre
            for i, (h0, h1) in enumerate(zip(before, after, strict=True)):
                first[:, i] = (h1 - h0).double().pow(2).flatten(1).mean(dim=1).sqrt().numpy()
    with torch.no_grad():
        x, y = data.batch(steps, BATCH)
        losses[:, steps] = per_seed_loss(model.forward(x).logits, y, param.loss).numpy()
    for s in range(len(seeds)):
        bad = np.flatnonzero(~np.isfinite(losses[s]))
        diverged[s] = int(bad[0]) if bad.size else None
    return IPRun(first, losses, diverged)
