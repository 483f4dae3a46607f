"""One LR-sweep training of a transformer: the seeds of one width, each with its own global learning rate eta.

The GPT counterpart of ``verify.lr.train`` (which dispatches here for a GPT).  The seeds are one
``verify.model.gpt.BatchedGPT``: every tensor has a leading seed dimension and the matmuls are batched over it,
so there is no Python loop over seeds.  Tensor t of seed s trains with ``eta_s * (n/n0)^(-c_t)``: the model and
its ``BatchedOptimizer`` are built with eta = 1 and each step's update of seed s is multiplied by eta_s
(``verify.lr.train.scaled_step``), exact for every optimizer the GPT trainer has (SGD, Adam, AdamW, signSGD:
their updates are linear in the learning rate and their state does not depend on it).

The record is the MLP's (``verify.lr.records.LrRecord``), on the ``pydoc`` character corpus:

* init / final loss: mean next-character cross-entropy over ``eval_size`` fixed training sequences;
* final accuracy: the fraction of those characters predicted by the argmax;
* diverged step: the first step whose training-batch loss or a tensor was not finite;
* peak hidden ratio: max over steps and blocks of RMS(residual stream after the block) / its step-1 value, on
  the training batch (the GPT's hidden activations);
* peak / initial logit RMS: on the training batch, as for the MLP.

Measured on the probe sequences at step 1 and the last step (``gpt_edge_keys`` names them for
``verify.lr.fit.edge_regime``): the logits' change RMS(f_t - f_0), the last block's residual-stream change, and
the readout's backward gradient RMS(softmax(f) - onehot(y)) per token.
"""

from __future__ import annotations

import time

import torch

from theory.parametrization import Parametrization
from theory.transformer import GPT
from verify.data import load_for
from verify.lr.train import LrJob, LrJobResult, LrSettings, StepWatch, scaled_step
from verify.model.gpt import DEFAULT_HEAD_DIM, BatchedGPT, Trace, gpt_shape, init_tensors, tensor_scales
from verify.model.measure import rms
from verify.model.mlp import per_seed_loss
from verify.model.optim import BatchedOptimizer
from verify.width.gpt_train import DEFAULT_WEIGHT_DECAY  # AdamW's lambda0 at the base width, as the check's


def residual_names(arch: GPT) -> list[str]:
    """The residual stream after each block (``Trace.modules`` names): the GPT's hidden activations."""
    last = "mlp" if arch.mlp else "attn"
    return [f"h{b}.resid.{last}" for b in range(arch.blocks)]


def gpt_edge_keys(param: Parametrization) -> dict[str, tuple[str, int]]:
    """Where the GPT's records keep the edge quantities of ``verify.lr.fit``: (quantity, layer) by name."""
    assert isinstance(param.network, GPT)
    readout = param.layers[-1].index if not param.network.tied else 0
    return {"logits": ("logits/change", 0), "hidden": (f"{residual_names(param.network)[-1]}/change", 0),
            "chi": ("backward_gradient", readout)}


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy of each seed over rows and positions, shape (S,)."""
    return per_seed_loss(logits.flatten(1, 2), targets.flatten(), "ce")


def _accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == targets).double().flatten(1).mean(dim=1)


def build(param: Parametrization, width: int, seeds: tuple[int, ...], settings: LrSettings, vocab: int,
          seq_len: int, device: torch.device) -> BatchedGPT:
    """The seeds' GPT at width ``width`` with every learning rate at eta = 1 (the sweep scales the updates)."""
    assert isinstance(param.network, GPT)
    shape = gpt_shape(param.network, width, base_width=settings.base_width, head_dim=DEFAULT_HEAD_DIM,
                      seq_len=seq_len, vocab=vocab)
    decay = DEFAULT_WEIGHT_DECAY if param.optimizer.name == "adamw" else 0.0
    scales = tensor_scales(param.with_(lr_exponent=0), shape, base_width=settings.base_width, lr=1.0,
                           eps=settings.eps, weight_decay=decay)
    tensors = init_tensors(scales, list(seeds), width, device=device)
    return BatchedGPT(param.network, shape, scales, param.activation, tensors)


@torch.no_grad()
def _probe(model: BatchedGPT, tokens: torch.Tensor, targets: torch.Tensor, init: Trace | None,
           keys: dict[str, tuple[str, int]]) -> tuple[Trace, dict[tuple[str, int], torch.Tensor]]:
    """The probe forward and its edge quantities against the initial probe trace ``init``."""
    trace = model.forward(tokens)
    if init is None:
        return trace, {}
    hidden = residual_names(model.arch)[-1]
    chi = torch.softmax(trace.logits.double(), dim=-1)
    chi -= torch.nn.functional.one_hot(targets, chi.shape[-1]).double()
    return trace, {keys["logits"]: rms(trace.logits - init.logits),
                   keys["hidden"]: rms(trace.modules[hidden] - init.modules[hidden]),
                   keys["chi"]: rms(chi)}


def train_gpt_lr_job(job: LrJob) -> LrJobResult:
    """Train every (seed, eta) of a GPT job for ``settings.steps`` steps and summarise each run."""
    start = time.perf_counter()
    param, settings, n_seeds = job.param, job.settings, len(job.seeds)
    assert isinstance(param.network, GPT)
    device = torch.device(job.device)
    data = load_for(settings, "ce").to(device)
    model = build(param, job.width, job.seeds, settings, data.input_dim, data.train_x.shape[1], device)
    for t in model.tensors:
        t.requires_grad_(True)
    optimizer = BatchedOptimizer.for_spec(param.optimizer, model.scales)
    eta = torch.tensor(job.lrs, dtype=torch.float32, device=device)
    etas = [eta.view(-1, *([1] * (t.dim() - 1))) for t in model.tensors]
    keys = gpt_edge_keys(param)
    residuals = residual_names(param.network)
    eval_x, eval_y = data.train_x[:settings.eval_size], data.train_y[:settings.eval_size]
    with torch.no_grad():
        init_loss = lm_loss(model.forward(eval_x).logits, eval_y).double().cpu()
    init_probe, _ = _probe(model, data.probe_x, data.probe_y, None, keys)
    watch = StepWatch(n_seeds, device)
    measured: dict[tuple[int, str, int], torch.Tensor] = {}
    for step in range(1, settings.steps + 1):
        x, y = data.batch(step, settings.batch_size)
        trace = model.forward(x)
        loss = lm_loss(trace.logits, y)
        with torch.no_grad():
            watch.observe(torch.stack([rms(trace.modules[name]) for name in residuals]), trace.logits, loss)
        grads = list(torch.autograd.grad(loss.sum(), model.tensors))
        scaled_step(optimizer, model.tensors, grads, etas)
        watch.updated(step, loss, model.tensors)
        if step == 1 or step == settings.steps:
            _, values = _probe(model, data.probe_x, data.probe_y, init_probe, keys)
            for (quantity, layer), value in values.items():
                measured[(step, quantity, layer)] = value.cpu()
        if watch.all_diverged:
            break
    with torch.no_grad():
        final = model.forward(eval_x).logits
        final_loss = lm_loss(final, eval_y).double().cpu()
        final_acc = _accuracy(final, eval_y).cpu()
    records = watch.records(job, measured, init_loss=init_loss, final_loss=final_loss, final_accuracy=final_acc)
    return LrJobResult(width=job.width, records=records, seconds=time.perf_counter() - start)
