"""Unroll a network of operations (``theory.network``) over training steps into a graph of scale rules.

Every operation contributes, at every step t, the rules for its output (value at t, change since t = 0),
for the backward signal into each of its inputs, and for the gradient of its trainable tensor; every tensor
then takes its optimizer step.  The rules are the functions of ``theory.graph``; this module only wires them,
so an MLP, a residual MLP and a GPT are derived by the same rules.  The node names are those documented in
``theory.graph`` with the operation's key in place of the layer index (a tensor's nodes W0, u, dw, G, buf
carry the tensor's index).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import replace
from fractions import Fraction
from functools import partial
from typing import Any

import networkx as nx

from theory.algebra import Maybe, add, mn, mx
from theory.graph import (
    HALF,
    _accumulate,
    _backward,
    _current,
    _effective,
    _effective_input,
    _first_preactivation,
    _forward_init,
    _identity,
    _propagating,
    _total_change,
    _w0,
    _weight_gradient,
    activation_change_rule,
    activation_rule,
    backward_init_factor,
    backward_update_factor,
    chi_rule,
    forward_update_factor,
    input_nodes,
    lr_nodes,
    muon_entry_exponent,
    propagating_factor,
    update_rule,
)
from theory.network import Act, Add, Bias, Gain, Linear, Mix, Network, Norm, Op, Scores, Value
from theory.parametrization import ACTIVATIONS, Layer, Parametrization

Node = tuple[Any, ...]
CENTRED = ACTIVATIONS["linear"]  # what a linear map sees behind a norm, an attention or a residual stream
NONE: Node = ("none",)


# ---- rules of the operations beyond the MLP's ----------------------------------------------------------------
def _group_change(aligned: Maybe, independent: Maybe, own: Maybe, carried: Maybe) -> Maybe:
    return mx(add(own, aligned), add(carried, independent))


def _norm_value(src: Maybe) -> Maybe:
    return None if src is None else Fraction(0)  # scale invariance: RMS 1 whatever the input's scale


def _norm_change(src0: Maybe, dsrc: Maybe) -> Maybe:
    """Change of x / rms(x): the input's change relative to its size, at most Theta(1)."""
    if dsrc is None:
        return None
    if src0 is None:
        return Fraction(0)
    return mn(Fraction(0), add(dsrc, -src0))


def _norm_backward(g: Maybe, src: Maybe) -> Maybe:
    return None if src is None else add(g, -src)  # the Jacobian of x / rms(x) is of order 1 / rms(x)


def _scaled(scale: Fraction, value: Maybe) -> Maybe:
    return add(value, scale)


def _sum(scales: tuple[Maybe, ...], *terms: Maybe) -> Maybe:
    return mx(*[add(term, scale) for term, scale in zip(terms, scales, strict=True)])


def _scores_init(width: int, alpha: Fraction, q: Maybe, k: Maybe) -> Maybe:
    return add(q, k, HALF * width, -alpha * width)  # independent q and k: CLT over d_head


def _scores_change(width: int, alpha: Fraction, q: Maybe, k: Maybe, dq_own: Maybe, dq_carried: Maybe,
                   dk_own: Maybe, dk_carried: Maybe) -> Maybe:
    """q_t.k_t - q_0.k_0.  The query's own update (Delta W_Q y) follows the keys it attended to (its gradient
    is a sum of keys), so it meets k coherently over d_head; the change it carries from its input (W_Q Delta y)
    is independent of W_K y and meets k like a random sum (CLT).  Likewise for the key."""
    half = HALF * width
    return add(mx(add(dq_own, k, width), add(dq_carried, k, half), add(q, dk_own, width), add(q, dk_carried, half)),
               -alpha * width)


def _scores_carried(width: int, alpha: Fraction, q0: Maybe, k0: Maybe, dq_carried: Maybe, dk_carried: Maybe
                    ) -> Maybe:
    """The carried part of the logits' change: P_q.P_k - q_0.k_0, where P = W_0 y_t are the initial weights on
    the moved inputs, i.e. (W_Q0 dy).P_k + q_0.(W_K0 dy).  Independent of each other: random sums over d_head
    (exactly zero when the initial query and key weights are, as for a zero-initialised query)."""
    half = HALF * width
    return add(mx(add(dq_carried, mx(k0, dk_carried), half), add(q0, dk_carried, half)), -alpha * width)


