"""Exponents in width n and depth L of a transformer whose branches are scaled by L^-alpha (Depth-muP, CompleteP).

The same unrolled graph as the width derivation (``theory.unroll`` over ``theory.transformer.GPT``), evaluated
with exponent pairs n^x L^y (``theory.depth.Pair``: compared width first, then depth).  Each explicit block
stands for a group of L / blocks identical blocks: the residual adds sum a group's branch outputs (independent
at initialisation, L^{1/2}; aligned through updates, L) and the group's signals back into the stream alike.
The branch multiplier L^-alpha is the depth part of the multiplier a of each branch's last map (the attention
output and the MLP's down projection); learning rates and Adam epsilons take their depth parts from the
architecture's per-kind rules.  A stream whose exponent still grows from one group to the next diverges with
depth (the residual loop has positive gain), as ``theory.depth``'s fixed point says for the residual MLP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from theory.algebra import Maybe, mx
from theory.depth import DIVERGES, Pair, pair_dict
from theory.engine import DEFAULT_HORIZON, check_horizon, graph_for
from theory.errors import InputError
from theory.exponents import Exponent
from theory.graph import evaluate
from theory.network import Add, Network, Value
from theory.parametrization import Parametrization
from theory.quantities import REGISTRY
from theory.regimes import CATASTROPHIC, classify, predicates

BRANCH_ENDS = ("attn_out", "mlp_down")  # the kinds whose multiplier carries the branch's L^-alpha


def _number(value: Exponent) -> Fraction:
    if not value.is_Rational:
        raise InputError("depth derivation needs numeric exponents (no symbolic lr_exponent)")
    return Fraction(int(value.p), int(value.q))


def depth_inputs(param: Parametrization, horizon: int) -> dict[tuple[Any, ...], Any]:
    """The graph's inputs as (n, L) pairs: width parts from the tensors, depth parts from the architecture."""
    arch = param.network
    kinds = {t.name: t.kind for t in arch.tensors()}
    alpha = _number(arch.depth_alpha)
    depth_c = {k: _number(v) for k, v in arch.depth_c}
    depth_eps = {k: _number(v) for k, v in arch.depth_eps}
    x = _number(param.lr_exponent)
    opt_eps = param.optimizer.eps_exponent
    inputs: dict[tuple[Any, ...], Any] = {("X",): Pair(x), ("none",): None}
    for layer in param.layers:
        l, kind = layer.index, kinds[layer.name]
        a = Pair(_number(layer.a), alpha if kind in BRANCH_ENDS else Fraction(0))
        inputs[("a", l)] = a
        inputs[("neg_a", l)] = -a
        inputs[("b", l)] = Pair(_number(layer.b))
        eps = layer.eps_exponent if layer.eps_exponent is not None else opt_eps
        inputs[("eps", l)] = "none" if eps is None else Pair(_number(eps), depth_eps.get(kind, Fraction(0)))
        if layer.wd_exponent is not None:
            inputs[("wd", l)] = -Pair(_number(layer.wd_exponent))
        for t in range(1, horizon + 1):
            inputs[("lr", l, t)] = Pair(x - _number(param.c_at(l, t)), -depth_c.get(kind, Fraction(0)))
    return inputs


@dataclass
class NetworkDepthReport:
    """Exponents (n, L) per tensor and per reported value, settled and at the first step, and the regime."""

    parametrization: Parametrization
    regime: str
    tensors: dict[str, dict[str, Pair | None]]
    first_step: dict[str, dict[str, Pair | None]]
    modules: dict[str, dict[str, Pair | None]]
    horizon: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        s = pair_dict
        p = self.parametrization
        return {"parametrization": p.name, "network": p.network.to_dict(), "optimizer": p.optimizer.name,
                "loss": p.loss, "regime": self.regime,
                "tensors": {n: {q: s(v) for q, v in row.items()} for n, row in self.tensors.items()},
                "first_step": {n: {q: s(v) for q, v in row.items()} for n, row in self.first_step.items()},
                "modules": {n: {q: s(v) for q, v in row.items()} for n, row in self.modules.items()},
                "horizon": self.horizon, "notes": self.notes}


def _as_pair(value: Any) -> Pair | None:
    """A node's value as a pair (rules that return a plain number, like a bounded loss gradient, have L^0)."""
    return None if value is None else value if isinstance(value, Pair) else Pair(Fraction(value))


def _streams(net: Network) -> list[Value]:
    """The residual stream after each add, in order."""
    return [op.out for op in net.ops() if isinstance(op, Add) and op.group is not None]


def derive_network_depth(param: Parametrization, horizon: int = DEFAULT_HORIZON) -> NetworkDepthReport:
    """Exponents in n and L of a depth-scaled transformer and its regime in the joint limit (n first, then L)."""
    if param.network is None or param.network.depth_alpha is None:
        raise InputError(f"{param.name}: no depth scaling (transformer.depth_alpha) to derive in L")
    horizon = check_horizon(horizon)
    graph, order = graph_for(param, horizon)
    net: Network = graph.graph["network"]
    values = evaluate(graph, depth_inputs(param, horizon), order)
    notes: list[str] = []
    streams = _streams(net)
    grows = False
    if len(streams) >= 2:
        last, before = streams[-1], streams[-2]
        for kind in ("h", "dh"):
            for t in range(horizon + 1):
                now, then = values.get((kind, last.key, t)), values.get((kind, before.key, t))
                if now is not None and then is not None and now > then:
                    grows = True
    regime = classify(predicates(values, net, horizon))
    if grows:
        regime = CATASTROPHIC
        notes.append("the residual stream still grows from one group of blocks to the next: it diverges with "
                     "depth (the residual loop's gain is positive)")

    def row(layer_index: int, t: int) -> dict[str, Pair | None]:
        out = net.primary(layer_index).out
        cells: dict[str, Pair | None] = {}
        for q in REGISTRY:
            node = q.node
            if q.readout_node is not None and (out == net.logits or out.key not in net.followed_by_act):
                node = q.readout_node
            key: tuple[Any, ...] = (("h", out.key, 0) if node == "h0" else
                                    (node, layer_index, t) if node in ("G", "dw") else (node, out.key, t))
            cells[q.name] = _as_pair(values.get(key))
        return cells

    tensors = {layer.name: row(layer.index, horizon) for layer in param.layers}
    first = {layer.name: row(layer.index, 1) for layer in param.layers}
    modules: dict[str, dict[str, Pair | None]] = {}
    for value in (*streams, *net.saturating, net.logits):
        name = "logits" if value == net.logits else str(value.key)
        modules[name] = {"init": _as_pair(values.get((value.prefix, value.key, 0))),
                         "change": _as_pair(values.get((value.change, value.key, horizon))),
                         "first_step_change": _as_pair(values.get((value.change, value.key, 1)))}
    return NetworkDepthReport(param, regime, tensors, first, modules, horizon, notes)


def stream_change(report: NetworkDepthReport) -> Maybe:
    """The settled change of the last residual stream (Theta(1) in n and L: every block group learns)."""
    streams = [k for k in report.modules if ".resid." in k]
    return mx(*[report.modules[k]["change"] for k in streams[-1:]]) if streams else DIVERGES
