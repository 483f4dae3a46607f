"""Slow trainings (depth-32 BatchNorm MLP): spread under a constant rate, widening above the critical rate,
schedule comparison on both data sets, and the receding-horizon model against persistence.

The thresholds encode the figures measured on docs/elr.md (recordings elr_digits, elr_synthetic: 5 seeds, 300
steps); here on 3 seeds.  One CPU thread: results depend on the thread count (float reduction order).
The critical-rate runs are held, step by step, to the rule recomputed from their logged norms
(``check_critical_rule``), and the checks are shown to fail for broken schedulers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import verify.elr.train as elr_train
from numerics.elr.dynamics import critical_lr_from_ratios
from verify.elr.train import ElrRunConfig, ElrRunLog, ScheduleSummary, compare_schedules, one_step_scan, train
from verify.elr.warmup import CriticalRateWarmup

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


def predicted_critical_lr(log: ElrRunLog) -> np.ndarray:
    """eta_crit(t) for t = 1..T-1 recomputed from the logged float64 norms (not from the scheduler).

    Before step t the rule only knows step t-1: by the exact norm recursion the gradient-to-weight ratio it
    predicts for step t is rho_l = ||g_l(t-1)|| ||w_l(t-1)|| / ||w_l(t)||^2 (verify/elr/warmup.py, docs/elr.md), and
    eta_crit = 1 / sqrt(rho_max rho_min) (numerics.elr.dynamics.critical_lr_from_ratios).
    """
    rho = log.grad_norm[:-1] * np.sqrt(log.sigma2[:-2]) / log.sigma2[1:-1]
    return np.array([critical_lr_from_ratios(r) for r in rho])


def check_critical_rule(log: ElrRunLog, target: float) -> np.ndarray:
    """Assert that the run used the critical-rate rule: rate 0 on the probe step, then min(target, eta_crit(t))
    at every step; returns eta_crit(t), t = 1..T-1."""
    assert log.lr[0] == 0.0
    crit = predicted_critical_lr(log)
    # the scheduler takes its norms in float32, the log in float64 of the same tensors: measured agreement 1.4e-7
    # relative or better on the capped steps (seeds 0-4 at target 1.0, both data sets)
    np.testing.assert_allclose(log.lr[1:], np.minimum(target, crit), rtol=1e-6)
    return crit


@dataclass(frozen=True)
class Comparison:
    summaries: dict[str, ScheduleSummary | int]
    critical_logs: list[ElrRunLog]


@pytest.fixture(scope="module", params=["digits", "synthetic"])
def comparison(request: pytest.FixtureRequest) -> Iterator[Comparison]:
    # keep the critical runs' logs (compare_schedules only returns summaries) to recompute their rates
    logs: list[ElrRunLog] = []

    def keep(config: ElrRunConfig) -> ElrRunLog:
        log = train(config)
        if config.schedule == "critical":
            logs.append(log)
        return log

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(elr_train, "train", keep)
        summaries = compare_schedules(ElrRunConfig(depth=32, lr=0.05, steps=300, data=request.param),
                                      seeds=[0, 1, 2], warmup_grid=[10, 30, 100])
    yield Comparison(summaries, logs)


def test_critical_warmup_vs_tuned_linear_on_deep_bn_mlp(comparison: Comparison) -> None:
    crit, lin = comparison.summaries["critical"], comparison.summaries["linear"]
    assert isinstance(crit, ScheduleSummary) and isinstance(lin, ScheduleSummary)
    # the critical runs used the rule, recomputed from their own norms at every step.  At this target the rule
    # prescribes the target after the probe: the critical rate stays above it throughout (measured: at least 7.8x
    # over 300 steps, seeds 0-4, both data sets; about 0.4 digits and 0.55 synthetic at step 1), so here the
    # critical warm-up is the constant rate after its probe, and a scheduler that never capped would be right.
    # That the rule caps above the critical rate, at the critical rate, is checked at target 1.0 below.
    assert len(comparison.critical_logs) == 3
    for log in comparison.critical_logs:
        assert check_critical_rule(log, 0.05).min() > 4 * 0.05
    assert np.mean(crit.steps_below_2) < np.mean(lin.steps_below_2)
    # "no worse": within the seed-to-seed spread of the tuned linear warm-up (2 standard errors)
    se = float(np.std(lin.final_loss, ddof=1) / np.sqrt(lin.final_loss.size))
    assert np.mean(crit.final_loss) <= np.mean(lin.final_loss) + 2 * se


def test_restarted_model_beats_persistence_and_the_frozen_model(comparison: Comparison) -> None:
    for key in ("constant", "critical"):
        s = comparison.summaries[key]
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


def check_caps_only_the_first_step(log: ElrRunLog, target: float) -> None:
    """The rule caps step 1 at the critical rate and never again (target above the initial critical rate)."""
    crit = check_critical_rule(log, target)
    # the target is above the critical rate at initialization (by its definition, from the logged norms of step 0),
    # and as the probe leaves the weights unchanged the capped rate of step 1 is exactly that critical rate
    crit_0 = critical_lr_from_ratios(log.rho[0])
    assert crit_0 < target
    assert log.lr[1] == pytest.approx(crit_0, rel=1e-6)
    # ... and it is the critical rate of step 1 itself (same weights, next minibatch) up to minibatch noise:
    # measured |lr_1 / eta_crit(step 1's gradient) - 1| <= 0.14 over seeds 0-4 on both data sets
    assert log.lr[1] == pytest.approx(critical_lr_from_ratios(log.rho[1]), rel=0.3)
    # why only once [DERIVED, docs/elr.md 3b]: a step at rate eta maps rho to rho / (1 + eta^2 rho^2), so the next
    # predicted critical rate is at least sqrt(2) S^(1/4) eta (S = the step's spread, ~250-510 here: >= 5.6 eta)
    spread_1 = float(log.rho[1].max() / log.rho[1].min())
    assert crit[1] >= math.sqrt(2) * spread_1**0.25 * log.lr[1] * (1 - 1e-6)
    assert np.all(log.lr[2:] == target)
    # and the critical rate measured from each later step's own gradient is above the target (measured >= 4.06)
    assert min(critical_lr_from_ratios(r) for r in log.rho[2:]) > target


@pytest.mark.parametrize("data", ["digits", "synthetic"])
def test_critical_rule_caps_only_the_first_steps_at_a_large_target_rate(data: str) -> None:
    # target 1.0, 1.75-2.6x the initial critical rate (0.39-0.57 over seeds 0-4, both data sets)
    for seed in (0, 1, 2):
        check_caps_only_the_first_step(train(ElrRunConfig(depth=32, lr=1.0, steps=10, data=data,
                                                          schedule="critical", seed=seed)), 1.0)


def _no_op(self: CriticalRateWarmup) -> list[float]:
    """Probe step, then the target rate: a scheduler that never caps."""
    return [0.0 if self.last_epoch == 0 else float(b) for b in self.base_lrs]


def _stale_ratios(self: CriticalRateWarmup) -> list[float] | None:
    """||g_t|| / ||w_t||, i.e. the norms before the step instead of the predicted ratio for the next one."""
    if any(p.grad is None for p in self._params):
        return None
    ratios = [float(p.grad.norm()) / norm for p, norm in zip(self._params, self._norms, strict=True)]  # type: ignore[union-attr]
    self._norms = [float(p.detach().norm()) for p in self._params]
    return ratios


def _largest_elr_only(self: CriticalRateWarmup) -> list[float]:
    """eta_crit = 1 / rho_max instead of 1 / sqrt(rho_max rho_min)."""
    bases = [float(b) for b in self.base_lrs]
    if self.last_epoch == 0:
        return [0.0 for _ in bases]
    ratios = self._ratios_next_step()
    assert ratios is not None
    factor = min(1.0, 1.0 / (bases[0] * max(ratios)))
    return [b * factor for b in bases]


@pytest.mark.parametrize(("attribute", "broken"), [("get_lr", _no_op), ("_ratios_next_step", _stale_ratios),
                                                    ("get_lr", _largest_elr_only)])
def test_rule_check_fails_for_a_broken_scheduler(monkeypatch: pytest.MonkeyPatch, attribute: str,
                                                 broken: object) -> None:
    monkeypatch.setattr(CriticalRateWarmup, attribute, broken)
    log = train(ElrRunConfig(depth=32, lr=1.0, steps=4, data="digits", schedule="critical", seed=0))
    with pytest.raises(AssertionError):
        check_caps_only_the_first_step(log, 1.0)


def test_rule_check_at_the_comparison_target_fails_for_a_wrong_critical_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    # at target 0.05 a scheduler that never caps is the rule (the critical rate stays >= 7.8x above); one that caps
    # at a wrong critical rate (1 / rho_max ~ 0.02 at initialization) is not
    monkeypatch.setattr(CriticalRateWarmup, "get_lr", _largest_elr_only)
    log = train(ElrRunConfig(depth=32, lr=0.05, steps=4, data="digits", schedule="critical", seed=0))
    with pytest.raises(AssertionError):
        check_critical_rule(log, 0.05)
