"""One width check job for a transformer: the seeds of one width trained together and measured at every step.

The seeds share one batched computation: every tensor has a leading seed dimension (S, *shape) and the GPT's
matmuls are batched over it (``verify.model.gpt.BatchedGPT``), so there is no Python loop over seeds.  The
loop, the records and the divergence bookkeeping are the MLP's (``verify.width.train``): a seed whose values
stop being finite is recorded as diverged at that step and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from theory.transformer import GPT
from verify.data import load_for
from verify.model.gpt import DEFAULT_HEAD_DIM, BatchedGPT, gpt_shape, init_tensors, tensor_scales
from verify.model.gpt_measure import Values, forward_backward, probe_rows, quantities, weight_gradients
from verify.model.mlp import per_seed_loss
from verify.model.optim import BatchedOptimizer
from verify.width.train import Job, JobResult, TrainSettings, record_step

DEFAULT_WEIGHT_DECAY = 0.1  # AdamW's lambda0 at the base width (nanoGPT's)


def build(job: Job) -> tuple[BatchedGPT, list[torch.Tensor]]:
    """The job's model at initialisation and its tensors (S, *shape), on the job's device."""
    param, settings = job.param, job.settings
    assert isinstance(param.network, GPT)
    data = load_for(settings, param.loss)
    shape = gpt_shape(param.network, job.width, base_width=settings.base_width,
                      head_dim=settings.head_dim or DEFAULT_HEAD_DIM, seq_len=data.train_x.shape[1],
                      vocab=data.input_dim)
    decay = DEFAULT_WEIGHT_DECAY if settings.weight_decay is None else settings.weight_decay
    scales = tensor_scales(param, shape, base_width=settings.base_width,
                           lr=settings.eta0(param.optimizer.name, param.loss), eps=settings.eps, weight_decay=decay)
    tensors = init_tensors(scales, list(job.seeds), job.width, device=job.device)
    return BatchedGPT(param.network, shape, scales, param.activation, tensors), tensors


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of each seed over the rows and positions, shape (S,)."""
    return per_seed_loss(logits.flatten(1, 2), targets.flatten(), "ce")


def measured_steps(job: Job, model: BatchedGPT, tensors: list[torch.Tensor]) -> Iterator[tuple[int, Values]]:
    """The quantities of steps 0..steps, each yielded before that step's update is applied to ``tensors``.

    As for the MLP, one forward/backward per step serves both: its rows are the probe sequences followed by the
    training batch of the next update (at the last step a batch that is never applied, so every step's
    computation has the same shape).  A caller may stop early (every seed diverged); ``tensors`` then hold the
    weights of the last step yielded."""
    settings: TrainSettings = job.settings
    data = load_for(settings, job.param.loss).to(torch.device(job.device))
    initial = [t.clone() for t in tensors]
    optimizer = BatchedOptimizer.for_spec(job.param.optimizer, model.scales)
    probe_x, probe_y = data.probe_x, data.probe_y
    rows = probe_x.shape[0]
    init = None
    for step in range(settings.steps + 1):
        x, y = data.batch(step + 1, settings.batch_size)

        def loss_of(logits: torch.Tensor, y: torch.Tensor = y) -> torch.Tensor:
            return lm_loss(logits[:, :rows], probe_y).sum() + lm_loss(logits[:, rows:], y).sum()

        tokens = torch.cat([probe_x, x])
        now, grads = forward_backward(model, tokens, loss_of)
        if init is None:
            init = probe_rows(now, rows)
        yield step, quantities(model, tensors, initial, init, now, grads, probe_x, rows, step)
        if step < settings.steps:
            optimizer.step(tensors, weight_gradients(model, now, grads, tokens, rows))


def train_gpt_job(job: Job) -> JobResult:
    """Train the seeds of one width for ``steps`` updates, measuring every quantity at steps 0..steps."""
    start = time.perf_counter()
    model, tensors = build(job)
    result = JobResult(width=job.width, seeds=job.seeds, diverged={s: None for s in job.seeds})
    alive = torch.ones(len(job.seeds), dtype=torch.bool)
    for step, values in measured_steps(job, model, tensors):
        record_step(result, alive, values, step)
        if not alive.any():
            break
    result.seconds = time.perf_counter() - start
    return result
