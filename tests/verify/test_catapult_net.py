"""Real ReLU nets: the homogeneity norm identity per step, and the catapult phases (slow sweeps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from numerics.catapult.phases import CatapultPhase
from verify.catapult import sweep as vc
from verify.catapult.net import ReLUNet, load_task


@pytest.mark.parametrize("depth", [2, 3])
def test_weight_norm_change_follows_the_homogeneity_identity(depth: int) -> None:
    x, y = load_task("digits", 64, seed=0)
    model = ReLUNet(x.shape[1], 128, depth, seed=0)
    record = vc.train_run(model, x, y, ratio=3.0, steps=30, ntk_every=30, seed=0, depth=depth)
    n_params = sum(p.numel() for p in model.parameters())
    measured = np.diff(np.array(record.weight_norm)) * n_params
    predicted = np.array(record.norm_change_predicted)
    # exact for a depth-homogeneous net; float64 rounding of |theta|^2 ~ 1e4 leaves ~1e-10 absolute
    assert np.allclose(measured, predicted, rtol=1e-8, atol=1e-8)


def test_bad_task_inputs_raise_one_line_errors() -> None:
    with pytest.raises(ValueError, match="dataset"):
        load_task("mnist", 10, seed=0)
    with pytest.raises(ValueError, match="inputs"):
        load_task("digits", 10, seed=0, inputs="whitened")
    with pytest.raises(ValueError, match="depth"):
        ReLUNet(4, 8, 1, seed=0)


def test_a_diverging_run_is_recorded_with_its_step() -> None:
    x, y = load_task("synthetic", 32, seed=0, dim=8)
    record = vc.train_run(ReLUNet(8, 64, 2, seed=0), x, y, ratio=30.0, steps=50, ntk_every=50, seed=0, depth=2)
    assert record.phase == CatapultPhase.DIVERGENT.value and record.diverged_step is not None
    assert record.diverged_step < 50


@pytest.mark.slow
def test_two_layer_relu_digits_lazy_catapult_divergent() -> None:
    torch.set_num_threads(1)
    config = vc.SweepConfig(dataset="digits", width=512, depth=2, samples=128, seeds=(0, 1, 2),
                            ratios=(1.0, 1.5, 1.9, 2.5, 2.75, 3.0, 3.25, 4.5, 6.0, 8.0), steps=300, ntk_every=50)
    records = vc.run_sweep(config)
    for r in records:
        if r.ratio < 2:
            assert r.phase == CatapultPhase.LAZY.value
        elif r.ratio <= 3.25:  # measured upper edge 3.71 +- 0.17 (docs/catapult.md)
            assert r.phase == CatapultPhase.CATAPULT.value
            assert r.peak_loss > r.loss[0] and r.loss[-1] < 1e-2 * r.loss[0]
            assert r.final_eta_lambda < 2.0
            assert r.weight_norm[-1] < r.weight_norm[0]
        elif r.ratio >= 4.5:
            assert r.phase == CatapultPhase.DIVERGENT.value and r.diverged_step is not None
    edges = vc.window_edges(records)
    assert 2.0 <= edges.lower <= 2.5
    assert 3.25 < edges.upper < 4.5
    # weight norm falls at the large-loss steps of the catapult runs with eta lambda_0 < 4
    fell, large = map(sum, zip(*(r.norm_fell_while_large() for r in records if r.phase == "catapult"),
                               strict=True))
    assert large == 0 or fell / large >= 0.5


@pytest.mark.slow
def test_inactive_relu_fraction_rises_with_learning_rate_on_raw_digits() -> None:
    torch.set_num_threads(1)
    config = vc.SweepConfig(dataset="digits", inputs="raw", width=512, depth=2, samples=128, seeds=(0, 1),
                            ratios=(2.5, 4.0, 6.0, 8.0, 10.0, 12.0), steps=200, ntk_every=100)
    records = vc.run_sweep(config)
    corr = vc.sparsity_rank_correlation(records, layer=0, n_boot=1000)
    assert corr.runs >= 8
    assert corr.ci_low > 0  # measured rho 0.91, CI [0.78, 0.97] on 3 seeds x 15 ratios
    for r in records:
        if r.phase == "catapult":
            assert r.final_eta_lambda < 2.0


@pytest.mark.slow
def test_runs_whose_relus_all_switch_off_are_dead_not_catapults() -> None:
    """Raw digits at eta*lambda_0 = 40 (measured: every unit off after the spike, loss stuck at
    mean(y^2)/2 = 0.5 with a vanishing NTK) is labelled dead and closes the window, like divergence."""
    x, y = load_task("digits", 128, seed=0, inputs="raw")
    records = [vc.train_run(ReLUNet(x.shape[1], 512, 2, seed=0), x, y, ratio, 300, 50, 0, 2) for ratio in (12.0, 40.0)]
    assert [r.phase for r in records] == [CatapultPhase.CATAPULT.value, vc.DEAD]
    assert records[1].inactive_final[0] == 1.0 and records[1].loss[-1] == pytest.approx(0.5)
    assert vc.window_edges(records).upper == pytest.approx(26.0)
