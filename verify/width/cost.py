"""Modelled single-thread seconds of a width check's trainings, to decide whether a local cluster can pay off.

A job (``verify.width.train.train_job``: one width's seeds, trained together) does one forward and backward
pass per step over its rows (the probe batch and the next training batch), plus the pass of step 0, so its
work is about ``seeds * (steps + 1) * rows * weights`` multiply-adds.  An MLP trained by anything but plain
SGD keeps ``w_t - w_0`` as full matrices (plain SGD keeps it factorised, ``verify.width.train``) and pays
for their products and the optimizer's state, ``FULL_UPDATE_FACTOR`` times more; Muon adds its Newton-Schulz
iterations, ``NEWTON_SCHULZ_ROWS_PER_WIDTH * n`` row-equivalents for every weight of a square n x n matrix.
A fixed part per job covers Python, the data and the measurements.

Measured on the 2-core CPU with 1 torch thread (``benchmarks/bench_verify_workers.py --model`` prints this
model next to a measured job of each kind, the figures below come from it):

* MLP (``check sp --loss ce``: 3 steps, 65 rows, 8 seeds): 0.017, 0.039, 0.103, 0.335 s at widths 128, 256,
  512, 1024, i.e. 7.3e-11 s per weight-row and about 0.01 s a job;
* GPT (``check gpt-mup --optimizer adam``: 3 steps, 12 sequences of 32 tokens, 16 seeds): 0.48, 1.29, 3.40,
  14.2 s at widths 64, 128, 256, 512, i.e. 9e-11 s per weight-token and about 0.25 s a job;
* MLP with Adam (``check mup --optimizer adam --loss mse``): 1.02 s at width 1024 against plain SGD's 0.37 s
  (x2.5; signSGD at 512: x1.4); Muon (``check sp --optimizer muon``): 20.3 s at width 1024, about 4 n
  row-equivalents per square weight on top (5 is used).

``SECONDS_PER_WEIGHT_ROW`` takes the larger of the two rates, so the model errs towards more work: a job it
calls too small for a cluster is smaller still, and a large one it misjudges only keeps the cluster.

How many seeds one job batches on the CPU (``heap_seeds``): every tensor of a batched job, a weight, its
gradient, an optimizer moment or a temporary of their size, holds all its seeds.  Past glibc's mmap threshold
(32 MiB at most, ``verify.runs.runtime``) each such temporary is a fresh mapping that the kernel zero-fills
page by page, on every step.  A 16-seed width-1024 GPT job (268 MB per MLP weight) took 7.4 million minor page
faults (29 GB zero-filled) and 44-52 s, where 16 one-seed jobs take 16 x 1.7 s = 27 s with 22,000 faults
each; a 16-seed width-512 job took 7.8 s against 4 x 1.6 s in groups of 4, and an 8-seed width-1024 MLP job
with Adam 0.59 s against 2 x 0.19 s in groups of 4 (measured with 2 threads).  So a width's seeds are trained
in groups whose largest tensor stays below the threshold; every seed's numbers are the same in any group.
"""

from __future__ import annotations

from collections.abc import Iterable

from theory.parametrization import Parametrization
from verify.memory import FLOAT32, mlp_parameters
from verify.runs.runtime import MMAP_THRESHOLD
from verify.width.train import Job, TrainSettings

SECONDS_PER_WEIGHT_ROW = 9e-11  # measured, see the module docstring
MLP_JOB_SECONDS = 0.01
GPT_JOB_SECONDS = 0.25
FULL_UPDATE_FACTOR = 2.5
NEWTON_SCHULZ_ROWS_PER_WIDTH = 5  # measured about 4
VOCAB = 128  # at most: the character vocabularies are smaller (pydoc: 97)


def job_seconds(param: Parametrization, settings: TrainSettings, width: int, seeds: int) -> float:
    """Modelled single-thread seconds of one job of ``seeds`` seeds at ``width``."""
    passes = seeds * (settings.steps + 1)
    if param.network is not None:
        blocks = param.network.blocks
        square = blocks * 12 * width * width
        weights = square + 2 * VOCAB * width
        rows = (settings.probe_size + settings.batch_size) * (settings.seq_len or 32)
        fixed = GPT_JOB_SECONDS
    else:
        square = (param.hidden_layers - 1) * width * width
        weights = mlp_parameters(width, param.hidden_layers, settings.inputs, settings.classes)
        rows = settings.probe_size + settings.batch_size
        fixed = MLP_JOB_SECONDS
    work = passes * rows * weights
    if param.network is None and (param.optimizer.name != "sgd" or param.optimizer.momentum):
        work *= FULL_UPDATE_FACTOR
    if param.optimizer.name == "muon":
        work += seeds * settings.steps * NEWTON_SCHULZ_ROWS_PER_WIDTH * width * square
    return fixed + SECONDS_PER_WEIGHT_ROW * work


def jobs_seconds(jobs: Iterable[Job]) -> float:
    """Modelled single-thread seconds of ``jobs`` (a whole check: ``verify.width.sweep.pending_jobs``)."""
    return sum(job_seconds(job.param, job.settings, job.width, len(job.seeds)) for job in jobs)


def seed_bytes(param: Parametrization, settings: TrainSettings, width: int) -> int:
    """Bytes of a job's largest tensor per seed: its largest weight (and so its gradient and moments), or one
    pass's widest activations."""
    if param.network is not None:
        tokens = (settings.probe_size + settings.batch_size) * (settings.seq_len or 32)
        return FLOAT32 * max(4 * width * width, VOCAB * width, 4 * width * tokens)
    rows = settings.probe_size + settings.batch_size
    return FLOAT32 * max(width * width, settings.inputs * width, rows * width)


def heap_seeds(param: Parametrization, settings: TrainSettings, width: int) -> int:
    """The most seeds one CPU job batches with its every tensor below the mmap threshold (module docstring)."""
    return max(1, (MMAP_THRESHOLD - 1) // seed_bytes(param, settings, width))
