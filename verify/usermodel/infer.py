"""Infer a user's GPT's parametrization from the model and optimizer it builds at several widths.

Per parameter (as the user names it): which dimensions grow with the width n -> its role (``input``: fan-in
fixed, fan-out grows, as an embedding (V, n), whose fan-in is the vocabulary; ``hidden``: both grow;
``output``: fan-in grows, fan-out fixed; ``vector``: 1-D and growing); its init exponent b from the RMS of its
entries across widths (std ~ n^-b, the log-log slope rounded to a multiple of 1/4, flagged when more than
``ROUNDING`` away); its multiplier exponent a from the owning module's output against ``F.linear(x, w)`` (an
embedding: ``F.embedding``; a norm gain: the norm times the gain) on the probe (m ~ n^-a); its LR exponent c
from its parameter group's lr (lr ~ n^-c, the engine's lr = eta0 r^(X - c) with X = 0), its Adam epsilon and
weight decay (exponents when they change with the width).

The architecture is mapped onto ``theory.transformer.GPT``: the token and position embeddings (the token one
has the logits' vocabulary), the blocks (the ``nn.ModuleList`` holding the hidden matrices), in each block
the norms, a fused query-key-value matrix (3n, n) or three (n, n) ones, the attention output, MLP up and down,
the final norm and the readout (tied when it is the token embedding's Parameter).  Attention calls
(``F.scaled_dot_product_attention``) give the head convention (heads fixed or d_head fixed) and the
exponent alpha of the logits' scale ~ d_head^-alpha.  Anything else is refused, naming it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
from torch.nn import functional as F

from theory.errors import InputError
from theory.exponents import format_exponent
from theory.parametrization import Optimizer, Parametrization, Role
from theory.transformer import GPT, KINDS, gpt_parametrization
from verify.usermodel.load import Built
from verify.usermodel.probe import Seen, forward, recording

ROUNDING = 0.05  # |slope - nearest multiple of 1/4| above which an inferred exponent is flagged
STEP = Fraction(1, 4)
NORM_TYPES: tuple[type[torch.nn.Module], ...] = (torch.nn.LayerNorm, torch.nn.RMSNorm)
PROBE_ROWS = 2
ACTIVATION_CANDIDATES = {"gelu": (F.gelu, lambda x: F.gelu(x, approximate="tanh")), "relu": (F.relu,),
                         "tanh": (torch.tanh,), "sigmoid": (torch.sigmoid,), "linear": (lambda x: x,)}


@dataclass(frozen=True)
class Inferred:
    """One user parameter: its shape (symbolic in n), role and exponents (None: not changing with n)."""

    name: str
    shape: str
    role: Role
    a: Fraction
    b: Fraction
    c: Fraction
    eps: float | None
    eps_exponent: Fraction | None
    wd: float
    wd_exponent: Fraction | None
    zero_init: bool
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Use:
    """One engine tensor in the user's model: the parameter, its rows (a slice of a fused qkv) and its owner."""

    tensor: str  # the engine's name (h0.attn.q)
    kind: str
    param: str  # the user's name (h.0.attn.c_attn.weight)
    owner: str  # the owning module's name
    part: int | None = None  # q, k, v = 0, 1, 2 of a fused (3n, n) matrix

    @property
    def label(self) -> str:
        return self.param + ("" if self.part is None else f"[{'qkv'[self.part]}]")


@dataclass
class Inference:
    """The inferred parametrization, the per-parameter table and the map from engine tensors to the model."""

    param: Parametrization
    rows: list[Inferred]
    uses: list[Use]
    norms: list[str]  # norm modules in order: h0.ln_1, h0.ln_2, ..., ln_f
    widths: list[int]
    vocab: int
    block_size: int
    notes: list[str] = field(default_factory=list)

    def labels(self) -> dict[str, str]:
        return {u.tensor: u.label for u in self.uses}


