"""Paper results reproduced by the engine from (a, b, c) inputs alone.

Expected values are the papers' (with the reference notes' provenance tags), never the engine's
own output: TP4 Table 1 [P], Haas et al. 2025 regimes and exponents [S/C + derivation], Everett et
al. 2024 full-alignment LR exponents [S], Hajjar et al. 2021 IP exponents [computed in the notes].
"""

from fractions import Fraction

import pytest
import sympy

from theory.engine import derive
from theory.parametrization import Parametrization, build_layers
from theory.presets import get_preset

R = sympy.Rational


def layered(a, b, c, **kw) -> Parametrization:
    return Parametrization(name="t", layers=build_layers(a, b, c), **kw)


def feature_updates(report):
    return [layer.values["feature_update"] for layer in report.layers]


# ---- TP4 Table 1 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_tp4_table1_sp_with_lr_1_over_n_is_kernel(loss):
    # SP, c = 1 (global): r = 1/2, 2a+c = 1, a+b+r = 1 -> stable, nontrivial, kernel (TP4 Table 1, T1.1)
    r = derive(get_preset("sp", layers=3, loss=loss, lr_exponent=-1))
    assert r.regime == "stable" and r.nontrivial and r.dynamics == "kernel"
    assert feature_updates(r)[:3] == [R(-3, 2), R(-1, 2), R(-1, 2)]  # -r_l: r_1 = 3/2, r_2 = r_3 = 1/2
    assert r.logits["update"] == 0  # 2a_{L+1} + c = 1 and a+b+r = 1: logits move by Theta(1)


def test_tp4_table1_ntp_kernel():
    r = derive(get_preset("ntk", layers=3, loss="mse"))
    assert r.regime == "stable" and r.dynamics == "kernel"
    assert feature_updates(r)[-2] == R(-1, 2)  # r = 1/2
    assert r.max_bounded_logits_lr_exponent == 0  # T1.6: NTP needs c >= 0


def test_tp4_table1_mfp_feature_learning():
    # MFP (L = 1): a = (0, 1), b = 0, c = -1 -> r = 0 (T1.7)
    r = derive(layered([0, 1], [0, 0], [-1, -1], loss="mse"))
    assert r.regime == "stable" and r.dynamics == "feature-learning"
    assert r.logits["init"] == R(-1, 2)


def test_tp4_table1_mup_multiplier_form():
    # TP4 muP: a = (-1/2, 0, ..., 0, 1/2), b = 1/2, c = 0 -> r = 0, f_0 -> 0 (Cor 3.10), max c = 0 (T1.5)
    L = 3
    r = derive(layered([R(-1, 2)] + [0] * (L - 1) + [R(1, 2)], [R(1, 2)] * (L + 1), [0] * (L + 1), loss="mse"))
    assert r.regime == "stable" and r.dynamics == "feature-learning" and r.nontrivial
    assert feature_updates(r) == [0] * (L + 1)
    assert r.logits["init"] == R(-1, 2)
    assert r.max_stable_lr_exponent == 0


# ---- Haas et al. 2025 -------------------------------------------------------------------------------
def test_haas_sp_sgd_ce_controlled_divergence():
    r = derive(get_preset("sp", layers=3, loss="ce", lr_exponent=R(-1, 2)))
    assert r.regime == "controlled-divergence"
    assert r.max_stable_lr_exponent == R(-1, 2) and r.max_stable_attained
    assert r.max_bounded_logits_lr_exponent == -1
    phases = [(p.lower, p.upper, p.lower_closed, p.upper_closed, p.regime) for p in r.phases]
    assert phases == [
        (None, Fraction(-1), False, True, "stable"),
        (Fraction(-1), Fraction(-1, 2), False, True, "controlled-divergence"),
        (Fraction(-1, 2), None, False, False, "catastrophic"),
    ]
    # per-layer feature updates at x = -1/2: input -1, hidden 0, logit change +1/2 (Haas 'Prop. 4')
    assert feature_updates(r) == [-1, 0, 0, R(1, 2)]
    assert r.dynamics == "feature-learning"


def test_haas_sp_sgd_mse_needs_one_over_n():
    r = derive(get_preset("sp", layers=3, loss="mse", lr_exponent=R(-1, 2)))
    assert r.regime == "catastrophic" and r.max_stable_lr_exponent == -1
    assert [p.regime for p in r.phases] == ["stable", "catastrophic"]  # no controlled divergence under MSE


def test_haas_sp_adam_ce():
    r = derive(get_preset("sp", layers=3, optimizer="adam", loss="ce", lr_exponent=-1))
    assert r.max_stable_lr_exponent == -1 and r.regime == "controlled-divergence"
    # hidden Theta(1), input n^-1, logits n^{1/2} through the propagating update (reference 3.4)
    assert feature_updates(r) == [-1, 0, 0, R(1, 2)]
    assert r.layers[-1].values["propagating_update"] == R(1, 2)


