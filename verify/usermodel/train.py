"""Train a user's GPT at several widths and measure the quantities of ``abcscale derive`` per engine tensor.

One model per seed (built by FACTORY under ``torch.manual_seed``, so its initialisation is the user's own) is
trained by its own optimizer for ``steps`` updates on training batches of the pydoc text; at steps 0..steps
a probe batch is run with forward hooks on the owners of the mapped parameters and the norms, and with
``F.scaled_dot_product_attention`` recorded.  Per engine tensor (``Inference.uses``; a fused qkv matrix gives
q, k and v as row blocks of its output), as ``verify.model.gpt_measure`` for the built-in GPT: the init
pre-activation, its change, the feature change (phi(up) for MLP up), the effective update h_t - m W_0 x_t, the
propagating update m W_0 x_t - h_0, d loss / d h, the per-token weight gradient and the weight change; and the
reported values: the embedding sum and the residual stream after each sub-block (the inputs of the following
norm), the attention logits (with their own and carried parts) and the logits.  The position embedding's
d loss / d h is summed over the probe rows (its output is shared by them): a constant factor, no exponent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from theory.errors import InputError
from verify.data import Dataset, load_for
from verify.usermodel.infer import Inference, Use, multiplier, plain_use
from verify.usermodel.load import Factory, build
from verify.usermodel.probe import AttentionCall, forward, recording
from verify.width.train import TrainSettings

Record = tuple[int, int, int, str, int, float | None]  # width, seed, step, quantity, layer, value


@dataclass(frozen=True)
class Measured:
    """The records of every width and seed, and the seeds that diverged (width, seed) -> step."""

    records: list[Record]
    diverged: dict[tuple[int, int], int]


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def _rows(t: torch.Tensor, use: Use) -> torch.Tensor:
    """The part of a fused (3n, ...) tensor or output that is the use's (its last dim for an output)."""
    if use.part is None:
        return t
    size = t.shape[-1] // 3
    return t[..., use.part * size:(use.part + 1) * size]


def _weight_rows(w: torch.Tensor, use: Use) -> torch.Tensor:
    if use.part is None:
        return w
    size = w.shape[0] // 3
    return w[use.part * size:(use.part + 1) * size]


def _scores(call: AttentionCall, q: torch.Tensor | None = None, k: torch.Tensor | None = None) -> torch.Tensor:
    """Causal attention logits (B, H, entries) of the call (or of q, k given as (B, T, n) in its head split)."""
    if q is not None and k is not None:
        batch, heads, seq, d = call.q.shape
        q, k = (t.reshape(batch, seq, heads, d).transpose(1, 2) for t in (q, k))
    else:
        q, k = call.q, call.k
    seq = q.shape[2]
    mask = torch.ones(seq, seq, dtype=torch.bool).tril()
    return (torch.matmul(q, k.transpose(-1, -2)) * call.scale)[..., mask]


class Probe:
    """The model's values on the probe batch at one step, with d loss / d output of every mapped owner."""

    def __init__(self, model: torch.nn.Module, inference: Inference, tokens: torch.Tensor,
                 targets: torch.Tensor) -> None:
        owners = {u.owner for u in inference.uses} | set(inference.norms)
        with recording(model, owners) as seen:
            logits = forward(model, tokens, seen)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
            outs = sorted({u.owner for u in inference.uses})
            grads = torch.autograd.grad(loss, [seen.outputs[o] for o in outs], allow_unused=True,
                                        materialize_grads=True)
        self.seen = seen
        self.grads = dict(zip(outs, grads, strict=True))
        self.logits = logits.detach()

    def inputs(self, owner: str) -> torch.Tensor:
        x = self.seen.inputs[owner]
        return x.detach() if isinstance(x, torch.Tensor) else x

    def output(self, use: Use) -> torch.Tensor:
        return _rows(self.seen.outputs[use.owner].detach(), use)

    def grad(self, use: Use) -> torch.Tensor:
        return _rows(self.grads[use.owner], use)


def quantities(inference: Inference, model: torch.nn.Module, initial: dict[str, torch.Tensor], first: Probe,
               now: Probe, multipliers: dict[str, float], step: int) -> list[tuple[str, int, float]]:
    """Every (quantity, layer, value) of this step (layer 0: a reported value, quantity 'NAME/KIND')."""
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    index = {layer.name: layer.index for layer in inference.param.layers}
    out: list[tuple[str, int, float]] = []
    products: dict[str, torch.Tensor] = {}
    for use in inference.uses:
        key, m = index[use.tensor], multipliers[use.tensor]
        dh, h_t, h_0 = now.grad(use), now.output(use), first.output(use)
        x = now.inputs(use.owner)
        out.append(("backward_gradient", key, _rms(dh)))
        out.append(("weight_gradient", key, _weight_gradient(use, dh, x, m, params[use.param].shape[0])))
        if step == 0:
            out.append(("init_preactivation", key, _rms(h_0)))
            continue
        change = _rms(h_t - h_0)
        out.append(("preactivation_update", key, change))
        if use.kind == "mlp_up":
            down = next(u for u in inference.uses if u.tensor == use.tensor.replace(".up", ".down"))
            out.append(("feature_update", key, _rms(now.inputs(down.owner) - first.inputs(down.owner))))
        else:
            out.append(("feature_update", key, change))
        if use.kind in ("embedding", "position"):
            out.append(("effective_update", key, change))
        else:
            p_t = m * plain_use(use.param, modules[use.owner], _weight_rows(initial[use.param], use), x)
            products[use.tensor] = p_t
            out.append(("effective_update", key, _rms(h_t - p_t)))
            out.append(("propagating_update", key, _rms(p_t - h_0)))
        w_t = _weight_rows(params[use.param].detach(), use)
        out.append(("weight_update", key, _rms(w_t - _weight_rows(initial[use.param], use))))
    out += _reported(inference, first, now, products, step)
    return out


