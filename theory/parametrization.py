"""abc-parametrizations of an MLP with L hidden layers (Tensor Programs IV, Def. 3.1).

Layer l = 1..L+1 computes ``h^l = n^{-a_l} w^l x^{l-1}`` with ``w^l_ij ~ N(0, n^{-2 b_l})`` and trains
with learning rate ``eta * n^{X} * n^{-c_l}`` (``X`` = global ``lr_exponent``).  Layer 1 has fan-in d
(fixed), layer L+1 fan-out k (fixed); every other dimension is the width n.

The same object drives the symbolic derivation (``theory.engine``) and the torch model
(``verify.model.mlp``), so what is verified is what was derived.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any, Literal

import sympy

from theory.errors import InputError
from theory.exponents import Exponent, format_exponent, parse_exponent

Role = Literal["input", "hidden", "output", "vector"]
ROLES: tuple[Role, ...] = ("input", "hidden", "output")  # an MLP's weight matrices
TENSOR_ROLES: tuple[Role, ...] = (*ROLES, "vector")  # a network's tensors: vectors are gains, biases (TP5)
ALIGNMENTS = ("tp", "full", "none")
LOSSES = ("ce", "mse")
OPTIMIZERS = ("sgd", "adam", "adamw", "signsgd", "adafactor", "muon")


@dataclass(frozen=True)
class Activation:
    """What the scale rules need to know about phi: phi(0), growth at infinity, boundedness."""

    name: str
    phi0_nonzero: bool  # phi(0) != 0 (sigmoid, softplus): x = Theta(1) even when h -> 0
    bounded: bool  # |phi| bounded (tanh, sigmoid): x and Delta x never exceed Theta(1)
    homogeneous: bool  # phi(c h) = c phi(h) for c > 0 (relu, linear, leaky relu)
    nonzero_mean: bool  # E phi(h) != 0 for centred h (relu, gelu, sigmoid)
    linear: bool = False  # the identity: TP4's dynamical dichotomy does not apply
    # order of E phi(h) in a small centred h: relu 1 (E relu(h) = |h|/sqrt(2 pi)), gelu 2 (phi(h) = h/2 + h^2/sqrt(2 pi)
    # + ..., its linear part is odd), sigmoid 0 (phi(0) != 0); matters only where pre-activations vanish
    mean_order: int = 1


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", phi0_nonzero=False, bounded=False, homogeneous=True, nonzero_mean=True),
    "linear": Activation("linear", False, False, True, False, linear=True),
    "tanh": Activation("tanh", False, True, False, False),
    "gelu": Activation("gelu", False, False, False, True, mean_order=2),
    "sigmoid": Activation("sigmoid", True, True, False, True, mean_order=0),
}


def suggest(value: str, options: tuple[str, ...] | list[str]) -> str:
    """' (did you mean ...?)' for a misspelt choice, else the list of choices."""
    close = difflib.get_close_matches(value, list(options), n=3, cutoff=0.5)
    if close:
        return f" (did you mean {', '.join(repr(c) for c in close)}?)"
    return f" (choose from {', '.join(options)})"


def check_choice(field_name: str, value: object, options: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise InputError(f"unknown {field_name} {value!r}{suggest(str(value), options)}")
    return value


MUON_SCALES = ("jordan", "spectral", "none")


def muon_scale_factor(kind: str, fan_in: int, fan_out: int) -> float:
    """The factor Muon multiplies its orthogonalised step by, for a (fan_out x fan_in) weight.

    ``jordan``: sqrt(max(1, fan_out / fan_in)) (Keller Jordan's reference Muon); ``spectral``: sqrt(fan_out /
    fan_in) (the spectral condition of Yang, Simon and Bernstein 2023); ``none``: 1 (a unit spectral norm step).
    The torch optimizer applies exactly this number; ``muon_scale_exponent`` is its width exponent.
    """
    if kind == "jordan":
        return math.sqrt(max(1.0, fan_out / fan_in))
    if kind == "spectral":
        return math.sqrt(fan_out / fan_in)
    return 1.0


def muon_scale_exponent(kind: str, fan_in_width: int, fan_out_width: int) -> Fraction:
    """Width exponent of ``muon_scale_factor`` when the fans scale like n^fan_in_width, n^fan_out_width (0 or 1)."""
    if kind == "jordan":
        return Fraction(max(0, fan_out_width - fan_in_width), 2)
    if kind == "spectral":
        return Fraction(fan_out_width - fan_in_width, 2)
    return Fraction(0)


@dataclass(frozen=True)
class Optimizer:
    """Optimizer family and the settings of it that the engine derives from and the trainer applies.

    ``eps_exponent``: Adam/Adafactor epsilon = eps * n^{-eps_exponent}; None means epsilon is negligible
    (the Tensor Programs convention).  ``momentum``: heavy-ball momentum of SGD and Muon (dampening 0, as
    torch.optim.SGD): each step follows the running sum of past gradients, so a step's exponent is the largest
    of the gradients it sums (Adam's betas never change exponents: its step is sign-like).  ``muon_scale``: the
    factor on Muon's orthogonalised step (``muon_scale_factor``).
    """

    name: str = "sgd"
    eps_exponent: Exponent | None = None
    momentum: float = 0.0
    muon_scale: str = "jordan"

    def __post_init__(self) -> None:
        check_choice("optimizer", self.name, OPTIMIZERS)
        if self.eps_exponent is not None:
            object.__setattr__(self, "eps_exponent", parse_exponent(self.eps_exponent, "optimizer.eps_exponent"))
            if self.name not in ("adam", "adamw", "adafactor"):
                raise InputError(f"optimizer: eps_exponent applies to adam/adamw/adafactor, not {self.name}")
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, int | float) \
                or not 0 <= self.momentum < 1:
            raise InputError(f"optimizer.momentum: expected a number in [0, 1), got {self.momentum!r}")
        object.__setattr__(self, "momentum", float(self.momentum))
        if self.momentum and self.name not in ("sgd", "muon"):
            raise InputError(f"optimizer.momentum: applies to sgd and muon, not {self.name} (Adam-like optimizers "
                             "keep their own moment averages)")
        check_choice("optimizer.muon_scale", self.muon_scale, MUON_SCALES)
        if self.muon_scale != "jordan" and self.name != "muon":
            raise InputError(f"optimizer.muon_scale: applies to muon, not {self.name}")

    @property
    def symmetry_factor(self) -> int:
        """k in the abc symmetry (a+t, b-t, c-k t): SGD 2, Adam-like 1, Adafactor 0."""
        return {"sgd": 2, "adam": 1, "adamw": 1, "signsgd": 1, "muon": 1, "adafactor": 0}[self.name]


@dataclass(frozen=True)
class Layer:
    """One weight matrix: exponents a (multiplier), b (init std), c (learning rate)."""

    index: int
    role: Role
    a: Exponent
    b: Exponent
    c: Exponent
    alignment: str = "tp"
    zero_init: bool = False
    eps_exponent: Exponent | None = None  # per-layer Adam epsilon override
    name: str = ""  # the tensor's name in a network of operations (theory.transformer); "" in an MLP
    wd_exponent: Exponent | None = None  # decoupled weight decay lambda = lambda0 n^{-wd} (AdamW); None: none

    def __post_init__(self) -> None:
        # every exponent exact and bounded, whoever built the layer (TOML, presets, Python): numbers only
        for name in ("a", "b", "c", "eps_exponent", "wd_exponent"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_exponent(value, f"layers[{self.index}].{name}"))

    @property
    def fan_in_width(self) -> int:
        """1 if the fan-in grows with n (hidden, output), 0 for the input layer (fixed d) and vectors."""
        return 0 if self.role in ("input", "vector") else 1

    @property
    def fan_out_width(self) -> int:
        """1 if the fan-out grows with n (input, hidden), 0 for the readout (fixed k)."""
        return 0 if self.role == "output" else 1


@dataclass(frozen=True)
class Parametrization:
    """An abc-parametrization plus activation, loss, optimizer and global LR exponent X."""

    name: str
    layers: tuple[Layer, ...]
    activation: str = "relu"
    loss: str = "ce"
    optimizer: Optimizer = field(default_factory=Optimizer)
    lr_exponent: Exponent = sympy.Integer(0)
    source: str = ""
    # per-layer LR exponents c for the first updates (warmup[0] is update 1), then each layer's own c
    warmup: tuple[tuple[Exponent, ...], ...] = ()
    # the architecture (theory.transformer.GPT) whose tensors ``layers`` are; None: the MLP chain of the module doc
    network: Any = None

    def __post_init__(self) -> None:
        # the global LR exponent is a number or one bare symbol (the phase diagram's variable), never more
        object.__setattr__(self, "lr_exponent", parse_exponent(self.lr_exponent, "lr_exponent", symbol=True))
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_choice("loss", self.loss, LOSSES)
        if len(self.layers) < 2:
            raise InputError(f"layers: need at least 1 hidden layer (2 weight matrices), got {len(self.layers)}")
        for step, cs in enumerate(self.warmup, start=1):
            if len(cs) != len(self.layers):
                raise InputError(f"warmup step {step}: expected {len(self.layers)} exponents, got {len(cs)}")
        object.__setattr__(self, "warmup", tuple(
            tuple(parse_exponent(c, f"warmup[{step}][{i}]") for i, c in enumerate(cs, start=1))
            for step, cs in enumerate(self.warmup, start=1)))
        for position, layer in enumerate(self.layers, start=1):
            check_choice(f"alignment of layer {position}", layer.alignment, ALIGNMENTS)
            if layer.wd_exponent is not None and self.optimizer.name != "adamw":
                raise InputError(f"layers[{position}].wd_exponent: decoupled weight decay applies to adamw, "
                                 f"not {self.optimizer.name}")
            if self.network is not None:
                continue
            expected: Role = "input" if position == 1 else "output" if position == len(self.layers) else "hidden"
            if layer.index != position or layer.role != expected:
                raise InputError(f"layers: layer {position} must have index {position} and role {expected}")
        if self.network is not None:
            self.network.validate(self.layers)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready data, exponents as exact strings ('-1/2', or 'x' for a symbolic LR exponent).

        The one serial form of a parametrization: results stores key their configurations on it, exports and
        measured tables rebuild the parametrization from it (``from_dict(p.to_dict()) == p``).
        """
        return {
            "name": self.name, "source": self.source, "activation": self.activation, "loss": self.loss,
            "lr_exponent": format_exponent(self.lr_exponent),
            "optimizer": {"name": self.optimizer.name, "eps_exponent": _text(self.optimizer.eps_exponent),
                          "momentum": self.optimizer.momentum, "muon_scale": self.optimizer.muon_scale},
            "layers": [{"index": l.index, "role": l.role, "a": format_exponent(l.a), "b": format_exponent(l.b),
                        "c": format_exponent(l.c), "alignment": l.alignment, "zero_init": l.zero_init,
                        "eps_exponent": _text(l.eps_exponent), "name": l.name,
                        "wd_exponent": _text(l.wd_exponent)} for l in self.layers],
            "warmup": [[format_exponent(c) for c in cs] for cs in self.warmup],
            "network": None if self.network is None else self.network.to_dict(),
        }

    def training_dict(self) -> dict[str, Any]:
        """``to_dict`` without the labels (name, source) that do not change what is trained: a config key."""
        data = self.to_dict()
        del data["name"], data["source"]
        # fields an MLP leaves at their defaults stay out, so the keys of stored MLP results do not change
        if data["network"] is None:
            del data["network"]
        for layer in data["layers"]:
            for key, default in (("name", ""), ("wd_exponent", None)):
                if layer[key] == default:
                    del layer[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Parametrization:
        """The parametrization ``to_dict`` wrote (InputError naming the field if ``data`` is not one)."""
        try:
            opt = data["optimizer"]
            optimizer = Optimizer(opt["name"], eps_exponent=_exponent_or_none(opt["eps_exponent"]),
                                  momentum=opt["momentum"], muon_scale=opt["muon_scale"])
            layers = tuple(Layer(index=int(l["index"]), role=l["role"], a=parse_exponent(l["a"], "layers.a"),
                                 b=parse_exponent(l["b"], "layers.b"), c=parse_exponent(l["c"], "layers.c"),
                                 alignment=l["alignment"], zero_init=bool(l["zero_init"]),
                                 eps_exponent=_exponent_or_none(l["eps_exponent"]), name=str(l.get("name", "")),
                                 wd_exponent=_exponent_or_none(l.get("wd_exponent"))) for l in data["layers"])
            network = None
            if data.get("network") is not None:
                from theory.transformer import GPT

                network = GPT.from_dict(data["network"])
            warmup = tuple(tuple(parse_exponent(c, "warmup") for c in cs) for cs in data["warmup"])
            return cls(name=data.get("name", ""), layers=layers, activation=data["activation"], loss=data["loss"],
                       optimizer=optimizer,
                       lr_exponent=parse_exponent(data["lr_exponent"], "lr_exponent", symbol=True),
                       source=data.get("source", ""), warmup=warmup, network=network)
        except (KeyError, TypeError) as err:
            raise InputError(f"parametrization record: missing or malformed field {err}") from None

    def c_at(self, layer: int, update: int) -> Exponent:
        """LR exponent c of ``layer`` (1-based) at ``update`` t = 1, 2, ... (schedules first)."""
        if update <= len(self.warmup):
            return self.warmup[update - 1][layer - 1]
        return self.layers[layer - 1].c

    @property
    def hidden_layers(self) -> int:
        """L: the number of hidden layers (there are L+1 weight matrices)."""
        return len(self.layers) - 1

    @property
    def act(self) -> Activation:
        return ACTIVATIONS[self.activation]

    def with_(self, **changes: object) -> Parametrization:
        """A copy with some fields replaced (lr_exponent, loss, optimizer, activation, name)."""
        if "lr_exponent" in changes:
            changes["lr_exponent"] = parse_exponent(changes["lr_exponent"], "lr_exponent", symbol=True)
        if "optimizer" in changes and not isinstance(changes["optimizer"], Optimizer):
            changes["optimizer"] = Optimizer(check_choice("optimizer", changes["optimizer"], OPTIMIZERS))
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_layers(self, a: list[Exponent] | None = None, b: list[Exponent] | None = None,
                    c: list[Exponent] | None = None) -> Parametrization:
        """A copy with per-layer a, b or c replaced (parsed like any exponent: numbers, never ``sympify``-ed)."""
        layers = []
        for i, layer in enumerate(self.layers):
            layers.append(replace(layer,
                                  a=layer.a if a is None else parse_exponent(a[i], f"a[{i + 1}]"),
                                  b=layer.b if b is None else parse_exponent(b[i], f"b[{i + 1}]"),
                                  c=layer.c if c is None else parse_exponent(c[i], f"c[{i + 1}]")))
        return replace(self, layers=tuple(layers))

    def symbols(self) -> set[sympy.Symbol]:
        out: set[sympy.Symbol] = set()
        for layer in self.layers:
            for value in (layer.a, layer.b, layer.c, layer.eps_exponent, layer.wd_exponent):
                if value is not None:
                    out |= value.free_symbols
        for cs in self.warmup:
            for value in cs:
                out |= value.free_symbols
        out |= self.lr_exponent.free_symbols
        if self.optimizer.eps_exponent is not None:
            out |= self.optimizer.eps_exponent.free_symbols
        return out


def _text(value: Exponent | None) -> str | None:
    return None if value is None else format_exponent(value)


def _exponent_or_none(value: object) -> Exponent | None:
    return None if value is None else parse_exponent(value, "eps_exponent")


def serial_fields() -> dict[str, tuple[str, ...]]:
    """The dataclass fields ``to_dict`` must cover, per class (a test holds the two together)."""
    return {cls.__name__: tuple(f.name for f in fields(cls)) for cls in (Parametrization, Layer, Optimizer)}


def role_of(position: int, n_layers: int) -> Role:
    return "input" if position == 1 else "output" if position == n_layers else "hidden"


def build_layers(a: Sequence[object], b: Sequence[object], c: Sequence[object], *, alignment: str | list[str] = "tp",
                 zero_init: list[bool] | None = None) -> tuple[Layer, ...]:
    """Layers from per-layer lists (each of length L+1), parsing every exponent exactly."""
    n = len(a)
    if not (len(b) == n and len(c) == n):
        raise InputError(f"a, b, c must have the same length (got {len(a)}, {len(b)}, {len(c)})")
    aligns = [alignment] * n if isinstance(alignment, str) else list(alignment)
    if len(aligns) != n:
        raise InputError(f"alignment: expected {n} entries, got {len(aligns)}")
    zeros = zero_init or [False] * n
    return tuple(
        Layer(index=i + 1, role=role_of(i + 1, n), a=parse_exponent(a[i], f"a[{i + 1}]"),
              b=parse_exponent(b[i], f"b[{i + 1}]"), c=parse_exponent(c[i], f"c[{i + 1}]"),
              alignment=aligns[i], zero_init=zeros[i])
        for i in range(n)
    )
