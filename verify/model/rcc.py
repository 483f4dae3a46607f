"""A refined coordinate check (RCC) for any ``torch.nn.Module``, measured on a fixed probe batch.

The batched trainers (``verify.model.measure`` for an MLP, ``verify.model.gpt_measure`` for the built-in GPT)
know their models' layers; this module measures the same quantities on a model it knows nothing about, so
that a user's own model can be checked as written.  Names are the engine's (``theory.quantities``); every
value is an RMS per coordinate (``verify.model.measure.rms``: ||v||_2 / sqrt(entries)) over the probe batch.

Per *unit*, a submodule that owns parameters directly (``nn.Linear``, ``nn.Embedding``, ``nn.LayerNorm`` or
any user module with its own ``nn.Parameter``), with x_t its current input captured by a forward hook, h_t
its output and theta_0 its own parameters at initialisation (keyed by module name):

* init_preactivation   RMS of h_0 (step 0)
* preactivation_update RMS of h_t - h_0
* effective_update     RMS of f(x_t; theta_t) - f(x_t; theta_0), the refined coordinate check's (W_t - W_0) x_t
* propagating_update   RMS of f(x_t; theta_0) - f(x_0; theta_0), its W_0 (x_t - x_0); not for an
                       ``nn.Embedding`` (its input, token ids, is fixed: effective = preactivation update)
* backward_gradient    RMS of d loss / d h (the probe loss)

f(x_t; theta_0) evaluates the unit on its current inputs (positional and keyword) with its own parameters
swapped for their initial copies by ``torch.func.functional_call`` (its children keep their current
parameters: each unit is judged on its own weights, as a layer of an MLP).  A tuple or other nested output
counts as the concatenation of its floating-point tensors.

Per parameter (``named_parameters`` names, shared tensors once under their first name):

* weight_update        RMS of w_t - w_0
* weight_gradient      RMS of the per-token gradient over probe tokens p and the tensor's entries, as the
                       engine's MLP and GPT measure it: dh_p (x) x_p for an ``nn.Linear`` weight, dh_p for its
                       bias, dh_p (x) e_token for an ``nn.Embedding`` and dh_p * y_p (y the normalised input)
                       for an ``nn.LayerNorm`` gain.  For any other parameter, or one used by more than one
                       call (tied or shared weights), per-token gradients are not available from a generic
                       forward: it is the RMS of the probe loss's gradient d loss / d w (autograd, every use
                       summed).

Model-level values, stored as quantity "init" (step 0) or "change" (RMS of v_t - v_0, from step 1) under a
name: "logits" (the model's output) and, when the model calls ``F.scaled_dot_product_attention``, each call's
attention logits under "<module>.scores" (the innermost module running the call; scale * q k^T over the
causal entries when the call is causal, over the allowed entries of a boolean ``attn_mask``, every entry
otherwise; the default scale is 1/sqrt(d_head)).  The output logits are the model's output, or the first
floating-point tensor of a tuple or dict it returns (``loss_fn`` gets the output as returned).  The
call is captured by patching ``torch.nn.functional.scaled_dot_product_attention`` while the check's own
forward runs (a model that imported the function by name before is not seen).

The model itself, when it owns parameters directly, is the unit "[model]".  A module called more than once
per forward (a block applied twice) is measured per call: the first call
under its name, the k-th under "<name>#k".  The probe batch is fixed, so the calls line up step after step.

Use in a training loop (a few probe-sized forwards per measured step; the training itself is untouched)::

    check = RefinedCoordinateCheck(model, probe_args=(tokens,))   # at initialisation: snapshots theta_0
    for step in range(steps + 1):
        values = check.measure(lambda out: loss_fn(out, targets), step=step)
        ...  # values[("effective_update", "h.0.attn.c_attn")] is a float
        optimizer.step() ...

The check works in the parameters' dtype (float32 or float64); it does not depend on a Parametrization.
It calls the model as it is: a model with dropout should be measured in ``eval()`` mode (two forwards of the
same probe must agree for the updates to mean anything).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from verify.model.measure import rms

Values = dict[tuple[str, str], float]
ROOT = "[model]"  # the name of the model itself when it owns parameters directly or calls attention itself
LossFn = Callable[[Any], torch.Tensor]


def rms_value(t: torch.Tensor) -> float:
    """RMS per coordinate of one tensor as ``verify.model.measure.rms`` takes it (features along the last axis)."""
    t = t.detach()
    while t.dim() < 2:
        t = t.unsqueeze(0)
    return float(rms(t.unsqueeze(0))[0])


def _tensors(value: Any) -> list[torch.Tensor]:
    """The floating-point tensors of a (possibly nested) module output."""
    leaves, _ = tree_flatten(value)
    return [t for t in leaves if isinstance(t, torch.Tensor) and t.is_floating_point()]


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """One tensor for RMS: the tensor itself, or the concatenation of several (as a single row)."""
    if len(tensors) == 1:
        return tensors[0]
    return torch.cat([t.reshape(-1) for t in tensors])


def _detached(value: Any) -> Any:
    """A copy of a call's inputs, cut from the graph (later in-place changes of the model do not reach it)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_detached(v) for v in value)
    if isinstance(value, list):
        return [_detached(v) for v in value]
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


