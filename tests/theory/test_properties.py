"""Property tests: the engine against TP4's closed forms on random parametrizations (stable, vanishing and
exploding initialisations), the abc symmetry, independence of the unrolled horizon, and agreement of the
numeric and phase-diagram passes.

Which TP4 statement holds for which activation: TP4 proves Thm 3.3, Thm 3.4 and the dichotomy (Cor 3.9)
for smooth nonlinearities (tanh, sigma-gelu); relu is sigma-gelu's sigma -> 0 limit with the same scale
counting (phi(0) = 0, |phi(h)| ~ |h|), so it is checked against the same closed forms.  Def 3.2 / Prop 5.3
(r, r_l) describe Delta x while chi = d loss / d f is O(1), i.e. with a Theta(1) init (condition 1) and
bounded logits or CE.  Cor 3.9 needs a nonlinear phi (all three are).  Sigmoid (phi(0) != 0) breaks the
init recursion below (x = Theta(1) whatever h) and is tested by name in test_vanishing_init.py.
"""

from fractions import Fraction

import sympy
from hypothesis import event, given
from hypothesis import strategies as st

from theory.engine import derive
from theory.parametrization import Optimizer, Parametrization, build_layers
from theory.symmetry import equivalent, shift

R = sympy.Rational
HALF = R(1, 2)
quarter = st.integers(-8, 8).map(lambda k: R(k, 4))
ACTIVATIONS = ["relu", "tanh", "gelu"]


def required(l):
    """TP4 Thm 3.3 condition 1: a_1+b_1 = 0, a_l+b_l = 1/2 (2 <= l <= L); the readout needs >= 1/2."""
    return 0 if l == 1 else HALF


@st.composite
def any_init_sgd(draw):
    """Random SGD abc-parametrization: half keep TP4's condition 1, half move a_l+b_l off its required value
    (above: the init vanishes, below: it explodes) in hidden layers, and/or start the readout below 1/2."""
    L = draw(st.integers(1, 4))
    top = L + 1
    a = [draw(quarter) for _ in range(top)]
    if draw(st.booleans()):
        off = [R(0)] * L
        readout_scale = draw(st.integers(2, 6).map(lambda k: R(k, 4)))
    else:
        off = draw(st.lists(st.sampled_from([R(0), R(0), R(1, 4), HALF, R(1), R(-1, 4), -HALF]),
                            min_size=L, max_size=L))
        readout_scale = draw(st.integers(0, 6).map(lambda k: R(k, 4)))  # below 1/2: logits explode at init
    b = [required(l) + off[l - 1] - a[l - 1] for l in range(1, top)] + [readout_scale - a[L]]
    # a common LR exponent plus per-layer offsets: enough small learning rates that every regime shows up
    base = draw(st.integers(-4, 12).map(lambda k: R(k, 4)))
    c = [base + draw(st.integers(-4, 4).map(lambda k: R(k, 4))) for _ in range(top)]
    loss = draw(st.sampled_from(["ce", "mse"]))
    act = draw(st.sampled_from(ACTIVATIONS))
    return Parametrization("random", build_layers(a, b, c), activation=act, loss=loss)


def tp4(param):
    """TP4 Def. 3.2 / Prop. 5.3 in the layerwise-LR form: r_l, r, and the Thm 3.3 conditions."""
    out = param.layers[-1]
    g = min(out.a + out.b, 2 * out.a + out.c)
    r_l = [g + 2 * l.a + l.c - 1 + (1 if l.index == 1 else 0) for l in param.layers[:-1]]
    r = min(r_l)
    logits_ok = 2 * out.a + out.c >= 1 and out.a + out.b + r >= 1
    return r_l, r, logits_ok


def init_exponents(param):
    """TP4's init scale counting: h^1_0 = n^{-(a_1+b_1)} (fixed d), h^l_0 = n^{1/2-(a_l+b_l)} |phi(h^{l-1}_0)|
    (CLT over the fan-in n), with |phi(h)| ~ |h| for relu/gelu and ~ min(|h|, 1) for tanh.  Returns the
    exponents of h^1_0 .. h^L_0 and of the logits f_0."""
    exps = []
    x_prev = None
    for layer in param.layers:
        scale = layer.a + layer.b
        h = -scale if layer.index == 1 else HALF - scale + x_prev
        exps.append(h)
        x_prev = min(h, 0) if param.activation == "tanh" else h
    return exps[:-1], exps[-1]


def probe(phase):
    """An exponent x inside a phase (its point, or a point strictly inside its interval)."""
    lo = None if phase.lower is None else R(phase.lower.numerator, phase.lower.denominator)
    hi = None if phase.upper is None else R(phase.upper.numerator, phase.upper.denominator)
    if lo is None and hi is None:
        return R(0)
    if lo is None:
        return hi - 1
    if hi is None:
        return lo + 1
    return (lo + hi) / 2


