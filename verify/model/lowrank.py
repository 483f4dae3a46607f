"""Plain SGD's weight change kept factorised, so a step costs one n x n product per layer less.

After t plain-SGD updates with batch B, ``w_t - w_0 = -lr * m * sum_k dh_k^T x_k`` is a sum of t*B outer
products: per layer it is stored as ``G^T X`` with left factors G (S, r, fan_out) = -lr * m * dh (the learning
rate and multiplier folded in) and right factors X (S, r, fan_in) = x, r = t * B.  The forward of the current
weights then needs only the initial-weight product the measurements use anyway:

    h_t = m x W_t^T = P_t + m (x X^T) G,    P_t = m x W_0^T,

so the effective update m (W_t - W_0) x_t is the low-rank term itself (O(r n) per row instead of O(n^2)), and
the RMS of w_t - w_0 follows exactly from Gram matrices: ||G^T X||_F^2 = sum((G G^T) * (X X^T)), in float64
(r x r matrices, no overflow).  Autograd differentiates through both terms, so d loss / d h is that of W_t.

Used only where the update is exactly low rank and cheaper so (``low_rank_applies``): SGD without momentum
while r <= width / 8; past that ``dense`` materialises W_t once and training goes on with dense weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from verify.model.measure import LowRankTerms, Pass
from verify.model.mlp import BatchedMLP, LayerScale

RANK_FRACTION = 8  # factorised while the rank r <= width / 8 (the low-rank terms cost ~2 r / n of a dense product)


def low_rank_applies(optimizer: str, momentum: float, rank: int, width: int) -> bool:
    """Whether w_t - w_0 of rank ``rank`` is kept factorised: plain SGD only (Adam, signSGD with batch > 1
    and Muon make full-rank updates), and only while the factors are thin."""
    return optimizer == "sgd" and not momentum and rank * RANK_FRACTION <= width


@dataclass
class Factors:
    """w^l_t - w^l_0 = left[l]^T @ right[l] for every layer, of rank ``rank``."""

    left: list[torch.Tensor]  # (S, r, fan_out)
    right: list[torch.Tensor]  # (S, r, fan_in)

    @classmethod
    def empty(cls, scales: list[LayerScale], seeds: int, device: torch.device | str = "cpu") -> Factors:
        return cls(left=[torch.zeros(seeds, 0, s.fan_out, device=device) for s in scales],
                   right=[torch.zeros(seeds, 0, s.fan_in, device=device) for s in scales])

    @property
    def rank(self) -> int:
        return self.left[0].shape[1]

    @torch.no_grad()
    def add_sgd_step(self, scales: list[LayerScale], dh: list[torch.Tensor], x_in: list[torch.Tensor],
                     update: int) -> None:
        """Append SGD update ``update`` (1-based), -lr * m * dh^T x of the mean batch loss (dh: (S, B, fan_out)
        of that loss, x_in: (S or none, B, fan_in)), i.e. what ``BatchedOptimizer('sgd').step`` adds."""
        for i, (scale, g, x) in enumerate(zip(scales, dh, x_in, strict=True)):
            x = x.expand(g.shape[0], *x.shape[-2:])
            self.left[i] = torch.cat([self.left[i], g * (-scale.lr_at(update) * scale.multiplier)], dim=1)
            self.right[i] = torch.cat([self.right[i], x], dim=1)

    @torch.no_grad()
    def weight_update(self) -> list[torch.Tensor]:
        """RMS of w_t - w_0 per layer, shape (S,), float64, from the Gram matrices of the factors."""
        out = []
        for g, x in zip(self.left, self.right, strict=True):
            g64, x64 = g.double(), x.double()
            gram = (g64 @ g64.transpose(1, 2)) * (x64 @ x64.transpose(1, 2))
            out.append(gram.flatten(1).sum(dim=1).div_(g.shape[2] * x.shape[2]).clamp_(min=0.0).sqrt_())
        return out

    @torch.no_grad()
    def dense(self, init_weights: list[torch.Tensor]) -> list[torch.Tensor]:
        """W_t = W_0 + G^T X as new dense tensors (``init_weights`` untouched)."""
        return [torch.baddbmm(w0, g.transpose(1, 2), x) for w0, g, x in zip(init_weights, self.left, self.right,
                                                                             strict=True)]


def forward_backward_factored(model: BatchedMLP, factors: Factors, inputs: torch.Tensor,
                              loss_of: Callable[[torch.Tensor], torch.Tensor]) -> tuple[Pass, list[torch.Tensor],
                                                                                       LowRankTerms]:
    """``measure.forward_backward`` at W_t = W_0 + G^T X, with ``model.weights`` holding W_0.

    Returns the pass, the initial-weight products P_t = m x_t W_0^T of its rows (bitwise the step-0
    pre-activations when x_t = x_0: same matmul, same shapes) and the low-rank terms for ``quantities``.
    """
    pre: list[torch.Tensor] = []
    post: list[torch.Tensor] = [inputs]
    products: list[torch.Tensor] = []
    effective: list[torch.Tensor] = []
    x = inputs
    last = len(model.weights) - 1
    with torch.enable_grad():
        for i, (w0, scale) in enumerate(zip(model.weights, model.scales, strict=True)):
            p = torch.matmul(x, w0.transpose(1, 2))
            if scale.multiplier != 1.0:
                p = p * scale.multiplier
            coefficients = torch.matmul(x, factors.right[i].transpose(1, 2))  # (S, rows, r)
            if scale.multiplier != 1.0:
                coefficients = coefficients * scale.multiplier
            change = torch.matmul(coefficients, factors.left[i])
            h = p + change
            if i == 0:
                h.requires_grad_(True)
            pre.append(h)
            products.append(p.detach())
            effective.append(change.detach())
            x = h if i == last else model.phi(h)
            post.append(x)
        grads = torch.autograd.grad(loss_of(pre[-1]), pre)
    now = Pass(pre=[h.detach() for h in pre], post=[x.detach() for x in post], grad=list(grads))
    return now, products, LowRankTerms(effective=effective, weight_update=factors.weight_update())
