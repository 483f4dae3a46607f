"""The record of one (seed, eta) training of an LR sweep, without torch: the search, the criterion and the
simulation (benchmarks/sim_lr_search.py) read it; ``verify.lr.train`` writes it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LrRecord:
    """Outcome of one (seed, eta) training; every float is finite or None.

    * init_loss / final_loss / final_accuracy: on the fixed evaluation subset of the training pool, at step
      0 and after the last step (accuracy: argmax class for CE, argmax of the target vector for MSE);
    * diverged_step: first step whose training-batch loss or weights were not finite (None: never);
    * peak_hidden_ratio: max over steps and hidden layers of RMS(x^l_t) / RMS(x^l_0) on the training batch;
    * peak_logit_rms / init_logit_rms: max over steps of RMS(f_t) on the training batch, and its step-0 value;
    * peak_batch_loss: max over steps of the training-batch loss;
    * measurements: engine-named quantities on the probe batch at step 1 and the last step,
      ``{(step, quantity, layer): value}`` (None where not finite).
    """

    seed: int
    lr: float
    init_loss: float | None
    final_loss: float | None
    final_accuracy: float | None
    diverged_step: int | None
    peak_hidden_ratio: float | None
    peak_logit_rms: float | None
    init_logit_rms: float | None
    peak_batch_loss: float | None
    steps_run: int
    measurements: dict[tuple[int, str, int], float | None] = field(default_factory=dict)
