"""The quantities of ``abcscale derive``, measured per seed on a fixed probe batch.

Names and definitions match the engine's (RMS = ||v||_2 / sqrt(entries) over the probe batch x features
matrix of each seed; layer L+1 is the readout, its pre-activation the logits f):

* init_preactivation   RMS of h^l_0 (recorded at step 0 only)
* preactivation_update RMS of h^l_t - h^l_0
* feature_update       RMS of x^l_t - x^l_0 (l <= L); the logit change f_t - f_0 for l = L+1
* effective_update     RMS of (W^l_t - W^l_0) x^{l-1}_t, W = multiplier * w, x^{l-1}_t the current input
* propagating_update   RMS of W^l_0 (x^{l-1}_t - x^{l-1}_0), l >= 2
* backward_gradient    RMS of d loss / d h^l (l = L+1: d loss / d logits)
* weight_gradient      RMS of the per-example gradient d loss_b / d w^l = multiplier * dh_b (x) x_b (the
                       trainable tensor w, not W), root-mean-square over probe examples b.  Per example, not
                       the batch mean: with logits ~ 0 at init (muP) the batch mean over balanced classes
                       cancels its leading term and the n^-1/2 logit noise dominates at CPU widths (measured:
                       readout slope -0.20 instead of 0 at widths 128-2048), a batch effect, not a width law
* weight_update        RMS of w^l_t - w^l_0
Updates are recorded from step 1 on; gradients at every step, on the probe batch's loss.

How (the cost is a few probe-sized matmuls per layer and step): one forward of the current weights, whose
pre-activations h_t = W_t x_t are kept, and one product with the initial weights, P_t = W_0 x_t, give both
updates by subtraction: effective = h_t - P_t and propagating = P_t - h_0 (no (W_t - W_0) matrix is formed).
Both products see the same rows, so when W_t = W_0 (or x_t = x_0) they are bitwise equal and the update is
exactly 0, as the engine's -oo predictions require.  (For plain SGD ``verify.model.lowrank`` keeps W_t - W_0
factorised and gives the effective and weight updates from the factors: ``quantities(..., low_rank=...)``.)
The only autograd call is the one backward from the loss to the pre-activations (weights never require grad
here); everything else runs under ``no_grad``.
Sums of squares are taken in float32 along the feature axis and reduced in float64 (no float64 copy of a
large tensor), with a float64 recomputation only where float32 squares overflow (entries beyond ~1e19).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from verify.model.mlp import BatchedMLP, Forward, LayerScale, per_seed_loss

Values = dict[tuple[str, int], torch.Tensor]


def rms(t: torch.Tensor) -> torch.Tensor:
    """Per-seed RMS over every entry but the leading seed dimension, shape (S,), float64."""
    t = t.detach()
    if t.dim() < 2:
        return t.double().abs()
    if t.dtype != torch.float32:
        return t.double().pow(2).flatten(1).mean(dim=1).sqrt()
    rows = torch.linalg.vector_norm(t, dim=-1)  # float32 sums of squares of each row of features
    out = rows.double().pow(2).reshape(rows.shape[0], -1).sum(dim=1).div_(t[0].numel()).sqrt_()
    overflow = torch.isinf(out)
    if overflow.any():  # float32 squares overflowed: redo those seeds in float64
        out[overflow] = t[overflow].double().pow(2).flatten(1).mean(dim=1).sqrt()
    return out


@dataclass
class Snapshot:
    """Weights and probe forward pass at initialisation (detached)."""

    weights: list[torch.Tensor]
    forward: Forward


@dataclass
class Pass:
    """Forward of some rows at the current weights with d loss / d h of every row (all detached)."""

    pre: list[torch.Tensor]  # h^1..h^{L+1}, each (S, R, fan_out)
    post: list[torch.Tensor]  # x^0 (R, d), then x^1..x^{L+1}, each (S, R, fan_out)
    grad: list[torch.Tensor]  # d loss / d h^l, each (S, R, fan_out)


@dataclass
class LowRankTerms:
    """What a trainer keeping w_t - w_0 factorised (``verify.model.lowrank``) gives in place of dense weights."""

    effective: list[torch.Tensor]  # m (W_t - W_0) x_t on the pass's rows, each (S, R, fan_out)
    weight_update: list[torch.Tensor]  # RMS of w_t - w_0, each (S,) float64


def forward_backward(model: BatchedMLP, inputs: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor]) -> Pass:
    """Forward ``inputs`` (R, d) through every seed and differentiate ``loss_of(logits)`` with respect to each h.

    Rows of an MLP do not interact, so the gradient rows of one example are those of its own loss term.
    """
    pre: list[torch.Tensor] = []
    post: list[torch.Tensor] = [inputs]
    x = inputs
    last = len(model.weights) - 1
    with torch.enable_grad():
        for i, (w, scale) in enumerate(zip(model.weights, model.scales, strict=True)):
            h = torch.matmul(x, w.detach().transpose(1, 2))
            if scale.multiplier != 1.0:
                h = h * scale.multiplier
            if i == 0:
                h.requires_grad_(True)
            pre.append(h)
            x = h if i == last else model.phi(h)
            post.append(x)
        grads = torch.autograd.grad(loss_of(pre[-1]), pre)
    return Pass(pre=[h.detach() for h in pre], post=[x.detach() for x in post], grad=list(grads))


@torch.no_grad()
def initial_products(scales: list[LayerScale], init_weights: list[torch.Tensor], post: list[torch.Tensor]
                     ) -> list[torch.Tensor]:
    """P^l_t = multiplier * x^{l-1}_t W^l_0^T for every layer, on the same rows as ``post``."""
    out = []
    for scale, w0, x in zip(scales, init_weights, post[:-1], strict=True):
        p = torch.matmul(x, w0.transpose(1, 2))
        out.append(p * scale.multiplier if scale.multiplier != 1.0 else p)
    return out


@torch.no_grad()
def quantities(scales: list[LayerScale], weights: list[torch.Tensor], init: Snapshot, now: Pass, rows: int,
               step: int, products: list[torch.Tensor] | None, scratch: list[torch.Tensor] | None = None, *,
               low_rank: LowRankTerms | None = None) -> Values:
    """Every quantity at ``step`` from a pass whose first ``rows`` rows are the probe batch.

    ``products`` are the ``initial_products`` of the same pass (needed from step 1 on).  ``scratch``: one
    buffer shaped like each weight, reused for w_t - w_0 step after step (a fresh large tensor per step
    costs page faults: measured ~9% of a width-1024 job).  ``low_rank``: the weight change is factorised;
    the effective and weight updates come from it and ``weights`` is not read.
    """
    out: Values = {}
    last = len(weights)
    for i, scale in enumerate(scales):
        layer = i + 1
        dh = now.grad[i][:, :rows]
        x_in = now.post[i][:rows] if i == 0 else now.post[i][:, :rows]
        out[("backward_gradient", layer)] = rms(dh)
        per_example = dh.pow(2).mean(dim=-1).double() * x_in.pow(2).mean(dim=-1).double()  # (S, B)
        out[("weight_gradient", layer)] = abs(scale.multiplier) * per_example.mean(dim=-1).sqrt()
        if step == 0:
            out[("init_preactivation", layer)] = rms(init.forward.pre[i])
            continue
        if products is None:
            raise ValueError("quantities: the initial-weight products are needed from step 1 on")
        h_t, p_t = now.pre[i][:, :rows], products[i][:, :rows]
        out[("preactivation_update", layer)] = rms(h_t - init.forward.pre[i])
        x_out_t = now.pre[i] if layer == last else now.post[layer]
        x_out_0 = init.forward.pre[i] if layer == last else init.forward.post[layer]
        out[("feature_update", layer)] = rms(x_out_t[:, :rows] - x_out_0)
        effective = h_t - p_t if low_rank is None else low_rank.effective[i][:, :rows]
        out[("effective_update", layer)] = rms(effective)
        if layer >= 2:
            out[("propagating_update", layer)] = rms(p_t - init.forward.pre[i])
        if low_rank is not None:
            out[("weight_update", layer)] = low_rank.weight_update[i]
            continue
        w_t = weights[i].detach()
        change = w_t - init.weights[i] if scratch is None else torch.sub(w_t, init.weights[i], out=scratch[i])
        out[("weight_update", layer)] = rms(change)
    return out


def snapshot(model: BatchedMLP, probe_x: torch.Tensor) -> Snapshot:
    with torch.no_grad():
        weights = [w.detach().clone() for w in model.weights]
        return Snapshot(weights=weights, forward=model.forward(probe_x, weights))


def measure(model: BatchedMLP, probe_x: torch.Tensor, probe_y: torch.Tensor, loss: str, init: Snapshot,
            step: int) -> Values:
    """Every quantity at ``step`` for every layer, keyed by (quantity, layer), each of shape (S,)."""
    now = forward_backward(model, probe_x, lambda logits: per_seed_loss(logits, probe_y, loss).sum())
    products = initial_products(model.scales, init.weights, now.post) if step > 0 else None
    return quantities(model.scales, model.weights, init, now, probe_x.shape[0], step, products)
