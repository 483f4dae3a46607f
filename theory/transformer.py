"""A pre-LN decoder-only transformer (GPT) as a network of operations, with one (a, b, c) per trainable tensor.

The width n is d_model.  Each block computes ``x <- x + O(attn(N(x)))`` and ``x <- x + down(phi(up(N(x))))``,
where N is LayerNorm or RMSNorm (optionally with a trainable gain), the attention's logits are q.k d_head^-alpha
and its softmax runs over the (fixed) sequence.  Tensors take TP5's roles (Yang et al. 2022, Sec. J): a
dimension that grows with n counts, so token and position embeddings are input-like, Q, K, V, O and the MLP's
matrices hidden, the unembedding output-like and norm gains (and biases) vectors.  With tied embeddings one
tensor serves as embedding and readout: it has one b and one c, its readout use an extra multiplier.

Heads: ``fixed-count`` keeps the number of heads fixed, so d_head grows like n; ``fixed-dim`` keeps d_head
fixed and lets the number of heads grow like n.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from theory.errors import InputError
from theory.exponents import Exponent, format_exponent, parse_exponent
from theory.network import Act, Add, Gain, Linear, Mix, Network, Norm, Scores, Value
from theory.parametrization import ACTIVATIONS, Layer, Optimizer, Parametrization, Role, check_choice

HEADS = ("fixed-count", "fixed-dim")
NORMS = ("layernorm", "rmsnorm", "none")
KINDS = ("embedding", "position", "query", "key", "value", "attn_out", "mlp_up", "mlp_down", "gain", "readout")
KIND_ROLES: dict[str, Role] = {"embedding": "input", "position": "input", "query": "hidden", "key": "hidden",
                               "value": "hidden", "attn_out": "hidden", "mlp_up": "hidden", "mlp_down": "hidden",
                               "gain": "vector", "readout": "output"}
MAX_BLOCKS = 256


@dataclass(frozen=True)
class Tensor:
    """A trainable tensor of the GPT: its name (as in nanoGPT), kind and role."""

    name: str
    kind: str

    @property
    def role(self) -> Role:
        return KIND_ROLES[self.kind]


@dataclass(frozen=True)
class GPT:
    """The architecture: blocks, heads, attention exponent, norms, tied embeddings (widths are the engine's n)."""

    blocks: int = 2
    heads: str = "fixed-count"
    attention_exponent: Exponent = Fraction(1, 2)  # alpha: logits q.k d_head^-alpha
    norm: str = "layernorm"
    norm_gains: bool = True  # trainable gains (False: fixed at 1, as with elementwise_affine=False)
    tied: bool = False  # the readout reuses the token embedding
    readout_multiplier: Exponent = Fraction(0)  # tied readout: extra multiplier n^-m on the shared tensor
    attention: bool = True
    mlp: bool = True
    # depth: branches scaled by L^-depth_alpha (None: exponents in the width only, at a fixed number of blocks);
    # per kind of tensor, the depth exponents of its learning rate (lr ~ L^-c) and Adam epsilon (eps ~ L^-e)
    depth_alpha: Exponent | None = None
    depth_c: tuple[tuple[str, Exponent], ...] = ()
    depth_eps: tuple[tuple[str, Exponent], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.blocks, bool) or not isinstance(self.blocks, int) or not 1 <= self.blocks <= MAX_BLOCKS:
            raise InputError(f"transformer.blocks: need 1..{MAX_BLOCKS} blocks, got {self.blocks!r}")
        check_choice("transformer.heads", self.heads, HEADS)
        check_choice("transformer.norm", self.norm, NORMS)
        alpha = parse_exponent(self.attention_exponent, "transformer.attention_exponent")
        if alpha < 0:
            raise InputError(f"transformer.attention_exponent: need alpha >= 0, got {format_exponent(alpha)}")
        object.__setattr__(self, "attention_exponent", alpha)
        object.__setattr__(self, "readout_multiplier",
                           parse_exponent(self.readout_multiplier, "transformer.readout_multiplier"))
        for name in ("norm_gains", "tied", "attention", "mlp"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"transformer.{name}: expected true or false, got {getattr(self, name)!r}")
        if self.norm == "none" and self.norm_gains:
            object.__setattr__(self, "norm_gains", False)
        if self.depth_alpha is not None:
            object.__setattr__(self, "depth_alpha", parse_exponent(self.depth_alpha, "transformer.depth_alpha"))
            if self.norm == "none":
                raise InputError("transformer.depth_alpha: depth exponents are derived for pre-norm blocks "
                                 "(norm layernorm or rmsnorm)")
        for name in ("depth_c", "depth_eps"):
            rules = getattr(self, name)
            if isinstance(rules, Mapping):
                rules = tuple(sorted(rules.items()))
            for kind, _ in rules:
                if kind not in KINDS:
                    raise InputError(f"transformer.{name}: unknown kind of tensor {kind!r} (choose from "
                                     f"{', '.join(KINDS)})")
            object.__setattr__(self, name, tuple((k, parse_exponent(v, f"transformer.{name}.{k}")) for k, v in rules))
            if rules and self.depth_alpha is None:
                raise InputError(f"transformer.{name}: depth rules need transformer.depth_alpha")
        if self.readout_multiplier != 0 and not self.tied:
            raise InputError("transformer.readout_multiplier: applies to a tied readout (tied = true); an untied "
                             "readout has its own a")

    # ---- tensors ------------------------------------------------------------------------------------------
    def tensors(self) -> list[Tensor]:
        """Every trainable tensor in order: embeddings, blocks, final norm, readout (last)."""
        out = [Tensor("wte", "embedding"), Tensor("wpe", "position")]
        gain = self.norm != "none" and self.norm_gains
        for b in range(self.blocks):
            if self.attention:
                if gain:
                    out.append(Tensor(f"h{b}.ln_1", "gain"))
                out += [Tensor(f"h{b}.attn.{p}", kind) for p, kind in
                        (("q", "query"), ("k", "key"), ("v", "value"), ("o", "attn_out"))]
            if self.mlp:
                if gain:
                    out.append(Tensor(f"h{b}.ln_2", "gain"))
                out += [Tensor(f"h{b}.mlp.up", "mlp_up"), Tensor(f"h{b}.mlp.down", "mlp_down")]
        if gain:
            out.append(Tensor("ln_f", "gain"))
        if not self.tied:
            out.append(Tensor("lm_head", "readout"))
        return out

    def validate(self, layers: tuple[Layer, ...]) -> None:
        """Check that ``layers`` are this architecture's tensors, in order, with their roles."""
        tensors = self.tensors()
        if len(layers) != len(tensors):
            raise InputError(f"transformer: expected {len(tensors)} tensors ({tensors[0].name} .. "
                             f"{tensors[-1].name}), got {len(layers)}")
        for position, (layer, tensor) in enumerate(zip(layers, tensors, strict=True), start=1):
            if layer.index != position or layer.name != tensor.name or layer.role != tensor.role:
                raise InputError(f"transformer: tensor {position} must be {tensor.name} ({tensor.role}), got "
                                 f"{layer.name or '?'} ({layer.role})")

    def _groups(self) -> tuple[tuple[Any, Any] | None, tuple[tuple[Any, Any] | None, ...] | None]:
        """With depth scaling, each explicit block stands for a group of L / blocks blocks: what summing over
        the group adds to a block's signals (independent at init, aligned through updates), for the linear maps
        that read the stream and for the residual adds' branch term."""
        if self.depth_alpha is None:
            return None, None
        from theory.depth import BLOCKS_ALIGNED, BLOCKS_INDEPENDENT

        group = (BLOCKS_INDEPENDENT, BLOCKS_ALIGNED)
        return group, (None, group)

    @property
    def head_width(self) -> int:
        """Width exponent of d_head: 1 with a fixed number of heads, 0 with a fixed head dimension."""
        return 1 if self.heads == "fixed-count" else 0

    # ---- the network ----------------------------------------------------------------------------------------
    def assemble(self, param: Parametrization) -> Network:
        """The GPT's network of operations over ``param``'s tensors."""
        index = {layer.name: layer.index for layer in param.layers}
        net = Network()
        zero = Fraction(0)
        tok = net.add(Linear(Value("h", index["wte"]), index=index["wte"]))
        pos = net.add(Linear(Value("h", index["wpe"]), index=index["wpe"]))
        x = net.add(Add(Value("h", "embed"), terms=(tok, pos), scales=(zero, zero)))
        net.init.append(x)
        net.features += [tok, pos, x]

        def normed(src: Value, name: str) -> Value:
            if self.norm == "none":
                return src
            grouped = self.depth_alpha is not None and name != "ln_f"
            y = net.add(Norm(Value("h", f"{name}.norm"), src=src, kind=self.norm, grouped=grouped))
            net.features.append(y)
            if name in index:
                y = net.add(Gain(Value("h", index[name]), index=index[name], src=y))
                net.features.append(y)
            return y

        alpha = Fraction(str(self.attention_exponent))
        group, branch = self._groups()
        for b in range(self.blocks):
            if self.attention:
                y = normed(x, f"h{b}.ln_1")
                q, k, v = (net.add(Linear(Value("h", index[f"h{b}.attn.{p}"]), index=index[f"h{b}.attn.{p}"],
                                          src=y, group=group)) for p in "qkv")
                s = net.add(Scores(Value("h", f"h{b}.attn.scores"), q=q, k=k, head_width=self.head_width,
                                   alpha=alpha))
                mixed = net.add(Mix(Value("h", f"h{b}.attn.mix"), scores=s, v=v, head_width=self.head_width))
                o = net.add(Linear(Value("h", index[f"h{b}.attn.o"]), index=index[f"h{b}.attn.o"], src=mixed))
                x = net.add(Add(Value("h", f"h{b}.resid.attn"), terms=(x, o), scales=(zero, zero), group=branch))
                net.features += [q, k, v, mixed, o, x]
                net.saturating.append(s)
                net.init.append(x)
            if self.mlp:
                y = normed(x, f"h{b}.ln_2")
                up = net.add(Linear(Value("h", index[f"h{b}.mlp.up"]), index=index[f"h{b}.mlp.up"], src=y,
                                    group=group))
                hidden = net.add(Act(Value("x", index[f"h{b}.mlp.up"]), src=up, act=param.act))
                down = net.add(Linear(Value("h", index[f"h{b}.mlp.down"]), index=index[f"h{b}.mlp.down"],
                                      src=hidden))
                x = net.add(Add(Value("h", f"h{b}.resid.mlp"), terms=(x, down), scales=(zero, zero), group=branch))
                net.features += [up, hidden, down, x]
                net.init += [up, x]
        y = normed(x, "ln_f")
        if self.tied:
            net.logits = net.add(Linear(Value("h", "logits"), index=index["wte"], src=y,
                                        extra_a=Fraction(str(self.readout_multiplier)), role="output"))
        else:
            net.logits = net.add(Linear(Value("h", index["lm_head"]), index=index["lm_head"], src=y))
        return net

    # ---- serial form ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "gpt", "blocks": self.blocks, "heads": self.heads,
                "attention_exponent": format_exponent(self.attention_exponent), "norm": self.norm,
                "norm_gains": self.norm_gains, "tied": self.tied,
                "readout_multiplier": format_exponent(self.readout_multiplier), "attention": self.attention,
                "mlp": self.mlp,
                **self._depth_dict()}

    def _depth_dict(self) -> dict[str, Any]:
        """The depth fields, left out when unset (a width-only GPT's stored result keys stay as they were)."""
        if self.depth_alpha is None:
            return {}
        return {"depth_alpha": format_exponent(self.depth_alpha),
                "depth_c": [[k, format_exponent(v)] for k, v in self.depth_c],
                "depth_eps": [[k, format_exponent(v)] for k, v in self.depth_eps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GPT:
        fields = {k: v for k, v in data.items() if k != "kind"}
        for name in ("depth_c", "depth_eps"):
            fields[name] = tuple(tuple(rule) for rule in fields.get(name, ()))
        return cls(**fields)


# ---- per-role exponents and presets ---------------------------------------------------------------------------
RoleABC = Mapping[str, tuple[object, object, object]]  # kind -> (a, b, c)


def gpt_parametrization(arch: GPT, abc: RoleABC, *, name: str = "", source: str = "",
                        optimizer: str | Optimizer = "sgd", loss: str = "ce", activation: str = "gelu",
                        lr_exponent: object = 0,
                        zero_init: tuple[str, ...] = (), overrides: Mapping[str, Mapping[str, object]] | None = None,
                        eps_exponent: object | None = None, wd: Mapping[str, object] | None = None
                        ) -> Parametrization:
    """A Parametrization of ``arch`` from exponents per kind of tensor (``abc``), with per-tensor ``overrides``
    ({tensor name: {"a"|"b"|"c"|"eps_exponent"|"wd_exponent": value}}), zero-initialised tensors (names or
    kinds) and decoupled weight-decay exponents per kind (``wd``)."""
    check_choice("activation", activation, tuple(ACTIVATIONS))
    opt = optimizer if isinstance(optimizer, Optimizer) else Optimizer(optimizer, eps_exponent=eps_exponent)
    tensors = arch.tensors()
    names = {t.name for t in tensors}
    for key in zero_init:
        if key not in names and key not in KINDS:
            raise InputError(f"zero_init: {key!r} is neither a tensor nor a kind of tensor of this transformer")
    overrides = overrides or {}
    for key in overrides:
        if key not in names:
            from theory.parametrization import suggest

            raise InputError(f"tensors.{key}: no such tensor{suggest(key, sorted(names))}")
    layers = []
    for position, tensor in enumerate(tensors, start=1):
        if tensor.kind not in abc:
            raise InputError(f"transformer: no exponents for {tensor.kind} tensors ({tensor.name})")
        a, b, c = abc[tensor.kind]
        values: dict[str, object] = {"a": a, "b": b, "c": c, "eps_exponent": None,
                                     "wd_exponent": (wd or {}).get(tensor.kind)}
        for key, value in overrides.get(tensor.name, {}).items():
            if key not in values:
                raise InputError(f"tensors.{tensor.name}.{key}: unknown field (choose from a, b, c, eps_exponent, "
                                 "wd_exponent)")
            values[key] = value
        layers.append(Layer(index=position, role=tensor.role, name=tensor.name,
                            zero_init=tensor.name in zero_init or tensor.kind in zero_init,
                            **values))  # type: ignore[arg-type]
    return Parametrization(name=name, layers=tuple(layers), activation=activation, loss=loss, optimizer=opt,
                           lr_exponent=parse_exponent(lr_exponent, "lr_exponent", symbol=True), source=source,
                           network=arch)


H = Fraction(1, 2)
_VECTORS = ("embedding", "position", "gain")
_HIDDEN = ("query", "key", "value", "attn_out", "mlp_up", "mlp_down")


def _by_role(input_abc: tuple[object, object, object], hidden: tuple[object, object, object],
             output: tuple[object, object, object]) -> dict[str, tuple[object, object, object]]:
    return {**{k: input_abc for k in _VECTORS}, **{k: hidden for k in _HIDDEN}, "readout": output}


def _sp_abc(opt: str) -> dict[str, tuple[object, object, object]]:
    return _by_role((0, 0, 0), (0, H, 0), (0, H, 0))


def _mup_abc(opt: str) -> dict[str, tuple[object, object, object]]:
    if opt == "sgd":
        return _by_role((0, 0, -1), (0, H, 0), (0, 1, 1))
    if opt in ("adam", "adamw", "signsgd"):
        return _by_role((0, 0, 0), (0, H, 1), (0, 1, 1))
    raise InputError(f"preset gpt-mup: TP5 gives learning rates for sgd, adam (adamw, signsgd) only, not {opt}; "
                     f"run 'abcscale solve gpt-sp --optimizer {opt}' to derive them")


def _sp_full_align_abc(opt: str) -> dict[str, tuple[object, object, object]]:
    if opt == "sgd":
        return _by_role((0, 0, -H), (0, H, H), (0, H, 1))
    if opt in ("adam", "adamw", "signsgd"):
        return _by_role((0, 0, 0), (0, H, 1), (0, H, 1))
    raise InputError(f"preset gpt-sp-full-align: tabulated for sgd and adam only, not {opt}")


@dataclass(frozen=True)
class GPTPreset:
    name: str
    summary: str
    source: str
    arch: GPT
    abc: Any  # Callable[[str], dict[kind, (a, b, c)]]
    depth: Any = None  # Callable[[str], dict of GPT depth fields] for a depth-scaled preset


def _depth_rules(alpha: Fraction) -> Any:
    """Depth-muP's family with branches L^-alpha: hidden learning rates L^{alpha-1} (Adam) or L^{2 alpha-1}
    (SGD), the rules ``theory.depth`` derives for the residual MLP; CompleteP's Adam epsilon L^-alpha at
    alpha = 1.  Inputs here, checked by the derivation (docs/transformers.md)."""
    def rules(opt: str) -> dict[str, Any]:
        adam_like = opt in ("adam", "adamw", "signsgd", "muon")
        lr = (1 - alpha) if adam_like else (1 - 2 * alpha)
        eps = alpha if (alpha == 1 and opt in ("adam", "adamw")) else None
        return {"depth_alpha": alpha, "depth_c": tuple((k, lr) for k in _HIDDEN),
                "depth_eps": tuple((k, eps) for k in _HIDDEN) if eps is not None else ()}

    return rules


GPT_PRESETS: dict[str, GPTPreset] = {p.name: p for p in [
    GPTPreset("gpt-sp", "GPT in standard parametrization: fan-in init, one global LR, 1/sqrt(d_head) attention",
              "nanoGPT / GPT-2 convention; TP5 Table 3 (SP column)", GPT(attention_exponent=H), _sp_abc),
    GPTPreset("gpt-mup", "GPT in muP: TP5 Table 3 exponents, 1/d_head attention",
              "Yang et al. 2022 (TP5) Table 3 and Sec. 4 (1/d attention)", GPT(attention_exponent=Fraction(1)),
              _mup_abc),
    GPTPreset("gpt-sp-full-align", "SP init, per-layer LRs for full alignment, 1/sqrt(d_head) attention",
              "Everett et al. 2024 Table 1 (SP, full alignment)", GPT(attention_exponent=H), _sp_full_align_abc),
    GPTPreset("gpt-depth-mup", "gpt-mup with branches L^-1/2; hidden LR L^-1/2 (Adam) or constant (SGD)",
              "Yang, Yu, Zhu, Hayou 2023 (Depth-muP, TP VI); Bordelon et al. 2023",
              GPT(attention_exponent=Fraction(1)), _mup_abc, _depth_rules(H)),
    GPTPreset("gpt-completep", "gpt-mup with branches L^-1; hidden LR constant (Adam) or ~L (SGD), eps L^-1",
              "Dey et al. 2025 (CompleteP, alpha = 1); nanoGPT-mup completep branch",
              GPT(attention_exponent=Fraction(1)), _mup_abc, _depth_rules(Fraction(1))),
]}


def get_gpt_preset(name: str, *, blocks: int | None = None, optimizer: str | Optimizer = "sgd", loss: str = "ce",
                   activation: str = "gelu", lr_exponent: object = 0) -> Parametrization:
    """Build GPT preset ``name`` (``blocks`` transformer blocks, default the preset's)."""
    preset = GPT_PRESETS[name]
    bad = isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= MAX_BLOCKS
    if blocks is not None and bad:
        raise InputError(f"--layers: a transformer has 1..{MAX_BLOCKS} blocks, got {blocks!r}")
    arch = preset.arch if blocks is None else replace(preset.arch, blocks=blocks)
    opt = optimizer if isinstance(optimizer, Optimizer) else Optimizer(optimizer)
    if preset.depth is not None:
        arch = replace(arch, **preset.depth(opt.name))
    try:
        abc = preset.abc(opt.name)
    except InputError as err:  # a preset built on another's rates names itself first
        raise InputError(str(err) if str(err).startswith(f"preset {name}:") else f"preset {name} (on {err})") \
            from None
    return gpt_parametrization(arch, abc, name=name, source=preset.source, optimizer=opt,
                               loss=loss, activation=activation, lr_exponent=lr_exponent)


# ---- grouping identical blocks in tables ------------------------------------------------------------------------
BLOCK = re.compile(r"^h(\d+)\.(.+)$")


def _blocks_label(blocks: Sequence[int]) -> str:
    """'h0-11' for a contiguous run of blocks, 'h0,2,5' otherwise."""
    if len(blocks) > 1 and list(blocks) == list(range(blocks[0], blocks[-1] + 1)):
        return f"h{blocks[0]}-{blocks[-1]}"
    return "h" + ",".join(map(str, blocks))


def group_blocks(rows: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
    """Rows (tensor name, cells) with per-block names merged where every cell agrees ('h0-11.attn.q'), in
    first-seen order; cells compare by ``repr`` (strings, or a table's cell objects)."""
    groups: dict[tuple[str, str], list[int]] = {}
    cells_of: dict[tuple[str, str], Sequence[Any]] = {}
    order: list[tuple[str, str] | str] = []
    singles: dict[str, Sequence[Any]] = {}
    for name, cells in rows:
        match = BLOCK.match(name)
        if match is None:
            singles[name] = cells
            order.append(name)
            continue
        key = (match.group(2), repr(list(cells)))
        if key not in groups:
            groups[key], cells_of[key] = [], cells
            order.append(key)
        groups[key].append(int(match.group(1)))
    out: list[list[Any]] = []
    for item in order:
        if isinstance(item, str):
            out.append([item, *singles[item]])
        else:
            out.append([f"{_blocks_label(groups[item])}.{item[0]}", *cells_of[item]])
    return out
