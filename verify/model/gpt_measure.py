"""The quantities of ``abcscale derive`` for a GPT, measured per seed on a fixed probe batch of sequences.

Per tensor (the Parametrization's layer index; RMS per coordinate over the probe tokens, as
``verify.model.measure`` does for an MLP), with h the output of the tensor's first use (a tied embedding's
quantities are those of its embedding use, as the engine's report), x its input and W = multiplier * w:

* init_preactivation   RMS of h_0
* preactivation_update RMS of h_t - h_0
* feature_update       RMS of phi(h_t) - phi(h_0) for an MLP's up projection (the activation follows it), else
                       of h_t - h_0 (at the readout the logit change), as the engine reads it
* effective_update     RMS of (W_t - W_0) x_t, computed as h_t - W_0 x_t (a gain: (gamma_t - gamma_0) * y_t, no sum)
* propagating_update   RMS of W_0 (x_t - x_0) = W_0 x_t - h_0 (not for embeddings: their input is fixed)
* backward_gradient    RMS of d loss / d h
* weight_gradient      RMS of the per-token gradient multiplier * dh_p (x) x_p over tokens p (one-hot x for the
                       embeddings; dh_p * y_p for a gain; a tied embedding adds its readout use's term), the
                       MLP's per-example gradient with the token as the example
* weight_update        RMS of w_t - w_0 over every entry of the tensor

and per reported value of ``Report.modules`` (the embedding sum, each block's attention logits and residual
stream after each sub-block, the logits) its ``init`` RMS at step 0 and its ``change`` RMS v_t - v_0 from step
1 on; attention logits over the causal (unmasked) entries only, and their change also in its two parts, as a
linear map's in effective and propagating updates: ``carried`` = P_t - s_0 and ``own`` = s_t - P_t, where P_t
are the logits of the initial query and key weights applied to the current inputs (scale * (W_Q0 y_t).(W_K0 y_t)).
Stored under the quantity "NAME/KIND" with layer 0 (``module_key``).

One forward/backward per step serves the measurements and the next update, as for the MLP: its rows are the
probe sequences and then the training batch (sequences do not interact), and the weight gradients of the
update are contracted by hand from the training rows' d loss / d h and inputs (autograd only differentiates the
loss with respect to the outputs of the tensors).  W_0 x_t uses a copy of the initial tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from verify.model.gpt import READOUT, BatchedGPT, TensorScale, Trace
from verify.model.measure import rms

Values = dict[tuple[str, int], torch.Tensor]


def module_key(name: str, kind: str) -> tuple[str, int]:
    """The (quantity, layer) a reported value is stored under: ("h0.attn.scores/change", 0)."""
    return (f"{name}/{kind}", 0)


def forward_backward(model: BatchedGPT, tokens: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor]
                     ) -> tuple[Trace, dict[str, torch.Tensor]]:
    """A forward of ``tokens`` (R, T) with d loss / d output of every tensor use (all detached)."""
    with torch.enable_grad():
        trace = model.forward(tokens, leaf_embeddings=True)
        names = list(trace.outputs)
        grads = torch.autograd.grad(loss_of(trace.logits), [trace.outputs[n] for n in names], allow_unused=True,
                                    materialize_grads=True)
    detached = Trace(*({k: v.detach() for k, v in part.items()}
                       for part in (trace.inputs, trace.outputs, trace.acts, trace.modules)))
    return detached, dict(zip(names, grads, strict=True))


def probe_rows(trace: Trace, rows: int) -> Trace:
    """The first ``rows`` rows of every value (the probe batch)."""
    return Trace(*({k: v[:, :rows] for k, v in part.items()}
                   for part in (trace.inputs, trace.outputs, trace.acts, trace.modules)))


def _masked(scores: torch.Tensor) -> torch.Tensor:
    """The causal entries of attention logits (S, R, H, T, T) -> (S, R, H, entries)."""
    seq = scores.shape[-1]
    mask = torch.ones(seq, seq, dtype=torch.bool, device=scores.device).tril()
    return scores[..., mask]


def _module_values(name: str, value: torch.Tensor) -> torch.Tensor:
    return _masked(value) if name.endswith(".scores") else value


@torch.no_grad()
def quantities(model: BatchedGPT, tensors: list[torch.Tensor], initial: list[torch.Tensor], init: Trace,
               now: Trace, grads: dict[str, torch.Tensor], tokens: torch.Tensor, rows: int, step: int) -> Values:
    """Every quantity at ``step``: ``init`` is the probe trace at step 0, ``now`` this step's trace (probe rows
    first, ``rows`` of them), ``grads`` its d loss / d output, ``tokens`` the probe's ids, ``initial`` the
    tensors at step 0."""
    out: Values = {}
    initial_products: dict[str, torch.Tensor] = {}  # multiplier * W_0 x_t of each linear map
    probe = probe_rows(now, rows)
    for scale, w_t, w_0 in zip(model.scales, tensors, initial, strict=True):
        name, key = scale.name, scale.index
        dh = grads[name][:, :rows]
        out[("backward_gradient", key)] = rms(dh)
        out[("weight_gradient", key)] = _per_token_gradient(scale, probe, grads, tokens, rows, model.shape.seq_len)
        h_t, h_0 = probe.outputs[name], init.outputs[name]
        if step == 0:
            out[("init_preactivation", key)] = rms(h_0)
            continue
        out[("preactivation_update", key)] = rms(h_t - h_0)
        acts = probe.acts.get(name)
        out[("feature_update", key)] = rms(acts - init.acts[name]) if acts is not None else \
            out[("preactivation_update", key)]
        if scale.kind in ("embedding", "position"):  # W_0 x_t = h_0: the input (token ids, positions) is fixed
            out[("effective_update", key)] = out[("preactivation_update", key)]
        else:
            p_t = _initial_product(scale, w_0, probe.inputs[name])
            initial_products[name] = p_t
            out[("effective_update", key)] = rms(h_t - p_t)
            out[("propagating_update", key)] = rms(p_t - h_0)
        out[("weight_update", key)] = rms(w_t - w_0)
    for name, value in probe.modules.items():
        if step == 0:
            out[module_key(name, "init")] = rms(_module_values(name, value))
            continue
        out[module_key(name, "change")] = rms(_module_values(name, value - init.modules[name]))
        if name.endswith(".attn.scores"):  # s_t - s_0 = (s_t - P) + (P - s_0), P the initial Q, K on today's inputs
            block = name.removesuffix(".scores")
            carried = model.scores(initial_products[f"{block}.q"], initial_products[f"{block}.k"])
            out[module_key(name, "own")] = rms(_masked(value - carried))
            out[module_key(name, "carried")] = rms(_masked(carried - init.modules[name]))
    return out


def _initial_product(scale: TensorScale, w_0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """multiplier * W_0 applied to the current input ``x`` (a gain: elementwise)."""
    if scale.kind == "gain":
        return x * (w_0 * scale.multiplier)[:, None, None, :]
    s_count, rows, seq, _ = x.shape
    return torch.matmul(x.flatten(1, 2), w_0.transpose(1, 2)).view(s_count, rows, seq, -1) * scale.multiplier


def _mean_square(t: torch.Tensor) -> torch.Tensor:
    """Mean square over the last axis (S, R, T): float32 sums of squares, as ``rms`` takes them, then float64."""
    return torch.linalg.vector_norm(t, dim=-1).double().pow(2).div_(t.shape[-1])


def _per_token_gradient(scale: TensorScale, probe: Trace, grads: dict[str, torch.Tensor], tokens: torch.Tensor,
                        rows: int, seq_len: int) -> torch.Tensor:
    """RMS over probe tokens p and the tensor's entries of the gradient of token p's loss term, (S,)."""
    name = scale.name
    dh = grads[name][:, :rows]
    m = scale.multiplier
    if scale.kind == "gain":
        squares = _mean_square(dh * probe.inputs[name])  # (S, R, T)
    elif scale.kind in ("embedding", "position"):
        fan_in = scale.shape[0]  # one-hot over the vocabulary (positions)
        squares = _mean_square(dh) / fan_in
        if name == "wte" and READOUT in grads:  # tied: the readout use's term on the same token
            squares = _tied_squares(scale, probe, grads, tokens, rows)
            m = 1.0
    else:
        squares = _mean_square(dh) * _mean_square(probe.inputs[name])
    return abs(m) * squares.mean(dim=(1, 2)).sqrt()


def _tied_squares(scale: TensorScale, probe: Trace, grads: dict[str, torch.Tensor], tokens: torch.Tensor,
                  rows: int) -> torch.Tensor:
    """Mean square entry of m dh_p (x) e_tok + m_r dl_p (x) y_p per token, (S, R, T): the two uses' outer products
    and their overlap on the token's row of the shared (V, n) tensor."""
    m, m_r = scale.multiplier, scale.multiplier * scale.readout_multiplier
    dh = grads["wte"][:, :rows].double()
    dl = grads[READOUT][:, :rows].double()
    y = probe.inputs[READOUT].double()
    vocab, width = scale.shape
    on_token = dl.gather(-1, tokens.expand(dl.shape[0], -1, -1).unsqueeze(-1)).squeeze(-1)
    total = (m**2 * dh.pow(2).sum(-1) + m_r**2 * dl.pow(2).sum(-1) * y.pow(2).sum(-1)
             + 2 * m * m_r * on_token * (dh * y).sum(-1))
    return total / (vocab * width)