def _scores_backward(alpha: Fraction, width: int, g: Maybe, other: Maybe) -> Maybe:
    return add(g, other, -alpha * width)  # d s / d q = d_head^{-alpha} k: one coordinate, no sum


def _mix_change(v: Maybe, dv: Maybe, ds: Maybe) -> Maybe:
    return mx(dv, add(v, mn(Fraction(0), ds)))  # softmax is bounded and Lipschitz in the logits


def _mix_scores_backward(width: int, g: Maybe, v: Maybe, g_aligned: Maybe, s: Maybe) -> Maybe:
    """d loss / d s = A (g.v - ...): g and v independent at init (CLT over d_head); once the output projection
    has moved, the part of g it sends back lies along the attention's outputs and sums coherently with v.

    Logits s ~ n^{s} with s > 0 saturate the softmax: its Jacobian A (1 - A) falls like exp(-n^s), below every
    power; ``n^{-s}`` is the bound kept here (a power law cannot say more)."""
    saturation = Fraction(0) if s is None else mn(Fraction(0), -s)  # s exactly 0: uniform attention
    return add(mx(add(g, v, HALF * width), add(g_aligned, v, Fraction(width))), saturation)


def _through_update(update_factor: Fraction, neg_a: Maybe, dw: Maybe, g_next: Maybe) -> Maybe:
    return add(neg_a, dw, g_next, update_factor)


def _gain_effective(neg_a: Maybe, dw: Maybe, src: Maybe) -> Maybe:
    return add(neg_a, dw, src)  # (gamma_t - gamma_0) * y: elementwise, no sum


def _gain_propagating(w0: Maybe, dsrc: Maybe) -> Maybe:
    return add(w0, dsrc)


def _shrink(lr: Maybe, wd: Maybe) -> Maybe:
    """Decoupled weight decay (AdamW) multiplies w by 1 - eta lambda each step: the relative rate eta lambda."""
    return add(lr, wd)


def _decayed_weights(shrunk: Maybe, b: Maybe, dw: Maybe) -> Maybe:
    """Entries of w_t - w_0: the updates, and the decay's shrink of the initial weights (n^{-b} eta lambda)."""
    return mx(dw, add(shrunk, -b if b is not None else None))


def _decayed_output(eff: Maybe, shrunk: Maybe, h0: Maybe, prop: Maybe) -> Maybe:
    """(W_t - W_0) x_t with decay: the updates' part, and -eta lambda W_0 x_t (a rescaling of W_0 x_t, which
    is h_0 or its propagated change: not a sum aligned with x)."""
    return mx(eff, add(shrunk, mx(h0, prop)))


# ---- the compiler -----------------------------------------------------------------------------------------
class _Builder:
    """Adds rule nodes to a DiGraph (each with its rule and argument nodes)."""

    def __init__(self) -> None:
        self.graph = nx.DiGraph()

    def source(self, key: Node) -> None:
        self.graph.add_node(key, rule=None, args=())

    def node(self, key: Node, rule: Callable[..., Maybe], *args: Node) -> None:
        self.graph.add_node(key, rule=rule, args=args)
        for arg in args:
            self.graph.add_edge(arg, key)


def _at(value: Value | None, t: int) -> Node:
    return NONE if value is None else (value.prefix, value.key, t)


def _change(value: Value | None, t: int) -> Node:
    return NONE if value is None or t == 0 else (value.change, value.key, t)


def _act_of(net: Network, value: Value | None) -> Any:
    """The activation a linear map's input comes out of (its mean matters to the update's overlap)."""
    if value is None or value not in net.graph:
        return CENTRED
    op = net.graph.nodes[value].get("op")
    return op.act if isinstance(op, Act) else CENTRED


