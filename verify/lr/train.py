"""One LR-sweep training: the seeds of one width, each with its own global learning rate eta, trained together.

Layer l of seed s trains with ``eta_s * (n/n0)^(-c_l)`` (the Parametrization's per-layer exponents with the
swept global eta on top; the parametrization's own ``lr_exponent`` is set to 0 by the sweep).  The seeds
share one ``BatchedMLP`` and one ``BatchedOptimizer`` built with eta = 1; after each optimizer step the
update of seed s is multiplied by eta_s.  SGD (with or without momentum) and Adam updates are linear in the
learning rate once the optimizer state is fixed, and their state (momentum buffer, Adam moments) does not
depend on the learning rate, so this is exactly the training with learning rate eta_s, seed by seed.

``train_lr_job`` is a top-level function of picklable arguments and returns small records (no tensors),
so it runs unchanged in-process or on a Dask worker.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from theory.parametrization import Parametrization
from verify import data as datasets
from verify.lr.records import LrRecord
from verify.model.measure import measure, rms, snapshot
from verify.model.mlp import BatchedMLP, init_weights, layer_scales, per_seed_loss
from verify.model.optim import BatchedOptimizer

__all__ = ["LrJob", "LrJobResult", "LrRecord", "LrSettings", "scaled_step", "train_lr_job"]

MEASURED_STEPS = "1 and last"  # engine-named quantities are measured on the probe batch at these steps


@dataclass(frozen=True)
class LrSettings:
    """Everything besides parametrization, width, seed and eta that fixes a training (the config key).

    Defaults (documented in docs/lr_sweep.md): 3 hidden layers at base width n0 = 64, batch 32, 100 SGD/Adam
    steps, train loss/accuracy evaluated on 512 fixed training examples.
    """

    steps: int = 100
    batch_size: int = 32
    base_width: int = 64
    eval_size: int = 512
    probe_size: int = 64
    data: str = "synthetic"
    data_seed: int = 0
    input_dim: int = 32
    classes: int = 10
    eps: float = 1e-8

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class LrJob:
    """Seeds of one width, seed ``seeds[i]`` trained with global learning rate ``lrs[i]``, on ``device``
    (not part of the configuration key; the initial weights are drawn on the CPU either way)."""

    param: Parametrization
    width: int
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    settings: LrSettings
    device: str = "cpu"


@dataclass
class LrJobResult:
    width: int
    records: list[LrRecord]
    seconds: float


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    labels = targets if targets.dtype == torch.long else targets.argmax(dim=-1)
    return (logits.argmax(dim=-1) == labels).double().mean(dim=1)


def seed_records(job: LrJob, diverged: Sequence[int | None], steps_run: int,
                 measured: dict[tuple[int, str, int], torch.Tensor], *, init_loss: torch.Tensor,
                 final_loss: torch.Tensor, final_accuracy: torch.Tensor, peak_hidden: torch.Tensor,
                 peak_logit: torch.Tensor, init_logit: torch.Tensor, peak_loss: torch.Tensor) -> list[LrRecord]:
    """One record per seed of a finished job (every tensor (S,) on the CPU); a diverged seed keeps its initial
    and peak values, not its final ones.  Shared by the MLP and the GPT trainer."""
    records = []
    for s, (seed, lr) in enumerate(zip(job.seeds, job.lrs, strict=True)):
        alive = diverged[s] is None
        records.append(LrRecord(
            seed=seed, lr=lr, init_loss=_finite(float(init_loss[s])),
            final_loss=_finite(float(final_loss[s])) if alive else None,
            final_accuracy=float(final_accuracy[s]) if alive else None, diverged_step=diverged[s],
            peak_hidden_ratio=_finite(float(peak_hidden[s])), peak_logit_rms=_finite(float(peak_logit[s])),
            init_logit_rms=_finite(float(init_logit[s])), peak_batch_loss=_finite(float(peak_loss[s])),
            steps_run=steps_run,
            measurements={key: (_finite(float(v[s])) if alive else None) for key, v in measured.items()}))
    return records


class StepWatch:
    """What a learning-rate job watches per seed at every step (tensors (S,) on the job's device): the hidden
    values' RMS against their first step's (``peak_hidden``), the logits' RMS (first and peak), the peak batch
    loss, and the step at which a seed's loss or a tensor stopped being finite.  Shared by the MLP and the GPT
    trainer, so both record the same thing the same way."""

    def __init__(self, n_seeds: int, device: torch.device) -> None:
        self.init_hidden: torch.Tensor | None = None
        self.init_logit = torch.zeros(n_seeds, dtype=torch.float64, device=device)
        self.peak_hidden = torch.zeros(n_seeds, dtype=torch.float64, device=device)
        self.peak_logit = torch.zeros(n_seeds, dtype=torch.float64, device=device)
        self.peak_loss = torch.zeros(n_seeds, dtype=torch.float64, device=device)
        self.diverged: list[int | None] = [None] * n_seeds
        self.steps_run = 0

    @torch.no_grad()
    def observe(self, hidden_rms: torch.Tensor, logits: torch.Tensor, loss: torch.Tensor) -> None:
        """A step's forward: ``hidden_rms`` (hidden values, S), the logits and the per-seed batch loss."""
        if self.init_hidden is None:
            self.init_hidden = hidden_rms.clamp_min(1e-30)
            self.init_logit = rms(logits)
        ratio = (hidden_rms / self.init_hidden).amax(dim=0).nan_to_num(math.inf)
        self.peak_hidden = torch.maximum(self.peak_hidden, ratio)
        self.peak_logit = torch.maximum(self.peak_logit, rms(logits).nan_to_num(math.inf))
        self.peak_loss = torch.maximum(self.peak_loss, loss.detach().double().nan_to_num(math.inf))

    @torch.no_grad()
    def updated(self, step: int, loss: torch.Tensor, tensors: Sequence[torch.Tensor]) -> None:
        """After ``step``'s update: a seed whose loss or tensors are no longer finite diverged at ``step``."""
        finite = torch.isfinite(loss.detach())
        for t in tensors:
            finite &= torch.isfinite(t).flatten(1).all(dim=1)
        for s, ok in enumerate(finite.cpu().tolist()):
            if self.diverged[s] is None and not ok:
                self.diverged[s] = step
        self.steps_run = step

    @property
    def all_diverged(self) -> bool:
        return all(d is not None for d in self.diverged)

    def records(self, job: LrJob, measured: dict[tuple[int, str, int], torch.Tensor], *, init_loss: torch.Tensor,
                final_loss: torch.Tensor, final_accuracy: torch.Tensor) -> list[LrRecord]:
        return seed_records(job, self.diverged, self.steps_run, measured, init_loss=init_loss.cpu(),
                            final_loss=final_loss, final_accuracy=final_accuracy,
                            peak_hidden=self.peak_hidden.cpu(), peak_logit=self.peak_logit.cpu(),
                            init_logit=self.init_logit.cpu(), peak_loss=self.peak_loss.cpu())


def scaled_step(optimizer: BatchedOptimizer, weights: list[torch.Tensor], grads: list[torch.Tensor],
                etas: Sequence[torch.Tensor]) -> None:
    """One optimizer step with seed s's update multiplied by eta[s] (``etas``: one per weight, shaped to
    broadcast over it, e.g. (S, 1, 1)).

    SGD's update (with momentum too) is linear in the gradient, so scaling the gradients is exact and
    avoids copying the weights; for Adam, AdamW (decay included) and signSGD the update itself is rescaled.
    """
    if optimizer.name == "sgd":
        optimizer.step(weights, [g * eta for g, eta in zip(grads, etas, strict=True)])
        return
    with torch.no_grad():
        before = [w.detach().clone() for w in weights]
    optimizer.step(weights, grads)
    with torch.no_grad():
        for w, w0, eta in zip(weights, before, etas, strict=True):
            w.sub_(w0).mul_(eta).add_(w0)


def train_lr_job(job: LrJob) -> LrJobResult:
    """Train every (seed, eta) of the job for ``settings.steps`` steps and summarise each run (a GPT's job:
    ``verify.lr.gpt_train``)."""
    if job.param.network is not None:
        from verify.lr.gpt_train import train_gpt_lr_job

        return train_gpt_lr_job(job)
    start = time.perf_counter()
    param, settings, n_seeds = job.param, job.settings, len(job.seeds)
    device = torch.device(job.device)
    data = datasets.load_for(settings, param.loss).to(device)
    probe_x, probe_y = data.probe_x, data.probe_y
    scales = layer_scales(param.with_(lr_exponent=0), job.width, base_width=settings.base_width,
                          input_dim=data.input_dim, output_dim=data.output_dim, lr=1.0, eps=settings.eps)
    model = BatchedMLP(scales, param.activation, init_weights(scales, list(job.seeds), job.width, device=device))
    optimizer = BatchedOptimizer.for_spec(param.optimizer, scales)
    eta = torch.tensor(job.lrs, dtype=torch.float32, device=device).view(-1, 1, 1)
    eval_x, eval_y = data.train_x[:settings.eval_size], data.train_y[:settings.eval_size]
    init = snapshot(model, probe_x)
    with torch.no_grad():
        init_loss = per_seed_loss(model.forward(eval_x).logits, eval_y, param.loss).double()
    hidden = range(1, len(scales))  # post[l] for l = 1..L are the hidden layer outputs x^l
    watch = StepWatch(n_seeds, device)
    measured: dict[tuple[int, str, int], torch.Tensor] = {}
    for step in range(1, settings.steps + 1):
        x, y = data.batch(step, settings.batch_size)
        fwd = model.forward(x)
        loss = per_seed_loss(fwd.logits, y, param.loss)
        with torch.no_grad():
            watch.observe(torch.stack([rms(fwd.post[l]) for l in hidden]), fwd.logits, loss)  # (L, S)
        grads = list(torch.autograd.grad(loss.sum(), model.weights))
        scaled_step(optimizer, model.weights, grads, [eta] * len(grads))
        watch.updated(step, loss, model.weights)
        if step == 1 or step == settings.steps:
            for (quantity, layer), value in measure(model, probe_x, probe_y, param.loss, init, step).items():
                measured[(step, quantity, layer)] = value.cpu()
        if watch.all_diverged:
            break
    with torch.no_grad():
        final = model.forward(eval_x).logits
        final_loss = per_seed_loss(final, eval_y, param.loss).double().cpu()
        final_acc = _accuracy(final, eval_y).cpu()
    records = watch.records(job, measured, init_loss=init_loss, final_loss=final_loss, final_accuracy=final_acc)
    return LrJobResult(width=job.width, records=records, seconds=time.perf_counter() - start)
