"""The max-lr objective of theory.solver (Everett et al.'s largest stable learning rates) and its parts:
the exact LP, the tangent pass that turns derived exponents into its constraints, and its answers."""

import re
from dataclasses import replace
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.engine import derive, node_values
from theory.errors import InputError
from theory.lp import minimise
from theory.parametrization import Optimizer, Parametrization, build_layers
from theory.presets import get_preset
from theory.regimes import STABLE
from theory.solver import max_lr_ranges, solve
from theory.tables.papers import EVERETT_OPTIMIZERS, EVERETT_PARAMS, everett_init
from theory.tangent import Tangent, unit

R = sympy.Rational
H = R(1, 2)
quarter = st.integers(-8, 8).map(lambda k: R(k, 4))


@st.composite
def stable_init(draw, activations=("relu", "gelu", "linear")):
    """Random stable initialisation (TP4 Thm 3.3, condition 1) with an alignment and an optimizer."""
    L = draw(st.integers(1, 3))
    a = [draw(quarter) for _ in range(L + 1)]
    readout_scale = draw(st.integers(2, 6).map(lambda k: R(k, 4)))  # a+b of the readout in [1/2, 3/2]
    b = [-a[0]] + [H - a[l] for l in range(1, L)] + [readout_scale - a[L]]
    layers = build_layers(a, b, [0] * (L + 1), alignment=draw(st.sampled_from(["tp", "full", "none"])))
    return Parametrization("random", layers, activation=draw(st.sampled_from(activations)),
                           loss=draw(st.sampled_from(["ce", "mse"])),
                           optimizer=Optimizer(draw(st.sampled_from(["sgd", "adam", "adafactor", "signsgd", "muon"]))))


def _stable(param: Parametrization, c: list[sympy.Expr]) -> bool:
    return derive(param.with_layers(c=c)).regime == STABLE


@settings(max_examples=30, deadline=None)
@given(stable_init(), st.sampled_from([H, R(1, 8)]))
def test_max_lr_answer_is_stable_and_no_single_rate_can_grow(param, step):
    solution = solve(param, "max-lr")
    assert solution.report.regime == STABLE and _stable(param, solution.c)
    for l in range(len(solution.c)):  # a larger LR in any one layer (c_l smaller) breaks stability
        faster = list(solution.c)
        faster[l] -= step
        assert not _stable(param, faster), l


@settings(max_examples=15, deadline=None)
@given(stable_init())
def test_max_lr_sum_is_at_most_the_max_updates_sum(param):
    try:
        updates = solve(param)
    except InputError:
        return  # no Theta(1)-update answer
    if updates.report.regime == STABLE:
        assert sum(solve(param, "max-lr").c) <= sum(updates.c)


@settings(max_examples=25, deadline=None)
@given(stable_init(), st.lists(quarter, min_size=4, max_size=4))
def test_tangent_pass_gives_the_numeric_exponents(param, c):
    # the LP's constraints come from the same graph and rules: values at c agree with the plain pass
    c = c[: len(param.layers)]
    point = param.with_layers(c=c)
    plain = node_values(point)
    size = len(c)
    rates = {(l, t): Tangent(-Fraction(c[l - 1].p, c[l - 1].q), unit(l - 1, size, Fraction(-1)))
             for l in range(1, size + 1) for t in range(1, 5)}
    tangent = node_values(point, learning_rates=rates)
    for node, value in plain.items():
        other = tangent[node]
        assert (other.value if isinstance(other, Tangent) else other) == value, node


@pytest.mark.parametrize("name", EVERETT_PARAMS)
@pytest.mark.parametrize("optimizer", EVERETT_OPTIMIZERS)
@pytest.mark.parametrize("alignment", ["full", "none"])
def test_everett_cells_are_unique_maximisers(name, optimizer, alignment):
    # the sum of c_l has one minimiser: the table does not depend on which vertex the simplex picks
    init = everett_init(name, layers=2)
    param = replace(init, layers=tuple(replace(l, alignment=alignment) for l in init.layers),
                    optimizer=Optimizer(optimizer))
    assert all(low == high for low, high in max_lr_ranges(param))


def test_adafactor_weights_may_move_by_their_own_scale_only():
    # Adafactor's step follows RMS(w_t): c_l < 0 lets the weights outgrow their init and the step with
    # them; so every max-lr exponent is >= 0, and SP (b = 0, 1/2, ...) under no alignment gets c = 0
    param = get_preset("sp", layers=3)
    layers = tuple(replace(l, alignment="none") for l in param.layers)
    solution = solve(replace(param, layers=layers, optimizer=Optimizer("adafactor")), "max-lr")
    assert solution.c == [0, 0, 0, 0]


def test_max_lr_recovers_mup_sgd_under_the_tensor_programs_alignment():
    # with TP4's own counting (alignment "tp"), muP's learning rates are the largest stable ones too
    assert solve(get_preset("mup", layers=3), "max-lr").c == [-1, 0, 0, 1]


@pytest.mark.parametrize("objective", ["max-lr", "max-updates"])
def test_solution_says_its_objective(objective):
    assert solve(get_preset("mup", layers=2), objective).objective == objective


@pytest.mark.parametrize("param,objective,needle", [
    (get_preset("mup", layers=2), "max-lrr", "unknown objective 'max-lrr'"),
    (get_preset("mup", layers=2, activation="tanh"), "max-lr", "built from + and max only"),
    (Parametrization("bad", build_layers([0, 0, 0], [-1, H, H], [0, 0, 0])), "max-lr", "not stable even"),
])
def test_bad_input_is_an_input_error(param, objective, needle):
    with pytest.raises(InputError, match=re.escape(needle)):
        solve(param, objective)


@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3), st.integers(0, 4)), min_size=1, max_size=6),
       st.integers(1, 3), st.integers(1, 3))
def test_lp_matches_vertex_enumeration(rows, w1, w2):
    # exact LP against brute force on the vertices of a 2-d polygon inside the box |c| <= 4
    F = Fraction
    box = [((F(1), F(0)), F(4)), ((F(-1), F(0)), F(4)), ((F(0), F(1)), F(4)), ((F(0), F(-1)), F(4))]
    cons = box + [((F(s1), F(s2)), F(b)) for s1, s2, b in rows]  # the origin is feasible: b >= 0
    best = minimise([F(w1), F(w2)], cons, [F(0), F(0)])
    assert all(s[0] * best[0] + s[1] * best[1] <= b for s, b in cons)
    vertices = []
    for i, (p, bp) in enumerate(cons):
        for q, bq in cons[i + 1:]:
            det = p[0] * q[1] - p[1] * q[0]
            if det:
                x = ((bp * q[1] - p[1] * bq) / det, (p[0] * bq - bp * q[0]) / det)
                if all(s[0] * x[0] + s[1] * x[1] <= b for s, b in cons):
                    vertices.append(x)
    assert w1 * best[0] + w2 * best[1] == min(w1 * x + w2 * y for x, y in vertices)
