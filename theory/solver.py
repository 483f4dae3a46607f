"""Per-layer learning-rate exponents c_l for a given initialisation, under one of two objectives.

For a given initialisation (a, b), loss, optimizer and alignment:

* ``max-updates``: c_l such that the settled effective update ``(W^l_t - W^l_0) x^{l-1}_t`` of every
  layer is Theta(n^0).  Each layer's effective-update exponent falls one-for-one with its own c_l, and
  the others enter only through the backward signal (readout -> hidden -> input) and the features, so
  the fixed-point iteration ``c_l <- c_l + E_l(c)`` settles within a few rounds.  Recovers muP (SGD and
  Adam) from muP init, and Everett et al.'s SP full-alignment exponents from SP init.
* ``max-lr``: the largest learning rates that keep training stable: minimise sum_l c_l subject to the
  engine's stability (every hidden pre-activation, the loss gradient and the logits O(1), no exponent
  growing from step to step).  This is the linear program of Everett et al. (2024, Sec. 4), with the
  constraints derived by the engine instead of written down: they are found as cutting planes, each
  the affine form (``theory.tangent``) of a derived exponent that is positive at the current candidate.

Either answer is checked exactly by ``derive`` before it is returned; nothing here knows a paper's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from theory.algebra import as_number
from theory.algebra import mx as _mx
from theory.engine import DEFAULT_HORIZON, Report, derive, graph_for, node_values
from theory.errors import InputError
from theory.lp import Unbounded, minimise
from theory.parametrization import Parametrization, check_choice
from theory.regimes import GROWTH_KINDS, STABLE, bounded_nodes
from theory.tangent import NotMaxPlus, Tangent, padded, unit

MAX_ROUNDS = 20
START = 8  # small learning rates everywhere: every update vanishes, nothing compounds
OBJECTIVES = ("max-updates", "max-lr")
MAX_CUTS = 200  # LP rounds of the max-lr objective
GROWTH_HORIZON = 3 * DEFAULT_HORIZON  # steps unrolled to read off a feedback loop's gain per step


def _rational(value: Fraction) -> sympy.Rational:
    return sympy.Rational(value.numerator, value.denominator)


def _at(param: Parametrization, c: list[Fraction]) -> Parametrization:
    return param.with_layers(c=[_rational(v) for v in c])


def _errors(param: Parametrization, c: list[Fraction]) -> list[Fraction]:
    """Effective-update exponent of every layer for per-layer LR exponents c."""
    report = derive(_at(param, c))
    errors = []
    for layer in report.layers:
        value = layer.values["effective_update"]
        number = None if value is None or value == -sympy.oo else as_number(value)
        if number is None:
            raise InputError(f"layer {layer.index} never receives a gradient under this init; "
                             "no learning rate makes its update Theta(1)")
        errors.append(number)
    return errors


@dataclass
class Solution:
    """Solved per-layer LR exponents (global X = 0) and the report of the solved parametrization."""

    c: list[sympy.Rational]
    parametrization: Parametrization
    report: Report
    rounds: int
    objective: str = "max-updates"


def solve(param: Parametrization, objective: str = "max-updates") -> Solution:
    """Per-layer c_l (X folded into c) for ``objective``: ``max-updates`` (Theta(1) effective updates in
    every layer) or ``max-lr`` (largest stable learning rates: minimal sum of c_l)."""
    check_choice("objective", objective, OBJECTIVES)
    if param.network is not None and param.network.depth_alpha is not None:
        raise InputError(f"{param.name}: a depth-scaled transformer (exponents in n and L): solve works in width; "
                         "drop transformer.depth_alpha, or see abcscale derive")
    if param.symbols():
        raise InputError("solve needs numeric a and b exponents (no symbols)")
    if objective == "max-lr":
        if param.network is not None:
            raise InputError("solve --objective max-lr: a transformer's norms and softmax use min() rules, outside "
                             "the LP's max-plus rules; use the max-updates objective or derive --lr-exponent x")
        return _max_lr(param.with_(lr_exponent=0))[1]
    return _max_updates(param.with_(lr_exponent=0))


def max_of(values: Any) -> Any:
    """The largest of some exponents (None: all exactly zero)."""
    return _mx(*list(values))


def _network_errors(param: Parametrization, c: list[Fraction]) -> list[Fraction]:
    """``_errors`` for a network of operations, read off the settled graph values (no phase diagram)."""
    at = _at(param, c)
    graph = graph_for(at, DEFAULT_HORIZON)[0]
    net = graph.graph["network"]
    values = node_values(at, DEFAULT_HORIZON)
    errors = []
    for layer in at.layers:
        # a tied tensor serves several operations: its learning rate is set by the use that moves most
        value = max_of(values.get(("eff", op.out.key, DEFAULT_HORIZON)) for op in net.uses(layer.index))
        if value is None:
            raise InputError(f"tensor {layer.name} never receives a gradient under this init; "
                             "no learning rate makes its update Theta(1)")
        errors.append(value)
    return errors


def _max_updates(candidate: Parametrization) -> Solution:
    n = len(candidate.layers)
    c = [Fraction(START)] * n
    if candidate.network is not None:
        return _max_updates_jacobi(candidate, c)
    known: dict[tuple[Fraction, ...], list[Fraction]] = {}  # c -> its errors: a derive is the costly part

    def errors_at(point: list[Fraction]) -> list[Fraction]:
        key = tuple(point)
        if key not in known:
            known[key] = _errors(candidate, point)
        return known[key]

    started: set[tuple[Fraction, ...]] = set()
    for rounds in range(1, MAX_ROUNDS + 1):
        if tuple(c) in started:  # the sweeps have come back to where one began: they cycle, never settle
            raise InputError("no per-layer learning-rate exponents give Theta(1) updates in every layer "
                             f"(the fixed-point iteration cycles after {rounds - 1} sweeps)")
        started.add(tuple(c))
        # Gauss-Seidel from the readout down: the backward signal flows readout -> input
        for position in reversed(range(n)):
            c[position] += errors_at(c)[position]
        if all(e == 0 for e in errors_at(c)):
            solved = _at(candidate, c)
            return Solution([_rational(v) for v in c], solved, derive(solved), rounds)
    raise InputError("no per-layer learning-rate exponents give Theta(1) updates in every layer "
                     f"(no fixed point after {MAX_ROUNDS} sweeps)")


def _max_updates_jacobi(candidate: Parametrization, c: list[Fraction]) -> Solution:
    """The fixed point for a network: every tensor's c moves by its own error at once (a GPT has ~10 tensors
    per block; one derivation per tensor and sweep would cost a hundred derivations a round)."""
    for rounds in range(1, 4 * MAX_ROUNDS + 1):
        errors = _network_errors(candidate, c)
        if all(e == 0 for e in errors):
            solved = _with_decay(_at(candidate, c))
            return Solution([_rational(v) for v in c], solved, derive(solved), rounds)
        c = [v + e for v, e in zip(c, errors, strict=True)]
    raise InputError("no per-tensor learning-rate exponents give Theta(1) updates in every tensor "
                     f"(no fixed point after {4 * MAX_ROUNDS} rounds)")


def _with_decay(param: Parametrization) -> Parametrization:
    """AdamW: each tensor's decoupled weight-decay exponent such that a decay step shrinks the weights by a
    Theta(1) fraction, eta lambda = n^0 (weights forget their past at a width-independent rate, the largest
    rate the regime's bound on the shrink allows); other optimizers are returned unchanged.  Read off the
    engine's shrink node at lambda = n^0."""
    if param.optimizer.name != "adamw":
        return param
    from dataclasses import replace

    probe = replace(param, layers=tuple(replace(layer, wd_exponent=sympy.Integer(0)) for layer in param.layers))
    values = node_values(probe, DEFAULT_HORIZON)
    layers = []
    for layer in probe.layers:
        rate = values[("shrink", layer.index, DEFAULT_HORIZON)]  # eta lambda at lambda = n^0
        assert rate is not None  # a sum of two numbers
        layers.append(replace(layer, wd_exponent=_rational(rate)))
    return replace(param, layers=tuple(layers))


# ---- max-lr: Everett et al.'s LP, constraints from the engine -------------------------------------------
Cut = tuple[tuple[Fraction, ...], Fraction]  # (slope, bound): slope . c <= bound


def _tangents(param: Parametrization, c: list[Fraction], horizon: int) -> dict[tuple[Any, ...], Any]:
    """Every node's exponent at c with its active affine form in the steady-state LR exponents c_l."""
    size = len(c)
    rates = {(l, t): Tangent(-c[l - 1], unit(l - 1, size, Fraction(-1)))
             for l in range(1, size + 1) for t in range(len(param.warmup) + 1, horizon + 1)}
    try:
        return dict(node_values(_at(param, c), horizon, rates))
    except NotMaxPlus as err:
        raise InputError("solve --objective max-lr needs rules built from + and max only: an unbounded "
                         "activation (relu, gelu, linear) and no Adam epsilon") from err


def _cut(form: Tangent, c: list[Fraction]) -> Cut:
    """``form <= 0`` as a row of the LP."""
    return padded(form.slope, len(c)), -form.offset(c)


def _bound_cuts(param: Parametrization, c: list[Fraction], horizon: int) -> list[Cut]:
    """Affine forms of the bounded exponents (features, chi, logits) that are positive at c."""
    values = _tangents(param, c, horizon)
    cuts: list[Cut] = []
    net = graph_for(param, horizon)[0].graph["network"]
    for nodes in bounded_nodes(net, horizon).values():
        for node in nodes:
            value = values[node]
            if isinstance(value, Tangent) and value.value > 0:
                cuts.append(_cut(value, c))
            elif isinstance(value, Fraction) and value > 0:
                raise InputError(f"node {node} grows with n whatever the learning rates (check the initialisation)")
    return cuts


def _growth_cuts(param: Parametrization, c: list[Fraction]) -> list[Cut]:
    """Gains of the feedback loops that make exponents grow at c: once an exponent's active form rises by the
    same affine form at every step, that rise is the loop's gain per step, and stability needs it <= 0."""
    horizon = GROWTH_HORIZON
    cuts = _bound_cuts(param, c, horizon)
    if cuts:
        return cuts
    values = _tangents(param, c, horizon)
    for (kind, *rest), value in list(values.items()):
        if kind not in GROWTH_KINDS or len(rest) != 2 or rest[1] != horizon or not isinstance(value, Tangent):
            continue
        before, earlier = values.get((kind, rest[0], horizon - 1)), values.get((kind, rest[0], horizon - 2))
        if not (isinstance(before, Tangent) and isinstance(earlier, Tangent)):
            continue
        rise = value - before
        if rise.value > 0 and rise.same_form(before - earlier, c):
            cuts.append(_cut(rise, c))
    return cuts


def _optimise(base: Parametrization, weights: list[Fraction], rows: list[Cut], start: list[Fraction],
              cuts: list[Cut]) -> tuple[list[Fraction], Report, int]:
    """Minimise weights . c over the engine's stable set (and ``rows``), from the stable point ``start``.

    Each round solves the LP over the constraints found so far; if the engine finds its answer unstable,
    the affine forms behind that verdict join ``cuts`` (shared between calls) and the LP is solved again."""
    for rounds in range(1, MAX_CUTS + 1):
        try:
            c = minimise(weights, rows + cuts, start)
        except Unbounded as err:  # the box rows make this unreachable; kept for a clear message
            raise InputError("solve --objective max-lr: the learning rates grow without bound") from err
        new = _bound_cuts(base, c, DEFAULT_HORIZON)
        if not new:
            report = derive(_at(base, c))
            if report.regime == STABLE:
                return c, report, rounds
            new = _growth_cuts(base, c)
            if not new:
                raise InputError(f"solve --objective max-lr: training at c = {[str(v) for v in c]} is "
                                 f"{report.regime}, and no derived exponent gives a linear constraint against it")
        if any(_value(cut, start) > 0 for cut in new):
            raise InputError("solve --objective max-lr: a derived constraint excludes a stable point")
        cuts += [cut for cut in new if cut not in cuts]
    raise InputError(f"solve --objective max-lr: no answer after {MAX_CUTS} rounds of the LP")


def _value(cut: Cut, c: list[Fraction]) -> Fraction:
    """How far c violates the cut (> 0: violated)."""
    slope, bound = cut
    return sum((s * v for s, v in zip(slope, c, strict=True)), Fraction(0)) - bound


def _box(size: int) -> list[Cut]:
    return [(unit(i, size, Fraction(sign)), Fraction(START)) for i in range(size) for sign in (1, -1)]


def _max_lr(base: Parametrization, cuts: list[Cut] | None = None) -> tuple[list[Fraction], Solution]:
    """The max-lr answer (as Fractions, and as a Solution); ``cuts`` collects the constraints it needed."""
    size = len(base.layers)
    top = [Fraction(START)] * size
    if derive(_at(base, top)).regime != STABLE:
        raise InputError(f"training is not stable even with learning rates n^-{START} in every layer "
                         "(check the initialisation)")
    c, report, rounds = _optimise(base, [Fraction(1)] * size, _box(size), top, [] if cuts is None else cuts)
    edge = [l + 1 for l, v in enumerate(c) if abs(v) == START]
    if edge:
        raise InputError(f"solve --objective max-lr: the learning rate of layer(s) {edge} is not bounded by "
                         "stability (the LP is unbounded)")
    return c, Solution([_rational(v) for v in c], report.parametrization, report, rounds, "max-lr")


def max_lr_ranges(param: Parametrization) -> list[tuple[sympy.Rational, sympy.Rational]]:
    """Range of each c_l over all maximisers of the max-lr objective (lo == hi everywhere: a unique answer)."""
    if param.symbols():
        raise InputError("solve needs numeric a and b exponents (no symbols)")
    base = param.with_(lr_exponent=0)
    cuts: list[Cut] = []
    best, _ = _max_lr(base, cuts)
    size = len(best)
    rows = _box(size) + [((Fraction(1),) * size, sum(best, Fraction(0)))]
    ranges = []
    for l in range(size):
        low = _optimise(base, list(unit(l, size, Fraction(1))), rows, best, cuts)[0][l]
        high = _optimise(base, list(unit(l, size, Fraction(-1))), rows, best, cuts)[0][l]
        ranges.append((_rational(low), _rational(high)))
    return ranges