def _own_and_carried(net: Network, value: Value, t: int) -> tuple[Node, Node]:
    """A linear map's output change split into its own update's part and the part carried from its input
    (any other value: the whole change counts as its own, the larger of the two rules)."""
    op = net.graph.nodes[value].get("op")
    if isinstance(op, Linear) and op.src is not None:
        return ("eff", value.key, t), ("prop", value.key, t)
    return _change(value, t), NONE


def _block_readers(net: Network, norm: Norm) -> tuple[list[Hashable], Hashable | None]:
    """The linear maps that read a grouped norm's output (through its gain, if any), and the gain's key."""
    value, gain = norm.out, None
    for op in net.consumers(value):
        if isinstance(op, Gain):
            value, gain = op.out, op.out.key
    readers = [op.out.key for op in net.consumers(value) if isinstance(op, Linear) and op.group is not None]
    return readers, gain


def _grouped_norm_backward(src: Maybe, gain: Maybe, *streams: Maybe) -> Maybe:
    """A block group's signal into the stream: its readers' grouped signals, through the gain, over rms(x)."""
    if src is None:
        return None
    through = mx(*streams)
    return add(through, -src, gain if gain is not None else Fraction(0))


def _layer(param: Parametrization, index: int) -> Layer:
    return param.layers[index - 1]


def _use(param: Parametrization, op: Linear) -> Layer:
    """The tensor as this operation uses it (a tied readout reads the embedding with the readout's fans)."""
    layer = _layer(param, op.index)
    return layer if op.role is None or op.role == layer.role else replace(layer, role=op.role)  # type: ignore[arg-type]


def unroll(net: Network, param: Parametrization, horizon: int) -> nx.DiGraph:
    """The unrolled graph of ``net`` trained under ``param`` for updates 1..horizon."""
    b = _Builder()
    n_params = len(param.layers)
    for key in input_nodes(n_params) + lr_nodes(n_params, horizon):
        b.source(key)
    decayed = [layer.index for layer in param.layers if layer.wd_exponent is not None]
    for l in decayed:
        b.source(("wd", l))
    net.decays = decayed
    ops = list(net.ops())
    uses: dict[int, list[Op]] = defaultdict(list)
    for op in ops:
        if op.param is not None:
            uses[op.param].append(op)
    consumers: dict[Value, int] = defaultdict(int)
    for op in ops:
        for src in op.sources:
            consumers[src] += 1

    # per-use initial entries and multipliers (a tied tensor has one per use)
    neg_a: dict[Hashable, Node] = {}
    w0: dict[Hashable, Node] = {}
    for op in ops:
        if op.param is None:
            continue
        layer = _layer(param, op.param)
        use = op.out.key
        extra = op.extra_a if isinstance(op, Linear) else Fraction(0)
        a_node: Node = ("a", op.param)
        neg_a[use] = ("neg_a", op.param)
        if extra:
            b.node(("neg_a", use), partial(_scaled, -extra), ("neg_a", op.param))
            b.node(("a", use), partial(_scaled, extra), ("a", op.param))
            neg_a[use], a_node = ("neg_a", use), ("a", use)
        w0[use] = ("W0", use)
        b.node(("W0", use), partial(_w0, layer.zero_init), a_node, ("b", op.param))

    def grad_target(value: Value, op_index: int, t: int) -> Node:
        """Where ``ops[op_index]``'s backward signal into ``value`` goes (a part when several ops use it)."""
        if consumers[value] == 1:
            return (value.grad, value.key, t)
        return ("gpart", value.prefix, value.key, op_index, t)

    for t in range(horizon + 1):
        _forward(b, net, ops, param, t, neg_a, w0)
        _backward_pass(b, net, ops, param, t, neg_a, w0, grad_target, consumers)
        _gradients(b, ops, uses, t, neg_a)
        if t < horizon:
            _updates(b, param, uses, t, set(decayed))
    graph = b.graph
    graph.graph["network"] = net
    return graph