def slope(widths: Sequence[int], values: Sequence[float]) -> float:
    """Least-squares slope of log(value) against log(width)."""
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def exponent(widths: Sequence[int], values: Sequence[float], what: str, flags: list[str]) -> Fraction:
    """-slope rounded to a multiple of 1/4 (values ~ n^-exponent); a flag when the slope is far from it."""
    measured = -slope(widths, values)
    rounded = Fraction(round(measured / float(STEP))) * STEP
    if abs(measured - float(rounded)) > ROUNDING:
        flags.append(f"{what} slope {-measured:+.2f} rounded to {format_exponent(-rounded)}")
    return rounded


def _symbolic(shapes: Sequence[tuple[int, ...]], widths: Sequence[int]) -> tuple[str, tuple[bool, ...]]:
    """'(3n, n)' and which dims grow, from the shapes at the widths (a dim is a fixed number or k n)."""
    dims, grows = [], []
    for d in range(len(shapes[0])):
        sizes = [s[d] for s in shapes]
        if len(set(sizes)) == 1:
            dims.append(str(sizes[0]))
            grows.append(False)
        elif all(size * widths[0] == sizes[0] * w for size, w in zip(sizes, widths, strict=True)):
            k = Fraction(sizes[0], widths[0])
            dims.append("n" if k == 1 else f"{k}n")
            grows.append(True)
        else:
            raise InputError(f"--module: a parameter's shape {list(sizes)} at widths {list(widths)} is neither "
                             "fixed nor proportional to the width")
    return "(" + ", ".join(dims) + ")", tuple(grows)


def _owners(model: torch.nn.Module) -> dict[str, tuple[str, torch.nn.Module]]:
    """User parameter name -> (owning module name, module); a shared Parameter under its first name."""
    out: dict[str, tuple[str, torch.nn.Module]] = {}
    for module_name, module in model.named_modules():
        for pname, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{pname}" if module_name else pname
            out[full] = (module_name, module)
    return out


def _role(name: str, grows: tuple[bool, ...], embedding: bool) -> Role:
    if len(grows) == 1 and grows[0]:
        return "vector"
    if len(grows) == 2:
        fan_out, fan_in = (grows[1], grows[0]) if embedding else (grows[0], grows[1])
        if fan_out and not fan_in:
            return "input"
        if fan_out and fan_in:
            return "hidden"
        if fan_in and not fan_out:
            return "output"
    raise InputError(f"--module: parameter {name!r} does not grow with the width (fixed shape) or has no place "
                     "in a GPT (shape of 1 or 2 dims expected)")


def plain_use(name: str, module: torch.nn.Module, weight: torch.Tensor, x: object) -> torch.Tensor:
    """The weight's use without multiplier on its module's input: a lookup, a norm times the gain, x W^T."""
    if isinstance(x, torch.Tensor) and not x.is_floating_point():
        return F.embedding(x, weight)
    if weight.dim() == 1 and isinstance(module, torch.nn.LayerNorm) and isinstance(x, torch.Tensor):
        return F.layer_norm(x, weight.shape, eps=module.eps) * weight
    if weight.dim() == 1 and isinstance(module, torch.nn.RMSNorm) and isinstance(x, torch.Tensor):
        return F.rms_norm(x, weight.shape, eps=module.eps) * weight
    if weight.dim() == 2 and isinstance(x, torch.Tensor):
        return F.linear(x, weight)
    raise InputError(f"--module: cannot read how {name!r} is used (module {type(module).__name__})")


def multiplier(name: str, module: torch.nn.Module, weight: torch.Tensor, seen: Seen, owner: str) -> float:
    """m with output = m * (the weight's plain use on the module's input), by least squares (checked)."""
    if owner not in seen.outputs:
        raise InputError(f"--module: module {owner or 'model'!r} (owner of {name!r}) is not called in the forward")
    x, out = seen.inputs[owner], seen.outputs[owner].detach()
    with torch.no_grad():
        plain = plain_use(name, module, weight, x)
        if plain.shape != out.shape:
            raise InputError(f"--module: {name!r}: its module's output is not its weight applied to its input "
                             "(biases or another computation?)")
        m = float((out * plain).sum() / plain.pow(2).sum())
        if not torch.allclose(out, m * plain, rtol=1e-3, atol=1e-5 * float(out.abs().max())):
            raise InputError(f"--module: {name!r}: its module does not compute a multiple of its weight's plain use "
                             "(biases are not in the engine's GPT: build it with bias=False)")
    return m


