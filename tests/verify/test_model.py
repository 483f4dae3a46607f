"""The abc -> torch mapping: multipliers, init stds and LRs follow the documented formulas."""

from __future__ import annotations

import math

import pytest
import torch

from theory.errors import InputError
from theory.parametrization import Optimizer
from theory.presets import get_preset
from verify.model.mlp import init_weights, layer_scales


def test_sp_is_he_init_at_every_width() -> None:
    param = get_preset("sp", layers=2, lr_exponent="-1/2")
    for width in (64, 512):
        scales = layer_scales(param, width, base_width=128, input_dim=16, output_dim=10, lr=0.1)
        assert [s.multiplier for s in scales] == [1.0, 1.0, 1.0]
        assert scales[0].init_std == pytest.approx(math.sqrt(2 / 16))
        assert scales[1].init_std == pytest.approx(math.sqrt(2 / width))
        assert scales[2].init_std == pytest.approx(math.sqrt(2 / width))
        assert all(s.lr == pytest.approx(0.1 * (width / 128) ** -0.5) for s in scales)
        assert [(s.fan_in, s.fan_out) for s in scales] == [(16, width), (width, width), (width, 10)]


def test_mup_sgd_exponents_enter_as_powers_of_width_ratio() -> None:
    param = get_preset("mup", layers=2)  # b = (0, 1/2, 1), c = (-1, 0, 1)
    scales = layer_scales(param, 512, base_width=128, input_dim=16, output_dim=10, lr=0.1)
    assert scales[2].init_std == pytest.approx(math.sqrt(2) * 4**-1 / math.sqrt(128))
    assert [s.lr for s in scales] == pytest.approx([0.1 * 4, 0.1, 0.1 / 4])


def test_adam_epsilon_rule() -> None:
    param = get_preset("mup", layers=1, optimizer="adam").with_(optimizer=Optimizer("adam", eps_exponent="1"))
    scales = layer_scales(param, 1024, base_width=128, input_dim=8, output_dim=3, lr=1e-3, eps=1e-8)
    assert scales[0].eps == pytest.approx(1e-8 / 8)


def test_measured_init_std_matches_formula() -> None:
    param = get_preset("sp", layers=1)
    scales = layer_scales(param, 1024, base_width=128, input_dim=32, output_dim=10, lr=0.1)
    weights = init_weights(scales, [0, 1], 1024)
    assert weights[1].shape == (2, 10, 1024)
    # 2 x 10 x 1024 samples: relative std error of the sample std ~ 1/sqrt(2 * 20480) = 0.5%
    assert weights[1].std().item() == pytest.approx(scales[1].init_std, rel=0.03)
    assert not torch.equal(weights[0][0], weights[0][1])


def test_seed_init_independent_of_batch_companions() -> None:
    param = get_preset("sp", layers=1)
    scales = layer_scales(param, 64, base_width=128, input_dim=8, output_dim=3, lr=0.1)
    alone = init_weights(scales, [3], 64)
    together = init_weights(scales, [0, 3], 64)
    assert torch.equal(alone[0][0], together[0][1])


def test_symbolic_exponent_is_rejected() -> None:
    param = get_preset("sp", layers=1).with_(lr_exponent="x")
    with pytest.raises(InputError, match="lr_exponent"):
        layer_scales(param, 64, base_width=128, input_dim=8, output_dim=3, lr=0.1)


def test_a_width_power_that_overflows_a_float_is_one_line() -> None:
    # exponents up to +-1000 parse; 8^1000 (width 1024 over base 128) is beyond a float: one line, not inf or NaN
    param = get_preset("sp", layers=1).with_(lr_exponent=1000)
    assert layer_scales(param, 256, base_width=128, input_dim=8, output_dim=3, lr=0.1)[0].lr > 1e300
    with pytest.raises(InputError, match="learning rate at width 1024 overflows a float"):
        layer_scales(param, 1024, base_width=128, input_dim=8, output_dim=3, lr=0.1)