def _forward(b: _Builder, net: Network, ops: list[Op], param: Parametrization, t: int,
             neg_a: dict[Hashable, Node], w0: dict[Hashable, Node]) -> None:
    for op in ops:
        out = op.out
        key = out.key
        if isinstance(op, Linear):
            layer = _use(param, op)
            src = op.src
            if t == 0:
                if src is None:
                    b.node(_at(out, 0), _first_preactivation, w0[key])
                else:
                    b.node(_at(out, 0), partial(_forward_init, layer.fan_in_width), w0[key], _at(src, 0))
                continue
            if src is None:
                b.node(("eff", key, t), _effective_input, neg_a[key], ("dw", op.index, t))
                b.node(_change(out, t), _identity, ("eff", key, t))
            else:
                per_update: list[Node] = []
                for s in range(1, t + 1):
                    per_update += [("u", op.index, s), _at(src, s - 1), _change(src, s - 1)]
                eff_rule = partial(_effective, _act_of(net, src),
                                   forward_update_factor(layer.alignment, layer.fan_in_width), layer.fan_in_width)
                eff_node: Node = ("eff", key, t)
                if layer.wd_exponent is not None:
                    eff_node = ("eff_updates", key, t)
                b.node(eff_node, eff_rule, neg_a[key], _at(src, t), _change(src, t), *per_update)
                b.node(("prop", key, t), partial(_propagating, propagating_factor(
                    layer.alignment, layer.fan_in_width, layer.fan_out_width)), w0[key], _change(src, t))
                if layer.wd_exponent is not None:
                    b.node(("eff", key, t), _decayed_output, eff_node, ("shrunk", op.index, t), _at(out, 0),
                           ("prop", key, t))
                b.node(_change(out, t), _total_change, ("eff", key, t), ("prop", key, t))
            b.node(_at(out, t), _current, _at(out, 0), _change(out, t))
        elif isinstance(op, Act):
            act = op.act
            if t > 0:
                b.node(_change(out, t), partial(activation_change_rule, act), _change(op.src, t))
            b.node(_at(out, t), partial(activation_rule, act), _at(op.src, t))
        elif isinstance(op, Norm):
            if t > 0:
                b.node(_change(out, t), _norm_change, _at(op.src, 0), _change(op.src, t))
            b.node(_at(out, t), _norm_value, _at(op.src, t))
        elif isinstance(op, Gain):
            if t == 0:
                b.node(_at(out, 0), add, w0[key], _at(op.src, 0))
                continue
            b.node(("eff", key, t), _gain_effective, neg_a[key], ("dw", op.index, t), _at(op.src, t))
            b.node(("prop", key, t), _gain_propagating, w0[key], _change(op.src, t))
            b.node(_change(out, t), _total_change, ("eff", key, t), ("prop", key, t))
            b.node(_at(out, t), _current, _at(out, 0), _change(out, t))
        elif isinstance(op, Bias):
            if t == 0:
                b.node(_at(out, 0), mx, w0[key], _at(op.src, 0))
                continue
            b.node(("eff", key, t), _effective_input, neg_a[key], ("dw", op.index, t))
            b.node(("prop", key, t), _identity, _change(op.src, t))
            b.node(_change(out, t), _total_change, ("eff", key, t), ("prop", key, t))
            b.node(_at(out, t), _current, _at(out, 0), _change(out, t))
        elif isinstance(op, Add) and op.group is not None:  # terms standing for groups of blocks
            init = tuple(add(scale, g[0]) if g else scale for scale, g in zip(op.scales, op.group, strict=True))
            if t == 0:
                b.node(_at(out, 0), partial(_sum, init), *[_at(s, 0) for s in op.terms])
                continue
            parts: list[Node] = []
            for i, (term, scale, g) in enumerate(zip(op.terms, op.scales, op.group, strict=True)):
                if g is None:
                    parts.append(_change(term, t))
                    continue
                # a group's changes: its own updates are aligned across blocks (L), what the blocks' initial
                # weights carry is independent (L^{1/2})
                own, carried = _own_and_carried(net, term, t)
                b.node(("dgroup", key, i, t), partial(_group_change, add(scale, g[1]), add(scale, g[0])), own,
                       carried)
                parts.append(("dgroup", key, i, t))
            b.node(_change(out, t), mx, *parts)
            b.node(_at(out, t), _current, _at(out, 0), _change(out, t))
        elif isinstance(op, Add):
            b.node(_at(out, t), partial(_sum, op.scales), *[_at(s, t) for s in op.terms])
            if t > 0:
                b.node(_change(out, t), partial(_sum, op.scales), *[_change(s, t) for s in op.terms])
        elif isinstance(op, Scores):
            if t == 0:
                b.node(_at(out, 0), partial(_scores_init, op.head_width, op.alpha), _at(op.q, 0), _at(op.k, 0))
                continue
            own_q, carried_q = _own_and_carried(net, op.q, t)
            own_k, carried_k = _own_and_carried(net, op.k, t)
            rule = partial(_scores_change, op.head_width, op.alpha)
            b.node(_change(out, t), rule, _at(op.q, t), _at(op.k, t), own_q, carried_q, own_k, carried_k)
            # the two parts of that change, reported beside it (verification measures each): what the query's and
            # key's own updates add, and what the initial weights give on the moved inputs
            b.node((f"{out.change}_own", key, t), rule, _at(op.q, t), _at(op.k, t), own_q, NONE, own_k, NONE)
            b.node((f"{out.change}_carried", key, t), partial(_scores_carried, op.head_width, op.alpha),
                   _at(op.q, 0), _at(op.k, 0), carried_q, carried_k)
            b.node(_at(out, t), _current, _at(out, 0), _change(out, t))
        elif isinstance(op, Mix):
            b.node(_at(out, t), _identity, _at(op.v, t))
            if t > 0:
                b.node(_change(out, t), _mix_change, _at(op.v, t), _change(op.v, t), _change(op.scores, t))
        else:  # pragma: no cover - every operation type is handled above
            raise TypeError(type(op).__name__)


