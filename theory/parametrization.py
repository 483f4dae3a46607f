"""abc-parametrizations of an MLP with L hidden layers (Tensor Programs IV, Def. 3.1).

Layer l = 1..L+1 computes ``h^l = n^{-a_l} w^l x^{l-1}`` with ``w^l_ij ~ N(0, n^{-2 b_l})`` and trains
with learning rate ``eta * n^{X} * n^{-c_l}`` (``X`` = global ``lr_exponent``).  Layer 1 has fan-in d
(fixed), layer L+1 fan-out k (fixed); every other dimension is the width n.

The same object drives the symbolic derivation (``theory.engine``) and the torch model
(``verify.model.mlp``), so what is verified is what was derived.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import sympy

from theory.errors import InputError
from theory.exponents import Exponent, parse_exponent

Role = Literal["input", "hidden", "output"]
ROLES: tuple[Role, ...] = ("input", "hidden", "output")
ALIGNMENTS = ("tp", "full", "none")
LOSSES = ("ce", "mse")
OPTIMIZERS = ("sgd", "adam", "signsgd", "adafactor", "muon")


@dataclass(frozen=True)
class Activation:
    """What the scale rules need to know about phi: phi(0), growth at infinity, boundedness."""

    name: str
    phi0_nonzero: bool  # phi(0) != 0 (sigmoid, softplus): x = Theta(1) even when h -> 0
    bounded: bool  # |phi| bounded (tanh, sigmoid): x and Delta x never exceed Theta(1)
    homogeneous: bool  # phi(c h) = c phi(h) for c > 0 (relu, linear, leaky relu)
    nonzero_mean: bool  # E phi(h) != 0 for centred h (relu, gelu, sigmoid)
    linear: bool = False  # the identity: TP4's dynamical dichotomy does not apply


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", phi0_nonzero=False, bounded=False, homogeneous=True, nonzero_mean=True),
    "linear": Activation("linear", False, False, True, False, linear=True),
    "tanh": Activation("tanh", False, True, False, False),
    "gelu": Activation("gelu", False, False, False, True),
    "sigmoid": Activation("sigmoid", True, True, False, True),
}


def suggest(value: str, options: tuple[str, ...] | list[str]) -> str:
    """' (did you mean ...?)' for a misspelt choice, else the list of choices."""
    close = difflib.get_close_matches(value, list(options), n=3, cutoff=0.5)
    if close:
        return f" (did you mean {', '.join(repr(c) for c in close)}?)"
    return f" (choose from {', '.join(options)})"


def check_choice(field_name: str, value: str, options: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise InputError(f"unknown {field_name} {value!r}{suggest(str(value), options)}")
    return value


@dataclass(frozen=True)
class Optimizer:
    """Optimizer family; only the family and Adam's epsilon width exponent change exponents.

    ``eps_exponent``: Adam/Adafactor epsilon = eps * n^{-eps_exponent}; None means epsilon is negligible
    (the Tensor Programs convention).  Momentum and betas do not change width exponents.
    """

    name: str = "sgd"
    eps_exponent: Exponent | None = None
    momentum: float = 0.0

    def __post_init__(self) -> None:
        check_choice("optimizer", self.name, OPTIMIZERS)
        if self.eps_exponent is not None and self.name not in ("adam", "adafactor"):
            raise InputError(f"optimizer: eps_exponent applies to adam/adafactor, not {self.name}")

    @property
    def symmetry_factor(self) -> int:
        """k in the abc symmetry (a+t, b-t, c-k t): SGD 2, Adam-like 1, Adafactor 0."""
        return {"sgd": 2, "adam": 1, "signsgd": 1, "muon": 1, "adafactor": 0}[self.name]


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

    @property
    def fan_in_width(self) -> int:
        """1 if the fan-in grows with n (hidden, output), 0 for the input layer (fixed d)."""
        return 0 if self.role == "input" else 1

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

    def __post_init__(self) -> None:
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_choice("loss", self.loss, LOSSES)
        if len(self.layers) < 2:
            raise InputError(f"layers: need at least 1 hidden layer (2 weight matrices), got {len(self.layers)}")
        for step, cs in enumerate(self.warmup, start=1):
            if len(cs) != len(self.layers):
                raise InputError(f"warmup step {step}: expected {len(self.layers)} exponents, got {len(cs)}")
        for position, layer in enumerate(self.layers, start=1):
            expected: Role = "input" if position == 1 else "output" if position == len(self.layers) else "hidden"
            if layer.index != position or layer.role != expected:
                raise InputError(f"layers: layer {position} must have index {position} and role {expected}")
            check_choice(f"alignment of layer {position}", layer.alignment, ALIGNMENTS)

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
            changes["lr_exponent"] = parse_exponent(changes["lr_exponent"], "lr_exponent")
        if isinstance(changes.get("optimizer"), str):
            changes["optimizer"] = Optimizer(str(changes["optimizer"]))
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_layers(self, a: list[Exponent] | None = None, b: list[Exponent] | None = None,
                    c: list[Exponent] | None = None) -> Parametrization:
        """A copy with per-layer a, b or c replaced."""
        layers = []
        for i, layer in enumerate(self.layers):
            layers.append(replace(layer,
                                  a=layer.a if a is None else sympy.sympify(a[i]),
                                  b=layer.b if b is None else sympy.sympify(b[i]),
                                  c=layer.c if c is None else sympy.sympify(c[i])))
        return replace(self, layers=tuple(layers))

    def symbols(self) -> set[sympy.Symbol]:
        out: set[sympy.Symbol] = set()
        for layer in self.layers:
            for value in (layer.a, layer.b, layer.c, layer.eps_exponent):
                if value is not None:
                    out |= value.free_symbols
        for cs in self.warmup:
            for value in cs:
                out |= value.free_symbols
        out |= self.lr_exponent.free_symbols
        if self.optimizer.eps_exponent is not None:
            out |= self.optimizer.eps_exponent.free_symbols
        return out


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
