"""Critical-rate warm-up: a torch LR scheduler that needs no warm-up length.

Rule [INFERRED reconstruction of Mehmeti-Goepel & Wand 2024; see docs/elr.md]: with rho_l = ||grad_l|| /
||w_l|| for the scale-invariant weights l (E_l = eta * rho_l is the layer's effective learning rate), the
critical learning rate is eta_crit = 1 / sqrt(rho_max * rho_min), the rate at which the extreme ELRs
multiply to 1.  Every step the scheduler multiplies each group's base rate by

    factor = min(1, eta_crit / eta_base)   (eta_base: rate of the group, so per-group E_l = eta_base rho_l),

i.e. it follows the critical rate until that exceeds the target and then stays at the target.  It would cap
the rate again if the ELRs rose above critical, but under plain SGD without weight decay the predicted next
critical rate is at least sqrt(2) * eta * spread^(1/4) after any step at rate eta, so it caps only a few steps
(at most 1 + 2 log2(target / first critical rate)) and never again once the target is reached; weight decay or
momentum can change that (docs/elr.md, section 3b; tests/numerics/test_elr.py).

Usage (the usual torch order)::

    sched = CriticalRateWarmup(opt, scale_invariant=model.scale_invariant_weights())
    for x, y in loader:
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step(); sched.step()

How it reads the ELRs: ``step()`` runs after ``optimizer.step()``, when ``p.grad`` still holds g_t and ``p``
holds w_{t+1}.  Scale invariance gives the gradient norm at unit weight norm, ||g_t|| * ||w_t|| (exact), and
the next gradient is predicted as that unit-norm gradient rescaled to ||w_{t+1}||:
rho_l(t+1) ~ ||g_t|| ||w_t|| / ||w_{t+1}||^2.  The only assumption is that the unit-norm gradient norm changes
little in one step.  Because no gradient exists before the first step, the constructor sets the rate to 0:
the first optimizer step is a probe that only measures gradients.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from theory.errors import InputError


class CriticalRateWarmup(LRScheduler):
    """Learning rate min(base, critical) per step; ``scale_invariant`` lists the normalized weights.

    ``scale_invariant``: weights whose loss is invariant under rescaling (a bias-free linear/conv layer
    followed by BatchNorm in training mode or LayerNorm).  Do not include a readout layer.  Each must be in
    one of the optimizer's parameter groups.
    """

    def __init__(self, optimizer: Optimizer, scale_invariant: Iterable[torch.Tensor],
                 last_epoch: int = -1) -> None:
        params = list(scale_invariant)
        if not params:
            raise InputError("scale_invariant: need at least one scale-invariant weight")
        group_of: list[int] = []
        for p in params:
            where = [i for i, g in enumerate(optimizer.param_groups) if any(q is p for q in g["params"])]
            if not where:
                raise InputError(f"scale_invariant: a weight of shape {tuple(p.shape)} is not in the "
                                 "optimizer")
            group_of.append(where[0])
        self._params = params
        self._group_of = group_of
        self._norms: list[float] = [float(p.detach().norm()) for p in params]
        self.last_critical_lr: float = math.nan
        self.last_factor: float = 0.0
        super().__init__(optimizer, last_epoch)

    def _ratios_next_step(self) -> list[float] | None:
        """Predicted rho_l for the coming step from g_t, ||w_t|| (stored) and w_{t+1} (current)."""
        ratios = []
        new_norms = []
        for p, old_norm in zip(self._params, self._norms, strict=True):
            norm = float(p.detach().norm())
            new_norms.append(norm)
            if p.grad is None:
                return None
            unit_grad_norm = float(p.grad.detach().norm()) * old_norm
            ratios.append(unit_grad_norm / (norm * norm))
        self._norms = new_norms
        return ratios

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """Called by ``step()``; probe rate 0 at construction, then base * min(1, eta_crit / base)."""
        bases = [float(b) for b in self.base_lrs]
        if self.last_epoch == 0:
            self.last_factor = 0.0
            return [0.0 for _ in bases]
        ratios = self._ratios_next_step()
        if ratios is None or not all(math.isfinite(r) and r > 0 for r in ratios):
            # no usable gradient (zero_grad(set_to_none) before step, or a diverged run): keep the rate
            return [b * self.last_factor for b in bases]
        elrs = [bases[g] * r for g, r in zip(self._group_of, ratios, strict=True)]
        factor = min(1.0, 1.0 / math.sqrt(max(elrs) * min(elrs)))
        self.last_factor = factor
        self.last_critical_lr = 1.0 / math.sqrt(max(ratios) * min(ratios))
        return [b * factor for b in bases]

    def state_dict(self) -> dict[str, Any]:
        """Torch convention: everything but the optimizer (and here the weights, which the model holds)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_params")}