def _backward_pass(b: _Builder, net: Network, ops: list[Op], param: Parametrization, t: int,
                   neg_a: dict[Hashable, Node], w0: dict[Hashable, Node],
                   target: Callable[[Value, int, int], Node], consumers: dict[Value, int]) -> None:
    logits = net.logits
    b.node(("chi", t), partial(chi_rule, param.loss), _at(logits, t))
    b.node((logits.grad, logits.key, t), _identity, ("chi", t))
    for position in reversed(range(len(ops))):
        op = ops[position]
        g_out = (op.out.grad, op.out.key, t)
        key = op.out.key
        if isinstance(op, Linear):
            if op.src is None:
                continue
            layer = _use(param, op)
            init_f = backward_init_factor(layer.alignment, layer.fan_in_width, layer.fan_out_width)
            upd_f = backward_update_factor(layer.alignment, layer.fan_out_width)
            b.node(target(op.src, position, t), partial(_backward, init_f, upd_f), w0[key], neg_a[key],
                   ("dw", op.index, t) if t > 0 else NONE, g_out)
            if op.group is not None:  # the block's group sums its signals into the stream: independent through
                # the initial weights, aligned through the updates
                b.node(("gstream", key, t), partial(_backward, add(init_f, op.group[0]), add(upd_f, op.group[1])),
                       w0[key], neg_a[key], ("dw", op.index, t) if t > 0 else NONE, g_out)
            if t > 0 and isinstance(net.graph.nodes[op.src].get("op"), Mix):
                # the part of the signal that came back through W's own update: it points along the inputs W
                # was updated with (the attention's output, a mix of values), so the scores' gradient sums it
                # coherently over d_head
                b.node(("gupd", op.src.key, t), partial(_through_update, upd_f), neg_a[key], ("dw", op.index, t),
                       g_out)
        elif isinstance(op, Act):
            b.node(target(op.src, position, t), _identity, g_out)  # phi'(h) = Theta(1) (or 0/1 for relu)
        elif isinstance(op, Norm) and op.grouped:
            readers, gain = _block_readers(net, op)
            b.node(target(op.src, position, t), _grouped_norm_backward, _at(op.src, t),
                   w0[gain] if gain is not None else NONE, *[("gstream", r, t) for r in readers])
        elif isinstance(op, Norm):
            b.node(target(op.src, position, t), _norm_backward, g_out, _at(op.src, t))
        elif isinstance(op, Gain):
            b.node(target(op.src, position, t), partial(_backward, Fraction(0), Fraction(0)), w0[key], neg_a[key],
                   ("dw", op.index, t) if t > 0 else NONE, g_out)
        elif isinstance(op, Bias):
            b.node(target(op.src, position, t), _identity, g_out)
        elif isinstance(op, Add):
            for term, scale in zip(op.terms, op.scales, strict=True):
                b.node(target(term, position, t), partial(_scaled, scale), g_out)
        elif isinstance(op, Scores):
            b.node(target(op.q, position, t), partial(_scores_backward, op.alpha, op.head_width), g_out,
                   _at(op.k, t))
            b.node(target(op.k, position, t), partial(_scores_backward, op.alpha, op.head_width), g_out,
                   _at(op.q, t))
        elif isinstance(op, Mix):
            b.node(target(op.v, position, t), _identity, g_out)
            aligned = ("gupd", key, t) if t > 0 and ("gupd", key, t) in b.graph else NONE
            b.node(target(op.scores, position, t), partial(_mix_scores_backward, op.head_width), g_out,
                   _at(op.v, t), aligned, _at(op.scores, t))
    for value, count in consumers.items():  # a value read by several operations: the largest of their signals
        if count > 1:
            parts = [("gpart", value.prefix, value.key, i, t) for i, o in enumerate(ops) if value in o.sources]
            b.node((value.grad, value.key, t), mx, *parts)


