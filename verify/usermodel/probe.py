"""One probe forward of a user's model: every module's (input, output) and every attention call.

``F.scaled_dot_product_attention`` is patched for the duration of the pass (the torch function and the name
in ``torch.nn.functional``), so each call's query, key and scale are seen; modules that compute attention
by hand cannot be read.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F

from theory.errors import InputError


@dataclass
class AttentionCall:
    """One attention call: q and k (B, H, T, d) and the logits' scale (None given: 1/sqrt(d))."""

    q: torch.Tensor
    k: torch.Tensor
    scale: float
    causal: bool


@dataclass
class Seen:
    """What one forward saw: per module name its first input and its output, the attention calls, the logits."""

    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    attention: list[AttentionCall] = field(default_factory=list)
    logits: torch.Tensor | None = None


@contextlib.contextmanager
def recording(model: torch.nn.Module, names: set[str] | None = None) -> Iterator[Seen]:
    """Hooks on the named modules (all, by default) and the attention patch while the block runs."""
    seen = Seen()
    modules = dict(model.named_modules())
    handles = []
    for name, module in modules.items():
        if names is not None and name not in names:
            continue

        def keep(_m: torch.nn.Module, inputs: tuple[Any, ...], output: Any, name: str = name) -> None:
            if inputs and isinstance(output, torch.Tensor):
                seen.inputs[name], seen.outputs[name] = inputs[0], output
        handles.append(module.register_forward_hook(keep))
    real = F.scaled_dot_product_attention

    def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Any = None, dropout_p: float = 0.0,
                  is_causal: bool = False, scale: float | None = None, **kwargs: Any) -> torch.Tensor:
        factor = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        seen.attention.append(AttentionCall(q, k, factor, bool(is_causal)))
        return real(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale, **kwargs)

    try:
        with _patched(attention):
            yield seen
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _patched(function: Any) -> Iterator[None]:
    """``torch.nn.functional.scaled_dot_product_attention`` replaced while the block runs (the name that user
    code calling ``F.scaled_dot_product_attention`` looks up; a name imported on its own before is not seen)."""
    real = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = function
    try:
        yield
    finally:
        F.scaled_dot_product_attention = real


def forward(model: torch.nn.Module, tokens: torch.Tensor, seen: Seen) -> torch.Tensor:
    """The model on token ids (B, T); the logits (B, T, V) (InputError when it raises or returns another shape)."""
    try:
        logits = model(tokens)
    except Exception as err:  # the user's code
        raise InputError(f"--module: the model's forward on token ids {tuple(tokens.shape)} raised "
                         f"{type(err).__name__}: {err}") from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != tokens.shape:
        raise InputError(f"--module: the model must map token ids (B, T) to logits (B, T, V); it returned "
                         f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    seen.logits = logits
    return logits