@dataclass
class Call:
    """One call of a unit during a forward: its inputs (detached) and outputs (attached to the graph)."""

    name: str  # the unit's name, "#k" appended for its k-th call (k >= 2)
    module: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: list[torch.Tensor]


@dataclass
class Trace:
    """What one forward of the probe batch recorded."""

    calls: dict[str, Call] = field(default_factory=dict)
    scores: dict[str, torch.Tensor] = field(default_factory=dict)  # attention logits over the counted entries
    output: Any = None  # what the model returned

    @property
    def logits(self) -> torch.Tensor:
        """The model's output logits: its output, or the first floating-point tensor of a tuple or dict."""
        tensors = _tensors(self.output)
        if not tensors:
            raise ValueError("refined coordinate check: the model's output holds no floating-point tensor")
        return tensors[0].detach()


def _causal_entries(scores: torch.Tensor) -> torch.Tensor:
    """The causal (unmasked) entries of attention logits (..., T, S), aligned at the top left as SDPA's mask."""
    t, s = scores.shape[-2:]
    mask = torch.ones(t, s, dtype=torch.bool, device=scores.device).tril()
    return scores[..., mask]


class RefinedCoordinateCheck:
    """Refined coordinate check of ``model`` on a fixed probe batch (see the module docstring).

    Create it at initialisation (it copies every unit's parameters as theta_0 and records the probe forward
    at step 0); call ``measure`` at each step to be measured.
    """

    def __init__(self, model: nn.Module, probe_args: tuple[Any, ...] = (),
                 probe_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
        self.probe_args = probe_args
        self.probe_kwargs = dict(probe_kwargs or {})
        self._names = {m: name or ROOT for name, m in model.named_modules()}
        self.units: dict[nn.Module, str] = {m: self._names[m] for m in self._names
                                            if any(True for _ in m.parameters(recurse=False))}
        self.initial_parameters = {name: p.detach().clone() for name, p in model.named_parameters()}
        by_id = {id(p): self.initial_parameters[name] for name, p in model.named_parameters()}  # one copy each
        self.initial: dict[str, dict[str, torch.Tensor]] = {
            name: {p: by_id[id(t)] for p, t in m.named_parameters(recurse=False)} for m, name in self.units.items()}
        self._recording: Trace | None = None
        self._stack: list[str] = []
        self._seen: dict[str, int] = {}
        with torch.no_grad():
            self.init = self._forward()
        self._uses = self._parameter_uses(self.init)
        self.init_outputs = {name: _flat([t.detach() for t in call.outputs]) for name, call in self.init.calls.items()}
        self.init_scores = {name: s.detach() for name, s in self.init.scores.items()}
        self.init_logits = self.init.logits

    # ------------------------------------------------------------------------------------------ recording
    @staticmethod
    def _parameter_uses(trace: Trace) -> dict[int, int]:
        """How many calls of units use each parameter (by id) in one probe forward: tied/shared weights."""
        uses: dict[int, int] = {}
        for call in trace.calls.values():
            for p in call.module.parameters(recurse=False):
                uses[id(p)] = uses.get(id(p), 0) + 1
        return uses

    def _forward(self) -> Trace:
        """One forward of the probe batch recording every unit call, attention logits and the output."""
        trace = Trace()
        self._recording, self._seen = trace, {}
        handles = []
        for m in self.model.modules():
            handles.append(m.register_forward_pre_hook(self._enter, with_kwargs=True))
            handles.append(m.register_forward_hook(self._leave, with_kwargs=True, always_call=True))
        try:
            with self._attention_logits():
                trace.output = self.model(*self.probe_args, **self.probe_kwargs)
        finally:
            for h in handles:
                h.remove()
            self._recording, self._stack = None, []
        return trace

    def _enter(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        trace = self._recording
        if trace is None:
            return
        name = self._names[module]
        count = self._seen.get(name, 0) + 1
        self._seen[name] = count
        call_name = name if count == 1 else f"{name}#{count}"
        self._stack.append(call_name)
        if module in self.units:
            trace.calls[call_name] = Call(call_name, module, _detached(args), _detached(kwargs), [])

    def _leave(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        trace = self._recording
        if trace is None or not self._stack:
            return
        call_name = self._stack.pop()
        if module in self.units and call_name in trace.calls:
            outputs = _tensors(output)
            if outputs:
                trace.calls[call_name].outputs = outputs
            else:  # nothing to measure (an output without floating-point tensors)
                del trace.calls[call_name]

    @contextlib.contextmanager
    def _attention_logits(self) -> Iterator[None]:
        """Patch ``F.scaled_dot_product_attention`` so that each call records scale * q k^T."""
        original = nn.functional.scaled_dot_product_attention
        counts: dict[str, int] = {}

        def recording(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: Any, **kwargs: Any
                      ) -> torch.Tensor:
            trace = self._recording
            if trace is not None:
                owner = self._stack[-1] if self._stack else ROOT
                counts[owner] = counts.get(owner, 0) + 1
                name = f"{owner}.scores" if counts[owner] == 1 else f"{owner}.scores#{counts[owner]}"
                positional = dict(zip(("attn_mask", "dropout_p", "is_causal"), args, strict=False))
                options = {**positional, **kwargs}
                scale = options.get("scale")
                if scale is None:
                    scale = 1 / math.sqrt(query.shape[-1])
                mask = options.get("attn_mask")
                with torch.no_grad():
                    k = key.detach()
                    if k.shape[-3] != query.shape[-3]:  # grouped-query attention: repeat the key heads
                        k = k.repeat_interleave(query.shape[-3] // k.shape[-3], dim=-3)
                    s = torch.matmul(query.detach(), k.transpose(-2, -1)) * scale
                    if options.get("is_causal", False):
                        s = _causal_entries(s)
                    elif isinstance(mask, torch.Tensor) and mask.dtype == torch.bool:
                        s = s[mask.expand(s.shape)]
                    trace.scores[name] = s
            return original(query, key, value, *args, **kwargs)

        nn.functional.scaled_dot_product_attention = recording
        try:
            yield
        finally:
            nn.functional.scaled_dot_product_attention = original

    # ------------------------------------------------------------------------------------------ measuring
    def initial_output(self, call: Call) -> torch.Tensor:
        """f(x_t; theta_0): the unit's call evaluated again on its recorded inputs with its initial parameters."""
        with torch.no_grad():
            out = torch.func.functional_call(call.module, self.initial[self.units[call.module]],
                                             call.args, call.kwargs)
        return _flat(_tensors(out))

    def measure(self, loss_fn: LossFn, step: int) -> Values:
        """Every quantity at ``step`` (0: initialisation) as {(quantity, name): value}.

        ``loss_fn`` maps the model's output on the probe batch to a scalar loss; it is differentiated with
        respect to every unit's output and parameters (the model's ``.grad`` fields are left alone).
        """
        params = dict(self.model.named_parameters())
        with torch.enable_grad():
            trace = self._forward()
            outputs = [(name, t) for name, call in trace.calls.items() for t in call.outputs if t.requires_grad]
            trainable = [(name, p) for name, p in params.items() if p.requires_grad]
            grads = torch.autograd.grad(loss_fn(trace.output), [t for _, t in outputs] +
                                        [p for _, p in trainable], allow_unused=True, materialize_grads=True)
        out_grads: dict[str, list[torch.Tensor]] = {}
        for (name, _), g in zip(outputs, grads[:len(outputs)], strict=True):
            out_grads.setdefault(name, []).append(g)
        param_grads = {name: g for (name, _), g in zip(trainable, grads[len(outputs):], strict=True)}
        with torch.no_grad():
            return self._values(trace, out_grads, param_grads, params, step)

    def _values(self, trace: Trace, out_grads: dict[str, list[torch.Tensor]],
                param_grads: dict[str, torch.Tensor], params: dict[str, nn.Parameter], step: int) -> Values:
        out: Values = {}
        per_token: dict[int, float] = {}
        for name, call in trace.calls.items():
            h_t = _flat([t.detach() for t in call.outputs])
            if name in out_grads:
                dh = _flat(out_grads[name])
                out[("backward_gradient", name)] = rms_value(dh)
                per_token.update(self._per_token_gradients(call, out_grads[name]))
            if step == 0:
                out[("init_preactivation", name)] = rms_value(h_t)
                continue
            h_0 = self.init_outputs.get(name)
            if h_0 is None:
                raise ValueError(f"refined coordinate check: {name} was not called in the probe forward at "
                                 "initialisation (the probe batch must take the same path at every step)")
            out[("preactivation_update", name)] = rms_value(h_t - h_0)
            p_t = self.initial_output(call)
            out[("effective_update", name)] = rms_value(h_t - p_t)
            if not isinstance(call.module, nn.Embedding):
                out[("propagating_update", name)] = rms_value(p_t - h_0)
        for name, p in params.items():
            if name in param_grads:
                g = per_token.get(id(p))
                out[("weight_gradient", name)] = g if g is not None else rms_value(param_grads[name])
            if step > 0:
                out[("weight_update", name)] = rms_value(p.detach() - self.initial_parameters[name])
        logits = trace.logits
        if step == 0:
            out[("init", "logits")] = rms_value(logits)
        else:
            out[("change", "logits")] = rms_value(logits - self.init_logits)
        for name, s in trace.scores.items():
            if step == 0:
                out[("init", name)] = rms_value(s)
            else:
                out[("change", name)] = rms_value(s - self.init_scores[name])
        return out

    def _per_token_gradients(self, call: Call, dh_list: list[torch.Tensor]) -> dict[int, float]:
        """RMS of the per-token gradients of a single-use Linear, Embedding or LayerNorm's parameters (by id)."""
        m = call.module
        if len(dh_list) != 1 or not call.args or not isinstance(call.args[0], torch.Tensor):
            return {}
        dh, x = dh_list[0].detach(), call.args[0]
        out: dict[int, float] = {}

        def single_use(p: torch.Tensor | None) -> bool:
            return p is not None and p.requires_grad and self._uses.get(id(p)) == 1

        def mean_square(t: torch.Tensor) -> torch.Tensor:  # over the last axis, float64, per token
            return torch.linalg.vector_norm(t, dim=-1).double().pow(2).div_(t.shape[-1])

        if isinstance(m, nn.Linear):
            if single_use(m.weight):
                out[id(m.weight)] = float((mean_square(dh) * mean_square(x)).mean().sqrt())
            if single_use(m.bias):
                out[id(m.bias)] = rms_value(dh)
        elif isinstance(m, nn.Embedding) and single_use(m.weight):
            out[id(m.weight)] = float((mean_square(dh) / m.num_embeddings).mean().sqrt())
        elif isinstance(m, nn.LayerNorm) and len(m.normalized_shape) == 1:
            y = nn.functional.layer_norm(x, m.normalized_shape, None, None, m.eps)
            if single_use(m.weight):
                out[id(m.weight)] = rms_value(dh * y)
            if single_use(m.bias):
                out[id(m.bias)] = rms_value(dh)
        return out
