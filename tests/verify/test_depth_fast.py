"""Fast checks of the depth measurements (small sizes); the acceptance runs are in test_depth_slow.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from theory.errors import InputError
from theory.presets import get_preset
from verify.depth.ip import run_ip
from verify.depth.l3 import one_step_changes
from verify.depth.residual import ResidualConfig, residual_updates


def test_one_step_change_is_in_the_linear_regime() -> None:
    # the recursion is first order in eta: halving eta0 must leave |dz|^2 / eta^2 unchanged (measured: 0.4 %)
    a = one_step_changes(4, 128, [0, 1], eta0=0.01)
    b = one_step_changes(4, 128, [0, 1], eta0=0.005)
    assert np.allclose(a, b, rtol=0.02)


def test_one_step_change_first_layer_is_half() -> None:
    # S_1 = |x|^2/n * |g^1|^2 n / ... = 1/2 at infinite width; 64 seeds at n = 256 (spread ~10 %, se ~1.5 %)
    first = one_step_changes(2, 256, list(range(64)))[:, 0]
    assert first.mean() == pytest.approx(0.5, rel=0.06)


def test_ip_llr_first_step_uses_the_warmup_rates() -> None:
    torch.manual_seed(0)
    ip = run_ip(get_preset("ip", layers=3), 64, [0], lr=0.01)
    llr = run_ip(get_preset("ip-llr", layers=3), 64, [0], lr=0.01, first_lr=0.01)
    # same init; IP-LLR's first rates are larger by n^{(L+1)/2 - 1} = 64 for the input layer (exact: linear step)
    assert llr.first_step[0, 0] / ip.first_step[0, 0] == pytest.approx(64**1.0, rel=1e-3)


def test_residual_runs_and_rejects_bad_config() -> None:
    out = residual_updates(ResidualConfig(alpha=0.5, optimizer="adam", steps=2), 32, 2, [0, 1])
    assert all(np.isfinite(v).all() and (v > 0).all() for v in out.values())
    with pytest.raises(InputError, match="optimizer"):
        ResidualConfig(alpha=0.5, optimizer="lion")
    with pytest.raises(InputError, match="alpha"):
        ResidualConfig(alpha=-1)


def test_format_rows_and_summary_line_read_the_rows() -> None:
    from verify.depth.sweep import DepthRow, format_rows, summary_line

    rows = [DepthRow("mlp-l3", "slope in L", 3.0, 2.95, 2.8, 3.1, 0.2, "PASS"),
            DepthRow("ip training", "loss drop", 0.1, None, None, None, 0.1, "FAIL", "diverged")]
    lines = format_rows(rows).splitlines()
    assert lines[0].split()[:3] == ["experiment", "quantity", "predicted"] and set(lines[1]) == {"-", " "}
    assert "3.000     2.950  [2.800, 3.100]" in lines[2] and lines[3].endswith("FAIL     diverged")
    assert "[-, -]" in lines[3]                              # a missing measurement prints '-'
    assert summary_line(rows) == "1/2 PASS"


def test_run_experiment_refuses_unknown_names_and_missing_depths() -> None:
    from verify.depth.sweep import run_experiment

    with pytest.raises(InputError, match="expected one of mlp-l3, ip, residual"):
        run_experiment("resnet", widths=[32], seeds=[0, 1], depths=[2, 4])
    with pytest.raises(InputError, match="needs depths"):
        run_experiment("residual", widths=[32], seeds=[0, 1])
