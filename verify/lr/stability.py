"""When is a training unstable, and which regime did it show: the divergence criterion and the observed regime.

Divergence criterion (``--criterion``), applied to one (seed, eta) training of ``steps`` updates:

* ``nonfinite``:  unstable iff the training-batch loss or a weight became NaN/inf at some step;
* ``loss`` (default): unstable iff non-finite, or the final loss on the fixed evaluation subset of the
  training pool exceeds ``loss_factor`` (default 1) times its value at initialisation;
* ``activation``: unstable iff non-finite, or some hidden layer's activation RMS on the training batch
  grew beyond ``activation_bound`` (default 10) times its value at step 1, at any step.

Observed regime of one run (names as in ``abcscale derive``), from the same training:

* ``catastrophic``: non-finite, or hidden activations grew beyond ``activation_bound`` x their initial RMS;
* ``controlled-divergence``: hidden activations bounded, but the logits' peak RMS exceeds ``logit_bound``
  (default 10) x max(initial logit RMS, 1) (the 1: under muP the initial logits vanish like n^-1/2, and
  growth relative to them is no divergence);
* ``stable``: neither.
A single width cannot tell growth *with width*; ``edge_regime`` in verify.lr.fit does that across widths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from theory.errors import InputError
from theory.regimes import CATASTROPHIC, CONTROLLED, STABLE
from verify.lr.records import LrRecord

CRITERIA = ("loss", "nonfinite", "activation")


@dataclass(frozen=True)
class Criterion:
    """The divergence criterion and the single-run regime thresholds (see the module docstring)."""

    kind: str = "loss"
    loss_factor: float = 1.0
    activation_bound: float = 10.0
    logit_bound: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in CRITERIA:
            from theory.parametrization import suggest

            raise InputError(f"--criterion {self.kind!r}: unknown{suggest(str(self.kind), CRITERIA)}")
        for name in ("loss_factor", "activation_bound", "logit_bound"):
            value = getattr(self, name)
            if not value > 0:
                raise InputError(f"criterion {name} {value}: must be a positive number")

    def describe(self) -> str:
        if self.kind == "nonfinite":
            return "unstable = non-finite loss or weights within the step budget"
        if self.kind == "loss":
            return f"unstable = non-finite, or final train loss > {self.loss_factor:g} x initial train loss"
        return f"unstable = non-finite, or a hidden activation RMS > {self.activation_bound:g} x its initial value"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def unstable(self, record: LrRecord) -> bool:
        if record.diverged_step is not None or record.final_loss is None:
            return True
        if self.kind == "loss":
            return record.init_loss is None or record.final_loss > self.loss_factor * record.init_loss
        if self.kind == "activation":
            return record.peak_hidden_ratio is None or record.peak_hidden_ratio > self.activation_bound
        return False

    def regime(self, record: LrRecord) -> str:
        """Observed regime of one run (see the module docstring)."""
        if record.diverged_step is not None or record.peak_hidden_ratio is None:
            return CATASTROPHIC
        if record.peak_hidden_ratio > self.activation_bound:
            return CATASTROPHIC
        reference = max(record.init_logit_rms or 0.0, 1.0)
        if record.peak_logit_rms is not None and record.peak_logit_rms > self.logit_bound * reference:
            return CONTROLLED
        return STABLE