def _optimizer_kind(opt: torch.optim.Optimizer) -> str:
    if isinstance(opt, torch.optim.AdamW):
        return "adamw"
    if isinstance(opt, torch.optim.Adam):
        return "adam"
    if isinstance(opt, torch.optim.SGD):
        return "sgd"
    raise InputError(f"--module: optimizer {type(opt).__name__}: supported are torch.optim.SGD, Adam and AdamW")


def _group_of(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict[str, object]:
    return next(g for g in opt.param_groups if any(q is p for q in g["params"]))


def infer(builds: Sequence[Built]) -> Inference:
    """The inferred parametrization of the user's GPT built at ``builds`` (one per width, increasing)."""
    widths = [b.width for b in builds]
    if len(widths) < 2:
        raise InputError("--widths: inference needs at least two widths")
    kinds = {_optimizer_kind(b.optimizer) for b in builds}
    if len(kinds) != 1:
        raise InputError(f"--module: the optimizer's kind changes with the width ({', '.join(sorted(kinds))})")
    opt_kind = kinds.pop()
    first = builds[0].model
    names = [n for n, p in first.named_parameters() if p.requires_grad]
    owners = [_owners(b.model) for b in builds]
    params = [dict(b.model.named_parameters()) for b in builds]
    for b, ps in zip(builds, params, strict=True):
        if set(ps) != set(params[0]):
            other = sorted(set(ps) ^ set(params[0]))[0]
            raise InputError(f"--module: parameter {other!r} exists at width {b.width} or {widths[0]} only")
    shapes = {name: _symbolic([tuple(ps[name].shape) for ps in params], widths) for name in names}
    fixed = [name for name in names if not any(shapes[name][1])]
    if len(fixed) == len(names):
        raise InputError("--module: no parameter of the model grows with the width")
    if fixed:
        raise InputError(f"--module: parameter {fixed[0]!r} does not grow with the width: the engine's GPT has no "
                         "fixed-size tensors")
    seen = [_probe(b) for b in builds]
    rows = [_infer_one(name, *shapes[name], builds, params, owners, seen, opt_kind) for name in names]
    return _architecture(builds, seen, rows, opt_kind)


def _probe(built: Built) -> Seen:
    """A probe forward on token ids that every embedding can look up."""
    embeddings = [m for m in built.model.modules() if isinstance(m, torch.nn.Embedding)]
    if not embeddings:
        raise InputError("--module: the model has no nn.Embedding: a GPT maps token ids through embeddings")
    size = min(m.num_embeddings for m in embeddings)
    tokens = torch.randint(0, size, (PROBE_ROWS, size), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), recording(built.model) as seen:
        forward(built.model, tokens, seen)
    return seen


def _infer_one(name: str, shape: str, grows: tuple[bool, ...], builds: Sequence[Built],
               params: Sequence[dict[str, torch.nn.Parameter]],
               owners: Sequence[dict[str, tuple[str, torch.nn.Module]]], seen: Sequence[Seen],
               opt_kind: str) -> Inferred:
    widths = [b.width for b in builds]
    owner, module = owners[0][name]
    role = _role(name, grows, isinstance(module, torch.nn.Embedding))
    flags: list[str] = []
    rms = [float(ps[name].detach().double().pow(2).mean().sqrt()) for ps in params]
    zero = all(r == 0 for r in rms)
    if any(r == 0 for r in rms) and not zero:
        raise InputError(f"--module: {name!r} is zero at some widths only")
    b = Fraction(0) if zero else exponent(widths, rms, "init", flags)
    if zero:
        a = Fraction(0)
    else:
        ms = [multiplier(name, own[name][1], ps[name].detach(), s, own[name][0])
              for own, ps, s in zip(owners, params, seen, strict=True)]
        if any(m <= 0 for m in ms):
            raise InputError(f"--module: {name!r}: its module multiplies it by a negative or zero factor")
        a = exponent(widths, ms, "multiplier", flags)
    groups = [_group_of(bl.optimizer, ps[name]) for bl, ps in zip(builds, params, strict=True)]
    lrs = [float(g["lr"]) for g in groups]  # type: ignore[arg-type]
    if any(not lr > 0 for lr in lrs):
        raise InputError(f"--module: {name!r} trains with learning rate {min(lrs)} (need > 0)")
    c = exponent(widths, lrs, "LR", flags)
    eps_values = [float(g.get("eps", 0.0)) for g in groups]  # type: ignore[arg-type]
    eps = eps_values[0] if opt_kind != "sgd" else None
    eps_exponent = None
    if eps is not None and len(set(eps_values)) > 1:
        eps_exponent = exponent(widths, eps_values, "eps", flags)
    wds = [float(g.get("weight_decay", 0.0)) for g in groups]  # type: ignore[arg-type]
    if any(wds) and opt_kind != "adamw":
        raise InputError(f"--module: {name!r}: weight_decay under {opt_kind} is an L2 term the engine does not "
                         "model (decoupled decay: torch.optim.AdamW)")
    wd_exponent = exponent(widths, wds, "weight decay", flags) if all(w > 0 for w in wds) else None
    if any(wds) and not all(wds):
        raise InputError(f"--module: {name!r}: weight decay is zero at some widths only")
    return Inferred(name, shape, role, a, b, c, eps, eps_exponent, wds[0], wd_exponent, zero, tuple(flags))


def _architecture(builds: Sequence[Built], seen: Sequence[Seen], rows: list[Inferred], opt_kind: str) -> Inference:
    """Map the parameters onto the engine's GPT tensors (InputError naming what does not fit)."""
    model, widths = builds[0].model, [b.width for b in builds]
    n = widths[0]
    by_name = {r.name: r for r in rows}
    owners = _owners(model)
    shared = _shared(model)
    logits = seen[0].logits
    assert logits is not None
    vocab = logits.shape[-1]
    embeddings = [r.name for r in rows if isinstance(owners[r.name][1], torch.nn.Embedding)]
    rows_of = {e: int(dict(model.named_parameters())[e].shape[0]) for e in embeddings}  # (num, n) tables
    token = [e for e in embeddings if rows_of[e] == vocab]
    position = [e for e in embeddings if e not in token]
    if len(token) != 1 or len(position) != 1:
        raise InputError(f"--module: expected one token embedding (V = {vocab} rows, the logits' size) and one "
                         f"position embedding, found {', '.join(embeddings) or 'none'}")
    uses = [Use("wte", "embedding", token[0], owners[token[0]][0]),
            Use("wpe", "position", position[0], owners[position[0]][0])]
    block_list = _blocks(model, rows, owners)
    norm_modules = [name for name, m in model.named_modules() if isinstance(m, NORM_TYPES)]
    if not norm_modules:
        raise InputError("--module: no LayerNorm or RMSNorm found: --module reads pre-norm GPTs")
    norm_kinds = {type(m) for _, m in model.named_modules() if isinstance(m, NORM_TYPES)}
    if len(norm_kinds) != 1:
        raise InputError("--module: mixed LayerNorm and RMSNorm")
    norm = "layernorm" if norm_kinds.pop() is torch.nn.LayerNorm else "rmsnorm"
    gains = {name: m for name, m in model.named_modules() if isinstance(m, NORM_TYPES) and m.weight is not None}
    if gains and len(gains) != len(norm_modules):
        raise InputError("--module: some norms have gains and some do not")
    norms: list[str] = []
    for b, (prefix, block) in enumerate(block_list):
        block_norms = [f"{prefix}.{nm}" if nm else prefix for nm, m in block.named_modules()
                       if isinstance(m, NORM_TYPES)]
        if len(block_norms) != 2:
            raise InputError(f"--module: block {prefix!r} has {len(block_norms)} norms; a pre-norm GPT block has 2")
        norms += block_norms
        matrices = [r.name for r in rows if r.name.startswith(prefix + ".") and r.role == "hidden"]
        uses += _block_uses(b, prefix, matrices, block_norms, by_name, owners, n, bool(gains))
    outside = [nm for nm in norm_modules if nm not in norms]
    if len(outside) != 1:
        raise InputError(f"--module: expected one final norm outside the blocks, found {', '.join(outside) or 'none'}")
    norms.append(outside[0])
    if gains:
        uses.append(Use("ln_f", "gain", f"{outside[0]}.weight", outside[0]))
    readouts = [r.name for r in rows if r.role == "output"]
    tied = any(token[0] in names for names in shared.values()) and not readouts
    if not tied:
        if len(readouts) != 1:
            raise InputError(f"--module: expected one readout (fan-in n, fan-out {vocab}), found "
                             f"{', '.join(readouts) or 'none'}")
        uses.append(Use("lm_head", "readout", readouts[0], owners[readouts[0]][0]))
    mapped = {u.param for u in uses}
    for r in rows:
        if r.name not in mapped:
            raise InputError(f"--module: parameter {r.name!r} ({r.role}, {r.shape}) has no place in the engine's GPT")
    heads, alpha = _attention(seen, widths, len(block_list))
    activation = _activation(seen[0], uses)
    arch = GPT(blocks=len(block_list), heads=heads, attention_exponent=alpha, norm=norm, norm_gains=bool(gains),
               tied=tied)
    overrides: dict[str, dict[str, object]] = {}
    for u in uses:
        r = by_name[u.param]
        overrides[u.tensor] = {"a": r.a, "b": r.b, "c": r.c, "eps_exponent": r.eps_exponent,
                               "wd_exponent": r.wd_exponent}
    zero = tuple(u.tensor for u in uses if by_name[u.param].zero_init)
    param = gpt_parametrization(arch, {k: (0, 0, 0) for k in KINDS}, name="module", optimizer=Optimizer(opt_kind),
                                activation=activation, zero_init=zero, overrides=overrides)
    return Inference(param, rows, uses, norms, widths, vocab, rows_of[position[0]])


def _shared(model: torch.nn.Module) -> dict[int, list[str]]:
    """Parameters registered under several names (tied weights): id -> names."""
    names: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    return {k: v for k, v in names.items() if len(v) > 1}


def _blocks(model: torch.nn.Module, rows: Sequence[Inferred],
            owners: dict[str, tuple[str, torch.nn.Module]]) -> list[tuple[str, torch.nn.Module]]:
    """The repeated blocks: the ModuleList that holds the hidden matrices."""
    hidden = [r.name for r in rows if r.role == "hidden"]
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) and \
                all(any(h.startswith(f"{name}.{i}.") for h in hidden) for i in range(len(module))):
            inside = [h for h in hidden if h.startswith(name + ".")]
            if len(inside) == len(hidden):
                return [(f"{name}.{i}", m) for i, m in enumerate(module)]
    raise InputError("--module: no nn.ModuleList of blocks holds the hidden matrices"
                     + (f" (e.g. {hidden[0]!r})" if hidden else " (the model has none)"))


