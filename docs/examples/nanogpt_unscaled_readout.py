"""A deliberately broken muP GPT: the readout keeps the fan-in init std 1/sqrt(n) instead of muP's 1/n.

Everything else is ``nanogpt_mup``'s (``verify --module`` must name ``lm_head.weight`` and the two exponents).
"""

from __future__ import annotations

import math

import torch
from nanogpt_mup import GPT, optimizer
from torch import nn


def build(width: int) -> tuple[GPT, torch.optim.Optimizer]:
    """``nanogpt_mup.build`` with the readout re-initialised at std 1/sqrt(width)."""
    model = GPT(width)
    nn.init.normal_(model.lm_head.weight, std=1 / math.sqrt(width))  # the bug: SP's readout init
    return model, optimizer(model, width)
