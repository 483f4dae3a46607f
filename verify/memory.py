"""Does a training fit in memory?  One estimate per trainer, checked before anything is allocated.

An estimate counts what its trainer certainly holds at once: the weights of the networks it trains together,
the copies it keeps beside them (initial weights, gradients, optimizer state) and the activations of one
forward and backward pass.  It is a floor (allocator slack, temporaries and the interpreter come on top), so
``check_fits`` refuses only jobs that cannot fit: it compares the estimate with the memory of the machine, or of
the GPU the job runs on, and names the option that makes the job that large (the one whose smallest value
shrinks the estimate most), e.g. ``--widths 100000000: one width-1e8 job (2 seeds) needs ~3.2e17 bytes, more
than this machine's 24 GiB``.  Torch is imported only to ask a GPU's size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from theory.errors import InputError

GIB = 2**30
FLOAT32 = 4
FLOAT64 = 8
OPTIMIZER_STATE = {"adam": 2, "muon": 1, "adafactor": 1}  # weight-sized buffers per weight (others: none)


def machine_memory() -> int:
    """Physical memory in bytes (``MemTotal`` of /proc/meminfo, or ``os.sysconf``), capped by a cgroup limit."""
    total = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if not total:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            return 2**62  # unknown: refuse nothing
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            total = min(total, int(Path(limit).read_text().strip()))
        except (OSError, ValueError):  # absent, or "max"
            continue
    return total


def device_memory(device: str) -> int:
    """Bytes of memory where a job runs: the machine's for ``cpu``, the GPU's for ``cuda`` / ``cuda:N``."""
    if not device.startswith("cuda"):
        return machine_memory()
    import torch

    index = int(device.partition(":")[2] or torch.cuda.current_device())
    return int(torch.cuda.get_device_properties(index).total_memory)


@dataclass(frozen=True)
class Size:
    """One option that sizes a job: its flag, the job's value and the smallest value the option allows."""

    option: str
    value: int
    floor: int = 1


def amount(number: float) -> str:
    """1e8 as "1e8", 3.2e17 as "3.2e17", 512 as "512"."""
    if number < 1e5:
        return f"{number:g}"
    mantissa, exponent = f"{number:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def check_fits(estimate: Callable[..., float], sizes: dict[str, Size], job: str, device: str = "cpu") -> None:
    """Refuse (``InputError``) a job whose ``estimate(**values)`` in bytes exceeds the memory of ``device``.

    ``sizes`` maps the estimate's keywords to the options that set them; ``job`` describes the job ("one
    width-1e8 job (2 seeds)")."""
    values = {name: size.value for name, size in sizes.items()}
    need = estimate(**values)
    have = device_memory(device)
    if need <= have:
        return
    culprit = sizes[min(sizes, key=lambda name: estimate(**{**values, name: sizes[name].floor}))]
    where = "this machine's" if device == "cpu" else f"the {device} device's"
    raise InputError(f"{culprit.option} {culprit.value}: {job} needs ~{amount(need)} bytes, more than {where} "
                     f"{have / GIB:.0f} GiB")


def mlp_parameters(width: int, layers: int, inputs: int, outputs: int) -> int:
    """Weights of an MLP with ``layers`` hidden layers of ``width`` units (``layers - 1`` square matrices)."""
    return inputs * width + (layers - 1) * width * width + width * outputs


def batched_mlp_bytes(*, width: int, seeds: int, layers: int, rows: int, copies: int, inputs: int = 64,
                      outputs: int = 10) -> float:
    """``seeds`` float32 MLPs trained together (``verify.model.mlp.BatchedMLP``): ``copies`` weight-sized
    tensors per weight, and pre-activations, outputs and gradients of ``rows`` examples per layer."""
    weights = seeds * mlp_parameters(width, layers, inputs, outputs)
    activations = 3 * seeds * rows * width * (layers + 1)
    return float(FLOAT32 * (copies * weights + activations))


def weight_copies(optimizer: str, momentum: float, *, kept: int) -> int:
    """Weight-sized tensors per weight: the ``kept`` copies a trainer holds plus the optimizer's state."""
    return kept + OPTIMIZER_STATE.get(optimizer, 0) + (1 if momentum else 0)


def width_job_bytes(*, width: int, seeds: int, batch_size: int, layers: int, optimizer: str = "sgd",
                    momentum: float = 0.0, probe: int = 64, inputs: int = 64) -> float:
    """``verify.width.train.train_job``: plain SGD keeps w_t - w_0 factorised (the weights only); other
    optimizers hold the weights, the initial weights, a scratch copy and the gradients, and their state."""
    low_rank = optimizer == "sgd" and not momentum
    copies = 1 if low_rank else weight_copies(optimizer, momentum, kept=4)
    return batched_mlp_bytes(width=width, seeds=seeds, layers=layers, rows=probe + batch_size, copies=copies,
                             inputs=inputs)


