"""The GPT of ``theory.transformer`` in torch: one abc-to-torch mapping, and S seeds evaluated together.

Tensor t of the Parametrization at width n = d_model (ratio r = n / n0, n0 the base width) is used as
``r^{-a_t} w_t`` and trains with learning rate ``eta0 r^{X - c_t}``, Adam epsilon ``eps0 r^{-e_t}`` (e_t its
``eps_exponent``, else the optimizer's; None: eps0) and, under AdamW, decoupled weight decay
``lambda0 r^{-wd_t}`` (no decay where ``wd_exponent`` is None).  Its initial entries are, at n = n0, the
plain model's and scale like r^{-b_t} (exactly 0 for a zero-initialised tensor):

* token and position embeddings (``wte`` (V, n), ``wpe`` (T, n)): N(0, 1), as ``torch.nn.Embedding``;
* projections (Q, K, V, O (n, n), MLP up (4n, n), down (n, 4n)) and the readout ``lm_head`` (V, n): fan-in
  init N(0, 1 / fan_in) with the base width's fan-in (n0, or 4 n0 for down), as the MLP of ``verify.model.mlp``
  uses the base width;
* norm gains (n,): the constant r^{-b_t} (1 at the base width).

So at n = n0 every multiplier is 1 and the model is a plain pre-LN GPT (no biases, nanoGPT's ``bias=False``):
``x <- x + O(attn(N(x)))``, ``x <- x + down(phi(up(N(x))))``, logits from ``N(x)``; N is LayerNorm or RMSNorm
(eps 1e-5) with the gain tensor when the architecture has trainable gains.  A tied readout computes
``r^{-a_wte - m} N(x) wte^T / sqrt(n0)`` (m the architecture's ``readout_multiplier``): the shared tensor has
the embedding's N(0, 1) entries, and the constant 1/sqrt(n0) gives its readout use the untied readout's
fan-in scale at n0 (without it the base model's logits would be sqrt(n0) times larger; no width exponent
changes).

Heads: d_head0 = ``head_dim`` is the head dimension at the base width.  ``fixed-count`` keeps n0 / d_head0
heads at every width (d_head = n / heads grows like n); ``fixed-dim`` keeps d_head = d_head0 (n / d_head0
heads).  The attention logits are ``q.k d_head0^{-1/2} (d_head / d_head0)^{-alpha}``: 1/sqrt(d_head) at the base
width, scaling like d_head^{-alpha}.  Causal attention over a fixed sequence length T.

Every exponent becomes a float here and nowhere else in the GPT path (``verify.model.mlp._number``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from theory.errors import InputError
from theory.parametrization import Parametrization
from theory.transformer import GPT
from verify.model.mlp import TORCH_ACTIVATIONS, _draw_normal, _number, _power, seed_key

NORM_EPS = 1e-5
MLP_RATIO = 4
# d_head at the base width (2 heads at n0 = 64).  With 16 (4 heads), block 0's own attention-logit change measured
# -0.15 over widths 64..512 (8 seeds), at the check's tolerance; with 32, -0.12: its incoherent n^-1/2 part, a
# random sum over d_head, is smaller against the coherent Theta(1) part when d_head is larger.
DEFAULT_HEAD_DIM = 32


@dataclass(frozen=True)
class TensorScale:
    """Concrete numbers of one tensor at one width (what ``LayerScale`` is to an MLP's layer)."""

    name: str
    kind: str  # theory.transformer.KINDS
    index: int  # the Parametrization's layer index (1-based)
    shape: tuple[int, ...]  # one seed's shape
    multiplier: float
    init_std: float  # a gain's initial value (every coordinate): r^{-b}
    lr: float
    eps: float
    weight_decay: float = 0.0
    zero_init: bool = False
    readout_multiplier: float = 1.0  # a tied embedding: the extra factor of its readout use, (n/n0)^-m / sqrt(n0)

    def lr_at(self, update: int) -> float:
        """Learning rate of update ``update`` (no warm-up schedules for transformers)."""
        return self.lr


@dataclass(frozen=True)
class Shape:
    """The architecture at one width: heads, head dimension, attention scale, sequence and vocabulary."""

    width: int
    heads: int
    head_dim: int
    scale: float  # of q.k
    seq_len: int
    vocab: int

    @property
    def hidden(self) -> int:
        return MLP_RATIO * self.width


def gpt_shape(arch: GPT, width: int, *, base_width: int, head_dim: int, seq_len: int, vocab: int) -> Shape:
    """Heads and attention scale of ``arch`` at ``width`` (InputError when the width does not split into heads)."""
    if base_width % head_dim:
        raise InputError(f"--base-width {base_width}: not a multiple of the head dimension {head_dim}")
    if arch.heads == "fixed-count":
        heads = base_width // head_dim
        if width % heads:
            raise InputError(f"width {width}: {arch.heads} heads need widths that are multiples of {heads} "
                             f"(base width {base_width} / head dimension {head_dim})")
        d_head = width // heads
    else:
        if width % head_dim:
            raise InputError(f"width {width}: {arch.heads} heads need widths that are multiples of the head "
                             f"dimension {head_dim}")
        d_head, heads = head_dim, width // head_dim
    alpha = _number(arch.attention_exponent, "attention_exponent")
    scale = head_dim**-0.5 * (d_head / head_dim) ** -alpha
    return Shape(width, heads, d_head, scale, seq_len, vocab)


def _base_std(kind: str, base_width: int) -> float:
    """Init std of a tensor kind at the base width (before r^{-b})."""
    if kind in ("embedding", "position", "gain"):
        return 1.0
    fan_in = MLP_RATIO * base_width if kind == "mlp_down" else base_width
    return 1.0 / math.sqrt(fan_in)


def _tensor_shape(kind: str, shape: Shape) -> tuple[int, ...]:
    n = shape.width
    return {"embedding": (shape.vocab, n), "position": (shape.seq_len, n), "gain": (n,), "query": (n, n),
            "key": (n, n), "value": (n, n), "attn_out": (n, n), "mlp_up": (shape.hidden, n),
            "mlp_down": (n, shape.hidden), "readout": (shape.vocab, n)}[kind]


def tensor_scales(param: Parametrization, shape: Shape, *, base_width: int, lr: float, eps: float = 1e-8,
                  weight_decay: float = 0.0) -> list[TensorScale]:
    """Per-tensor multiplier, init std, learning rate, epsilon and weight decay of ``param`` at ``shape.width``."""
    arch = param.network
    if not isinstance(arch, GPT):
        raise InputError(f"{param.name or 'this parametrization'}: not a GPT")
    ratio = shape.width / base_width
    x = _number(param.lr_exponent, "lr_exponent")
    kinds = {t.name: t.kind for t in arch.tensors()}
    out = []
    for layer in param.layers:
        kind = kinds[layer.name]
        a, b, c = (_number(getattr(layer, e), f"{layer.name}.{e}") for e in ("a", "b", "c"))
        eps_exp = layer.eps_exponent if layer.eps_exponent is not None else param.optimizer.eps_exponent
        tensor_eps = eps if eps_exp is None else eps * _power(ratio, -_number(eps_exp, f"{layer.name}.eps_exponent"))
        decay = 0.0 if layer.wd_exponent is None else \
            weight_decay * _power(ratio, -_number(layer.wd_exponent, f"{layer.name}.wd_exponent"))
        readout = _power(ratio, -_number(arch.readout_multiplier, "readout_multiplier")) / math.sqrt(base_width) \
            if arch.tied and kind == "embedding" else 1.0
        out.append(TensorScale(name=layer.name, kind=kind, index=layer.index, shape=_tensor_shape(kind, shape),
                               multiplier=_power(ratio, -a), init_std=_base_std(kind, base_width) * _power(ratio, -b),
                               lr=lr * _power(ratio, x - c), eps=tensor_eps, weight_decay=decay,
                               zero_init=layer.zero_init, readout_multiplier=readout))
    for scale in out:
        for what, number in (("multiplier", scale.multiplier), ("init std", scale.init_std),
                             ("learning rate", scale.lr), ("epsilon", scale.eps),
                             ("weight decay", scale.weight_decay), ("readout multiplier", scale.readout_multiplier)):
            if not math.isfinite(number):
                raise InputError(f"{scale.name}: the {what} at width {shape.width} overflows a float (exponents "
                                 "too large for this width)")
    return out


def init_tensors(scales: list[TensorScale], seeds: list[int], width: int,
                 device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Tensors of shape (S, *shape), seed by seed from its own generator (drawn on the CPU, then moved)."""
    tensors = []
    blocks: list[tuple[torch.Tensor, float, int]] = []
    for scale in scales:
        shape = (len(seeds), *scale.shape)
        if scale.zero_init:
            w = torch.zeros(shape)
        elif scale.kind == "gain":
            w = torch.full(shape, scale.init_std)
        else:
            w = torch.empty(shape)
            blocks += [(w[s], scale.init_std, seed_key(seed, width, scale.index)) for s, seed in enumerate(seeds)]
        tensors.append(w)
    _draw_normal(blocks, workers=torch.get_num_threads())
    return [w.to(device) for w in tensors]


@dataclass
class Trace:
    """What a forward pass computed, per tensor use and per reported value (every tensor has a seed dimension).

    ``inputs``/``outputs``: the input a tensor's use reads and its output, keyed by tensor name (a tied
    embedding's readout use under ``READOUT``); embeddings read token ids and positions (no input tensor).
    ``acts``: phi(up) of each MLP.  ``modules``: the values of ``Report.modules`` (attention logits with -inf
    above the causal diagonal, the residual stream after each sub-block, the embedding sum, the logits).
    """

    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    acts: dict[str, torch.Tensor] = field(default_factory=dict)
    modules: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def logits(self) -> torch.Tensor:
        return self.modules["logits"]


READOUT = "wte:readout"


class BatchedGPT:
    """S independent GPTs of one width (tensors (S, *shape)), evaluated together with batched matmuls."""

    def __init__(self, arch: GPT, shape: Shape, scales: list[TensorScale], activation: str,
                 tensors: list[torch.Tensor]) -> None:
        self.arch, self.shape, self.scales = arch, shape, scales
        self.phi = TORCH_ACTIVATIONS[activation]
        self.tensors = tensors
        self.by_name = {s.name: i for i, s in enumerate(scales)}
        self.mask = torch.ones(shape.seq_len, shape.seq_len, dtype=torch.bool).tril()

    def scale(self, name: str) -> TensorScale:
        return self.scales[self.by_name[name]]

    def forward(self, tokens: torch.Tensor, tensors: list[torch.Tensor] | None = None, *,
                leaf_embeddings: bool = False) -> Trace:
        """Every seed on token ids ``tokens`` (R, T).  ``leaf_embeddings``: make the embedding outputs leaves that
        require grad, so autograd reaches every later value without the tensors requiring grad."""
        w = dict(zip(self.by_name, self.tensors if tensors is None else tensors, strict=True))
        arch, trace = self.arch, Trace()
        s_count = next(iter(w.values())).shape[0]
        rows, seq = tokens.shape
        tok = w["wte"][:, tokens] * self.scale("wte").multiplier  # (S, R, T, n)
        pos = (w["wpe"][:, :seq] * self.scale("wpe").multiplier).unsqueeze(1).expand(s_count, rows, seq, -1)
        if leaf_embeddings:
            tok, pos = tok.detach().requires_grad_(True), pos.detach().requires_grad_(True)
        trace.outputs["wte"], trace.outputs["wpe"] = tok, pos
        x = tok + pos
        trace.modules["embed"] = x
        for b in range(arch.blocks):
            if arch.attention:
                y = self._normed(x, f"h{b}.ln_1", w, trace)
                q, k, v = (self._linear(y, f"h{b}.attn.{p}", w, trace) for p in "qkv")
                scores, mixed = self._attention(q, k, v)
                trace.modules[f"h{b}.attn.scores"] = scores
                o = self._linear(mixed, f"h{b}.attn.o", w, trace)
                x = x + o
                trace.modules[f"h{b}.resid.attn"] = x
            if arch.mlp:
                y = self._normed(x, f"h{b}.ln_2", w, trace)
                up = self._linear(y, f"h{b}.mlp.up", w, trace)
                hidden = self.phi(up)
                trace.acts[f"h{b}.mlp.up"] = hidden
                down = self._linear(hidden, f"h{b}.mlp.down", w, trace)
                x = x + down
                trace.modules[f"h{b}.resid.mlp"] = x
        y = self._normed(x, "ln_f", w, trace)
        if arch.tied:
            scale = self.scale("wte")
            trace.inputs[READOUT] = y
            logits = torch.matmul(y.flatten(1, 2), w["wte"].transpose(1, 2)).view(s_count, rows, seq, -1)
            logits = logits * (scale.multiplier * scale.readout_multiplier)
            trace.outputs[READOUT] = logits
        else:
            logits = self._linear(y, "lm_head", w, trace)
        trace.modules["logits"] = logits
        return trace

    def _linear(self, x: torch.Tensor, name: str, w: dict[str, torch.Tensor], trace: Trace) -> torch.Tensor:
        s_count, rows, seq, _ = x.shape
        h = torch.matmul(x.flatten(1, 2), w[name].transpose(1, 2)).view(s_count, rows, seq, -1)
        multiplier = self.scale(name).multiplier
        h = h * multiplier if multiplier != 1.0 else h
        trace.inputs[name], trace.outputs[name] = x, h
        return h

    def _normed(self, x: torch.Tensor, name: str, w: dict[str, torch.Tensor], trace: Trace) -> torch.Tensor:
        norm = self.arch.norm
        if norm == "none":
            return x
        width = (x.shape[-1],)
        y = torch.nn.functional.layer_norm(x, width, eps=NORM_EPS) if norm == "layernorm" else \
            torch.nn.functional.rms_norm(x, width, eps=NORM_EPS)
        if name not in self.by_name:  # fixed gains (elementwise_affine=False)
            return y
        out = y * (w[name] * self.scale(name).multiplier)[:, None, None, :]
        trace.inputs[name], trace.outputs[name] = y, out
        return out

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """(S, R, T, n) -> (S, R, H, T, d_head)."""
        s_count, rows, seq, _ = t.shape
        return t.view(s_count, rows, seq, self.shape.heads, self.shape.head_dim).transpose(2, 3)

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Attention logits q.k * scale of every head (S, R, H, T, T), -inf above the causal diagonal."""
        seq = q.shape[2]
        scores = torch.matmul(self._heads(q), self._heads(k).transpose(-1, -2)) * self.shape.scale
        return scores.masked_fill(~self.mask[:seq, :seq].to(scores.device), float("-inf"))

    def _attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Causal attention of every head: the logits and the mixed values (S, R, T, n)."""
        scores = self.scores(q, k)
        mixed = torch.matmul(torch.softmax(scores, dim=-1), self._heads(v))
        return scores, mixed.transpose(2, 3).reshape(q.shape)
