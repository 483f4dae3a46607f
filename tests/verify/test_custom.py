"""A user's own module with a role per parameter: init, LR groups and measurements against the built-in model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from theory.config import resolve
from theory.errors import InputError
from verify.model.mlp import layer_scales
from verify.width.custom import initialise, make_optimizer, param_groups, role_parameters, train_custom, verify_module
from verify.width.train import Job, TrainSettings, train_job
from verify.width.verdict import judge, value_table

ROLES = {"0.weight": "input", "2.weight": "hidden", "4.weight": "hidden", "6.weight": "output"}


def mlp(width: int, d: int, k: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, width, bias=False), activation(), nn.Linear(width, width, bias=False),
                         activation(), nn.Linear(width, width, bias=False), activation(),
                         nn.Linear(width, k, bias=False))


def test_groups_follow_the_multiplier_free_formula_sgd() -> None:
    """NTK (a = 1/2 after the input layer, b = 0, c = 0) becomes b = 1/2 and c = 0 + 2 * 1/2 = 1 under SGD:
    hidden/readout init std sqrt(2) (n/n0)^-1/2 / sqrt(n0) and LR eta0 (n/n0)^(X - 1)."""
    param = resolve("ntk", loss="ce", lr_exponent="0")
    module = mlp(512, 16, 10)
    plan = role_parameters(param, module, ROLES, 512, base_width=128, input_dim=16, output_dim=10, lr=0.1)
    groups = param_groups(module, plan, "sgd")
    ratio = 512 / 128
    assert [g["lr"] for g in groups] == pytest.approx([0.1, 0.1 / ratio, 0.1 / ratio, 0.1 / ratio])
    assert [rp.scale.init_std for rp in plan] == pytest.approx(
        [math.sqrt(2 / 16)] + [math.sqrt(2) * ratio**-0.5 / math.sqrt(128)] * 3)
    weights = dict(module.named_parameters())
    assert [g["params"] for g in groups] == [[weights[name]] for name in ROLES]
    opt = make_optimizer("sgd", groups)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.025, 0.025, 0.025])
    initialise(module, plan, seed=0, width=512)
    # 512 x 512 samples: relative standard error of the sample std ~ 1/sqrt(2 * 262144) = 0.14%
    assert weights["2.weight"].std().item() == pytest.approx(plan[1].scale.init_std, rel=0.01)


def test_groups_follow_the_multiplier_free_formula_adam() -> None:
    """Adam (k = 1): NTK hidden c = 0 + 1/2; epsilon exponent e = 1 becomes e - a = 1/2 after the input layer."""
    param = resolve("ntk", loss="ce", optimizer="adam", lr_exponent="0", eps_exponent="1")
    module = mlp(512, 16, 10)
    plan = role_parameters(param, module, ROLES, 512, base_width=128, input_dim=16, output_dim=10, lr=1e-3,
                           eps=1e-8)
    groups = param_groups(module, plan, "adam")
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-3 / 2, 1e-3 / 2, 1e-3 / 2])
    assert [g["eps"] for g in groups] == pytest.approx([1e-8 / 4, 1e-8 / 2, 1e-8 / 2, 1e-8 / 2])
    assert isinstance(make_optimizer("adam", groups), torch.optim.Adam)


def test_equivalent_to_the_built_in_model_with_multipliers() -> None:
    """MFP has readout multiplier n^-1: the plain module holds W = n^-1 w.  Every quantity about h, x and
    Delta W x is the same training; the two about the trainable tensor scale by the multiplier m exactly:
    weight_update(W) = m weight_update(w), weight_gradient(W) = weight_gradient(w) / m."""
    param = resolve("mfp", loss="ce", lr_exponent="0")
    settings = TrainSettings(steps=2, probe_size=16, base_width=32)
    width, seeds = 128, (0, 1)
    custom = {r[:4]: r[4] for r in train_custom(mlp, ROLES, param, width, seeds, settings).records}
    built_in = {r[:4]: r[4] for r in train_job(Job(param, width, seeds, settings)).records}
    assert custom.keys() == built_in.keys()
    scales = layer_scales(param, width, base_width=32, input_dim=32, output_dim=10, lr=0.1)
    assert scales[-1].multiplier == pytest.approx(0.25)  # the test needs a multiplier != 1
    for key, value in built_in.items():
        assert value is not None
        m = scales[key[3] - 1].multiplier
        factor = {"weight_update": m, "weight_gradient": 1 / m}.get(key[2], 1.0)
        # float32 rounding (W = m w drawn as one product, other summation orders): measured <= 1e-6 relative
        assert custom[key] == pytest.approx(value * factor, rel=1e-4, abs=1e-9), key


def test_bad_roles_are_input_errors() -> None:
    param = resolve("sp", loss="ce", lr_exponent="-1/2")
    settings = TrainSettings(steps=1, probe_size=8, base_width=16)
    with pytest.raises(InputError, match="'6.weight' has no role"):
        train_custom(mlp, {k: v for k, v in ROLES.items() if k != "6.weight"}, param, 16, [0], settings)
    with pytest.raises(InputError, match="not a parameter"):
        train_custom(mlp, {**ROLES, "9.weight": "hidden"}, param, 16, [0], settings)
    with pytest.raises(InputError, match="unknown role"):
        train_custom(mlp, {**ROLES, "2.weight": "middle"}, param, 16, [0], settings)
    with pytest.raises(InputError, match="relu"):  # the module uses tanh, the parametrization says relu
        train_custom(lambda n, d, k: mlp(n, d, k, nn.Tanh), ROLES, param, 16, [0], settings)
    with pytest.raises(InputError, match="4 role weights"):
        train_custom(mlp, ROLES, resolve("sp", layers=2, lr_exponent="-1/2"), 16, [0], settings)
    with pytest.raises(InputError, match="torch.optim"):
        train_custom(mlp, ROLES, resolve("sp", optimizer="muon", lr_exponent="-1"), 16, [0], settings)


@pytest.mark.slow
def test_same_verdicts_as_the_built_in_model_for_sp() -> None:
    """SP + SGD + CE at X = -1/2, widths 128-1024, 8 seeds: the user's nn.Sequential gives the built-in rows."""
    from theory.engine import derive

    param = resolve("sp", loss="ce", lr_exponent="-1/2")
    widths, seeds, settings = [128, 256, 512, 1024], list(range(8)), TrainSettings()
    custom_rows = verify_module(mlp, ROLES, param, widths, seeds, settings)
    records = []
    for width in widths:
        records += [(width, *r) for r in train_job(Job(param, width, tuple(seeds), settings)).records]
    built_in_rows = judge(derive(param), value_table(records, widths, seeds), widths, 4, settings.steps)
    assert [r.verdict for r in custom_rows] == [r.verdict for r in built_in_rows] == ["PASS"] * len(custom_rows)
    for mine, theirs in zip(custom_rows, built_in_rows, strict=True):
        assert (mine.quantity, mine.layer, mine.step, mine.predicted) == (theirs.quantity, theirs.layer, theirs.step,
                                                                          theirs.predicted)
        # same init draws, data and dynamics; float32 differences of ~1e-6 relative move a log slope by ~1e-6
        assert mine.measured == pytest.approx(theirs.measured, abs=1e-3)
