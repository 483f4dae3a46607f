"""A nanoGPT-style GPT in plain torch, parametrized by muP for Adam: a user's model as written.

No abcscale import: ``abcscale verify --module docs/examples/nanogpt_mup.py:build`` builds it at several
widths, reads each parameter's initial scale and learning rate from what ``build`` returns, and checks it.

``build(width)`` returns the model and its optimizer.  The model maps token ids (B, T) to logits (B, T, V):
pre-LayerNorm blocks without biases (nanoGPT's ``bias=False``), a fused query-key-value projection, causal
attention through ``F.scaled_dot_product_attention`` and an untied readout.  At the base width 64 it is a
plain GPT (fan-in initialisation, one Adam learning rate); muP (Yang et al. 2022, Table 3, Adam) changes,
as the width n grows with a fixed number of heads:

* hidden matrices: initial std 1/sqrt(fan_in) (as at the base width), Adam LR scaled by 64/n;
* the readout ``lm_head``: initial std (1/sqrt(64)) (64/n), shrinking like 1/n, and Adam LR scaled by 64/n;
* attention logits q.k / d_head (times sqrt(d_head) at the base width, so that 1/sqrt(d_head) holds there);
* embeddings and LayerNorm gains: unchanged (initial N(0, 1) and 1, LR 1e-3).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

BASE_WIDTH = 64
HEADS = 2  # fixed head count: d_head = width / 2
LAYERS = 2
VOCAB_SIZE = 97  # newline, printable ASCII and one id for every other character
BLOCK_SIZE = 32
LR = 1e-3


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.heads = HEADS
        self.c_attn = nn.Linear(width, 3 * width, bias=False)
        self.c_proj = nn.Linear(width, width, bias=False)
        base_head_dim = BASE_WIDTH // HEADS
        self.scale = math.sqrt(base_head_dim) / (width // HEADS)  # muP: 1/d_head, 1/sqrt(d_head) at the base width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        q, k, v = (t.view(batch, seq, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.c_proj(y.transpose(1, 2).contiguous().view(batch, seq, width))


class MLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width, bias=False)
        self.c_proj = nn.Linear(4 * width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, bias=False)
        self.attn = CausalSelfAttention(width)
        self.ln_2 = nn.LayerNorm(width, bias=False)
        self.mlp = MLP(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, width: int, vocab_size: int = VOCAB_SIZE, block_size: int = BLOCK_SIZE,
                 layers: int = LAYERS) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, width)
        self.wpe = nn.Embedding(block_size, width)
        self.h = nn.ModuleList(Block(width) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width, bias=False)
        self.lm_head = nn.Linear(width, vocab_size, bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 2 and not name.startswith(("wte", "wpe")):
                nn.init.normal_(p, std=1 / math.sqrt(p.shape[1]))  # fan-in
        nn.init.normal_(self.lm_head.weight, std=(1 / math.sqrt(BASE_WIDTH)) * (BASE_WIDTH / width))  # muP readout

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def optimizer(model: GPT, width: int) -> torch.optim.Optimizer:
    """Adam with muP's learning rates: matrices whose fan-in grows with the width train at LR * 64 / width."""
    scaled = [p for name, p in model.named_parameters() if p.dim() == 2 and not name.startswith(("wte", "wpe"))]
    ids = {id(p) for p in scaled}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.Adam([{"params": rest, "lr": LR}, {"params": scaled, "lr": LR * BASE_WIDTH / width}])


def build(width: int) -> tuple[GPT, torch.optim.Optimizer]:
    """The model at ``width`` (a multiple of the head count) and its optimizer."""
    model = GPT(width)
    return model, optimizer(model, width)
