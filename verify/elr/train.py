"""ELR measurements on deep normalized MLPs and CNNs: per-layer ELR, weight norm and spread every step.

SGD (by default plain: no momentum, no weight decay), cross-entropy, minibatches.  Per scale-invariant layer
l and step t we log ||w_l(t)||^2, ||g_l(t)||, cos(w, g), rho_l = ||g|| / ||w|| (so E_l = eta_t rho_l is the ELR
[INFERRED definition, see numerics/elr/dynamics.py]) and the residual of the exact norm recursion
||w(t+1)||^2 = (1 - eta_t lambda)^2 ||w(t)||^2 + eta_t^2 ||g(t)||^2 (torch's coupled weight decay lambda; g is
the loss gradient, orthogonal to w).  With momentum no such recursion exists and the residual is NaN.
The spread max_l E_l / min_l E_l = max rho / min rho does not depend on eta_t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from numerics.elr.dynamics import (
    mean_abs_log10_error,
    one_step_spread,
    receding_horizon,
    simulate_lrs,
    spread,
    steps_to_spread,
    trailing_rms,
)
from theory.errors import InputError
from verify.elr.models import ARCHS, NormalizedCNN, NormalizedMLP, NormalizedNet, load_dataset
from verify.elr.warmup import CriticalRateWarmup

SCHEDULES = ("constant", "linear", "critical")
GAMMA_WINDOW = 8
"""Minibatch gradients in a receding-horizon anchor's gamma estimate (the init probe also uses 8 batches)."""
SMOOTH_WINDOW = 8
"""Trailing window of the RMS applied to measured and predicted per-layer rho alike (smoothed metrics)."""
HORIZONS = (1, 10, 30, 100)


