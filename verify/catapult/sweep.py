"""Learning-rate sweep in units of eta * lambda_0 on bias-free NTK ReLU nets: the catapult on real networks.

Full-batch GD on L = (1/2m) sum (f - y)^2 with lambda = top eigenvalue of J J^T / m (verify.catapult.ntk), so
the linearised model is stable iff eta lambda < 2. Each run records the loss curve, |theta|^2 / P, the
norm change predicted by the homogeneity identity (numerics.catapult.homogeneity; degree = depth), lambda_t every
``ntk_every`` steps, the per-layer inactive-ReLU fraction, and is classified with numerics.catapult.phases.
Diverging runs stop at the step where the loss passes the cap and are recorded, never raised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from numerics.catapult.phases import CatapultPhase, PhaseCriterion, classify
from theory.errors import InputError
from verify.catapult.net import DATASETS, INPUT_SCALINGS, ReLUNet, inactive_fractions, load_task
from verify.catapult.ntk import top_eigenvalue, top_eigenvector

CAP_DECADES = 8.0  # divergence: loss above 10^8 * max(L_0, 1) (measured catapult peaks stay < 10^4 L_0)
LARGE_LOSS_FACTOR = 10.0  # "loss is large": L_t > 10 L_0 (where |f| >> |y| makes the norm identity bite)


@dataclass(frozen=True)
class SweepConfig:
    dataset: str = "digits"
    inputs: str = "standardised"
    samples: int = 128
    width: int = 512
    depth: int = 2
    ratios: tuple[float, ...] = tuple(float(r) for r in np.arange(0.5, 16.01, 0.5))
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 300
    ntk_every: int = 10

    def __post_init__(self) -> None:
        if self.steps < 2 or self.ntk_every < 1:
            raise InputError(f"need steps >= 2 and ntk_every >= 1, got {self.steps}, {self.ntk_every}")
        if not self.ratios or any(not (math.isfinite(r) and r > 0) for r in self.ratios):
            raise InputError("eta*lambda_0 grid must be non-empty, finite and > 0")
        if not self.seeds:
            raise InputError("need at least one seed")
        if self.dataset not in DATASETS or self.inputs not in INPUT_SCALINGS:
            raise InputError(f"dataset/inputs must be in {DATASETS}/{INPUT_SCALINGS}, got "
                             f"{self.dataset!r}/{self.inputs!r}")
        if self.depth < 2 or self.width < 1 or self.samples < 2:
            raise InputError(f"need depth >= 2, width >= 1, samples >= 2, got depth={self.depth}, "
                             f"width={self.width}, samples={self.samples}")


@dataclass
class RunRecord:
    seed: int
    ratio: float
    eta: float
    lam0: float
    phase: str = ""
    diverged_step: int | None = None
    peak_loss: float = math.nan
    peak_step: int = 0
    final_eta_lambda: float = math.nan
    loss: list[float] = field(default_factory=list)
    top_mode_loss: list[float] = field(default_factory=list)  # (e_0 . r_t)^2 / 2m, e_0 top NTK eigvec at t=0
    weight_norm: list[float] = field(default_factory=list)  # |theta_t|^2 / P
    norm_change_predicted: list[float] = field(default_factory=list)  # |theta|^2 change, identity
    lam_steps: list[int] = field(default_factory=list)
    lam: list[float] = field(default_factory=list)
    inactive_init: list[float] = field(default_factory=list)
    inactive_final: list[float] = field(default_factory=list)

    def norm_fell_while_large(self) -> tuple[int, int]:
        """(steps with L_t > 10 L_0 where |theta|^2 fell, steps with L_t > 10 L_0)."""
        large = [t for t in range(len(self.weight_norm) - 1) if self.loss[t] > LARGE_LOSS_FACTOR * self.loss[0]]
        fell = sum(self.weight_norm[t + 1] < self.weight_norm[t] for t in large)
        return fell, len(large)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_run(model: ReLUNet, x: torch.Tensor, y: torch.Tensor, ratio: float, steps: int, ntk_every: int,
              seed: int, depth: int) -> RunRecord:
    """Full-batch GD at eta = ratio / lambda_0; see module docstring for what is recorded."""
    lam0 = top_eigenvalue(model, x)
    eta = ratio / lam0
    record = RunRecord(seed=seed, ratio=ratio, eta=eta, lam0=lam0, inactive_init=inactive_fractions(model, x))
    top_vector = top_eigenvector(model, x)
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    m = x.shape[0]
    cap_log10 = math.nan
    for t in range(steps + 1):
        if t % ntk_every == 0 or t == steps:
            record.lam_steps.append(t)
            record.lam.append(top_eigenvalue(model, x))
        out = model(x)
        residual = out - y
        loss = 0.5 * (residual**2).mean()
        value = float(loss.detach())
        record.loss.append(value)
        record.top_mode_loss.append(float(top_vector @ residual.detach()) ** 2 / (2 * m))
        record.weight_norm.append(float(sum((p.detach() ** 2).sum() for p in params)) / n_params)
        if t == 0:
            cap_log10 = math.log10(max(value, 1.0)) + CAP_DECADES
        if not (math.isfinite(value) and math.log10(max(value, 1e-300)) <= cap_log10) or t == steps:
            break
        grads = torch.autograd.grad(loss, params)
        grad_sq = float(sum((g**2).sum() for g in grads))
        r_dot_f = float((residual.detach() * out.detach()).sum())
        record.norm_change_predicted.append(-2 * depth * eta / m * r_dot_f + eta**2 * grad_sq)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(eta * g)
    verdict = classify(_log10(record.loss), PhaseCriterion(cap_log10=cap_log10), _log10(record.top_mode_loss))
    record.phase = verdict.phase.value
    record.peak_step = verdict.peak_step
    record.peak_loss = max(record.loss) if verdict.diverged_step is None else math.inf
    if verdict.phase == CatapultPhase.DIVERGENT:
        record.diverged_step = verdict.diverged_step if verdict.diverged_step is not None else steps
    else:
        record.final_eta_lambda = eta * record.lam[-1]
        record.inactive_final = inactive_fractions(model, x)
        if any(fraction >= 1.0 for fraction in record.inactive_final):
            # every unit of a hidden layer is off on every example: the bias-free net outputs 0, its NTK
            # vanishes and the loss is stuck at mean(y^2)/2; a lower loss than at the start is not convergence
            record.phase = DEAD
    return record


def run_sweep(config: SweepConfig, progress: bool = False) -> list[RunRecord]:
    """All (seed, ratio) runs of ``config``; the same network initialisation per seed across ratios."""
    from tqdm import tqdm

    x, y = load_task(config.dataset, config.samples, seed=0, inputs=config.inputs)
    jobs = [(s, r) for s in config.seeds for r in config.ratios]
    records = []
    for seed, ratio in tqdm(jobs, disable=not progress, desc=f"catapult {config.dataset} L={config.depth}"):
        model = ReLUNet(x.shape[1], config.width, config.depth, seed=seed)
        records.append(train_run(model, x, y, ratio, config.steps, config.ntk_every, seed, config.depth))
    return records


@dataclass(frozen=True)
class WindowEdges:
    """Catapult window edges in eta*lambda_0 from the grid: per seed the midpoint between the last ratio
    of one phase and the first of the next; uncertainty = std over seeds (+) half the grid spacing."""

    lower: float
    lower_err: float
    upper: float
    upper_err: float
    lower_per_seed: tuple[float, ...]
    upper_per_seed: tuple[float, ...]


DEAD = "dead"  # a run whose ReLUs all switched off (not one of the catapult model's three phases)


def window_edges(records: Sequence[RunRecord]) -> WindowEdges:
    """Lower edge: first run that is not lazy; upper edge: first run that diverged or died."""
    lowers: list[float] = []
    uppers: list[float] = []
    spacings: list[float] = []
    for seed in sorted({r.seed for r in records}):
        runs = sorted((r for r in records if r.seed == seed), key=lambda r: r.ratio)
        ratios = [r.ratio for r in runs]
        spacings.extend(np.diff(ratios))
        first_not_lazy = next((i for i, r in enumerate(runs) if r.phase != CatapultPhase.LAZY.value), None)
        first_div = next((i for i, r in enumerate(runs) if r.phase in (CatapultPhase.DIVERGENT.value, DEAD)), None)
        if first_not_lazy not in (None, 0):
            lowers.append(0.5 * (ratios[first_not_lazy - 1] + ratios[first_not_lazy]))
        if first_div not in (None, 0):
            uppers.append(0.5 * (ratios[first_div - 1] + ratios[first_div]))
    half = 0.5 * float(np.max(spacings)) if spacings else math.nan

    def stat(values: list[float]) -> tuple[float, float]:
        if not values:
            return math.nan, math.nan
        return float(np.mean(values)), math.hypot(float(np.std(values)), half)

    lo, lo_err = stat(lowers)
    up, up_err = stat(uppers)
    return WindowEdges(lo, lo_err, up, up_err, tuple(lowers), tuple(uppers))


@dataclass(frozen=True)
class RankCorrelation:
    rho: float
    ci_low: float
    ci_high: float
    runs: int


def sparsity_rank_correlation(records: Sequence[RunRecord], layer: int = -1, n_boot: int = 2000,
                              seed: int = 0) -> RankCorrelation:
    """Spearman rho of the final inactive fraction (hidden ``layer``) vs eta*lambda_0 over catapult runs,
    with a 95% percentile bootstrap CI (runs resampled with replacement)."""
    from scipy.stats import spearmanr

    runs = [r for r in records if r.phase == CatapultPhase.CATAPULT.value]
    if len(runs) < 4:
        raise InputError(f"rank correlation needs >= 4 catapult runs, got {len(runs)}")
    ratio = np.array([r.ratio for r in runs])
    sparsity = np.array([r.inactive_final[layer] for r in runs])
    rho = float(spearmanr(ratio, sparsity).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(runs), len(runs))
        if np.ptp(ratio[pick]) > 0 and np.ptp(sparsity[pick]) > 0:
            boots.append(float(spearmanr(ratio[pick], sparsity[pick]).statistic))
    low, high = np.percentile(boots, [2.5, 97.5])
    return RankCorrelation(rho, float(low), float(high), len(runs))


def _log10(values: Sequence[float]) -> list[float]:
    return [math.log10(v) if v > 0 else (-math.inf if v == 0 else math.nan) for v in values]
