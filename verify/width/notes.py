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

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from verify.width.verdict import Row

SATURATED_CHANGE = 1.0  # RMS logit change from which a softmax's weights stop following the logits linearly


def _exponent(text: str) -> Fraction | None:
    try:
        return Fraction(text)
    except ValueError:
        return None


def linear_softmax_notes(rows: Sequence[Row], values: dict[tuple[str, int, int], np.ndarray]) -> list[str]:
    """One note per attention whose logits the engine has growing (change exponent > 0 at step 1) but which move
    by less than ``SATURATED_CHANGE`` at every width measured (seed means)."""
    notes = []
    for row in rows:
        if row.quantity != "change" or not row.name.endswith(".attn.scores") or row.step != 1:
            continue
        exponent = _exponent(row.predicted)
        measured = values.get((f"{row.name}/change", 0, 1))
        if exponent is None or exponent <= 0 or measured is None or not np.isfinite(measured).all():
            continue
        means = measured.mean(axis=0)
        if means.max() < SATURATED_CHANGE:
            block = row.name.removesuffix(".attn.scores")
            notes.append(f"{block}'s attention logits move by {means.min():.2g} to {means.max():.2g} after the first "
                         f"update: the engine's n^{exponent} growth saturates its softmax only once they move by "
                         f"about {SATURATED_CHANGE:g}, so at these widths the softmax is linear and what reads "
                         f"{block}'s attention output can grow with the logits (docs/transformers.md)")
    return notes
