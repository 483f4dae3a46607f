"""Property tests: the engine against TP4's closed forms on random parametrizations, the abc symmetry,
independence of the unrolled horizon, and agreement of the numeric and phase-diagram passes."""

from fractions import Fraction

import sympy
from hypothesis import given
from hypothesis import strategies as st

from theory.engine import derive
from theory.parametrization import Parametrization, build_layers
from theory.symmetry import equivalent, shift

R = sympy.Rational
quarter = st.integers(-8, 8).map(lambda k: R(k, 4))


@st.composite
def stable_init_sgd(draw):
    """Random SGD abc-parametrization with TP4-stable initialisation (Thm 3.3, condition 1)."""
    L = draw(st.integers(1, 4))
    a = [draw(quarter) for _ in range(L + 1)]
    readout_scale = draw(st.integers(2, 6).map(lambda k: R(k, 4)))  # a+b of the readout in [1/2, 3/2]
    b = [-a[0]] + [R(1, 2) - a[l] for l in range(1, L)] + [readout_scale - a[L]]
    c = [draw(quarter) for _ in range(L + 1)]
    loss = draw(st.sampled_from(["ce", "mse"]))
    act = draw(st.sampled_from(["relu", "tanh", "gelu"]))
    return Parametrization("random", build_layers(a, b, c), activation=act, loss=loss)


def tp4(param):
    """TP4 Def. 3.2 / Prop. 5.3 in the layerwise-LR form: r_l, r, and the Thm 3.3 conditions."""
    out = param.layers[-1]
    g = min(out.a + out.b, 2 * out.a + out.c)
    r_l = [g + 2 * l.a + l.c - 1 + (1 if l.index == 1 else 0) for l in param.layers[:-1]]
    r = min(r_l)
    logits_ok = 2 * out.a + out.c >= 1 and out.a + out.b + r >= 1
    return r_l, r, logits_ok


@given(stable_init_sgd())
def test_engine_matches_tp4_closed_form(param):
    report = derive(param)
    r_l, r, logits_ok = tp4(param)
    out = param.layers[-1]
    tp4_stable = r >= 0 and logits_ok
    assert (report.regime == "stable") == tp4_stable
    if param.loss == "ce":
        assert (report.regime != "catastrophic") == (r >= 0)  # CE drops only the logit condition
    else:
        assert report.regime in ("stable", "catastrophic")  # MSE has no controlled divergence
    if r >= 0 and (param.loss == "ce" or logits_ok):  # r describes Delta x while chi = dloss/df is O(1)
        for layer, rl in zip(report.layers, r_l, strict=False):
            assert layer.values["effective_update"] == -rl
        assert report.layers[-2].values["feature_update"] == -r  # Delta x^L = Theta(n^-r)
        assert report.layers[-1].values["effective_update"] == 1 - 2 * out.a - out.c
        assert report.layers[-1].values["propagating_update"] == 1 - out.a - out.b - r
    if tp4_stable:
        nontrivial = out.a + out.b + r == 1 or 2 * out.a + out.c == 1  # Thm 3.4
        assert report.nontrivial == nontrivial
        if nontrivial and param.activation != "linear":
            assert report.dynamics == ("feature-learning" if r == 0 else "kernel")  # Cor 3.9


@given(stable_init_sgd(), st.lists(quarter, min_size=5, max_size=5),
       st.sampled_from(["sgd", "adam", "adafactor", "muon"]))
def test_symmetric_parametrizations_give_identical_reports(param, thetas, optimizer):
    param = param.with_(optimizer=optimizer)
    moved = shift(param, thetas[: len(param.layers)])
    assert equivalent(param, moved).equivalent
    first, second = derive(param), derive(moved)
    assert first.regime == second.regime and first.phases == second.phases
    assert first.max_stable_lr_exponent == second.max_stable_lr_exponent
    for la, lb in zip(first.layers, second.layers, strict=True):
        for q in ("init_preactivation", "effective_update", "propagating_update", "feature_update",
                  "backward_gradient"):
            assert la.values[q] == lb.values[q], q


@given(stable_init_sgd(), st.sampled_from(["sgd", "adam"]))
def test_horizon_does_not_change_the_answer(param, optimizer):
    param = param.with_(optimizer=optimizer)
    short, long = derive(param, horizon=4), derive(param, horizon=7)
    assert short.phases == long.phases
    assert short.regime == long.regime
    if short.regime != "catastrophic":
        for la, lb in zip(short.layers, long.layers, strict=True):
            assert la.values == lb.values


@given(stable_init_sgd(), st.sampled_from(["sgd", "adam", "signsgd"]), st.integers(-12, 4))
def test_regime_at_x_equals_the_phase_containing_x(param, optimizer, eighths):
    x = R(eighths, 8)
    report = derive(param.with_(optimizer=optimizer, lr_exponent=x))
    containing = [p for p in report.phases if p.contains(Fraction(eighths, 8))]
    assert len(containing) == 1 and containing[0].regime == report.regime


def test_adam_epsilon_turns_adam_into_sgd_when_it_dominates():
    # eps = n^{-e}: with e small, eps swamps the n^{-1/2} gradients of SP hidden layers and Adam's step
    # becomes grad/eps (SGD-like with LR n^{X+e}); with e large Adam normalises as usual.
    from theory.presets import get_preset

    adam = get_preset("sp", optimizer="adam", lr_exponent=-1)
    big_eps = adam.with_(optimizer=adam.optimizer.__class__("adam", eps_exponent=R(0)))
    small_eps = adam.with_(optimizer=adam.optimizer.__class__("adam", eps_exponent=R(2)))
    assert derive(small_eps).layers[1].values["effective_update"] == 0
    assert derive(big_eps).layers[1].values["effective_update"] == R(-1, 2)  # -1 + 1 - 1/2


@given(stable_init_sgd(), st.sampled_from(["sgd", "muon"]), st.integers(-8, 4))
def test_momentum_steps_follow_the_largest_gradient_so_far(param, optimizer, quarters):
    # heavy-ball momentum: step t+1 follows sum_s beta^(t-s) G_s, whose exponent is the largest of G_0..G_t
    from theory.algebra import add, mx
    from theory.engine import _inputs, graph_for
    from theory.graph import evaluate
    from theory.parametrization import Optimizer

    param = param.with_(optimizer=Optimizer(optimizer, momentum=0.9), lr_exponent=R(quarters, 4))
    graph, order = graph_for(param, 4)
    values = evaluate(graph, _inputs(param, Fraction(quarters, 4), lambda v: Fraction(int(v.p), int(v.q)), 4), order)
    plain = param.with_(optimizer=Optimizer(optimizer))
    for layer in param.layers:
        l = layer.index
        for t in range(4):
            largest = mx(*[values[("G", l, s)] for s in range(t + 1)])
            if optimizer == "sgd":
                assert values[("u", l, t + 1)] == add(values[("lr", l, t + 1)], largest)
            else:  # Muon's step does not depend on the gradient's scale
                assert values[("u", l, t + 1)] == values[("lr", l, t + 1)] + values[("u", l, 1)] - values[("lr", l, 1)]
    if optimizer == "muon":  # nor, then, does momentum change any exponent
        assert derive(param).to_dict()["layers"] == derive(plain).to_dict()["layers"]