@given(any_init_sgd())
def test_engine_matches_tp4_closed_form(param):
    report = derive(param)
    r_l, r, logits_ok = tp4(param)
    out = param.layers[-1]
    hidden_init, logit_init = init_exponents(param)
    condition1 = all(l.a + l.b == required(l.index) for l in param.layers[:-1]) and out.a + out.b >= HALF
    tp4_stable = condition1 and r >= 0 and logits_ok  # Thm 3.3: all three conditions
    event(f"condition 1 {'holds' if condition1 else 'fails'}; engine {report.regime}")
    assert (report.regime == "stable") == tp4_stable

    # condition 1, hidden part: every h^l_0 = Theta(1); else the engine names exactly the vanishing layers
    assert report.vanishing_init == {l: e for l, e in enumerate(hidden_init, start=1) if e < 0}
    explodes = any(e > 0 for e in hidden_init) or (param.loss == "mse" and logit_init > 0)  # chi = f - y grows
    if explodes:
        assert all(p.regime == "catastrophic" for p in report.phases)  # at init: no learning rate helps
    if report.vanishing_init:
        assert report.regime in ("vanishing-init", "catastrophic")  # catastrophic wins where things blow up
        assert {p.regime for p in report.phases} <= {"vanishing-init", "catastrophic"}
        assert report.max_stable_lr_exponent is None and report.max_bounded_logits_lr_exponent is None
        assert any("TP4 Thm 3.3" in note and all(f"h^{l}_0" in note for l in report.vanishing_init)
                   for note in report.notes)
        if not explodes:  # a tiny learning rate moves nothing: the init's regime remains
            assert report.phases[0].regime == "vanishing-init"
    if not condition1:
        return  # r, r_l and the readout conditions are TP4's statements about a Theta(1) init

    for phase in report.phases:  # the whole diagram over x: the global LR n^x shifts every c_l by -x
        x = probe(phase)
        _, rx, logits_ok_x = tp4(param.with_layers(c=[l.c - x for l in param.layers]))
        assert (phase.regime == "stable") == (rx >= 0 and logits_ok_x), (phase, x)
        if param.loss == "ce":
            assert (phase.regime == "catastrophic") == (rx < 0), (phase, x)
        else:
            assert phase.regime in ("stable", "catastrophic"), (phase, x)

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
        if nontrivial:
            assert report.dynamics == ("feature-learning" if r == 0 else "kernel")  # Cor 3.9


@given(any_init_sgd(), st.lists(quarter, min_size=5, max_size=5),
       st.sampled_from(["sgd", "adam", "adafactor", "muon"]))
def test_symmetric_parametrizations_give_identical_reports(param, thetas, optimizer):
    param = param.with_(optimizer=optimizer)
    moved = shift(param, thetas[: len(param.layers)])
    assert equivalent(param, moved).equivalent
    first, second = derive(param), derive(moved)
    assert first.regime == second.regime and first.phases == second.phases
    assert first.vanishing_init == second.vanishing_init
    assert first.max_stable_lr_exponent == second.max_stable_lr_exponent
    for la, lb in zip(first.layers, second.layers, strict=True):
        for q in ("init_preactivation", "effective_update", "propagating_update", "feature_update",
                  "backward_gradient"):
            assert la.values[q] == lb.values[q], q


@given(any_init_sgd(), st.sampled_from(["sgd", "adam"]))
def test_horizon_does_not_change_the_answer(param, optimizer):
    param = param.with_(optimizer=optimizer)
    short, long = derive(param, horizon=4), derive(param, horizon=7)
    if short.vanishing_init:
        # a vanishing init is lifted about one layer per step, so where a slow escape turns into a blow-up
        # can move with the horizon (docs/limitations.md, "Positive feedback is detected over the unrolled
        # horizon"; test_a_slow_escape_moves_the_catastrophic_edge_with_the_horizon)
        assert [p.regime for p in short.phases] == [p.regime for p in long.phases]
        return
    assert short.phases == long.phases
    assert short.regime == long.regime and short.vanishing_init == long.vanishing_init
    if short.regime != "catastrophic":
        for la, lb in zip(short.layers, long.layers, strict=True):
            assert la.values == lb.values


@given(any_init_sgd(), st.sampled_from(["sgd", "adam", "signsgd"]), st.integers(-12, 4))
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


@given(any_init_sgd(), st.sampled_from(["sgd", "muon"]), st.integers(-8, 4))
def test_momentum_steps_follow_the_largest_gradient_so_far(param, optimizer, quarters):
    # heavy-ball momentum: step t+1 follows sum_s beta^(t-s) G_s, whose exponent is the largest of G_0..G_t
    from theory.algebra import add, mx
    from theory.engine import graph_for, graph_inputs
    from theory.graph import evaluate, muon_entry_exponent
    from theory.parametrization import Optimizer

    param = param.with_(optimizer=Optimizer(optimizer, momentum=0.9), lr_exponent=R(quarters, 4))
    graph, order = graph_for(param, 4)
    inputs = graph_inputs(param, Fraction(quarters, 4), lambda v: Fraction(int(v.p), int(v.q)), 4)
    values = evaluate(graph, inputs, order)
    for layer in param.layers:
        l = layer.index
        shape = muon_entry_exponent("jordan", layer.fan_in_width, layer.fan_out_width)
        for t in range(4):
            largest = mx(*[values[("G", l, s)] for s in range(t + 1)])
            if optimizer == "sgd":
                assert values[("u", l, t + 1)] == add(values[("lr", l, t + 1)], largest)
            else:  # Muon's step ignores the gradient's scale: only whether there is one
                expected = None if largest is None else add(values[("lr", l, t + 1)], shape)
                assert values[("u", l, t + 1)] == expected


def test_a_slow_escape_moves_the_catastrophic_edge_with_the_horizon():
    """Found by the property above: input b = 1/4 (vanishing h^1), tanh, Adam.  The edge between vanishing-init
    and catastrophic sits at -1 over 4 unrolled steps and at -11/12 over 7: the blow-up needs the lifted
    layers, one per step; the limitation is documented, and the regimes on either side agree."""
    bs = ["1/4", "1/2", "1/2", "1/2", "0"]
    param = Parametrization(name="slow", layers=build_layers([0] * 5, bs, [0] * 5), activation="tanh",
                            optimizer=Optimizer("adam"))
    edges = [derive(param, horizon=h).phases[0].upper for h in (4, 7)]
    assert edges == [Fraction(-1), Fraction(-11, 12)]
