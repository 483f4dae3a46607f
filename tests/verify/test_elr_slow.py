"""Slow trainings (depth-32 BatchNorm MLP): spread under a constant rate, widening above the critical rate,
schedule comparison on both data sets, and the receding-horizon model against persistence.

The thresholds encode the figures measured on docs/elr.md (recordings elr_digits, elr_synthetic: 5 seeds, 300
steps); here on 3 seeds.  One CPU thread: results depend on the thread count (float reduction order).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from verify.elr.train import ElrRunConfig, ScheduleSummary, compare_schedules, one_step_scan, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One thread, as `abcscale elr` trains (results depend on the thread count); restored afterwards so the
    rest of the session keeps its own setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("seed", [0, 1])
def test_constant_rate_spread_falls_toward_one(seed: int) -> None:
    log = train(ElrRunConfig(depth=32, lr=0.05, steps=300, seed=seed))
    s = log.spread
    # measured (seeds 0-4): initial ~410, geometric mean over the last 100 steps 2-4; minibatch noise in the
    # per-layer gradient norms keeps single-step spreads fluctuating around that level
    late = float(np.exp(np.mean(np.log(s[-100:]))))
    assert s[0] > 100
    assert late < s[0] / 20


@pytest.mark.parametrize("seed", [0, 1])
def test_spread_after_one_step_widens_above_the_critical_rate(seed: int) -> None:
    factors = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0]
    r = one_step_scan(ElrRunConfig(depth=32, seed=seed), factors)
    meas, pred = r["measured"], r["predicted"]
    # model: minimum exactly at the critical rate (factor 1), growing above it
    assert int(np.argmin(pred)) == factors.index(1.0)
    # measurement at init (spread ~400): every factor above 1 widens monotonically, far beyond factor 1
    above = meas[factors.index(2.0):]
    assert np.all(np.diff(above) > 0)
    assert meas[factors.index(8.0)] > 5 * meas[factors.index(1.0)]
    assert int(np.argmin(meas)) <= factors.index(1.0)


@pytest.fixture(scope="module", params=["digits", "synthetic"])
def comparison(request: pytest.FixtureRequest) -> dict[str, ScheduleSummary | int]:
    return compare_schedules(ElrRunConfig(depth=32, lr=0.05, steps=300, data=request.param), seeds=[0, 1, 2],
                             warmup_grid=[10, 30, 100])


def test_critical_warmup_vs_tuned_linear_on_deep_bn_mlp(comparison: dict[str, ScheduleSummary | int]) -> None:
    crit, lin = comparison["critical"], comparison["linear"]
    assert isinstance(crit, ScheduleSummary) and isinstance(lin, ScheduleSummary)
    assert np.mean(crit.steps_below_2) < np.mean(lin.steps_below_2)
    # "no worse": within the seed-to-seed spread of the tuned linear warm-up (2 standard errors)
    se = float(np.std(lin.final_loss, ddof=1) / np.sqrt(lin.final_loss.size))
    assert np.mean(crit.final_loss) <= np.mean(lin.final_loss) + 2 * se
    # why, at this target rate: the initial critical rate (~0.4 digits, ~0.55 synthetic) is above 0.05, so the
    # rule never caps; the schedule is the constant rate after its probe step
    assert np.all(crit.lr[:, 0] == 0.0) and np.all(crit.lr[:, 1:] == 0.05)


def test_restarted_model_beats_persistence_and_the_frozen_model(comparison: dict[str, ScheduleSummary | int]) -> None:
    for key in ("constant", "critical"):
        s = comparison[key]
        assert isinstance(s, ScheduleSummary)
        male = {k: float(np.mean(v["spread_smoothed_model"])) for k, v in s.horizon.items()}
        persist = {k: float(np.mean(v["spread_smoothed_persistence"])) for k, v in s.horizon.items()}
        # recorded (5 seeds): model 0.10-0.15 at K = 10 against persistence 0.13-0.20; 0.45-0.70 frozen
        for k in (10, 30, 100, 300):
            assert male[k] < persist[k], (key, k, male[k], persist[k])
        assert male[10] < 0.2                     # within a factor 1.6 on average, 1-10 steps ahead
        assert male[300] > 2 * male[30]           # gamma frozen at init: the fall of gamma is missed
        layer = {k: float(np.mean(v["layer_smoothed_model"])) for k, v in s.horizon.items()}
        assert layer[10] < float(np.mean(s.horizon[10]["layer_smoothed_persistence"]))


def test_critical_rule_caps_only_the_first_steps_at_a_large_target_rate() -> None:
    # target lr 1.0, 2-2.5x the initial critical rate: the rule caps step 1 (probe at step 0), after which the
    # first layers' weight norms have grown so much that the critical rate exceeds the target
    for data in ("digits", "synthetic"):
        log = train(ElrRunConfig(depth=32, lr=1.0, steps=10, data=data, schedule="critical"))
        assert log.lr[0] == 0.0 and 0.3 < log.lr[1] < 0.7
        assert np.all(log.lr[2:] == 1.0)
