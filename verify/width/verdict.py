"""Predicted exponent | measured slope +- CI | PASS/FAIL, for the quantities where the theory speaks.

Which step each quantity is judged at is part of its definition in ``theory.quantities`` (the one registry
the engine and the measurements share): gradients and pre-activations at init at step 0, updates at step 1,
hidden feature updates also at the last step.  A row PASSes when |measured - predicted| <= tolerance.  The
default tolerance 0.15 is the finite-width bias measured on readout quantities at widths <= 4096 (reference
3.9), re-measured in docs/verify.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import sympy

from theory.exponents import format_exponent
from theory.quantities import judged_points
from theory.terminal import strict_json
from verify.fit import SlopeFit, fit_slope
from verify.width.crossover import MIN_COSINE, TwoTerm, two_term

DEFAULT_TOLERANCE = 0.15


class Predictions(Protocol):
    """What the engine's report offers (``theory.engine.derive(param)``)."""

    def exponent(self, quantity: str, layer: int, step: int) -> sympy.Expr | None: ...


@dataclass(frozen=True)
class Row:
    quantity: str
    layer: int
    step: int
    predicted: str
    measured: float | None
    low: float | None
    high: float | None
    verdict: str  # PASS, FAIL, or SKIP (no prediction)
    note: str = ""
    name: str = ""  # the tensor's (or reported value's) name in a network of operations; "" in an MLP

    def to_dict(self) -> dict[str, Any]:
        """The JSON row (an MLP's without the empty ``name``, as before networks had names)."""
        data = asdict(self)
        if not self.name:
            del data["name"]
        return data


def value_table(rows: Sequence[tuple[int, int, int, str, int, float | None]], widths: Sequence[int],
                seeds: Sequence[int]) -> dict[tuple[str, int, int], np.ndarray]:
    """(quantity, layer, step) -> (seeds, widths) array of values; NaN where missing or diverged."""
    w_index = {w: i for i, w in enumerate(widths)}
    s_index = {s: i for i, s in enumerate(seeds)}
    out: dict[tuple[str, int, int], np.ndarray] = {}
    for width, seed, step, quantity, layer, value in rows:
        if width not in w_index or seed not in s_index:
            continue
        key = (quantity, layer, step)
        if key not in out:
            out[key] = np.full((len(seeds), len(widths)), np.nan)
        out[key][s_index[seed], w_index[width]] = np.nan if value is None else value
    return out


def judge_one(predicted: sympy.Expr | None, fit: SlopeFit, tolerance: float) -> str:
    if predicted is None:
        return "SKIP"
    if predicted == -sympy.oo:  # the quantity is exactly zero
        return "PASS" if fit.note == "zero" else "FAIL"
    if fit.slope is None or not predicted.is_number:
        return "FAIL"
    return "PASS" if abs(fit.slope - float(predicted)) <= tolerance else "FAIL"


class Located(Protocol):
    """What names a judged value (a ``Point``, or a verdict ``Row``)."""

    @property
    def quantity(self) -> str: ...
    @property
    def layer(self) -> int: ...
    @property
    def step(self) -> int: ...
    @property
    def name(self) -> str: ...


class JudgedPoint(Located, Protocol):
    """A point to judge (``verify.width.points.Point``): where its values are stored, its names, and for the
    two-term verdict the change that is exactly the sum of two measured terms, and the terms."""

    @property
    def key(self) -> tuple[str, int, int]: ...
    def parts(self) -> tuple[JudgedPoint, JudgedPoint, JudgedPoint] | None: ...


# how a note names the two terms of a sum
TERMS = {("effective_update", "propagating_update"): "effective and propagating updates",
         ("own", "carried"): "own and carried parts"}


