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
"""

from __future__ import annotations

from theory.parametrization import Parametrization
from verify.memory import mlp_parameters
from verify.width.train import TrainSettings

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
        inputs = 64 if settings.data == "digits" else settings.input_dim
        square = (param.hidden_layers - 1) * width * width
        weights = mlp_parameters(width, param.hidden_layers, inputs, settings.classes)
        rows = settings.probe_size + settings.batch_size
        fixed = MLP_JOB_SECONDS
    work = passes * rows * weights
    if param.network is None and (param.optimizer.name != "sgd" or param.optimizer.momentum):
        work *= FULL_UPDATE_FACTOR
    if param.optimizer.name == "muon":
        work += seeds * settings.steps * NEWTON_SCHULZ_ROWS_PER_WIDTH * width * square
    return fixed + SECONDS_PER_WEIGHT_ROW * work


def check_seconds(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: int) -> float:
    """Modelled single-thread seconds of a whole check: one job of every width, all seeds."""
    return sum(job_seconds(param, settings, width, seeds) for width in widths)
