"""The check's note on a softmax still in its linear range (verify.width.notes): when it is printed, and not."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from theory.exponents import Exponent
from verify.width.notes import SATURATED_CHANGE, linear_softmax_notes


@dataclass
class _Report:
    """The engine's report as the notes read it: each module value's change exponent after step 1 and after."""

    first: dict[str, Exponent | None]
    later: dict[str, Exponent | None] = field(default_factory=dict)

    @property
    def modules(self) -> dict[str, dict[str, Exponent | None]]:
        return {name: {} for name in self.first}

    def module_exponent(self, name: str, kind: str, step: int) -> Exponent | None:
        assert kind == "change"
        return self.first[name] if step == 1 else self.later.get(name)


def _growing(exponent: str = "1/2", name: str = "h0.attn.scores") -> _Report:
    return _Report({name: sympy.Rational(exponent)})


def _values(*means: float, name: str = "h0.attn.scores") -> dict[tuple[str, int, int], np.ndarray]:
    return {(f"{name}/change", 0, 1): np.array([means, means])}  # (seeds, widths)


def test_growing_logits_that_move_little_get_the_note() -> None:
    [note] = linear_softmax_notes(_growing(), _values(0.05, 0.13))
    assert note.startswith("h0's attention logits move by 0.05 to 0.13 after the first update")
    assert "n^1/2" in note


def test_no_note_without_predicted_growth_or_once_the_logits_move_by_order_one() -> None:
    assert linear_softmax_notes(_growing("0"), _values(0.05, 0.13)) == []  # muP: Theta(1), no cap at work
    assert linear_softmax_notes(_growing("-1/2"), _values(0.05, 0.13)) == []
    assert linear_softmax_notes(_growing(), _values(0.5, SATURATED_CHANGE)) == []  # saturating somewhere
    later = _Report({"h0.attn.scores": sympy.Integer(0)}, {"h0.attn.scores": sympy.Rational(1, 2)})
    assert linear_softmax_notes(later, _values(0.05, 0.13)) == []  # the first update only
    assert linear_softmax_notes(_growing(), _values(0.05, np.nan)) == []  # a diverged run: no claim
    assert linear_softmax_notes(_growing(name="h0.resid.attn"), _values(0.05, 0.13, name="h0.resid.attn")) == []