def gpt_job_bytes(*, width: int, seeds: int, blocks: int, batch_size: int, seq_len: int, vocab: int = 128) -> float:
    """``verify.model.gpt``: 12 d^2 weights per block and the embeddings, held five times (weights, initial
    weights, gradients, two Adam moments), and the activations of the batch and the probes (4 d per token per
    block for the MLP, the attention's T^2 per head being small at these sequence lengths)."""
    weights = seeds * (blocks * 12 * width * width + 2 * vocab * width)
    activations = seeds * 40 * batch_size * seq_len * blocks * width
    return float(FLOAT32 * (5 * weights + activations))


def lr_job_bytes(*, width: int, seeds: int, batch_size: int, layers: int, optimizer: str = "sgd",
                 momentum: float = 0.0, eval_size: int = 512, inputs: int = 64) -> float:
    """``verify.lr.train.train_lr_job``: weights, gradients, the initial snapshot (Adam: and the weights before
    each step) and the optimizer state; activations of the training batch or the evaluation set."""
    copies = weight_copies(optimizer, momentum, kept=4 if optimizer == "adam" else 3)
    return batched_mlp_bytes(width=width, seeds=seeds, layers=layers, rows=max(batch_size, eval_size),
                             copies=copies, inputs=inputs)


PY_FLOAT = 32  # a float in a Python list: the object (24 bytes) and the list's pointer to it (8)


def records_bytes(*, seeds: int, widths: int, steps: int, tensors: int) -> float:
    """A lower bound on what a width check keeps for its fits: nine quantities per tensor for every width,
    seed and measured step, as float64."""
    return float(8 * 9 * tensors * seeds * widths * (steps + 1))


def catapult_curves_bytes(*, steps: int, runs: int, per_step: int = 1, digits: int = 0) -> float:
    """The per-step records a catapult sweep keeps for its table and figure: ``per_step`` floats at every step of
    each of ``runs`` runs, and one run's (r, lambda) trajectory (mpmath numbers of ``digits`` digits if given)."""
    number = PY_FLOAT if not digits else 120 + digits / 2  # an mpf: ~0.42 bytes per decimal digit
    return float((steps + 1) * (runs * per_step * PY_FLOAT + 2 * number))


def catapult_run_bytes(*, width: int, depth: int, samples: int, inputs: int = 64) -> float:
    """``verify.catapult.sweep.train_run``, one float64 net at a time: weights, gradients and the per-sample
    Jacobian (samples x parameters) of the exact top NTK eigenvector."""
    params = inputs * width + (depth - 2) * width * width + width
    return float(FLOAT64 * (2 * params + samples * params + 3 * samples * width * depth))


def residual_run_bytes(*, width: int, depth: int, adam: int = 0, rows: int = 64, inputs: int = 32) -> float:
    """``verify.depth.residual.residual_updates``, one seed at a time: ``depth`` square blocks held as weights,
    initial copies and gradients (Adam: two moments more), and the stream's activations."""
    params = depth * width * width + inputs * width + 10 * width
    return float(FLOAT32 * ((3 + 2 * adam) * params + 3 * rows * width * depth))


def l3_run_bytes(*, width: int, depth: int) -> float:
    """``verify.depth.l3.one_step_changes``, one seed at a time: ``depth`` square float32 weights."""
    return float(FLOAT32 * depth * width * width)


def elr_run_bytes(*, width: int, depth: int, cnn: int = 0, momentum: int = 0, batch: int = 128,
                  examples: int = 2048, inputs: int = 64) -> float:
    """``verify.elr.train``: weights and gradients (momentum: its buffer too) of the normalized net, the
    activations of a batch (linear, norm and ReLU outputs, and their gradients) and one layer of the whole
    data set's evaluation; the CNN's activations are ``width`` channels at 8 x 8 positions."""
    params = 9 * (width + (depth - 1) * width * width) if cnn else inputs * width + (depth - 1) * width * width
    positions = 64 if cnn else 1
    activations = 4 * batch * width * positions * depth + 2 * examples * width * positions
    return float(FLOAT32 * ((2 + momentum) * (params + 10 * width) + activations))


def elr_model_bytes(*, depth: int, steps: int) -> float:
    """``numerics.elr.report.predict_schedules``: three schedules, each with float64 norms, ratios and ELRs
    for every layer at every step."""
    return float(FLOAT64 * 8 * (steps + 1) * depth)


def quadratic_model_bytes(*, n: int) -> float:
    """``numerics.catapult.quadratic_model.toy_model``: a Gaussian n x n matrix and its QR factors (float64)."""
    return float(FLOAT64 * 3 * n * n)