@torch.no_grad()
def weight_gradients(model: BatchedGPT, trace: Trace, grads: dict[str, torch.Tensor], tokens: torch.Tensor,
                     start: int) -> list[torch.Tensor]:
    """d (sum over seeds of the training rows' mean loss) / d w for every tensor, from rows ``start:`` of a pass
    (``tokens`` the ids of every row of it)."""
    out = []
    for scale in model.scales:
        name, m = scale.name, scale.multiplier
        dh = grads[name][:, start:]
        s_count = dh.shape[0]
        if scale.kind == "embedding":
            g = torch.zeros((s_count, *scale.shape), dtype=dh.dtype, device=dh.device)
            g.index_add_(1, tokens[start:].flatten(), dh.flatten(1, 2))
            g.mul_(m)
            if READOUT in grads:
                dl, y = grads[READOUT][:, start:].flatten(1, 2), trace.inputs[READOUT][:, start:].flatten(1, 2)
                g.add_(torch.matmul(dl.transpose(1, 2), y), alpha=m * scale.readout_multiplier)
        elif scale.kind == "position":
            g = torch.zeros((s_count, *scale.shape), dtype=dh.dtype, device=dh.device)
            g[:, :dh.shape[2]] = dh.sum(dim=1) * m
        elif scale.kind == "gain":
            g = (dh * trace.inputs[name][:, start:]).sum(dim=(1, 2)) * m
        else:
            g = torch.matmul(dh.flatten(1, 2).transpose(1, 2), trace.inputs[name][:, start:].flatten(1, 2)) * m
        out.append(g)
    return out
