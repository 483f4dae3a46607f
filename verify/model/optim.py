"""Optimizers acting on batched weights (S, *shape): one seed's slice follows torch.optim exactly.

SGD (with optional momentum, dampening 0, no Nesterov), Adam and AdamW follow ``torch.optim.SGD``/``Adam``/
``AdamW`` update formulas operation for operation (AdamW: w *= 1 - lr * weight_decay, then Adam's step);
signSGD is ``w -= lr * sign(g)``; Muon is momentum SGD whose update is orthogonalised by 5 Newton-Schulz
iterations (Jordan et al.'s quintic coefficients), per seed and layer, and multiplied by the shape factor of
``theory.parametrization.muon_scale_factor`` (the engine derives from the same function).  Update t uses each
layer's ``lr_at(t)``, so warm-up schedules are trained as derived.  Adafactor exists in the engine only:
``for_spec`` refuses it with one line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch

from theory.errors import InputError
from theory.parametrization import Optimizer, muon_scale_factor

SUPPORTED = ("sgd", "adam", "signsgd", "muon")  # what the MLP trainer trains
GPT_SUPPORTED = ("sgd", "adam", "adamw", "signsgd")  # what the GPT trainer trains (Muon needs matrices only)
OPTIMIZERS = ("sgd", "adam", "adamw", "signsgd", "muon")


class StepScale(Protocol):
    """What the optimizer reads of a tensor's numbers (``LayerScale``, ``verify.model.gpt.TensorScale``)."""

    @property
    def eps(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    def lr_at(self, update: int) -> float: ...
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: torch.Tensor, iterations: int = 5) -> torch.Tensor:
    """Approximate U V^T of each matrix in a batch (S, m, n) by Muon's quintic Newton-Schulz iteration."""
    a, b, c = NS_COEFFICIENTS
    x = g / (g.flatten(1).norm(dim=1).view(-1, 1, 1) + 1e-7)
    transposed = g.shape[1] > g.shape[2]
    if transposed:
        x = x.transpose(1, 2)
    for _ in range(iterations):
        gram = x @ x.transpose(1, 2)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.transpose(1, 2) if transposed else x


class BatchedOptimizer:
    """One optimizer for all layers; per-layer learning rate and epsilon come from the LayerScales."""

    def __init__(self, name: str, scales: Sequence[StepScale], *, momentum: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), muon_scale: str = "jordan") -> None:
        if name not in OPTIMIZERS:
            raise InputError(f"optimizer {name!r}: the torch trainers support {', '.join(OPTIMIZERS)}")
        self.name = name
        self.scales = scales
        self.momentum = momentum
        self.betas = betas
        self.muon_scale = muon_scale
        self.steps = 0
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in scales]

    @classmethod
    def for_spec(cls, spec: Optimizer, scales: Sequence[StepScale]) -> BatchedOptimizer:
        """The optimizer a Parametrization's ``Optimizer`` describes (every field it has is applied)."""
        return cls(spec.name, scales, momentum=spec.momentum, muon_scale=spec.muon_scale)

    @torch.no_grad()
    def step(self, weights: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        self.steps += 1
        for w, g, scale, state in zip(weights, grads, self.scales, self.state, strict=True):
            if self.name in ("adam", "adamw"):
                if self.name == "adamw" and scale.weight_decay:
                    w.mul_(1 - scale.lr_at(self.steps) * scale.weight_decay)
                self._adam(w, g, scale, state)
                continue
            direction = g
            if self.momentum and self.name in ("sgd", "muon"):
                if "buf" not in state:
                    state["buf"] = g.clone()
                else:
                    state["buf"].mul_(self.momentum).add_(g)
                direction = state["buf"]
            if self.name == "signsgd":
                direction = torch.sign(g)
            elif self.name == "muon":
                direction = newton_schulz(direction) * muon_scale_factor(self.muon_scale, g.shape[2], g.shape[1])
            w.add_(direction, alpha=-scale.lr_at(self.steps))

    def _adam(self, w: torch.Tensor, g: torch.Tensor, scale: StepScale, state: dict[str, torch.Tensor]) -> None:
        beta1, beta2 = self.betas
        if "m" not in state:
            state["m"] = torch.zeros_like(w)
            state["v"] = torch.zeros_like(w)
        m, v = state["m"], state["v"]
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bias1 = 1 - beta1**self.steps
        bias2_sqrt = math.sqrt(1 - beta2**self.steps)
        denom = (v.sqrt() / bias2_sqrt).add_(scale.eps)
        w.addcdiv_(m, denom, value=-scale.lr_at(self.steps) / bias1)
