"""Vanishing initialisation (TP4 Thm 3.3, condition 1 fails from above): named cases.

Expected values are derived by hand below from TP4's scale counting, never read off the engine.
"""

import sympy

from theory.engine import derive
from theory.parametrization import Parametrization, build_layers
from theory.presets import get_preset
from theory.tables.builders import grid_table, phase_table

R = sympy.Rational


def layered(a, b, c, **kw) -> Parametrization:
    return Parametrization(name="t", layers=build_layers(a, b, c), **kw)


def phases(report):
    return [(p.interval(), p.regime) for p in report.phases]


def issue_example(x):
    """Issue 15: one hidden layer, b = [1/4, 1/2] (a = 0, c = 0), MSE, relu, LR n^x."""
    return layered([0, 0], [R(1, 4), R(1, 2)], [0, 0], loss="mse", lr_exponent=R(x))


def test_issue_example_one_hidden_layer_b_quarter_half_mse():
    # By hand (relu, d and k fixed): h^1_0 = W^1 xi = n^{-1/4}, below TP4's Theta(1) (a_1+b_1 = 1/4, not 0);
    # f_0 = W^2 x^1 sums n independent terms (CLT): n^{1/2} n^{-1/2} n^{-1/4} = n^{-1/4}.  chi = f - y = Theta(1).
    # Step 1: dL/dh^1 = W^2^T chi ~ n^{-1/2}, so Delta h^1 = n^{x-1/2};  Delta W^2 x^1 = n * n^{x-1/4} n^{-1/4}
    # = n^{x+1/2}: the logits blow up for x > -1/2, and under MSE chi = f - y grows with them (catastrophic).
    # At x <= -1/2 nothing grows, but h^1 stays n^{-1/4} (n^{x-1/2} is smaller): the init never becomes Theta(1).
    report = derive(issue_example(-1))
    assert report.regime == "vanishing-init"  # main said 'stable' with max stable LR exponent -1/2
    assert report.vanishing_init == {1: R(-1, 4)}
    assert report.max_stable_lr_exponent is None and report.max_bounded_logits_lr_exponent is None
    assert phases(report) == [("(-oo, -1/2]", "vanishing-init"), ("(-1/2, oo)", "catastrophic")]
    assert report.init_lifted_at is None
    assert any("TP4 Thm 3.3" in n and "h^1_0 ~ n^-1/4" in n and "a_1+b_1 = 1/4" in n for n in report.notes)
    edge = derive(issue_example(R(-1, 2)))
    assert edge.regime == "vanishing-init" and edge.logits["update"] == 0  # Delta f = n^{x+1/2} = Theta(1)
    assert derive(issue_example(0)).regime == "catastrophic"  # catastrophic wins where the logits blow up


def test_sigmoid_keeps_later_layers_theta1_but_the_first_still_vanishes():
    # a_1+b_1 = 1/4: h^1_0 = n^{-1/4}.  relu passes the smallness on: h^2_0 = n^{1/2-1/2} n^{-1/4} = n^{-1/4}.
    # sigmoid(h) -> 1/2 as h -> 0, so x^1 = Theta(1) and h^2_0 = n^{1/2-1/2} = Theta(1); the input still only
    # reaches x^1 through the vanishing h^1, so TP4's condition (h_0 = Theta(1)) fails at layer 1 only.
    a, b, c = [0, 0, 0], [R(1, 4), R(1, 2), R(1, 2)], [2, 2, 2]
    relu = derive(layered(a, b, c, activation="relu"))
    sigmoid = derive(layered(a, b, c, activation="sigmoid"))
    assert relu.vanishing_init == {1: R(-1, 4), 2: R(-1, 4)}
    assert sigmoid.vanishing_init == {1: R(-1, 4)}
    assert relu.regime == sigmoid.regime == "vanishing-init"  # LR n^{-2}: nothing grows
    assert any("phi(0) != 0" in n for n in sigmoid.notes) and not any("phi(0) != 0" in n for n in relu.notes)


def test_compensated_hidden_layer_still_violates_the_init_condition():
    # a_1+b_1 = 1/4 and a_2+b_2 = 1/4: relu h^2_0 = n^{1/2-1/4} n^{-1/4} = Theta(1), but h^1_0 = n^{-1/4}
    report = derive(layered([0, 0, 0], [R(1, 4), R(1, 4), R(1, 2)], [2, 2, 2]))
    assert report.vanishing_init == {1: R(-1, 4)} and report.regime == "vanishing-init"


def test_exploding_init_is_catastrophic_at_every_learning_rate():
    # a_1+b_1 = -1/4: h^1_0 = n^{1/4} grows whatever the learning rate
    report = derive(layered([0, 0, 0], [R(-1, 4), R(1, 2), R(1, 2)], [2, 2, 2]))
    assert {p.regime for p in report.phases} == {"catastrophic"} and report.vanishing_init == {}
    assert report.max_stable_lr_exponent is None
    assert any("catastrophic at every learning-rate exponent" in n for n in report.notes)


