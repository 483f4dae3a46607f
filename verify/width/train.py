"""One job = all requested seeds of one width, trained together and measured at every step.

``train_job`` is a top-level function of picklable arguments, so any ``concurrent.futures.Executor``
(in-process or Dask, ``verify.runs.executors``) can run it.  A seed whose weights or measurements stop being finite is
recorded as diverged at that step; the other seeds of the batch continue unaffected.  A transformer's job
(``param.network`` set) is trained by ``verify.width.gpt_train``; everything around a job (store, sweep, fit,
verdicts) is the same for both.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from theory.parametrization import Parametrization
from verify.data import input_width, load_for
from verify.model.lowrank import Factors, forward_backward_factored, low_rank_applies
from verify.model.measure import LowRankTerms, Snapshot, forward_backward, initial_products, quantities
from verify.model.mlp import BatchedMLP, Forward, LayerScale, init_weights, layer_scales, per_seed_loss
from verify.model.optim import BatchedOptimizer

MSE_SGD_LR = 0.003
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "signsgd": 1e-3, "muon": 0.02, "adafactor": 1e-3}
TRANSFORMER_FIELDS = ("seq_len", "head_dim", "weight_decay")  # None for an MLP: left out of its config key

Record = tuple[int, int, str, int, float | None]  # seed, step, quantity, layer, value (None: diverged)


@dataclass(frozen=True)
class TrainSettings:
    """Everything besides the parametrization, width and seed that fixes a training (part of the config key).

    ``lr`` is eta0, the learning rate at the base width (None: 0.1 for SGD with CE, 0.003 for SGD with MSE,
    1e-3 for Adam/signSGD, 0.02 for Muon).  SGD+MSE needs the smaller value: at n0 = 128 the readout's
    kernel eigenvalue along the mean feature direction is about 0.7 * n0 = 90, and eta0 * 90 must stay below
    2 or the base-width net is already past the catapult edge (measured: eta0 = 0.1 oscillates by step 3).
    At eta0 = 0.01 (eta0 * 90 = 0.9) each step nearly cancels the residual along that direction, so later
    steps hinge on its n^-1/2 corrections: measured readout effective-update slope +0.16 instead of 0 at
    widths 128-2048; at 0.003 every quantity passes.

    ``batch_size`` 1 (as in mup's coordinate check): with logits ~ 0 at init (muP) a class-balanced batch
    mean cancels the leading O(1) part of the loss gradient, leaving the n^-1/2 logit noise to dominate at
    CPU widths (measured with batch 32: muP hidden updates at slopes -0.16 to -0.35 instead of 0; with
    batch 1 all PASS).  Quantities are still measured on the fixed probe batch.

    ``warmup_lr`` is eta0 of the warm-up updates of a parametrization with a schedule (``Parametrization.warmup``,
    e.g. ip-llr's large first step); None: the same eta0 as every other update.

    A transformer's settings (``verify.model.gpt``): ``seq_len`` characters per sequence, ``head_dim`` the head
    dimension at the base width and ``weight_decay`` AdamW's lambda0 at the base width; ``batch_size`` and
    ``probe_size`` count sequences.  An MLP leaves them None, and ``as_dict`` leaves them out, so the stored keys
    of MLP checks do not change.
    """

    steps: int = 3
    batch_size: int = 1
    probe_size: int = 64
    base_width: int = 128
    lr: float | None = None
    eps: float = 1e-8
    data: str = "synthetic"
    data_seed: int = 0
    input_dim: int = 32
    classes: int = 10
    warmup_lr: float | tuple[float, ...] | None = None
    seq_len: int | None = None
    head_dim: int | None = None
    weight_decay: float | None = None

    @property
    def inputs(self) -> int:
        """An MLP's input width: the digits' 64 pixels, or ``input_dim`` synthetic features."""
        return input_width(self.data, self.input_dim)

    def eta0(self, optimizer: str, loss: str = "ce") -> float:
        if self.lr is not None:
            return self.lr
        return MSE_SGD_LR if (optimizer, loss) == ("sgd", "mse") else DEFAULT_LR[optimizer]

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        for key in TRANSFORMER_FIELDS:
            if data[key] is None:
                del data[key]
        return data


@dataclass(frozen=True)
class Job:
    """One width's seeds.  ``device`` is where the trainings run (``"cpu"``, ``"cuda"``, ``"cuda:1"``); it is
    not part of the configuration key: the initial weights are drawn on the CPU whatever the device, so a GPU
    run records the CPU run's numbers up to float32 matmul rounding (TF32 stays off, torch's default)."""

    param: Parametrization
    width: int
    seeds: tuple[int, ...]
    settings: TrainSettings
    device: str = "cpu"


@dataclass
class JobResult:
    width: int
    seeds: tuple[int, ...]
    records: list[Record] = field(default_factory=list)
    diverged: dict[int, int | None] = field(default_factory=dict)  # seed -> first non-finite step
    seconds: float = 0.0


def train_job(job: Job, *, low_rank: bool = True) -> JobResult:
    """Train the seeds of one width for ``steps`` updates, measuring every quantity at steps 0..steps.

    One forward/backward per step serves both jobs: its rows are the probe batch followed by the training
    batch of the next update, both at the current weights W_t.  The probe rows give the measurements of
    step t, the training rows the gradient of update t+1 (m * dh^T x, exactly what autograd would give for
    the mean batch loss, since rows do not interact).  At the last step the training rows are the batch an
    update steps+1 would use, never applied: they keep every step's matmuls the same shape, so a probe row's
    result is the same function of its inputs at every step (exact zeros stay exact).

    Plain SGD keeps w_t - w_0 factorised while its rank is small (``verify.model.lowrank``; ``low_rank=False``
    forces dense weights, for comparison): the same quantities with one n x n product per layer fewer.
    """
    if job.param.network is not None:
        from verify.width.gpt_train import train_gpt_job

        return train_gpt_job(job)
    start = time.perf_counter()
    param, settings = job.param, job.settings
    device = torch.device(job.device)
    data = load_for(settings, param.loss).to(device)
    probe_x, probe_y = data.probe_x, data.probe_y
    eta0 = settings.eta0(param.optimizer.name, param.loss)
    scales = layer_scales(param, job.width, base_width=settings.base_width, input_dim=data.input_dim,
                          output_dim=data.output_dim, lr=eta0, eps=settings.eps, warmup_lr=settings.warmup_lr)
    weights = [w.detach() for w in init_weights(scales, list(job.seeds), job.width, device=device)]
    model = BatchedMLP(scales, param.activation, weights)
    optimizer = BatchedOptimizer.for_spec(param.optimizer, scales)
    factors = Factors.empty(scales, len(job.seeds), device) if low_rank and low_rank_applies(
        param.optimizer.name, param.optimizer.momentum, settings.batch_size, job.width) else None
    rows = probe_x.shape[0]
    init: Snapshot | None = None
    scratch: list[torch.Tensor] | None = None
    result = JobResult(width=job.width, seeds=job.seeds, diverged={s: None for s in job.seeds})
    alive = torch.ones(len(job.seeds), dtype=torch.bool)
    for step in range(settings.steps + 1):
        x, y = data.batch(step + 1, settings.batch_size)

        def loss_of(logits: torch.Tensor, y: torch.Tensor = y) -> torch.Tensor:
            return (per_seed_loss(logits[:, :rows], probe_y, param.loss).sum()
                    + per_seed_loss(logits[:, rows:], y, param.loss).sum())

        inputs = torch.cat([probe_x, x])
        terms: LowRankTerms | None = None
        products: list[torch.Tensor] | None
        if factors is not None:  # model.weights stay W_0 (never modified): the snapshot shares them
            now, products, terms = forward_backward_factored(model, factors, inputs, loss_of)
        else:
            now = forward_backward(model, inputs, loss_of)
        if init is None:
            init = Snapshot(weights if factors is not None else [w.clone() for w in weights],
                            Forward(pre=[h[:, :rows] for h in now.pre],
                                    post=[now.post[0][:rows]] + [p[:, :rows] for p in now.post[1:]]))
        if factors is None:
            products = initial_products(scales, init.weights, now.post) if step > 0 else None
            scratch = scratch or [torch.empty_like(w) for w in weights]
        values = quantities(scales, weights, init, now, rows, step, products, scratch, low_rank=terms)
        record_step(result, alive, values, step)
        if not alive.any() or step == settings.steps:
            break
        dh = [now.grad[i][:, rows:] for i in range(len(scales))]
        x_in = [now.post[0][rows:]] + [now.post[i][:, rows:] for i in range(1, len(scales))]
        if factors is not None and not low_rank_applies(param.optimizer.name, param.optimizer.momentum,
                                                        factors.rank + settings.batch_size, job.width):
            weights = factors.dense(init.weights)  # the factors would grow too thick: dense from here on
            model.weights, factors = weights, None
        if factors is not None:
            factors.add_sgd_step(scales, dh, x_in, update=step + 1)
        else:
            with torch.no_grad():
                grads = [_weight_gradient(scale, g, x) for scale, g, x in zip(scales, dh, x_in, strict=True)]
            optimizer.step(weights, grads)
    result.seconds = time.perf_counter() - start
    return result


def record_step(result: JobResult, alive: torch.Tensor, values: dict[tuple[str, int], torch.Tensor],
                step: int) -> None:
    """Add one step's values (quantity, layer) -> (S,) to ``result``: a seed whose values stop being finite is
    marked diverged at this step (``alive`` turns False) and records None from then on."""
    table = torch.stack(list(values.values()), dim=1).cpu()  # (S, quantities)
    finite = torch.isfinite(table).all(dim=1)  # weight_update covers every weight from step 1 on
    for s, seed in enumerate(result.seeds):
        if alive[s] and not finite[s]:
            alive[s] = False
            result.diverged[seed] = step
    for s, (seed, row) in enumerate(zip(result.seeds, table.tolist(), strict=True)):
        alive_s = bool(alive[s])
        result.records.extend((seed, step, quantity, layer, value if alive_s else None)
                              for (quantity, layer), value in zip(values, row, strict=True))


def _weight_gradient(scale: LayerScale, dh: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """d (sum over seeds of the mean batch loss) / d w = multiplier * dh^T x, shape (S, fan_out, fan_in)."""
    grad = torch.matmul(dh.transpose(1, 2), x_in)
    return grad.mul_(scale.multiplier) if scale.multiplier != 1.0 else grad