def judge(predictions: Predictions, values: dict[tuple[str, int, int], np.ndarray], widths: Sequence[int],
          n_layers: int, steps: int, tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """One row per judged (quantity, layer, step) of an MLP with ``n_layers`` layers (``judge_points``)."""
    from verify.width.points import Point

    points = [Point(q, layer, step) for q, layer, step in judged_points(n_layers, steps)]
    return judge_points(lambda p: predictions.exponent(p.quantity, p.layer, p.step), values, widths, points,
                        tolerance)


def judge_points(predicted_of: Callable[[JudgedPoint], sympy.Expr | None],
                 values: dict[tuple[str, int, int], np.ndarray], widths: Sequence[int],
                 points: Sequence[JudgedPoint], tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """One row per point: the engine's exponent (``predicted_of``) against the slope fitted to its values.

    A change that is exactly the sum of two measured terms with different exponents (a pre-activation or
    feature change: the effective and propagating updates; attention logits: their own and carried parts) is
    also judged by the terms' finite-width sum (``verify.width.crossover``): it passes when its slope is within
    the tolerance of the engine's exponent or of the two-term expectation at these widths, and fails when the
    two terms cancel.
    """
    rows = []
    for point in points:
        predicted = predicted_of(point)
        data = values.get(point.key)
        fit = fit_slope(widths, data) if data is not None else SlopeFit(None, None, None, "not measured")
        verdict, note = judge_one(predicted, fit, tolerance), fit.note
        parts = point.parts()
        crossover = None if parts is None else _two_term(predicted_of, values, widths, parts, predicted)
        if crossover is not None and fit.slope is not None and parts is not None:
            if crossover.cosine < MIN_COSINE:
                terms = TERMS[(parts[1].quantity, parts[2].quantity)]
                verdict, note = "FAIL", f"{terms} cancel (cos {crossover.cosine:+.2f})"
            elif verdict == "FAIL" and crossover.distance(fit.slope) <= tolerance:
                verdict, note = "PASS", (f"two-term sum of the engine's exponents: slope [{crossover.low:+.2f}, "
                                         f"{crossover.high:+.2f}] at these widths")
        rows.append(Row(point.quantity, point.layer, point.step, format_exponent(predicted), fit.slope, fit.low,
                        fit.high, verdict, note, point.name))
    return rows


def _two_term(predicted_of: Callable[[JudgedPoint], sympy.Expr | None],
              values: dict[tuple[str, int, int], np.ndarray], widths: Sequence[int],
              parts: tuple[JudgedPoint, JudgedPoint, JudgedPoint], predicted: sympy.Expr | None) -> TwoTerm | None:
    """The finite-width expectation of a change that sums two terms of different orders (else None); ``parts``:
    the measured sum and its two terms."""
    if predicted is None or not predicted.is_number:
        return None
    exponents = [predicted_of(part) for part in parts[1:]]
    if any(e is None or not e.is_number or not e.is_finite for e in exponents):
        return None
    e_first, e_second = (float(e) for e in exponents)  # type: ignore[arg-type]
    if e_first == e_second or float(predicted) != max(e_first, e_second):
        return None
    total, first, second = (values.get(p.key) for p in parts)
    if total is None or first is None or second is None:
        return None
    return two_term(widths, total, first, second, e_first, e_second)


def _num(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.2f}"


def format_table(rows: Sequence[Row], *, show_verdict: bool = True) -> str:
    """The check's table; rows with names (a network's tensors) show the name in a ``tensor`` column."""
    named = any(r.name for r in rows)
    header = ["quantity", "tensor" if named else "layer", "step", "predicted", "measured", "95% CI"] + \
        (["verdict"] if show_verdict else [])
    lines = [header]
    for r in rows:
        ci = "-" if r.low is None else f"[{_num(r.low)}, {_num(r.high)}]"
        measured = _num(r.measured) if r.measured is not None else r.note or "-"
        cells = [r.quantity, r.name if named else str(r.layer), str(r.step), r.predicted, measured, ci]
        if show_verdict:
            cells.append(r.verdict + (f" ({r.note})" if r.note and r.verdict == "FAIL" else ""))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def summary(rows: Sequence[Row]) -> dict[str, int]:
    return {v: sum(r.verdict == v for r in rows) for v in ("PASS", "FAIL", "SKIP")}


def to_json(rows: Sequence[Row], extra: dict[str, object]) -> str:
    return strict_json({**extra, "summary": summary(rows), "rows": [r.to_dict() for r in rows]}, indent=1)
