"""The training computation graph, unrolled over steps, as a networkx DiGraph of scale rules.

Nodes are ``(kind, layer, step)`` tuples (inputs are ``(kind, layer)``); each non-input node stores
``rule`` (a function of its predecessors' exponents, in ``args`` order).  Kinds:

====== ===========================================================================================
W0     entries of the effective initial matrix W^l_0 = n^{-a} w_0:  -(a+b)   (None if zero-init)
h      pre-activation h^l_t (layer L+1: the logits f_t)
x      activation x^l_t = phi(h^l_t)
chi    d loss / d logits (CE: bounded; MSE: grows with the logits)
gx     backward signal d loss / d x^l_t;  g: d loss / d h^l_t
G      entries of the weight gradient d loss / d w^l_t
u      entries of the t-th update of w^l (optimizer rule);  dw: accumulated w^l_t - w^l_0
buf    momentum buffer (SGD/Muon with momentum): the running sum of the gradients G^l_0..G^l_t
eff    effective update  (W^l_t - W^l_0) x^{l-1}_t
prop   propagating update  W^l_0 (x^{l-1}_t - x^{l-1}_0)
dh     pre-activation change  h^l_t - h^l_0 (= max(eff, prop));  dx: feature change x^l_t - x^l_0
====== ===========================================================================================

Counting rules (exponent of n, RMS per coordinate):
* a sum of m independent centred terms scales like m^{1/2} (CLT), of m aligned terms like m;
  fan-ins/fan-outs of width n contribute exponent 1, the fixed d and k contribute 0;
* updates are aligned with the input that produced them (``ΔW x``: aligned sum over the fan-in);
* ``W_0 Δx``: under the Tensor Programs convention (``tp``, default) Δx carries a component along
  the backward direction ``W_0^T (...)``, whose ``W_0 W_0^T`` product adds like the fan-in while
  dividing by the fan-out: factor ``max(fan_in/2, fan_in - fan_out/2)`` (=1/2 hidden, 1 readout);
  Everett et al.'s ``full`` / ``none`` alignment use 1/2 and 0 instead.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import networkx as nx

from theory.algebra import Maybe, add, mn, mx
from theory.parametrization import Activation, Parametrization, muon_scale_exponent
from theory.tangent import Tangent

HALF = Fraction(1, 2)
Node = tuple[Any, ...]


# ---- rules (pure functions of exponents) ------------------------------------------------------------
def _w0(zero_init: bool, a: Maybe, b: Maybe) -> Maybe:
    return None if zero_init else -add(a, b)  # type: ignore[operator]


def _first_preactivation(w0: Maybe) -> Maybe:
    return w0  # sum over the fixed input dimension d of Theta(1) inputs


def _forward_init(fan_in: int, w0: Maybe, x_prev: Maybe) -> Maybe:
    return add(w0, x_prev, HALF * fan_in)  # independent initial weights: CLT over the fan-in


def activation_rule(act: Activation, h: Maybe) -> Maybe:
    if act.phi0_nonzero:
        return Fraction(0)  # phi(0) != 0 and bounded: x = Theta(1) whatever h does
    if act.bounded:
        return mn(h, Fraction(0))  # phi(0) = 0, phi'(0) != 0, bounded (tanh)
    return h  # relu, linear, gelu: |phi(h)| ~ |h| at both ends


def activation_change_rule(act: Activation, dh: Maybe) -> Maybe:
    return mn(dh, Fraction(0)) if act.bounded else dh  # phi Lipschitz; bounded ones cap at Theta(1)


def chi_rule(loss: str, logits: Maybe) -> Maybe:
    if loss == "ce":
        return Fraction(0)  # softmax(f) - y is bounded by 1 whatever the logits do
    return mx(Fraction(0), logits)  # f - y grows with the logits


def _backward(init_factor: Maybe, update_factor: Maybe, w0: Maybe, neg_a: Maybe, dw: Maybe,
              g_next: Maybe) -> Maybe:
    through_init = add(w0, g_next, init_factor)
    through_update = add(neg_a, dw, g_next, update_factor)
    return mx(through_init, through_update)


def _identity(value: Maybe) -> Maybe:
    return value


def _weight_gradient(neg_a: Maybe, g: Maybe, x_prev: Maybe) -> Maybe:
    return add(neg_a, g, x_prev)


def update_rule(optimizer: str, shape: Fraction, lr: Maybe, grad: Maybe, b: Maybe, eps: Maybe | str,
            moved: Maybe = None) -> Maybe:
    """Exponent of the entries of one optimizer step of w (zero gradients give no step).

    ``grad`` is what the step follows: the gradient, or the momentum buffer (the running sum of gradients).
    ``shape`` is Muon's entry exponent: see ``muon_entry_exponent``.  ``moved``: entries of w_t - w_0 before
    this step (None before the first); Adafactor's relative step follows the current RMS(w_t), which is the
    init's n^{-b} until the weights have moved further.
    """
    if grad is None:
        return None
    if optimizer == "sgd":
        return add(lr, grad)
    if optimizer in ("adam", "adamw", "signsgd"):
        if eps == "none":
            return lr  # sign-like: entries of size lr whatever the gradient scale
        # grad / (|grad| + eps): 1 while the gradient dominates eps = n^{-e}, grad/eps below it
        return add(lr, mn(Fraction(0), add(grad, eps)))  # eps holds +e here
    if optimizer == "adafactor":
        return add(lr, mx(-b if b is not None else None, moved))  # relative step: RMS(w_t)
    if optimizer == "muon":
        return add(lr, shape)
    raise ValueError(optimizer)


def muon_entry_exponent(scale: str, fan_in: int, fan_out: int) -> Fraction:
    """Entry exponent of Muon's step before the learning rate: orthogonalised, then scaled.

    A step built from O(1) examples has rank O(1) (the batch is fixed as n grows); orthogonalising it keeps its
    singular vectors and sets its singular values to 1, so its entries are (fan_in fan_out)^{-1/2}.  Muon then
    multiplies it by its shape factor (``muon_scale_exponent``: Jordan's sqrt(max(1, fan_out/fan_in)) by default).
    """
    return -HALF * (fan_in + fan_out) + muon_scale_exponent(scale, fan_in, fan_out)


def _accumulate(previous: Maybe, step: Maybe) -> Maybe:
    return mx(previous, step)


def _effective_input(neg_a: Maybe, dw: Maybe) -> Maybe:
    return add(neg_a, dw)  # the input xi is fixed: (W_t - W_0) xi sums d terms


def _effective(act: Activation, aligned: Fraction, fan_in: int, neg_a: Maybe, x_now: Maybe, dx_now: Maybe,
               *contributions: Maybe) -> Maybe:
    """(W_t - W_0) x_t = sum over updates s of u_s (x_{s-1} . x_t) / |x_{s-1}|.

    ``contributions`` are triples (u_s, x_{s-1}, dx_{s-1}).  Two feature vectors overlap coherently through
    the part of x_t that x_{s-1} shares (the same directions, up to the inputs' correlation): fan-in sum of
    |x_{s-1}|.  With a nonzero-mean activation (relu, gelu, sigmoid) they also overlap through their means,
    n E[x_{s-1}] E[x_t] / |x_{s-1}|: the fan-in sum of |x_t| as long as a feature's mean is of the order of its
    RMS.  Where pre-activations vanish, gelu's mean is second order in them (``mean_exponent``), so after a
    large first step (IP-LLR) the new features overlap the vanishing old ones no more than a random sum
    (fan_in/2) does.  With a centred activation (tanh, linear) the change since x_{s-1} adds like a random
    sum: this is where deep integrable parametrizations feel the activation.
    """
    terms: list[Maybe] = []
    for i in range(0, len(contributions), 3):
        update, x_then, dx_then = contributions[i:i + 3]
        if act.nonzero_mean:
            if x_then is None:
                terms.append(None)
                continue
            means = add(aligned, mean_exponent(act, x_then), mean_exponent(act, x_now), -x_then)
            overlap = mx(add(aligned, x_then), means, add(HALF * fan_in, x_now))
        else:
            overlap = mx(add(aligned, x_then), add(HALF * fan_in, mx(dx_now, dx_then)))
        terms.append(add(neg_a, update, overlap))
    return mx(*terms)


def mean_exponent(act: Activation, x: Maybe) -> Maybe:
    """Exponent of the mean E[phi(h)] of features x = phi(h) of exponent ``x`` (nonzero-mean activations).

    Of the order of x itself, except below Theta(1) for an activation whose mean starts at a higher order in h
    (gelu: second order, so n^{2x} while x < 0).
    """
    if x is None or act.mean_order <= 1:
        return x
    if isinstance(x, Tangent) and (x.value >= 0 or not any(x.slope)):
        # the learning-rate solver's affine pieces: at or above Theta(1) the mean is of the order of x; a
        # constant (an initialisation, which no learning rate moves) is exact either way
        return x if x.value >= 0 else Tangent(min(x.value, act.mean_order * x.value))
    return mn(x, add(*[x] * act.mean_order))


def _propagating(factor: Fraction, w0: Maybe, dx_prev: Maybe) -> Maybe:
    return add(w0, dx_prev, factor)


def _total_change(eff: Maybe, prop: Maybe) -> Maybe:
    return mx(eff, prop)


def _current(init: Maybe, change: Maybe) -> Maybe:
    return mx(init, change)


# ---- alignment factors ------------------------------------------------------------------------------
def forward_update_factor(alignment: str, fan_in: int) -> Fraction:
    """Exponent added by summing ΔW_ij x_j over the fan-in: aligned (n) or not (n^{1/2})."""
    return Fraction(fan_in) * (HALF if alignment == "none" else 1)


def propagating_factor(alignment: str, fan_in: int, fan_out: int) -> Fraction:
    """Exponent added by W_0 Δx over the fan-in (see module docstring)."""
    if alignment == "full":
        return HALF * fan_in
    if alignment == "none":
        return Fraction(0)
    return max(HALF * fan_in, fan_in - HALF * fan_out)


def backward_init_factor(alignment: str, fan_in: int, fan_out: int) -> Fraction:
    if alignment == "tp":
        return max(HALF * fan_out, fan_out - HALF * fan_in)
    return HALF * fan_out


def backward_update_factor(alignment: str, fan_out: int) -> Fraction:
    return Fraction(fan_out) * (HALF if alignment == "none" else 1)


# ---- construction -----------------------------------------------------------------------------------
def input_nodes(n_layers: int) -> list[Node]:
    nodes: list[Node] = [("X",), ("none",)]  # ("none",) holds -oo (an absent term)
    for l in range(1, n_layers + 1):
        nodes += [("a", l), ("neg_a", l), ("b", l), ("eps", l)]
    return nodes


def lr_nodes(n_layers: int, horizon: int) -> list[Node]:
    """Learning-rate exponent X - c_l(t) of every layer at every update t (schedules allowed)."""
    return [("lr", l, t) for l in range(1, n_layers + 1) for t in range(1, horizon + 1)]


def build_graph(param: Parametrization, horizon: int) -> nx.DiGraph:
    """The unrolled graph for steps 0..horizon (updates 1..horizon) of ``param``'s network of operations."""
    from theory.network import network_of
    from theory.unroll import unroll

    return unroll(network_of(param), param, horizon)


def evaluate(graph: nx.DiGraph, inputs: dict[Node, Any], order: list[Node]) -> dict[Node, Maybe]:
    """Exponent of every node, propagating ``inputs`` along ``order`` (a topological order)."""
    values: dict[Node, Maybe] = dict(inputs)
    nodes = graph.nodes
    for key in order:
        data = nodes[key]
        rule = data["rule"]
        if rule is None:
            continue
        values[key] = rule(*[values[arg] for arg in data["args"]])
    return values
