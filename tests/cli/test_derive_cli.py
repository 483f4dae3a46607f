"""`abcscale derive / solve / equivalent` as a user runs them."""

import json

import pytest

from tests.cli.helpers import abcscale, assert_clean_error


def test_derive_json_has_the_documented_keys():
    result = abcscale("derive", "sp", "--loss", "ce", "--lr-exponent", "-1/2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["regime"] == "controlled-divergence"
    assert data["max_stable_lr_exponent"] == "-1/2" and data["max_bounded_logits_lr_exponent"] == "-1"
    assert data["phases"] == [
        {"from": None, "to": "-1", "from_closed": False, "to_closed": True, "regime": "stable"},
        {"from": "-1", "to": "-1/2", "from_closed": False, "to_closed": True, "regime": "controlled-divergence"},
        {"from": "-1/2", "to": None, "from_closed": False, "to_closed": False, "regime": "catastrophic"},
    ]
    assert data["logits"]["init"] == "0" and data["logits"]["update"] == "1/2"
    keys = {"index", "role", "init_preactivation", "backward_gradient", "effective_update",
            "propagating_update", "feature_update", "feature_learning"}
    assert all(keys <= set(layer) for layer in data["layers"])
    assert [layer["feature_update"] for layer in data["layers"]] == ["-1", "0", "0", "1/2"]
    assert [layer["role"] for layer in data["layers"]] == ["input", "hidden", "hidden", "output"]


def test_derive_vanishing_initialisation(tmp_path):
    # issue 15's example: one hidden layer, b = [1/4, 1/2], MSE; h^1_0 = n^{-1/4} breaks TP4 Thm 3.3's init condition
    spec = tmp_path / "vanish.toml"
    spec.write_text('loss = "mse"\na = [0, 0]\nb = ["1/4", "1/2"]\nc = [0, 0]\n')
    text = abcscale("derive", str(spec), "--lr-exponent", "-1")
    assert text.returncode == 0, text.stderr
    assert "regime: vanishing-init" in text.stdout
    assert "max stable LR exponent: none (vanishing initialisation)" in text.stdout
    assert "phases over x: (-oo, -1/2] vanishing-init | (-1/2, oo) catastrophic" in text.stdout
    assert "note: vanishing initialisation: h^1_0 ~ n^-1/4" in text.stdout
    data = json.loads(abcscale("derive", str(spec), "--lr-exponent", "-1", "--json").stdout)
    assert data["regime"] == "vanishing-init"
    assert data["max_stable_lr_exponent"] is None and data["max_bounded_logits_lr_exponent"] is None
    assert data["vanishing_init"] == [{"layer": 1, "init_preactivation": "-1/4"}]
    assert data["init_lifted_at"] is None
    llr = json.loads(abcscale("derive", "ip-llr", "--json").stdout)
    assert llr["regime"] == "vanishing-init" and llr["init_lifted_at"] == 1
    assert [v["layer"] for v in llr["vanishing_init"]] == [2, 3]


def test_slow_lift_of_a_vanishing_init_needs_a_longer_horizon():
    # docs/limitations.md: IP-LLR with tanh lifts one layer per step; at horizon 4 the climb looks like a blow-up
    short = abcscale("derive", "ip-llr", "--layers", "6", "--activation", "tanh")
    assert "regime: catastrophic" in short.stdout and "a longer horizon tells a slow escape" in short.stdout
    long = abcscale("derive", "ip-llr", "--layers", "6", "--activation", "tanh", "--horizon", "8")
    assert "regime: vanishing-init" in long.stdout
    assert "from step 5 on every hidden pre-activation is Theta(1)" in long.stdout


def test_derive_table_and_symbolic_phase_diagram():
    result = abcscale("derive", "sp", "--optimizer", "adam", "--lr-exponent", "x")
    assert result.returncode == 0, result.stderr
    assert "max stable LR exponent: -1" in result.stdout
    assert "(-3/2, -1] controlled-divergence" in result.stdout


def test_solve_and_equivalent():
    result = abcscale("solve", "mup", "--optimizer", "adam", "--json")
    assert json.loads(result.stdout)["c"] == ["0", "1", "1", "1"]
    assert abcscale("equivalent", "mup", "mfp").returncode == 0
    different = abcscale("equivalent", "sp", "ntk")
    assert different.returncode == 1 and "not equivalent" in different.stdout


@pytest.mark.parametrize("args,needles", [
    (["derive", "spp"], ["unknown preset 'spp'", "did you mean"]),
    (["derive", "sp", "--loss", "hinge"], ["unknown loss 'hinge'"]),
    (["derive", "sp", "--optimizer", "adamw"], ["unknown optimizer 'adamw'", "adam"]),
    (["derive", "sp", "--activation", "swish"], ["unknown activation 'swish'"]),
    (["derive", "sp", "--layers", "0"], ["--layers"]),
    (["derive", "sp", "--layers", "three"], ["--layers"]),
    (["derive", "sp", "--lr-exponent", "inf"], ["--lr-exponent", "finite"]),
    (["derive", "sp", "--lr-exponent", "1/2/"], ["--lr-exponent"]),
    (["derive", "missing.toml"], ["missing.toml"]),
    (["solve", "sp", "--optimizer", "lion"], ["unknown optimizer 'lion'"]),
    (["solve", "sp", "--objective", "max-lrr"], ["unknown objective 'max-lrr'", "max-lr"]),
    (["solve", "sp", "--activation", "tanh", "--objective", "max-lr"], ["max-lr", "+ and max only"]),
])
def test_bad_input_is_one_line_and_exit_code_2(args, needles):
    assert_clean_error(abcscale(*args), *needles)


def test_malformed_toml_names_file_and_field(tmp_path):
    bad = tmp_path / "net.toml"
    bad.write_text('preset = "sp"\n[output]\nb = "1/2 +"\n')
    assert_clean_error(abcscale("derive", str(bad)), "net.toml", "output.b")
    broken = tmp_path / "broken.toml"
    broken.write_text("a = [0,\n")
    assert_clean_error(abcscale("derive", str(broken)), "broken.toml", "malformed TOML")


def test_solve_max_lr_objective():
    # Everett et al.'s largest stable learning rates for MFP with SGD: c = -1 in every layer, their
    # full-alignment MFP row and TP4 Table 1's MFP column (c = -1)
    result = abcscale("solve", "mfp", "--optimizer", "sgd", "--objective", "max-lr", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["objective"] == "max-lr" and data["c"] == ["-1", "-1", "-1", "-1"] and data["regime"] == "stable"
    text = abcscale("solve", "mfp", "--optimizer", "sgd", "--objective", "max-lr")
    assert "largest stable learning rates" in text.stdout


def test_solve_uses_only_the_preset_init():
    # muP's tabulated LRs exist for sgd/adam only; solving needs just its initialisation.  Muon's step ignores
    # the gradient's scale, so the answer is the init-independent one: LR ~ sqrt(fan_out/fan_in) divided by
    # Jordan's default factor sqrt(max(1, fan_out/fan_in)), i.e. 1 except n^-1/2 for the readout
    result = abcscale("solve", "mup", "--optimizer", "muon", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["c"] == ["0", "0", "0", "1/2"]