@pytest.mark.parametrize("optimizer,alpha", [("sgd", R(1, 2)), ("sgd", 1), ("adam", 1), ("adam", R(3, 2))])
def test_haas_first_step_effective_updates(optimizer, alpha):
    # Haas et al. code / reference 3.3: SGD (-1/2-a, 1/2-a, 1-a), Adam (-a, 1-a, 1-a), t = 1, alpha <= edge
    r = derive(get_preset("sp", layers=2, optimizer=optimizer, loss="ce", lr_exponent=-alpha))
    got = [layer.first_step["effective_update"] for layer in r.layers]
    want = ([-R(1, 2) - alpha, R(1, 2) - alpha, 1 - alpha] if optimizer == "sgd" else [-alpha, 1 - alpha, 1 - alpha])
    assert got == want


def test_sp_full_align_sits_at_the_feature_learning_edge_of_controlled_divergence():
    for optimizer in ("sgd", "adam"):
        r = derive(get_preset("sp-full-align", layers=3, optimizer=optimizer, loss="ce"))
        assert r.regime == "controlled-divergence" and r.max_stable_lr_exponent == 0
        assert feature_updates(r) == [0, 0, 0, R(1, 2)]
    assert derive(get_preset("sp-full-align", loss="mse")).regime == "catastrophic"


def test_sp_one_hidden_layer_stable_at_constant_lr_under_ce():
    # reference 3.5: L = 1: no n x n matrix can blow up; logits grow like n^{1-alpha}
    r = derive(get_preset("sp", layers=1, loss="ce", lr_exponent=0))
    assert r.max_stable_lr_exponent == 0 and r.logits["update"] == 1


def test_mup_is_flat_in_every_layer_for_sgd_and_adam():
    for optimizer in ("sgd", "adam"):
        for loss in ("ce", "mse"):
            r = derive(get_preset("mup", layers=4, optimizer=optimizer, loss=loss))
            assert r.regime == "stable" and r.max_stable_lr_exponent == 0
            assert feature_updates(r) == [0] * 5


# ---- Hajjar et al. 2021: integrable parametrizations ------------------------------------------------
@pytest.mark.parametrize("L,first_step,logit", [
    (2, [None, 0], None),  # learning occurs with 3 weight matrices
    (3, [-1, R(-1, 2), -1], -1),  # reference C: one-step exponents [-0.97, -0.54, -1.02], df -1.01
    (4, [R(-3, 2), -1, R(-3, 2), -2], -2),  # [-1.48, -1.02, -1.51, -1.99], df -1.97
])
def test_ip_first_step_exponents_and_stationarity(L, first_step, logit):
    r = derive(get_preset("ip", layers=L))
    assert [layer.values["init_preactivation"] for layer in r.layers] == [-R(l, 2) for l in range(L + 1)]
    got = [layer.first_step["preactivation_update"] for layer in r.layers[:L]]
    for g, w in zip(got, first_step, strict=True):
        if w is not None:
            assert g == w
    if logit is not None:
        assert r.logits["first_step_update"] == logit and r.dynamics == "trivial"
        assert r.init_lifted_at is None  # stationary: the hidden pre-activations stay small
    else:
        assert r.dynamics == "feature-learning" and r.init_lifted_at == 1  # Delta h^2 = Theta(1) at step 1
    # h^l_0 = Theta(n^{-(l-1)/2}) (reference C) violates TP4 Thm 3.3's init condition: no stable learning rate
    assert r.regime == "vanishing-init" and r.max_stable_lr_exponent is None
    assert r.vanishing_init == {l: -R(l - 1, 2) for l in range(2, L + 1)}


@pytest.mark.parametrize("L", [3, 4, 6])
def test_ip_llr_first_step_makes_every_layer_move(L):
    # Hajjar et al.'s IP-LLR first-step exponents (from their code) make every first-step update Theta(1)
    # for ReLU, whose nonzero mean makes old and new features overlap coherently (reference C, [DERIVED]).
    r = derive(get_preset("ip-llr", layers=L))
    assert [layer.first_step["preactivation_update"] for layer in r.layers] == [0] * (L + 1)
    assert r.dynamics == "feature-learning"
    # the init still vanishes (TP4 Thm 3.3 fails, so no stable LR), but the first step lifts every h^l to Theta(1)
    assert r.regime == "vanishing-init" and r.max_stable_lr_exponent is None and r.init_lifted_at == 1


def test_ip_llr_needs_a_nonzero_mean_activation():
    # With a centred activation the new features of layer l-1 are not coherent with the old ones, so the
    # large first step does not reach the deeper layers (an engine prediction, see docs/limitations.md).
    r = derive(get_preset("ip-llr", layers=3, activation="tanh"))
    assert [layer.first_step["preactivation_update"] for layer in r.layers] == [0, 0, R(-1, 2), R(-1, 2)]
