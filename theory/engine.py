"""Derive width exponents by propagating scales along the unrolled training graph.

``derive(param)`` evaluates the graph of ``theory.graph`` for the parametrization's numbers, and
(when only the learning-rate exponent varies) once more with piecewise-linear values to obtain the
exact phase diagram over x, the maximal stable LR exponent and the largest one with bounded logits.
Nothing here knows any paper's answer: presets enter only as (a, b, c) inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import networkx as nx
import sympy

from theory.algebra import Maybe, Value, as_number, to_sympy
from theory.errors import InputError
from theory.exponents import Exponent, format_exponent, shown
from theory.graph import build_graph, evaluate
from theory.network import Network
from theory.parametrization import Parametrization
from theory.piecewise import PiecewiseLinear
from theory.quantities import QUANTITIES, REGISTRY
from theory.quantities import quantity as quantity_named
from theory.regimes import (
    CATASTROPHIC,
    STABLE,
    TRAINABLE,
    Phase,
    blows_up,
    classify,
    phase_diagram,
    predicates,
    sup_where,
    vanishes,
)

DEFAULT_HORIZON = 4
HORIZONS = range(2, 65)  # unrolled steps the engine accepts: exponents settle by step 2-3, and the graph grows with T


def check_horizon(horizon: object, name: str = "horizon") -> int:
    """``horizon`` as an int in ``HORIZONS``, else InputError naming ``name`` (the keyword, or the CLI's flag)."""
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise InputError(f"{name}: expected an integer number of unrolled steps ({HORIZONS[0]}..{HORIZONS[-1]}), "
                         f"got {type(horizon).__name__} {shown(horizon)}")
    if horizon not in HORIZONS:
        raise InputError(f"{name}: need {HORIZONS[0]}..{HORIZONS[-1]} unrolled steps, got {shown(horizon)}")
    return horizon


@dataclass
class LayerReport:
    """Settled exponents of one layer (values at the horizon; ``first_step`` at t = 1)."""

    index: int
    role: str
    a: Exponent
    b: Exponent
    c: Exponent
    values: dict[str, Exponent | None]
    first_step: dict[str, Exponent | None]
    verdict: str | None  # feature-learning / lazy / divergent / frozen (None if symbolic)

    @property
    def feature_learning(self) -> bool | None:
        return None if self.verdict is None else self.verdict == "feature-learning"

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)