def _gradients(b: _Builder, ops: list[Op], uses: dict[int, list[Op]], t: int,
               neg_a: dict[Hashable, Node]) -> None:
    for index, used in uses.items():
        targets = [("G", index, t)] if len(used) == 1 else [("Gpart", op.out.key, t) for op in used]
        for op, node in zip(used, targets, strict=True):
            key = op.out.key
            g_out = (op.out.grad, key, t)
            if isinstance(op, Linear):
                if op.src is None:
                    b.node(node, lambda na, g: _weight_gradient(na, g, Fraction(0)), neg_a[key], g_out)
                else:
                    b.node(node, _weight_gradient, neg_a[key], g_out, _at(op.src, t))
            elif isinstance(op, Gain):
                b.node(node, _weight_gradient, neg_a[key], g_out, _at(op.src, t))
            elif isinstance(op, Bias):
                b.node(node, lambda na, g: _weight_gradient(na, g, Fraction(0)), neg_a[key], g_out)
        if len(used) > 1:
            b.node(("G", index, t), mx, *targets)  # one tensor, one gradient: the sum over its uses


def _updates(b: _Builder, param: Parametrization, uses: dict[int, list[Op]], t: int, decayed: set[int]) -> None:
    """Update t+1 of every tensor; with momentum it follows the running sum of gradients."""
    for layer in param.layers:
        l = layer.index
        if l not in uses:
            continue
        direction: Node = ("G", l, t)
        if param.optimizer.momentum:
            direction = ("buf", l, t)
            if t == 0:
                b.node(direction, _identity, ("G", l, 0))
            else:
                b.node(direction, _accumulate, ("buf", l, t - 1), ("G", l, t))
        shape = muon_entry_exponent(param.optimizer.muon_scale, layer.fan_in_width, layer.fan_out_width)
        rule = partial(update_rule, param.optimizer.name, shape)
        moved = ("dw", l, t) if t > 0 else NONE
        b.node(("u", l, t + 1), rule, ("lr", l, t + 1), direction, ("b", l), ("eps", l), moved)
        updates = ("dw", l, t + 1)
        if l in decayed:
            updates = ("updates", l, t + 1)
            b.node(("shrink", l, t + 1), _shrink, ("lr", l, t + 1), ("wd", l))
            if t == 0:
                b.node(("shrunk", l, 1), _identity, ("shrink", l, 1))
            else:
                b.node(("shrunk", l, t + 1), _accumulate, ("shrunk", l, t), ("shrink", l, t + 1))
            b.node(("dw", l, t + 1), _decayed_weights, ("shrunk", l, t + 1), ("b", l), updates)
        if t == 0:
            b.node(updates, _identity, ("u", l, 1))
        else:
            b.node(updates, _accumulate, ("updates", l, t) if l in decayed else ("dw", l, t), ("u", l, t + 1))