def _weight_gradient(use: Use, dh: torch.Tensor, x: torch.Tensor, m: float, rows: int) -> float:
    """RMS over probe tokens and entries of the per-token gradient (as ``verify.model.gpt_measure``)."""
    ms_dh = dh.double().pow(2).mean(-1)
    if use.kind == "gain":
        return abs(m) * float((dh.double() * x.double()).pow(2).mean().sqrt())
    if use.kind in ("embedding", "position"):
        return abs(m) * float((ms_dh / rows).mean().sqrt())
    return abs(m) * float((ms_dh * x.double().pow(2).mean(-1)).mean().sqrt())


def _reported(inference: Inference, first: Probe, now: Probe, products: dict[str, torch.Tensor],
              step: int) -> list[tuple[str, int, float]]:
    """The embedding sum, residual streams, attention logits (with own and carried parts) and logits."""
    assert inference.param.network is not None
    blocks = inference.param.network.blocks
    streams = {"embed": inference.norms[0]}
    for b in range(blocks):
        streams[f"h{b}.resid.attn"] = inference.norms[2 * b + 1]
        streams[f"h{b}.resid.mlp"] = inference.norms[2 * b + 2]
    values: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
        name: (now.inputs(norm), first.inputs(norm)) for name, norm in streams.items()}
    for b in range(blocks):
        values[f"h{b}.attn.scores"] = (_scores(now.seen.attention[b]).detach(),
                                       _scores(first.seen.attention[b]).detach())
    values["logits"] = (now.logits, first.logits)
    out = []
    for name, (v_t, v_0) in values.items():
        if step == 0:
            out.append((f"{name}/init", 0, _rms(v_0)))
            continue
        out.append((f"{name}/change", 0, _rms(v_t - v_0)))
        if name.endswith(".attn.scores"):
            b = int(name[1:].split(".")[0])
            carried = _scores(now.seen.attention[b], products[f"h{b}.attn.q"], products[f"h{b}.attn.k"])
            out.append((f"{name}/own", 0, _rms(v_t - carried)))
            out.append((f"{name}/carried", 0, _rms(carried - v_0)))
    return out


def train_module(factory: Factory, inference: Inference, widths: Sequence[int], seeds: Sequence[int],
                 settings: TrainSettings, *, optimizer: str | None = None, lr: float | None = None) -> Measured:
    """Train one model per (width, seed) for ``settings.steps`` updates and record every quantity."""
    data = load_for(settings, "ce")
    if data.input_dim > inference.vocab or data.train_x.shape[1] > inference.block_size:
        raise InputError(f"--module: the model's vocabulary {inference.vocab} and block size "
                         f"{inference.block_size} must hold the text's {data.input_dim} characters and "
                         f"{data.train_x.shape[1]} positions")
    records: list[Record] = []
    diverged: dict[tuple[int, int], int] = {}
    for width in widths:
        for seed in seeds:
            built = build(factory, width, optimizer=optimizer, lr=lr, seed=1000 * seed + width)
            rows, step = _train_one(built.model, built.optimizer, inference, width, seed, settings, data)
            records += rows
            if step is not None:
                diverged[(width, seed)] = step
    return Measured(records, diverged)


def _train_one(model: torch.nn.Module, opt: torch.optim.Optimizer, inference: Inference, width: int, seed: int,
               settings: TrainSettings, data: Dataset) -> tuple[list[Record], int | None]:
    multipliers: dict[str, float] = {}
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    tokens, targets = data.probe_x, data.probe_y
    first: Probe | None = None
    records: list[Record] = []
    for step in range(settings.steps + 1):
        if step > 0:
            x, y = data.batch(step, settings.batch_size)
            opt.zero_grad()
            F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
            opt.step()
        now = Probe(model, inference, tokens, targets)
        if first is None:
            first = now
            params = dict(model.named_parameters())
            modules = dict(model.named_modules())
            multipliers = {u.tensor: multiplier(u.param, modules[u.owner], params[u.param].detach(), now.seen, u.owner)
                           for u in inference.uses}
        values = quantities(inference, model, initial, first, now, multipliers, step)
        finite = all(math.isfinite(v) for _, _, v in values)
        records += [(width, seed, step, q, layer, v if finite else None) for q, layer, v in values]
        if not finite:
            return records, step
    return records, None