def _block_uses(b: int, prefix: str, matrices: list[str], block_norms: list[str], by_name: dict[str, Inferred],
                owners: dict[str, tuple[str, torch.nn.Module]], n: int, gains: bool) -> list[Use]:
    """The engine tensors of block ``b``: ln_1, q, k, v, o, ln_2, up, down (registration order)."""
    out: list[Use] = []
    if gains:
        out.append(Use(f"h{b}.ln_1", "gain", f"{block_norms[0]}.weight", block_norms[0]))
    shapes = [by_name[m].shape for m in matrices]
    if shapes and shapes[0] == "(3n, n)":
        attention = [Use(f"h{b}.attn.{p}", kind, matrices[0], owners[matrices[0]][0], i)
                     for i, (p, kind) in enumerate((("q", "query"), ("k", "key"), ("v", "value")))]
        rest = matrices[1:]
    else:
        attention = [Use(f"h{b}.attn.{p}", kind, m, owners[m][0])
                     for (p, kind), m in zip((("q", "query"), ("k", "key"), ("v", "value")), matrices, strict=False)]
        rest = matrices[3:]
    if len(rest) != 3 or rest[0:1] and by_name[rest[0]].shape != "(n, n)":
        raise InputError(f"--module: block {prefix!r}: expected the matrices q, k, v (or one fused (3n, n)), the "
                         f"attention output (n, n), MLP up and down; found {', '.join(matrices)} "
                         f"({', '.join(shapes)})")
    out += attention + [Use(f"h{b}.attn.o", "attn_out", rest[0], owners[rest[0]][0])]
    if gains:
        out.append(Use(f"h{b}.ln_2", "gain", f"{block_norms[1]}.weight", block_norms[1]))
    out += [Use(f"h{b}.mlp.up", "mlp_up", rest[1], owners[rest[1]][0]),
            Use(f"h{b}.mlp.down", "mlp_down", rest[2], owners[rest[2]][0])]
    for u in attention:
        if u.part is None and by_name[u.param].shape != "(n, n)":
            raise InputError(f"--module: {u.param!r} {by_name[u.param].shape}: a query, key or value matrix is (n, n)")
    return out