def test_a_small_readout_is_allowed():
    # TP4 Thm 3.3 asks a_{L+1}+b_{L+1} >= 1/2 only: muP (b_{L+1} = 1) and MFP (a_{L+1} = 1) start with small
    # logits and are stable with a maximal stable LR exponent 0 (TP4 Table 1).
    for name, layers in (("mup", 3), ("mfp", 1)):
        report = derive(get_preset(name, layers=layers))
        assert report.logits["init"] < 0
        assert report.vanishing_init == {} and report.regime == "stable" and report.max_stable_lr_exponent == 0


def test_zero_initialised_hidden_layer_vanishes_exactly():
    # W^2_0 = 0: h^2_0 = 0 and, through relu, h^3_0 = 0; the exponents are -oo.  A zero readout is allowed.
    sp = get_preset("sp", layers=3, lr_exponent=-1)
    a, b, c = ([getattr(layer, k) for layer in sp.layers] for k in "abc")
    hidden = Parametrization("z", build_layers(a, b, c, zero_init=[False, True, False, False]), lr_exponent=R(-1))
    readout = Parametrization("z", build_layers(a, b, c, zero_init=[False, False, False, True]), lr_exponent=R(-1))
    report = derive(hidden)
    assert report.vanishing_init == {2: -sympy.oo, 3: -sympy.oo} and report.regime == "vanishing-init"
    assert any("h^2_0 = 0" in n and "zero-initialised" in n for n in report.notes)
    assert derive(readout).vanishing_init == {} and derive(readout).regime == "stable"


def test_integrable_parametrizations_say_whether_training_escapes_the_init():
    # IP (Hajjar et al.): h^l_0 = n^{-(l-1)/2}; with 3 hidden layers the first steps vanish and the pre-activations
    # stay small (stationary start); IP-LLR's large first step makes every h^l Theta(1) at step 1.
    ip, llr = derive(get_preset("ip", layers=3)), derive(get_preset("ip-llr", layers=3))
    for report in (ip, llr):
        assert report.regime == "vanishing-init" and report.vanishing_init == {2: R(-1, 2), 3: R(-1)}
    assert ip.init_lifted_at is None and ip.dynamics == "trivial"
    assert any("does not leave the vanishing initialisation" in n for n in ip.notes)
    assert llr.init_lifted_at == 1 and llr.dynamics == "feature-learning"
    assert any("from step 1 on every hidden pre-activation is Theta(1)" in n for n in llr.notes)
    assert phases(ip) == phases(llr) == [("(-oo, 0]", "vanishing-init"), ("(0, oo)", "catastrophic")]


def test_tables_show_the_vanishing_regime():
    grid = grid_table(["ip", "mup"], ["sgd"], ["ce"]).render()
    assert "none (vanishing init)" in grid
    regimes = grid_table(["ip", "mup"], ["sgd"], ["ce"], quantity="regime").render()
    assert "vanishing-init" in regimes and "stable" in regimes
    table = phase_table(get_preset("ip", layers=3)).render()
    assert "vanishing-init" in table and "max stable x = none" in table and "TP4 Thm 3.3" in table


def test_gelu_features_lose_their_coherent_overlap_where_the_init_vanishes():
    # gelu(h) = h/2 + h^2/sqrt(2 pi) + ...: its linear part is odd, so the mean of gelu(h) is second order in a
    # small h.  After IP-LLR's large first step, layer 3's input features are Theta(1) while the old ones (whose
    # direction the step's weight change carries) vanish like n^-1/2 with means n^-1: their overlap is no longer
    # the coherent n |x| that relu's first-order mean gives, but n^{1/2} |x|.  The first-step change of layer 3
    # therefore vanishes like n^-1/2 under gelu and is Theta(1) under relu (measured with check: -0.52 and +0.0).
    relu = derive(get_preset("ip-llr", activation="relu"))
    gelu = derive(get_preset("ip-llr", activation="gelu"))
    assert relu.exponent("effective_update", 3, 1) == 0 and gelu.exponent("effective_update", 3, 1) == R(-1, 2)
    assert relu.exponent("effective_update", 4, 1) == 0 and gelu.exponent("effective_update", 4, 1) == -1
    # where nothing vanishes (muP), gelu and relu derive the same exponents: the means are Theta(1) there
    mup_relu, mup_gelu = derive(get_preset("mup", activation="relu")), derive(get_preset("mup", activation="gelu"))
    assert [l.values for l in mup_relu.layers] == [l.values for l in mup_gelu.layers]