@dataclass
class Report:
    """Everything ``abcscale derive`` prints, with exact exponents."""

    parametrization: Parametrization
    regime: str | None
    dynamics: str | None
    nontrivial: bool | None
    max_stable_lr_exponent: Exponent | None
    max_stable_attained: bool
    max_bounded_logits_lr_exponent: Exponent | None
    phases: list[Phase] | None
    logits: dict[str, Exponent | None]
    layers: list[LayerReport]
    horizon: int
    settled_at: int | None
    notes: list[str] = field(default_factory=list)
    _steps: dict[tuple[str, int, int], Exponent | None] = field(default_factory=dict, repr=False)
    # hidden layers whose pre-activation vanishes at init: layer -> exponent of h^l_0 (-oo: exactly zero)
    vanishing_init: dict[Any, Exponent] = field(default_factory=dict)
    # with a vanishing init: the step from which every hidden pre-activation is Theta(1) (None: not by the horizon)
    init_lifted_at: int | None = None
    # a network's reported values beside its tensors (logits; per block attention logits, residual stream)
    modules: dict[str, dict[str, Exponent | None]] = field(default_factory=dict)
    # the same values at every step: (name, "init" | "change", step) -> exponent ("init" at step 0 only)
    _module_steps: dict[tuple[str, str, int], Exponent | None] = field(default_factory=dict, repr=False)

    def module_exponent(self, name: str, kind: str, step: int) -> Exponent | None:
        """Exponent of a module value (``modules``' names: attention logits, residual stream, logits): its
        ``kind`` "init" (at step 0) or its "change" since initialisation after ``step`` updates; for attention
        logits also the change's parts "own" (what the query's and key's own updates add) and "carried" (the
        initial weights on the moved inputs)."""
        if name not in self.modules:
            from theory.parametrization import suggest

            raise InputError(f"unknown module value {name!r}{suggest(name, list(self.modules))}")
        if kind not in ("init", "change", *PARTS):
            raise InputError(f"module value kind {kind!r}: choose init, change, own or carried")
        return self._module_steps.get((name, kind, 0 if kind == "init" else min(step, self.horizon)))

    def exponent(self, quantity: str, layer: int, step: int) -> Exponent | None:
        """Exponent of ``quantity`` at ``layer`` after ``step`` updates (settled value past the horizon)."""
        quantity_named(quantity)  # InputError with suggestions for an unknown name
        if not 1 <= layer <= len(self.layers):
            from theory.errors import InputError

            raise InputError(f"layer {layer}: this parametrization has layers 1..{len(self.layers)}")
        return self._steps.get((quantity, layer, min(step, self.horizon)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; exponents as exact strings like '-1/2'."""
        def s(v: Exponent | None) -> str | None:
            return None if v is None or v == -sympy.oo else format_exponent(v)

        p = self.parametrization
        data: dict[str, Any] = {
            "parametrization": p.name,
            "source": p.source,
            "hidden_layers": p.hidden_layers,
            "activation": p.activation,
            "loss": p.loss,
            "optimizer": p.optimizer.name,
            "eps_exponent": s(p.optimizer.eps_exponent),
            "lr_exponent": s(p.lr_exponent),
            "regime": self.regime,
            "dynamics": self.dynamics,
            "nontrivial": self.nontrivial,
            "max_stable_lr_exponent": s(self.max_stable_lr_exponent),
            "max_stable_attained": self.max_stable_attained,
            "max_bounded_logits_lr_exponent": s(self.max_bounded_logits_lr_exponent),
            "phases": None if self.phases is None else [
                {"from": s(_sym(ph.lower)), "to": s(_sym(ph.upper)), "from_closed": ph.lower_closed,
                 "to_closed": ph.upper_closed, "regime": ph.regime} for ph in self.phases],
            "logits": {k: s(v) for k, v in self.logits.items()},
            "layers": [
                {"index": lr.index, "role": lr.role, "a": s(lr.a), "b": s(lr.b), "c": s(lr.c),
                 **{q: s(v) for q, v in lr.values.items()},
                 "feature_learning": lr.feature_learning, "verdict": lr.verdict,
                 "first_step": {q: s(v) for q, v in lr.first_step.items()}}
                for lr in self.layers
            ],
            "horizon": self.horizon,
            "settled_at": self.settled_at,
            "vanishing_init": [{"layer": l, "init_preactivation": s(v)} for l, v in self.vanishing_init.items()],
            "init_lifted_at": self.init_lifted_at,
            "notes": self.notes,
        }
        if p.network is not None:  # a transformer: its architecture, tensor names and module values
            data["network"] = p.network.to_dict()
            for row, layer in zip(data["layers"], p.layers, strict=True):
                row["name"] = layer.name
                row["wd_exponent"] = s(layer.wd_exponent)
            data["modules"] = {name: {k: s(v) for k, v in row.items()} for name, row in self.modules.items()}
        return data


def _sym(value: Fraction | None) -> Exponent | None:
    return None if value is None else sympy.Rational(value.numerator, value.denominator)


@lru_cache(maxsize=64)
def _compiled(structure: tuple[Any, ...], horizon: int, param: Parametrization) -> tuple[nx.DiGraph, list[Any]]:
    graph = build_graph(param, horizon)
    return graph, list(nx.topological_sort(graph))


def _structure(param: Parametrization) -> tuple[Any, ...]:
    """What the graph's shape and rules depend on (not the exponent values)."""
    opt = param.optimizer
    return (tuple((l.role, l.alignment, l.zero_init, l.name, l.wd_exponent is not None) for l in param.layers),
            param.activation, param.loss, opt.name, opt.momentum > 0, opt.muon_scale, param.network)


def clear_graph_cache() -> None:
    """Forget the compiled graphs (a benchmark's cold start)."""
    _compiled.cache_clear()


def graph_for(param: Parametrization, horizon: int = DEFAULT_HORIZON) -> tuple[nx.DiGraph, list[Any]]:
    """The unrolled graph and a topological order (cached per structure)."""
    structure = _structure(param)
    key_param = _canonical(param)
    return _compiled(structure, horizon, key_param)


def _canonical(param: Parametrization) -> Parametrization:
    # The graph depends on structure only; cache on a representative with zeroed exponents.
    from dataclasses import replace

    zero = sympy.Integer(0)
    layers = tuple(replace(l, a=zero, b=zero, c=zero, eps_exponent=None,
                           wd_exponent=None if l.wd_exponent is None else zero) for l in param.layers)
    return replace(param, layers=layers, lr_exponent=zero, name="", source="", warmup=(),
                   optimizer=replace(param.optimizer, eps_exponent=None))


def graph_inputs(param: Parametrization, x_value: Value, convert: Any, horizon: int) -> dict[Any, Any]:
    """The graph's input nodes for ``param``: a, b, epsilon of every layer and the LR exponent of every update,
    with the global exponent ``x_value`` (a number or a piecewise-linear function) and exponents ``convert``-ed."""
    inputs: dict[Any, Any] = {("X",): x_value, ("none",): None}
    opt_eps = param.optimizer.eps_exponent
    for layer in param.layers:
        l = layer.index
        a, b = convert(layer.a), convert(layer.b)
        eps = layer.eps_exponent if layer.eps_exponent is not None else opt_eps
        inputs[("a", l)] = a
        inputs[("neg_a", l)] = -a
        inputs[("b", l)] = b
        inputs[("eps", l)] = "none" if eps is None else convert(eps)
        if layer.wd_exponent is not None:
            inputs[("wd", l)] = -convert(layer.wd_exponent)  # lambda = n^{-wd}
        for t in range(1, horizon + 1):
            inputs[("lr", l, t)] = x_value - convert(param.c_at(l, t))
    return inputs


def node_values(param: Parametrization, horizon: int = DEFAULT_HORIZON,
                learning_rates: dict[tuple[int, int], Any] | None = None) -> dict[Any, Maybe]:
    """Exponent of every node of the unrolled graph, for numeric exponents.

    ``learning_rates`` maps (layer, update) to a value that replaces that layer's learning-rate exponent
    x - c_l(t) at that update: a ``Tangent`` there gives each exponent's affine form in the c_l
    (theory.solver's learning-rate LP)."""
    if param.symbols():
        raise ValueError("node_values needs numeric exponents")
    graph, order = graph_for(param, horizon)
    inputs = graph_inputs(param, _exact_fraction(param.lr_exponent), _exact_fraction, horizon)
    for (layer, update), value in (learning_rates or {}).items():
        inputs[("lr", layer, update)] = value
    return evaluate(graph, inputs, order)


def _exact_fraction(value: Exponent) -> Fraction:
    number = as_number(value)
    assert number is not None
    return number


def _steps_table(values: dict[Any, Maybe], net: Network, n_tensors: int, horizon: int, x: sympy.Symbol | None
                 ) -> dict[tuple[str, int, int], Exponent | None]:
    """Every registered quantity of every tensor l at every step t, read off the output of the tensor's first use
    (its feature change after the activation that follows it, if one does)."""
    table: dict[tuple[str, int, int], Exponent | None] = {}
    for l in range(1, n_tensors + 1):
        out = net.primary(l).out
        last = out == net.logits
        for t in range(horizon + 1):
            for q in REGISTRY:
                if q.is_update and t == 0:
                    table[(q.name, l, t)] = None
                    continue
                node = q.node
                if q.readout_node is not None and (last or out.key not in net.followed_by_act):
                    node = q.readout_node
                v = values[("h", out.key, 0)] if node == "h0" else values.get((node, out.key, t))
                if node in ("G", "dw"):
                    v = values.get((node, l, t))
                table[(q.name, l, t)] = None if v is None else to_sympy(v, x)
    return table


def _verdict(change: Exponent | None) -> str | None:
    if change is None or change == -sympy.oo:
        return "frozen"
    if not change.is_number:
        return None
    if change > 0:
        return "divergent"
    return "feature-learning" if change == 0 else "lazy"


def derive(param: Parametrization, horizon: int = DEFAULT_HORIZON) -> Report:
    """Derive every exponent, the regime, the maximal stable LR exponent and the phase diagram.

    >>> from theory.presets import get_preset
    >>> report = derive(get_preset("sp", layers=3, loss="ce", lr_exponent="-1/2"))
    >>> report.regime, report.dynamics
    ('controlled-divergence', 'feature-learning')
    >>> [layer.verdict for layer in report.layers]
    ['lazy', 'feature-learning', 'feature-learning', 'divergent']
    >>> report.exponent("effective_update", layer=4, step=1)
    1/2
    >>> [(phase.interval(), phase.regime) for phase in report.phases]
    [('(-oo, -1]', 'stable'), ('(-1, -1/2]', 'controlled-divergence'), ('(-1/2, oo)', 'catastrophic')]
    """
    if not isinstance(param, Parametrization):
        raise InputError(f"param: expected a Parametrization, got {type(param).__name__}")
    if param.network is not None and param.network.depth_alpha is not None:
        raise InputError(f"{param.name}: a depth-scaled transformer (exponents in n and L): abcscale derive "
                         "(theory.network_depth) handles it; solve, table and equivalent work in width")
    horizon = check_horizon(horizon)
    top = len(param.layers)
    graph, order = graph_for(param, horizon)
    net: Network = graph.graph["network"]
    # Parametrization admits numbers everywhere and at most one bare symbol as the LR exponent: both paths below
    # are exact and bounded by the graph's size (no sympy Max/Min, whose simplification had no bound)
    x_symbol: sympy.Symbol | None = param.lr_exponent if isinstance(param.lr_exponent, sympy.Symbol) else None
    if param.symbols() - ({x_symbol} if x_symbol is not None else set()):
        raise InputError("exponents: only the global lr_exponent may be a symbol (one bare name like x)")
    notes: list[str] = []

    # 1) exponents at the given X (exact Fractions) and over every X (piecewise-linear in X)
    pl_values = evaluate(graph, graph_inputs(param, PiecewiseLinear.identity(), _exact_fraction, horizon), order)
    if x_symbol is not None:
        values = pl_values
    else:
        exact = _exact_fraction(param.lr_exponent)
        values = evaluate(graph, graph_inputs(param, exact, _exact_fraction, horizon), order)

    steps = _steps_table(values, net, top, horizon, x_symbol)
    pred = predicates(values, net, horizon)
    regime = classify(pred) if x_symbol is None else None

    # 2) phase diagram over the global LR exponent
    phases = phase_diagram(predicates(pl_values, net, horizon))
    sup, attained, unbounded = sup_where(phases, TRAINABLE)
    max_stable: Exponent | None = sympy.oo if unbounded else _sym(sup)
    bsup, _, bunbounded = sup_where(phases, (STABLE,))
    max_bounded: Exponent | None = sympy.oo if bunbounded else _sym(bsup)
    if all(phase.regime == CATASTROPHIC for phase in phases):
        notes.append("catastrophic at every learning-rate exponent (check the initialisation)")

    # 3) per-layer summaries at the horizon and at the first step
    layers: list[LayerReport] = []
    for layer in param.layers:
        l = layer.index
        vals = {q: steps[(q, l, horizon)] for q in QUANTITIES}
        first = {q: steps[(q, l, 1)] for q in QUANTITIES if q != "init_preactivation"}
        verdict = _verdict(vals["feature_update"]) if regime is not None else None
        layers.append(LayerReport(l, layer.role, layer.a, layer.b, layer.c, vals, first, verdict))

    chain = param.network is None
    vanishing: dict[Any, Exponent] = _vanishing_layers(values, top) if chain else _vanishing_values(values, net)
    settled_at = _settled_at(steps, top, horizon) if regime is not None else None
    if regime is not None and settled_at is None:
        notes.append(f"exponents still grow at step {horizon}: the feedback compounds (catastrophic)"
                     + ("; nothing has blown up yet, and a vanishing initialisation can take about one step per "
                        "layer to be lifted: a longer horizon tells a slow escape from a blow-up"
                        if vanishing and not blows_up(pred) else ""))

    modules, module_steps = _modules(values, net, horizon, x_symbol)
    notes += _tied_notes(values, net, param, horizon, x_symbol)
    logits = {"init": modules["logits"]["init"], "update": modules["logits"]["change"],
              "first_step_update": modules["logits"]["first_step_change"]}
    if chain:
        last_hidden = layers[-2].values["feature_update"]
    else:
        last = net.init[-1]
        last_hidden = to_sympy(values[(last.change, last.key, horizon)], x_symbol)
    dynamics, nontrivial = _dynamics(regime, last_hidden, logits)
    numeric = x_symbol is None and regime is not None and regime != CATASTROPHIC
    lifted_at = _lifted_at(values, top, horizon) if vanishing and numeric and chain else None
    if vanishing and chain:
        notes += _vanishing_notes(param, vanishing, values if numeric else None, lifted_at, horizon, dynamics,
                                  logits["update"])
    elif vanishing:
        notes.append("vanishing initialisation: " + ", ".join(_power(str(k), e) for k, e in vanishing.items())
                     + " (activations that must be Theta(1) at init). No learning rate is stable, so no maximal "
                     "stable LR exponent is given.")
    return Report(param, regime, dynamics, nontrivial, max_stable, attained, max_bounded, phases, logits, layers,
                  horizon, settled_at, notes, steps, vanishing_init=vanishing, init_lifted_at=lifted_at,
                  modules=modules if not chain else {}, _module_steps=module_steps if not chain else {})


def _modules(values: dict[Any, Maybe], net: Network, horizon: int, x: sympy.Symbol | None
             ) -> tuple[dict[str, dict[str, Exponent | None]], dict[tuple[str, str, int], Exponent | None]]:
    """Init and change exponents of the values a network reports beside its tensors: the logits, and for a
    transformer each block's attention logits and residual stream; and the same at every step."""
    def row(value: Any) -> dict[str, Exponent | None]:
        return {"init": to_sympy(values[(value.prefix, value.key, 0)], x),
                "change": to_sympy(values.get((value.change, value.key, horizon)), x),
                "first_step_change": to_sympy(values.get((value.change, value.key, 1)), x)}

    reported = [v for v in (*net.features, *net.saturating)
                if isinstance(v.key, str) and v.key.endswith(MODULE_SUFFIXES)] + [net.logits]
    out = {("logits" if v == net.logits else str(v.key)): row(v) for v in reported}
    steps: dict[tuple[str, str, int], Exponent | None] = {}
    for name, v in zip(out, reported, strict=True):
        steps[(name, "init", 0)] = out[name]["init"]
        for t in range(1, horizon + 1):
            steps[(name, "change", t)] = to_sympy(values.get((v.change, v.key, t)), x)
            for part in PARTS:
                if (f"{v.change}_{part}", v.key, t) in values:
                    steps[(name, part, t)] = to_sympy(values[(f"{v.change}_{part}", v.key, t)], x)
    return out, steps


# the parts of an attention logits' change (theory.unroll): the query's and key's own updates, and what the
# initial weights give on their moved inputs
PARTS = ("own", "carried")


MODULE_SUFFIXES = (".scores", ".resid.attn", ".resid.mlp", "embed")


def _tied_notes(values: dict[Any, Maybe], net: Network, param: Parametrization, horizon: int,
                x: sympy.Symbol | None) -> list[str]:
    """What one tensor in two roles does in each (a tied embedding): its effective update per use."""
    notes = []
    for layer in param.layers:
        uses = net.uses(layer.index)
        if len(uses) < 2:
            continue
        parts = [f"as {'readout' if op.out == net.logits else 'embedding'} dW x ~ n^"
                 f"{format_exponent(to_sympy(values.get(('eff', op.out.key, horizon)), x))}" for op in uses]
        notes.append(f"tied {layer.name}: one tensor, one update; {', '.join(parts)} (a Theta(1) update in both "
                     "roles needs the readout's extra multiplier to make up the difference)")
    return notes


def _vanishing_values(values: dict[Any, Maybe], net: Network) -> dict[str, Exponent]:
    """Values a network needs Theta(1) at init (its residual stream, MLP hidden activations) that vanish."""
    out: dict[str, Exponent] = {}
    for v in net.init:
        value = values[(v.prefix, v.key, 0)]
        if isinstance(value, PiecewiseLinear):
            value = value(0)
        if value is None:
            out[str(v.key)] = -sympy.oo
        elif value < 0:
            out[str(v.key)] = to_sympy(value)
    return out


def _vanishing_layers(values: dict[Any, Maybe], top: int) -> dict[int, Exponent]:
    """Hidden layers l <= L whose pre-activation h^l_0 vanishes with n: layer -> exponent (-oo if exactly 0).

    Read off the derived init exponents (numbers, or piecewise-linear functions of x that are constant:
    the initialisation does not see the learning rate).  The readout is left out: TP4 allows small logits.
    """
    out: dict[int, Exponent] = {}
    for l in range(1, top):
        value = values[("h", l, 0)]
        if isinstance(value, PiecewiseLinear):
            value = value(0)
        if value is None:
            out[l] = -sympy.oo
        elif value < 0:
            out[l] = to_sympy(value)
    return out


def _lifted_at(values: dict[Any, Maybe], top: int, horizon: int) -> int | None:
    """First step from which every hidden pre-activation h^l_t is Theta(1) up to the horizon (None: never)."""
    lifted = [all(values[("h", l, t)] == 0 for l in range(1, top)) for t in range(horizon + 1)]
    if not lifted[-1]:
        return None
    return 1 + max(t for t, ok in enumerate(lifted) if not ok)  # step 0 vanishes


def _power(name: str, exponent: Exponent) -> str:
    return f"{name} = 0" if exponent == -sympy.oo else f"{name} ~ n^{format_exponent(exponent)}"


def _vanishing_notes(param: Parametrization, vanishing: dict[Any, Exponent], values: dict[Any, Maybe] | None,
                     lifted_at: int | None, horizon: int, dynamics: str | None,
                     logit_change: Exponent | None) -> list[str]:
    """Why no LR is stable (TP4 Thm 3.3's init condition) and, with numbers, whether training escapes the init.

    ``values`` are the numeric exponents at the given x (None: symbolic x or catastrophic there, init only).
    """
    top = len(param.layers)
    required = {l: sympy.Integer(0) if l == 1 else sympy.Rational(1, 2) for l in range(1, top)}
    off = [f"a_{l}+b_{l} = {format_exponent(param.layers[l - 1].a + param.layers[l - 1].b)}"
           + (" (zero-initialised)" if param.layers[l - 1].zero_init else "")
           for l in range(1, top)
           if param.layers[l - 1].zero_init or param.layers[l - 1].a + param.layers[l - 1].b != required[l]]
    init = ", ".join(_power(f"h^{l}_0", e) for l, e in vanishing.items())
    first = (f"vanishing initialisation: {init} (hidden pre-activations that vanish as n grows). TP4 Thm 3.3 needs "
             f"h_0 = Theta(1) in every hidden layer (a_1+b_1 = 0, a_l+b_l = 1/2 for 2 <= l <= L); here "
             f"{', '.join(off)}. No learning rate is stable, so no maximal stable LR exponent is given")
    if param.act.phi0_nonzero:
        first += (f" ({param.activation}: phi(0) != 0 keeps x^l = Theta(1), but its dependence on the input "
                  f"vanishes with h^l)")
    notes = [first + "."]
    if values is None:
        return notes

    if lifted_at is not None:
        notes.append(f"from step {lifted_at} on every hidden pre-activation is Theta(1): training leaves the vanishing "
                     f"initialisation, and the settled exponents describe training from then on")
    else:
        settled = {l: values[("h", l, horizon)] for l in range(1, top)}
        still = ", ".join(_power(f"h^{l}_{horizon}", to_sympy(v)) for l, v in settled.items() if vanishes(v))
        text = f"after {horizon} steps still {still}: training does not leave the vanishing initialisation"
        if dynamics == "trivial":
            text += (f", and the logits move by n^{format_exponent(logit_change)}: nothing learns as n grows")
        notes.append(text)
    return notes


def _settled_at(steps: dict[tuple[str, int, int], Exponent | None], top: int, horizon: int) -> int | None:
    def row(t: int) -> list[Exponent | None]:
        return [steps[(q, l, t)] for q in QUANTITIES for l in range(1, top + 1)]

    final = row(horizon)
    if horizon >= 1 and row(horizon - 1) != final:
        return None
    for t in range(1, horizon + 1):
        if row(t) == final:
            return t
    return horizon


def _dynamics(regime: str | None, last_hidden: Exponent | None,
              logits: dict[str, Exponent | None]) -> tuple[str | None, bool | None]:
    """TP4's dichotomy: feature learning if the last hidden features move Theta(1), else kernel (or trivial)."""
    if regime is None:
        return None, None
    change = logits["update"]
    nontrivial = change is not None and change != -sympy.oo and bool(change >= 0)
    if regime == CATASTROPHIC:
        return "divergent", nontrivial
    if last_hidden is not None and last_hidden != -sympy.oo and last_hidden == 0:
        return "feature-learning", nontrivial
    return ("kernel" if nontrivial else "trivial"), nontrivial