def _attention(seen: Sequence[Seen], widths: Sequence[int], blocks: int) -> tuple[str, Fraction]:
    """Head convention and alpha (scale ~ d_head^-alpha) from the attention calls at every width."""
    calls = [s.attention for s in seen]
    if any(len(c) != blocks for c in calls):
        raise InputError(f"--module: saw {len(calls[0])} calls of F.scaled_dot_product_attention in a forward, "
                         f"expected one per block ({blocks}); attention computed by hand cannot be read")
    heads = [c[0].q.shape[1] for c in calls]
    dims = [c[0].q.shape[-1] for c in calls]
    scales = [c[0].scale for c in calls]
    if not all(call.causal for c in calls for call in c):
        raise InputError("--module: attention must be causal (is_causal=True), as the engine's GPT")
    if len(set(heads)) == 1:
        convention = "fixed-count"
        alpha = exponent(dims, scales, "attention scale", [])
        if abs(slope(dims, scales) + float(alpha)) > ROUNDING:
            raise InputError(f"--module: the attention scale {scales} is not a power of d_head {dims}")
    elif len(set(dims)) == 1:
        convention = "fixed-dim"
        if len(set(scales)) != 1:
            raise InputError("--module: fixed head dimension but the attention scale changes with the width")
        alpha = Fraction(round(-math.log(scales[0]) / math.log(dims[0]) * 4), 4) if dims[0] > 1 else Fraction(1, 2)
    else:
        raise InputError(f"--module: neither the number of heads {heads} nor the head dimension {dims} is fixed")
    return convention, alpha


def _activation(seen: Seen, uses: Sequence[Use]) -> str:
    """The MLP's activation: down's input against candidates applied to up's output."""
    up = next(u for u in uses if u.kind == "mlp_up")
    down = next(u for u in uses if u.kind == "mlp_down")
    h, x = seen.outputs[up.owner], seen.inputs[down.owner]
    for name, functions in ACTIVATION_CANDIDATES.items():
        if any(torch.allclose(f(h), x, rtol=1e-4, atol=1e-5) for f in functions):
            return name
    raise InputError(f"--module: the input of {down.param!r} is none of {', '.join(ACTIVATION_CANDIDATES)} of the "
                     f"output of {up.param!r}")
