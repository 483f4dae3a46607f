"""The abc symmetry: (a + t, b - t, c - k t) leaves training unchanged (TP4 Eq. 5, per layer).

k = 2 for SGD, 1 for Adam-like optimizers (Adam, signSGD, Muon), 0 for Adafactor (Everett et al.).
With Adam's epsilon in play, equivalence also needs eps_l to move with the gradient, by -t.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from theory.exponents import Exponent, format_exponent
from theory.parametrization import Parametrization


@dataclass
class Equivalence:
    """Whether B is A shifted along the symmetry, with the shift t per layer and the reasons if not."""

    equivalent: bool
    thetas: list[Exponent]
    reasons: list[str] = field(default_factory=list)


def _same(x: Exponent, y: Exponent) -> bool:
    # exponents are exact rationals (or one bare LR symbol): equal iff structurally equal, no simplification
    return bool(x == y)


def equivalent(first: Parametrization, second: Parametrization) -> Equivalence:
    """Test two parametrizations for abc-equivalence; name t per layer."""
    reasons: list[str] = []
    if len(first.layers) != len(second.layers):
        return Equivalence(False, [], [f"different depths: {len(first.layers)} vs {len(second.layers)} layers"])
    for attr in ("activation", "loss"):
        if getattr(first, attr) != getattr(second, attr):
            reasons.append(f"different {attr}: {getattr(first, attr)} vs {getattr(second, attr)}")
    if first.optimizer.name != second.optimizer.name:
        reasons.append(f"different optimizer: {first.optimizer.name} vs {second.optimizer.name}")
    if not _same(first.lr_exponent, second.lr_exponent):
        reasons.append("different global lr_exponent")
    k = first.optimizer.symmetry_factor
    thetas: list[Exponent] = []
    for la, lb in zip(first.layers, second.layers, strict=True):
        theta = lb.a - la.a
        thetas.append(theta)
        where = f"layer {la.index} ({la.role})"
        if not _same(lb.b, la.b - theta):
            reasons.append(f"{where}: b = {format_exponent(lb.b)}, symmetry needs {format_exponent(la.b - theta)}")
        if not _same(lb.c, la.c - k * theta):
            reasons.append(f"{where}: c = {format_exponent(lb.c)}, symmetry needs {format_exponent(la.c - k * theta)}")
        if la.zero_init != lb.zero_init or la.alignment != lb.alignment:
            reasons.append(f"{where}: different zero_init/alignment")
        eps_a = la.eps_exponent if la.eps_exponent is not None else first.optimizer.eps_exponent
        eps_b = lb.eps_exponent if lb.eps_exponent is not None else second.optimizer.eps_exponent
        if first.optimizer.name == "adam" and (eps_a is not None or eps_b is not None):
            # eps = n^{-e} competes with the gradient entries, whose exponent moves by -t
            if eps_a is None or eps_b is None or not _same(eps_b, eps_a + theta):
                reasons.append(f"{where}: Adam epsilon must shift with the gradient (e -> e + t)")
    return Equivalence(not reasons, thetas, reasons)


def shift(param: Parametrization, thetas: list[Exponent]) -> Parametrization:
    """Apply the symmetry with shift t_l to every layer (an equivalent parametrization)."""
    k = param.optimizer.symmetry_factor
    layers = []
    for layer, theta in zip(param.layers, thetas, strict=True):
        eps = layer.eps_exponent
        if eps is None and param.optimizer.eps_exponent is not None:
            eps = param.optimizer.eps_exponent
        layers.append(replace(layer, a=layer.a + theta, b=layer.b - theta, c=layer.c - k * theta,
                              eps_exponent=None if eps is None else eps + theta))
    return replace(param, layers=tuple(layers))


def multiplier_free(param: Parametrization) -> Parametrization:
    """The equivalent parametrization with a = 0 in every layer (what a plain torch module can hold)."""
    return shift(param, [-layer.a for layer in param.layers])
