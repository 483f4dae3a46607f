"""What a check's table cannot say by itself: where the widths are not yet in the regime the engine's limit describes.

The engine derives exponents as n -> oo.  Where it predicts growing attention logits (a positive exponent for
their change, SP's n^{1/2}), its rules for what reads the attention's output assume the growth has saturated the
softmax: its weights then change by Theta(1) at most.  That holds once the logits move by order 1.  A check that
measures them moving by far less is in the softmax's linear range, where the weights change in proportion to the
logits and rows that read the attention's output can grow with them (docs/transformers.md, measured by
``tests/verify/test_gpt_model.py::test_sp_attention_output_grows_with_its_softmax_weights``).  The note says so
next to the verdicts; it changes none of them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from theory.exponents import Exponent, format_exponent

SATURATED_CHANGE = 1.0  # RMS logit change from which a softmax's weights stop following the logits linearly


class ModuleExponents(Protocol):
    """What the notes read of the engine's report (``theory.engine.Report``)."""

    modules: dict[str, dict[str, Exponent | None]]

    def module_exponent(self, name: str, kind: str, step: int) -> Exponent | None: ...


def linear_softmax_notes(report: ModuleExponents, values: dict[tuple[str, int, int], np.ndarray]) -> list[str]:
    """One note per attention whose logits the engine has growing (change exponent > 0 after the first update)
    but which move by less than ``SATURATED_CHANGE`` at every width measured (seed means)."""
    notes = []
    for name in report.modules:
        if not name.endswith(".attn.scores"):
            continue
        exponent = report.module_exponent(name, "change", 1)
        measured = values.get((f"{name}/change", 0, 1))
        if exponent is None or not exponent.is_number or exponent <= 0 or measured is None \
                or not np.isfinite(measured).all():
            continue
        means = measured.mean(axis=0)
        if means.max() < SATURATED_CHANGE:
            block = name.removesuffix(".attn.scores")
            notes.append(f"{block}'s attention logits move by {means.min():.2g} to {means.max():.2g} after the first "
                         f"update: the engine's n^{format_exponent(exponent)} growth saturates its softmax only once "
                         f"they move by about {SATURATED_CHANGE:g}, so at these widths the softmax is linear and what "
                         f"reads {block}'s attention output can grow with the logits (docs/transformers.md)")
    return notes
