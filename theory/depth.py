"""Residual networks with exponents in width n and depth L (Depth-muP, CompleteP).

The network: ``h^1 = W_in xi``, ``h^{l+1} = h^l + L^{-alpha} W_l phi(h^l)`` for l = 1..L (one n x n
matrix per block), ``f = W_out h^{L+1}``.  Every block is distributed alike, so the graph holds one
representative block and two rules for summing it over the L blocks: contributions that are
independent across blocks (initial weights) add like L^{1/2}, contributions that are aligned across
blocks (updates, which all follow the same backward signal) add like L.  The residual stream closes
a loop through the blocks; its exponent is the fixed point of ``s = max(base, s + gain)``, which is
``base`` when the loop gain is <= 0 and diverges otherwise (e.g. alpha < 1/2 at initialisation).

Exponents are pairs (width, depth) ordered lexicographically: n -> infinity first, then L.  Branch
multiplier, init and learning rate of the block carry both a width and a depth exponent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from typing import Any

import networkx as nx
import sympy

from theory.algebra import Maybe, add, mx
from theory.errors import InputError
from theory.exponents import Exponent, format_exponent
from theory.graph import activation_change_rule, activation_rule, chi_rule, evaluate, muon_entry_exponent, update_rule
from theory.parametrization import Optimizer, Parametrization, suggest
from theory.presets import get_preset
from theory.regimes import CATASTROPHIC, CONTROLLED, STABLE

HALF = Fraction(1, 2)


@dataclass(frozen=True, order=False)
class Pair:
    """Exponent of n^x L^y, compared lexicographically (width first); ``inf`` = diverges."""

    n: Fraction
    L: Fraction = Fraction(0)
    inf: bool = False

    def _key(self) -> tuple[int, Fraction, Fraction]:
        return (1, Fraction(0), Fraction(0)) if self.inf else (0, self.n, self.L)

    def __lt__(self, other: object) -> bool:
        return self._key() < _pair(other)._key()

    def __le__(self, other: object) -> bool:
        return self._key() <= _pair(other)._key()

    def __gt__(self, other: object) -> bool:
        return self._key() > _pair(other)._key()

    def __ge__(self, other: object) -> bool:
        return self._key() >= _pair(other)._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (Pair, Fraction, int)):
            return NotImplemented
        return self._key() == _pair(other)._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __add__(self, other: object) -> Pair:
        o = _pair(other)
        if self.inf or o.inf:
            return DIVERGES
        return Pair(self.n + o.n, self.L + o.L)

    __radd__ = __add__

    def __neg__(self) -> Pair:
        if self.inf:
            raise ValueError("cannot negate a divergent exponent")
        return Pair(-self.n, -self.L)

    def __sub__(self, other: object) -> Pair:
        return self + (-_pair(other))

    def __str__(self) -> str:
        if self.inf:
            return "diverges"
        return f"n^{_num(self.n)} L^{_num(self.L)}"


def _num(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _pair(value: object) -> Pair:
    if isinstance(value, Pair):
        return value
    if isinstance(value, (int, Fraction)):
        return Pair(Fraction(value))
    raise TypeError(f"not an exponent: {value!r}")


DIVERGES = Pair(Fraction(0), Fraction(0), inf=True)
ZERO = Pair(Fraction(0))
BLOCKS_INDEPENDENT = Pair(Fraction(0), HALF)  # sum of L independent block contributions
BLOCKS_ALIGNED = Pair(Fraction(0), Fraction(1))  # sum of L aligned block contributions


@dataclass(frozen=True)
class ResidualParametrization:
    """Width abc-exponents of the embedding, the blocks and the readout, plus depth exponents.

    ``alpha``: branch multiplier L^{-alpha}; ``block_lr_depth``: block LR ~ L^{-block_lr_depth};
    ``block_eps_depth``: Adam epsilon of the blocks ~ L^{-block_eps_depth} (with the width exponent of
    ``width.optimizer.eps_exponent``).
    """

    name: str
    width: Parametrization  # three layers: input (embedding), hidden (every block), output (readout)
    alpha: Exponent
    block_lr_depth: Exponent
    block_eps_depth: Exponent | None = None
    source: str = ""


def _n(value: Exponent) -> Fraction:
    if not (isinstance(value, sympy.Basic) and value.is_Rational):  # parsed exponents: no simplification needed
        raise InputError(f"depth derivation needs numeric exponents, got {format_exponent(value)}")
    return Fraction(int(value.p), int(value.q))


DEPTH_PRESETS = {
    "depth-mup": ("Depth-muP: branches scaled by L^{-1/2}; SGD LR constant in L, Adam LR ~ L^{-1/2}",
                  "Yang, Yu, Zhu, Hayou 2023 (TP VI); Bordelon et al. 2023", HALF),
    "completep": ("CompleteP: branches scaled by L^{-1}; SGD LR ~ L, Adam LR constant in L, eps ~ L^{-1}",
                  "Dey et al. 2025 (CompleteP), alpha = 1; nanoGPT-mup completep branch", Fraction(1)),
    "residual-sp": ("residual network with unscaled branches (alpha = 0)", "He et al. 2016 style", Fraction(0)),
}


def residual_parametrization(alpha: object, *, optimizer: str = "sgd", loss: str = "ce", activation: str = "relu",
                             lr_exponent: object = 0, name: str | None = None,
                             source: str = "") -> ResidualParametrization:
    """muP in width, branch multiplier L^-alpha, and the depth-muP family's published block LR rule.

    Per block, an update moves the stream by LR x L^{-alpha} (Adam) or LR x L^{-2 alpha} (SGD), and L
    aligned blocks add like L: the published rules LR ~ L^{alpha - 1} (Adam), L^{2 alpha - 1} (SGD) are
    inputs here; ``solve_depth`` derives them.  Adam's epsilon gets L^{-alpha} (CompleteP's rule) when
    alpha = 1.
    """
    a = Fraction(str(alpha)) if not isinstance(alpha, Fraction) else alpha
    width = get_preset("mup", layers=2, optimizer=optimizer, loss=loss, activation=activation,
                       lr_exponent=lr_exponent)
    adam_like = Optimizer(optimizer).symmetry_factor == 1
    lr_depth = (1 - a) if adam_like else (1 - 2 * a)
    eps_depth = a if (a == 1 and optimizer == "adam") else None
    label = name or f"residual-alpha-{_num(a)}"
    return ResidualParametrization(label, width.with_(name=label), _rational(a), _rational(lr_depth),
                                   None if eps_depth is None else _rational(eps_depth), source=source)


def _rational(value: Fraction) -> sympy.Rational:
    return sympy.Rational(value.numerator, value.denominator)


def get_depth_preset(name: str, *, optimizer: str = "sgd", loss: str = "ce", activation: str = "relu",
                     lr_exponent: object = 0) -> ResidualParametrization:
    """Depth presets: muP in width, with the depth exponents of Depth-muP / CompleteP."""
    if name not in DEPTH_PRESETS:
        raise InputError(f"unknown depth preset {name!r}{suggest(name, tuple(DEPTH_PRESETS))}")
    summary, source, alpha = DEPTH_PRESETS[name]
    return residual_parametrization(alpha, optimizer=optimizer, loss=loss, activation=activation,
                                    lr_exponent=lr_exponent, name=name, source=f"{summary}. Source: {source}")


def _fixed_point(base: Maybe, *gains: Maybe) -> Maybe:
    """Solution of s = max(base, s + g_1, s + g_2, ...): base if every gain <= 0, else divergent."""
    if base is None:
        return None
    if any(g is not None and g > ZERO for g in gains):
        return DIVERGES
    return base


@dataclass
class DepthReport:
    """Exponents (n, L) of the representative block, the stream and the logits, at step 1 and settled."""

    parametrization: ResidualParametrization
    regime: str
    first_step: dict[str, Pair | None]
    settled: dict[str, Pair | None]
    init: dict[str, Pair | None]
    horizon: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def s(v: Pair | None) -> dict[str, str] | str | None:
            if v is None:
                return None
            if v.inf:
                return "diverges"
            return {"n": _num(v.n), "L": _num(v.L)}

        p = self.parametrization
        return {"parametrization": p.name, "source": p.source, "alpha": format_exponent(p.alpha),
                "block_lr_depth_exponent": format_exponent(p.block_lr_depth), "optimizer": p.width.optimizer.name,
                "loss": p.width.loss, "regime": self.regime,
                "init": {k: s(v) for k, v in self.init.items()},
                "first_step": {k: s(v) for k, v in self.first_step.items()},
                "settled": {k: s(v) for k, v in self.settled.items()}, "notes": self.notes}


DEPTH_QUANTITIES = {
    "stream_update": "change of the residual stream h^{L+1}",
    "block_effective_update": "one block's L^-alpha (W_t - W_0) phi(h), its share of the stream change",
    "block_internal_update": "(W_t - W_0) phi(h) inside a block, before the branch multiplier",
    "block_propagating_update": "one block's L^-alpha W_0 (phi(h_t) - phi(h_0))",
    "embedding_update": "change of h^1 = W_in xi",
    "logit_update": "change of the logits",
    "stream_gradient": "d loss / d h (backward signal along the stream)",
}


def _build(rp: ResidualParametrization, horizon: int) -> nx.DiGraph:
    graph = nx.DiGraph()
    act = rp.width.act
    opt = rp.width.optimizer.name

    def node(key: tuple[Any, ...], rule: Any, *args: tuple[Any, ...]) -> None:
        graph.add_node(key, rule=rule, args=args)
        for arg in args:
            if arg not in graph:
                graph.add_node(arg, rule=None, args=())
            graph.add_edge(arg, key)

    for role in ("in", "blk", "out"):
        node(("W0", role), lambda a, b: -(a + b), ("a", role), ("b", role))
    node(("h1", 0), lambda w: w, ("W0", "in"))
    # block output at init, summed over L independent blocks; the stream is the loop's fixed point
    node(("gain_init",), lambda w: w + Pair(HALF) + BLOCKS_INDEPENDENT, ("W0", "blk"))
    node(("s", 0), _fixed_point, ("h1", 0), ("gain_init",))
    node(("x", 0), partial(activation_rule, act), ("s", 0))
    node(("branch_sum", 0), lambda w, x: add(w, x, Pair(HALF), BLOCKS_INDEPENDENT), ("W0", "blk"), ("x", 0))
    node(("f", 0), lambda w, s: add(w, s, Pair(HALF)), ("W0", "out"), ("s", 0))
    for t in range(horizon + 1):
        if t > 0:
            node(("emb", t), lambda na, dw: add(na, dw), ("neg_a", "in"), ("dw", "in", t))
            node(("blk_int", t), lambda dw, x: add(dw, x, Pair(Fraction(1))), ("dw", "blk", t), ("x", 0))
            node(("blk_eff", t), lambda na, dw, x: add(na, dw, x, Pair(Fraction(1))), ("neg_a", "blk"),
                 ("dw", "blk", t), ("x", 0))
            node(("gain_upd", t), lambda w, na, dw: mx(w + Pair(HALF) + BLOCKS_INDEPENDENT,
                                                         add(na, dw, Pair(Fraction(1)), BLOCKS_ALIGNED)),
                 ("W0", "blk"), ("neg_a", "blk"), ("dw", "blk", t))
            node(("ds", t), lambda emb, eff, gain: _fixed_point(mx(emb, add(eff, BLOCKS_ALIGNED)), gain),
                 ("emb", t), ("blk_eff", t), ("gain_upd", t))
            node(("dx", t), partial(activation_change_rule, act), ("ds", t))
            node(("blk_prop", t), lambda w, dx: add(w, dx, Pair(HALF)), ("W0", "blk"), ("dx", t))
            node(("s", t), lambda s0, ds: mx(s0, ds), ("s", 0), ("ds", t))
            node(("out_eff", t), lambda na, dw, s: add(na, dw, s, Pair(Fraction(1))), ("neg_a", "out"),
                 ("dw", "out", t), ("s", t))
            node(("out_prop", t), lambda w, ds: add(w, ds, Pair(Fraction(1))), ("W0", "out"), ("ds", t))
            node(("df", t), lambda e, p: mx(e, p), ("out_eff", t), ("out_prop", t))
            node(("f", t), lambda f0, df: mx(f0, df), ("f", 0), ("df", t))
            node(("x", t), partial(activation_rule, act), ("s", t))
        # backward
        node(("chi", t), lambda f: chi_rule(rp.width.loss, f), ("f", t))
        upd_out = ("dw", "out", t) if t > 0 else ("none",)
        node(("g_end", t), lambda w, na, dw, chi: mx(add(w, chi), add(na, dw, chi)), ("W0", "out"),
             ("neg_a", "out"), upd_out, ("chi", t))
        upd_blk = ("dw", "blk", t) if t > 0 else ("none",)
        node(("gain_bwd", t), lambda w, na, dw: mx(w + Pair(HALF) + BLOCKS_INDEPENDENT,
                                                     add(na, dw, Pair(Fraction(1)), BLOCKS_ALIGNED)),
             ("W0", "blk"), ("neg_a", "blk"), upd_blk)
        node(("gs", t), _fixed_point, ("g_end", t), ("gain_bwd", t))
        node(("G", "in", t), lambda na, g: add(na, g), ("neg_a", "in"), ("gs", t))
        node(("G", "blk", t), lambda na, g, x: add(na, g, x), ("neg_a", "blk"), ("gs", t), ("x", t))
        node(("G", "out", t), lambda na, chi, s: add(na, chi, s), ("neg_a", "out"), ("chi", t), ("s", t))
        if t < horizon:
            for role, (fan_in, fan_out) in (("in", (0, 1)), ("blk", (1, 1)), ("out", (1, 0))):
                shape = muon_entry_exponent(rp.width.optimizer.muon_scale, fan_in, fan_out)
                node(("u", role, t + 1), partial(update_rule, opt, shape), ("lr", role), ("G", role, t),
                     ("b", role), ("eps", role))
                if t == 0:
                    node(("dw", role, 1), lambda u: u, ("u", role, 1))
                else:
                    node(("dw", role, t + 1), lambda d, u: mx(d, u), ("dw", role, t), ("u", role, t + 1))
    return graph


def derive_depth(rp: ResidualParametrization, horizon: int = 4) -> DepthReport:
    """Exponents in n and L of a residual network, its regime in the joint limit (n first, then L)."""
    from theory.engine import check_horizon

    horizon = check_horizon(horizon)
    width = rp.width
    if len(width.layers) != 3:
        raise InputError("a residual parametrization has three roles: input, hidden (blocks), output")
    x = _n(width.lr_exponent)
    alpha, lr_depth = _n(rp.alpha), _n(rp.block_lr_depth)
    inputs: dict[tuple[Any, ...], Any] = {("none",): None}
    opt_eps = width.optimizer.eps_exponent
    for role, layer in zip(("in", "blk", "out"), width.layers, strict=True):
        depth_a = alpha if role == "blk" else Fraction(0)
        a = Pair(_n(layer.a), depth_a)
        inputs[("a", role)] = a
        inputs[("neg_a", role)] = -a
        inputs[("b", role)] = Pair(_n(layer.b))
        inputs[("lr", role)] = Pair(x - _n(layer.c), -lr_depth if role == "blk" else Fraction(0))
        eps = layer.eps_exponent if layer.eps_exponent is not None else opt_eps
        if eps is None:
            inputs[("eps", role)] = "none"
        else:
            depth_eps = _n(rp.block_eps_depth) if (role == "blk" and rp.block_eps_depth is not None) else Fraction(0)
            inputs[("eps", role)] = Pair(_n(eps), depth_eps)
    graph = _build(rp, horizon)
    values: dict[tuple[Any, ...], Any] = evaluate(graph, inputs, list(nx.topological_sort(graph)))

    def at(t: int) -> dict[str, Pair | None]:
        return {"stream_update": values[("ds", t)], "block_effective_update": values[("blk_eff", t)],
                "block_internal_update": values[("blk_int", t)],
                "block_propagating_update": values[("blk_prop", t)], "embedding_update": values[("emb", t)],
                "logit_update": values[("df", t)], "stream_gradient": values[("gs", t)]}

    init = {"stream": values[("s", 0)], "branch_sum": values[("branch_sum", 0)], "logits": values[("f", 0)],
            "stream_gradient": values[("gs", 0)]}
    regime, notes = _regime(values, horizon)
    return DepthReport(rp, regime, at(1), at(horizon), init, horizon, notes)


def _regime(values: dict[tuple[Any, ...], Maybe], horizon: int) -> tuple[str, list[str]]:
    notes: list[str] = []
    features = mx(*[values[("s", t)] for t in range(horizon + 1)])
    chi = mx(*[values[("chi", t)] for t in range(horizon + 1)])
    logits = mx(*[values[("f", t)] for t in range(horizon + 1)])
    grows = any(values[(k, horizon)] != values[(k, horizon - 1)] for k in ("ds", "gs", "df")) if horizon > 1 else False
    if values[("s", 0)] == DIVERGES:
        notes.append("the residual stream diverges with depth at initialisation (branches too large)")
    if (features is not None and features > ZERO) or (chi is not None and chi > ZERO) or grows:
        return CATASTROPHIC, notes
    if logits is not None and logits > ZERO:
        return CONTROLLED, notes
    return STABLE, notes


def solve_depth(rp: ResidualParametrization, rounds: int = 20) -> Exponent:
    """The block LR depth exponent that keeps the stream update Theta(L^0) (updates add across blocks)."""
    from dataclasses import replace

    lr_depth = Fraction(8)  # tiny LR: block updates vanish with depth
    for _ in range(rounds):
        candidate = replace(rp, block_lr_depth=sympy.Rational(lr_depth.numerator, lr_depth.denominator))
        change = derive_depth(candidate).settled["block_effective_update"]
        if change is None or change.inf:
            raise InputError(f"{rp.name}: the stream diverges with depth; no block learning rate fixes that")
        error = change.L + 1  # L aligned blocks add one power of L
        if error == 0:
            return sympy.Rational(lr_depth.numerator, lr_depth.denominator)
        lr_depth += error
    raise InputError(f"{rp.name}: no block LR depth exponent gives Theta(1) stream updates")
