"""A deliberately broken muP GPT: the hidden matrices' Adam learning rate is not scaled with the width.

Everything else is ``nanogpt_mup``'s: the readout keeps muP's LR * 64 / width, the embeddings and gains LR.
``verify --module`` must name the hidden matrices and their LR exponents.
"""

from __future__ import annotations

import torch
from nanogpt_mup import BASE_WIDTH, GPT, LR


def build(width: int) -> tuple[GPT, torch.optim.Optimizer]:
    """``nanogpt_mup.build`` with one LR for every matrix inside the blocks (the bug)."""
    model = GPT(width)
    readout = [model.lm_head.weight]
    ids = {id(p) for p in readout}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return model, torch.optim.Adam([{"params": rest, "lr": LR}, {"params": readout, "lr": LR * BASE_WIDTH / width}])