@dataclass(frozen=True)
class ElrRunConfig:
    """One training run; ``warmup`` is the linear warm-up length (schedule 'linear' only)."""

    depth: int = 32
    width: int = 64
    norm: str = "bn"
    data: str = "digits"
    lr: float = 0.5
    schedule: str = "constant"
    warmup: int = 0
    steps: int = 200
    batch: int = 128
    seed: int = 0
    probe_batches: int = 8
    weight_decay: float = 0.0
    momentum: float = 0.0
    arch: str = "mlp"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule: expected one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.schedule == "linear" and self.warmup < 1:
            raise InputError(f"warmup: linear schedule needs a positive warm-up length, got {self.warmup}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr: must be a finite positive number, got {self.lr}")
        if self.arch not in ARCHS:
            raise InputError(f"arch: expected one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.arch == "cnn" and self.data != "digits":
            raise InputError(f"arch: the cnn takes the 8x8 digits images, not data {self.data!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise InputError(f"weight_decay: must be a finite number >= 0, got {self.weight_decay}")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise InputError(f"momentum: must be in [0, 1), got {self.momentum}")
        for name in ("steps", "batch", "depth", "width"):
            value = getattr(self, name)
            if value < 1:
                raise InputError(f"{name}: must be a positive integer, got {value}")


@dataclass
class ElrRunLog:
    """Per-step arrays (T steps, L scale-invariant layers); rows after a divergence are NaN."""

    config: ElrRunConfig
    lr: np.ndarray                 # (T,)
    loss: np.ndarray               # (T,) minibatch loss at step t (before the update)
    sigma2: np.ndarray             # (T+1, L) ||w||^2 in float64 of the float32 weights
    grad_norm: np.ndarray          # (T, L)
    cosine: np.ndarray             # (T, L) <w, g> / (||w|| ||g||)
    norm_residual: np.ndarray      # (T, L) (||w_{t+1}||^2 - (1-eta lambda)^2 ||w_t||^2 - eta^2 ||g||^2) / ||w_{t+1}||^2
    gamma0: np.ndarray             # (L,) RMS over probe batches at init of ||g|| * ||w|| (unit-norm gradient)
    final_loss: float              # full-dataset loss after the budget (inf if diverged)
    diverged_step: int | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rho(self) -> np.ndarray:
        """||g|| / ||w|| per step and layer."""
        out: np.ndarray = self.grad_norm / np.sqrt(self.sigma2[:-1])
        return out

    @property
    def unit_grad_norm(self) -> np.ndarray:
        """||g|| ||w|| per step and layer: the gradient norm at unit weight norm (exact by scale invariance)."""
        out: np.ndarray = self.grad_norm * np.sqrt(self.sigma2[:-1])
        return out

    @property
    def spread(self) -> np.ndarray:
        """ELR spread max E / min E at each step."""
        out: np.ndarray = spread(self.rho)
        return out

    def steps_to_spread(self, threshold: float = 2.0) -> int | None:
        return steps_to_spread(self.spread, threshold)


def _layer_stats(weights: list[nn.Parameter]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(||w||^2, ||g||, cos) per layer, in float64 from the float32 tensors."""
    s2, gn, cos = [], [], []
    for w in weights:
        wd = w.detach().double()
        gd = w.grad.detach().double() if w.grad is not None else torch.zeros_like(wd)
        wn, gnorm = float(wd.norm()), float(gd.norm())
        s2.append(wn * wn)
        gn.append(gnorm)
        cos.append(float((wd * gd).sum()) / (wn * gnorm) if gnorm > 0 else 0.0)
    return np.array(s2), np.array(gn), np.array(cos)


def _unit_gradient_norms(model: NormalizedNet, x: torch.Tensor, y: torch.Tensor, batches: int,
                         batch: int, gen: torch.Generator) -> np.ndarray:
    """RMS over ``batches`` minibatches of ||g_l|| ||w_l|| at the current weights (no update)."""
    weights = model.scale_invariant_weights()
    acc = np.zeros(len(weights))
    for _ in range(batches):
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen)
        model.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        s2, gn, _ = _layer_stats(weights)
        acc += (gn * np.sqrt(s2)) ** 2
    model.zero_grad()
    out: np.ndarray = np.sqrt(acc / batches)
    return out


def build(config: ElrRunConfig) -> tuple[NormalizedNet, torch.Tensor, torch.Tensor]:
    """Model (seeded init) and its data set."""
    x, y, classes = load_dataset(config.data, seed=0)
    torch.manual_seed(config.seed)
    model: NormalizedNet
    if config.arch == "cnn":
        model = NormalizedCNN(config.width, config.depth, classes, config.norm)
    else:
        model = NormalizedMLP(x.shape[1], config.width, config.depth, classes, config.norm)
    return model, x, y


def parameter_groups(model: nn.Module, scale_invariant: list[nn.Parameter], weight_decay: float
                      ) -> list[dict[str, Any]]:
    """Weight decay on the scale-invariant weights only: there it sets their norms (and so the ELRs) without
    changing the function; on the readout or BatchNorm's affine parameters it would shrink the logits."""
    ids = {id(p) for p in scale_invariant}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": list(scale_invariant), "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def full_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Cross-entropy on the whole data set, normalization in training mode (batch statistics)."""
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


def train(config: ElrRunConfig) -> ElrRunLog:
    """Run one configuration and log everything every step."""
    model, x, y = build(config)
    weights = model.scale_invariant_weights()
    probe_gen = torch.Generator().manual_seed(10_000 + config.seed)
    gamma0 = _unit_gradient_norms(model, x, y, config.probe_batches, config.batch, probe_gen)
    opt = torch.optim.SGD(parameter_groups(model, weights, config.weight_decay), lr=config.lr,
                          momentum=config.momentum)
    sched: torch.optim.lr_scheduler.LRScheduler | None = None
    if config.schedule == "linear":
        w = config.warmup
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: min(1.0, (t + 1) / w))
    elif config.schedule == "critical":
        sched = CriticalRateWarmup(opt, weights)
    gen = torch.Generator().manual_seed(config.seed)
    T, L = config.steps, len(weights)
    nan = np.full((T, L), np.nan)
    log = ElrRunLog(config=config, lr=np.full(T, np.nan), loss=np.full(T, np.nan),
                    sigma2=np.full((T + 1, L), np.nan), grad_norm=nan.copy(), cosine=nan.copy(),
                    norm_residual=nan.copy(), gamma0=gamma0, final_loss=math.inf)
    log.sigma2[0] = _layer_stats(weights)[0]
    for t in range(T):
        idx = torch.randint(0, x.shape[0], (config.batch,), generator=gen)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        if not torch.isfinite(loss):
            log.diverged_step = t
            return log
        loss.backward()
        eta = float(opt.param_groups[0]["lr"])
        s2, gn, cos = _layer_stats(weights)
        opt.step()
        if sched is not None:
            sched.step()
        s2_next = _layer_stats(weights)[0]
        log.lr[t], log.loss[t] = eta, float(loss.detach())
        log.grad_norm[t], log.cosine[t], log.sigma2[t + 1] = gn, cos, s2_next
        if not config.momentum:
            shrink = (1.0 - eta * config.weight_decay) ** 2
            log.norm_residual[t] = (s2_next - shrink * s2 - eta**2 * gn**2) / s2_next
    final = full_loss(model, x, y)
    if math.isfinite(final):
        log.final_loss = final
    else:
        log.diverged_step = T
    return log


# --- model vs measurement ------------------------------------------------------------------------------

def predict_spread(log: ElrRunLog) -> np.ndarray:
    """The model's spread at steps 0..T-1: the discrete map driven by the learning rates the run used,
    with gamma_l fixed at its initial value ``gamma0`` and sigma_l^2(0) measured (weight decay included;
    momentum is not modelled)."""
    lrs = np.nan_to_num(log.lr, nan=0.0)
    traj = simulate_lrs(log.gamma0, log.sigma2[0], lrs, log.config.weight_decay)
    out: np.ndarray = traj.spread[:-1]
    return out


HORIZON_METRICS = ("spread_model", "spread_persistence", "spread_smoothed_model", "spread_smoothed_persistence",
                   "layer_model", "layer_persistence", "layer_smoothed_model", "layer_smoothed_persistence")


def horizon_agreement(log: ElrRunLog, horizon: int, gamma_window: int = GAMMA_WINDOW,
                      smooth_window: int = SMOOTH_WINDOW) -> dict[str, float]:
    """Receding-horizon model vs measurement for one run; MALE = mean |log10 measured / predicted|.

    Anchors t0 = 0, K, 2K, ...: the map starts at the measured sigma_l^2(t0) with gamma_l(t0) = RMS of the last
    ``gamma_window`` unit-norm gradient norms (the init probe at t0 = 0) and runs up to K steps with the rates
    the run used (``numerics.elr.dynamics.receding_horizon``).  Scored on steps 1..T-1 (each predicted 1..K steps
    ahead):

    * ``spread_*``: on the per-step spread max_l rho_l / min_l rho_l;
    * ``layer_*``: on every layer's rho_l (= E_l / eta, so the same as on the ELRs), averaged over layers too;
    * ``*_smoothed_*``: measured and predicted rho_l both passed through the same trailing RMS over
      ``smooth_window`` steps first (the raw measured spread is a max/min over noisy minibatch norms);
    * ``*_model`` vs ``*_persistence``: the map vs holding the anchor's estimate gamma_l(t0)/sigma_l^2(t0).
    """
    rh = receding_horizon(log.sigma2, log.unit_grad_norm, np.nan_to_num(log.lr, nan=0.0), horizon,
                          gamma_window, log.gamma0, log.config.weight_decay)
    meas = log.rho[1:]
    series = {"model": rh.rho[1:], "persistence": rh.persistence[1:]}
    meas_s = trailing_rms(meas, smooth_window)
    out: dict[str, float] = {}
    for name, pred in series.items():
        pred_s = trailing_rms(pred, smooth_window)
        out[f"spread_{name}"] = mean_abs_log10_error(spread(meas), spread(pred))
        out[f"spread_smoothed_{name}"] = mean_abs_log10_error(spread(meas_s), spread(pred_s))
        out[f"layer_{name}"] = mean_abs_log10_error(meas, pred)
        out[f"layer_smoothed_{name}"] = mean_abs_log10_error(meas_s, pred_s)
    return {k: out[k] for k in HORIZON_METRICS}


def measurement_noise(log: ElrRunLog, smooth_window: int = SMOOTH_WINDOW) -> float:
    """mean |log10 raw / smoothed measured spread| on steps 1..T-1: how far minibatch noise alone moves the
    per-step spread from its smoothed value (a floor for the raw-spread MALE of any smooth prediction)."""
    meas = log.rho[1:]
    return mean_abs_log10_error(spread(meas), spread(trailing_rms(meas, smooth_window)))


def final_gamma_spread(log: ElrRunLog, window: int = SMOOTH_WINDOW) -> float:
    """max_l / min_l of the unit-norm gradient norms gamma_l = ||g_l|| ||w_l|| at the last step (trailing RMS over
    ``window`` steps).  The spread is that of rho_l = gamma_l / ||w_l||^2: the norms can only bring it below 2
    if ||w_l||^2 comes to follow gamma_l, which under SGD without weight decay (norms only grow) fails once a
    layer's gamma falls after its norm has grown."""
    gamma = log.unit_grad_norm
    finite = np.all(np.isfinite(gamma), axis=1)
    if not finite.any():
        return math.nan
    last = int(np.flatnonzero(finite)[-1])
    return float(spread(trailing_rms(gamma[: last + 1], window)[-1]))


def horizons_for(steps: int, horizons: tuple[int, ...] | list[int] = HORIZONS) -> list[int]:
    """The requested horizons below the run length, plus the full run (K = steps: one anchor, gamma frozen)."""
    return sorted({k for k in horizons if 1 <= k < steps - 1} | {steps})


def one_step_scan(config: ElrRunConfig, factors: list[float], warm_steps: int = 0,
                  warm_lr: float = 0.05) -> dict[str, np.ndarray]:
    """Spread after ONE step at eta = k * eta_crit, measured (same minibatch before and after) and modelled.

    Optionally trains ``warm_steps`` steps at ``warm_lr`` first, so the scan starts from a trained state.
    Returns factors, measured spread after the step, the model's prediction, and the spread before.
    """
    model, x, y = build(config)
    weights = model.scale_invariant_weights()
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.SGD(model.parameters(), lr=warm_lr)
    for _ in range(warm_steps):
        idx = torch.randint(0, x.shape[0], (config.batch,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    idx = torch.randint(0, x.shape[0], (config.batch,), generator=gen)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def ratios() -> np.ndarray:
        model.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        s2, gn, _ = _layer_stats(weights)
        return gn / np.sqrt(s2)

    rho0 = ratios()
    eta_crit = 1.0 / math.sqrt(rho0.max() * rho0.min())
    measured = []
    for k in factors:
        model.load_state_dict(state)
        model.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.add_(p.grad, alpha=-k * eta_crit)
        measured.append(float(spread(ratios())))
    return {"factors": np.asarray(factors, dtype=float), "measured": np.asarray(measured),
            "predicted": one_step_spread(eta_crit * rho0, np.asarray(factors, dtype=float)),
            "spread_before": np.array([float(spread(rho0))]), "eta_crit": np.array([eta_crit])}


# --- schedule comparison --------------------------------------------------------------------------------

def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean over seeds."""
    v = np.asarray(values, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        m = float(v.mean())
        return m, m
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class ScheduleSummary:
    """Per-seed results of one schedule."""

    label: str
    final_loss: np.ndarray      # (seeds,)
    steps_below_2: np.ndarray   # (seeds,) first step with spread < 2; the budget if never
    never_below_2: int          # runs that never reached spread < 2
    diverged: int               # runs with a non-finite loss
    spread: np.ndarray          # (seeds, T) measured spread per step
    predicted: np.ndarray       # (seeds, T) open-loop model spread (gamma frozen at init)
    max_cosine: float           # max |cos(w, g)| over steps, layers, seeds
    max_norm_residual: float    # max relative residual of the norm recursion
    lr: np.ndarray              # (seeds, T) learning rate used
    horizon: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    """horizon K -> metric (``HORIZON_METRICS``) -> (seeds,) MALE; K = T is the frozen-gamma model."""
    noise: np.ndarray = field(default_factory=lambda: np.zeros(0))   # (seeds,) ``measurement_noise``
    gamma_spread: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (seeds,) ``final_gamma_spread``


def _nanmax_abs(arrays: list[np.ndarray]) -> float:
    """Largest |finite entry| over ``arrays``; NaN when there is none (momentum runs log no residual)."""
    values = np.concatenate([np.abs(a).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else math.nan


def summarize(label: str, logs: list[ElrRunLog], horizons: tuple[int, ...] | list[int] = HORIZONS) -> ScheduleSummary:
    steps = [lg.steps_to_spread(2.0) for lg in logs]
    budget = logs[0].config.steps
    per_k = {k: [horizon_agreement(lg, k) for lg in logs] for k in horizons_for(budget, horizons)}
    return ScheduleSummary(
        label=label, final_loss=np.array([lg.final_loss for lg in logs]),
        steps_below_2=np.array([budget if s is None else s for s in steps], dtype=float),
        never_below_2=sum(s is None for s in steps),
        diverged=sum(lg.diverged_step is not None for lg in logs),
        spread=np.stack([lg.spread for lg in logs]), predicted=np.stack([predict_spread(lg) for lg in logs]),
        max_cosine=float(max(np.nanmax(np.abs(lg.cosine)) for lg in logs)),
        max_norm_residual=_nanmax_abs([lg.norm_residual for lg in logs]),
        lr=np.stack([lg.lr for lg in logs]),
        horizon={k: {m: np.array([r[m] for r in rows]) for m in HORIZON_METRICS} for k, rows in per_k.items()},
        noise=np.array([measurement_noise(lg) for lg in logs]),
        gamma_spread=np.array([final_gamma_spread(lg) for lg in logs]))


def compare_schedules(base: ElrRunConfig, seeds: list[int], warmup_grid: list[int], progress: bool = False,
                      horizons: tuple[int, ...] | list[int] = HORIZONS) -> dict[str, ScheduleSummary | int]:
    """constant vs linear warm-up (length tuned on mean final loss over ``seeds``) vs critical warm-up.

    Returns summaries keyed 'constant', 'linear' (the tuned one), 'critical', each 'linear-W', and
    'tuned_warmup'.  Tuning uses the evaluation seeds, which favours the linear warm-up.
    """
    from dataclasses import replace

    from tqdm import tqdm

    jobs: list[tuple[str, ElrRunConfig]] = [("constant", replace(base, schedule="constant"))]
    jobs += [(f"linear-{w}", replace(base, schedule="linear", warmup=w)) for w in warmup_grid]
    jobs += [("critical", replace(base, schedule="critical"))]
    out: dict[str, ScheduleSummary | int] = {}
    bar = tqdm(total=len(jobs) * len(seeds), disable=not progress, desc=f"depth {base.depth} {base.data}")
    for label, cfg in jobs:
        logs = []
        for s in seeds:
            logs.append(train(replace(cfg, seed=s)))
            bar.update()
        out[label] = summarize(label, logs, horizons)
    bar.close()
    linear = {w: out[f"linear-{w}"] for w in warmup_grid}
    best = min(warmup_grid, key=lambda w: float(np.mean(linear[w].final_loss)))  # type: ignore[union-attr]
    out["linear"] = linear[best]
    out["tuned_warmup"] = best
    return out
