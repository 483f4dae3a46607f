"""The check's note on a softmax still in its linear range (verify.width.notes): when it is printed, and not."""

from __future__ import annotations

import numpy as np

from verify.width.notes import SATURATED_CHANGE, linear_softmax_notes
from verify.width.verdict import Row


def _row(predicted: str, name: str = "h0.attn.scores", step: int = 1) -> Row:
    return Row("change", 0, step, predicted, 0.3, 0.2, 0.4, "PASS", name=name)


def _values(*means: float, name: str = "h0.attn.scores") -> dict[tuple[str, int, int], np.ndarray]:
    return {(f"{name}/change", 0, 1): np.array([means, means])}  # (seeds, widths)


def test_growing_logits_that_move_little_get_the_note() -> None:
    [note] = linear_softmax_notes([_row("1/2")], _values(0.05, 0.13))
    assert note.startswith("h0's attention logits move by 0.05 to 0.13 after the first update")
    assert "n^1/2" in note


def test_no_note_without_predicted_growth_or_once_the_logits_move_by_order_one() -> None:
    assert linear_softmax_notes([_row("0")], _values(0.05, 0.13)) == []  # muP: Theta(1), no cap at work
    assert linear_softmax_notes([_row("-1/2")], _values(0.05, 0.13)) == []
    assert linear_softmax_notes([_row("1/2")], _values(0.5, SATURATED_CHANGE)) == []  # saturating somewhere
    assert linear_softmax_notes([_row("1/2", step=3)], _values(0.05, 0.13)) == []  # the first update only
    assert linear_softmax_notes([_row("1/2")], _values(0.05, np.nan)) == []  # a diverged run: no claim
    assert linear_softmax_notes([_row("1/2", name="h0.resid.attn")], _values(0.05, 0.13)) == []
