"""What a width check judges, for any architecture: (quantity, tensor, step) points and their predictions.

An MLP's points are ``theory.quantities.judged_points``: every registered quantity of every layer at the steps
its registry entry names.  A network of operations (a GPT) has the same per-tensor points, named by tensor
(propagating updates left out for the embeddings, whose input is fixed, and ``first+last`` quantities judged at
the last step too except at the readout), plus the values it reports beside its tensors
(``Report.modules``): each one's ``init`` at step 0 and its ``change`` at step 1 and the last step (the
attention logits' change is judged like a feature update; the output logits' change at step 1 only, like
the readout's, whose logit jump of step 1 later steps partly undo).  Attention logits' change is also judged
in its two parts at step 1, as effective and propagating updates are: ``own`` (what the query's and key's own
updates add) and ``carried`` (the initial weights on the moved inputs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from theory.engine import Report
from theory.exponents import Exponent
from theory.parametrization import Parametrization
from theory.quantities import REGISTRY, judged_points
from verify.width.verdict import DEFAULT_TOLERANCE, Located, Row, judge_points

SCORES = ".attn.scores"  # attention logits: their change is also measured in its two parts


@dataclass(frozen=True)
class Point:
    """One judged value: a registered ``quantity`` of tensor ``layer`` (its index; 0 for a reported value,
    whose ``quantity`` is "init" or "change") after ``step`` updates; ``name`` the tensor's or value's name
    ("" in an MLP)."""

    quantity: str
    layer: int
    step: int
    name: str = ""

    @property
    def module(self) -> bool:
        return self.layer == 0

    @property
    def key(self) -> tuple[str, int, int]:
        """Where its measurements are stored: (quantity, layer, step); a reported value under "NAME/KIND", 0."""
        if self.module:
            return (f"{self.name}/{self.quantity}", 0, self.step)
        return (self.quantity, self.layer, self.step)

    def parts(self) -> tuple[Point, Point, Point] | None:
        """For a change judged by the two-term verdict: the measured change that is exactly the sum of two
        measured terms, and the terms (None otherwise).  A pre-activation or feature change: the pre-activation
        change, its effective and propagating updates (the feature change follows the pre-activation's through
        the activation); attention logits' change: itself, its own and carried parts."""
        if self.quantity in ("preactivation_update", "feature_update") and not self.module:
            return (Point("preactivation_update", self.layer, self.step, self.name),
                    Point("effective_update", self.layer, self.step, self.name),
                    Point("propagating_update", self.layer, self.step, self.name))
        if self.module and self.quantity == "change" and self.name.endswith(SCORES):
            return (self, Point("own", 0, self.step, self.name), Point("carried", 0, self.step, self.name))
        return None


def predictor(report: Report) -> Callable[[Located], Exponent | None]:
    """The engine's exponent of a point (a reported value's from ``Report.module_exponent``)."""
    def predicted(point: Located) -> Exponent | None:
        if point.layer == 0:
            return report.module_exponent(point.name, point.quantity, point.step)
        return report.exponent(point.quantity, point.layer, point.step)

    return predicted


def judge_check(report: Report, param: Parametrization, values: dict[tuple[str, int, int], np.ndarray],
                widths: Sequence[int], steps: int, tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """The rows of a width check of ``param`` (trained for ``steps`` updates) judged against ``report``."""
    return judge_points(predictor(report), values, widths, judged(param, steps, report), tolerance)


def model_size(param: Parametrization) -> str:
    """'L=3' for an MLP, '2 blocks' for a GPT (the check's header and the measured table's notes)."""
    if param.network is None:
        return f"L={param.hidden_layers}"
    blocks = param.network.blocks
    return f"{blocks} block{'s' * (blocks != 1)}"


def judged(param: Parametrization, steps: int, report: Report | None = None) -> list[Point]:
    """The points a check of ``param`` trained for ``steps`` updates judges (a network's reported values are
    read off ``report``, derived here if not given)."""
    if param.network is None:
        return [Point(q, layer, step) for q, layer, step in judged_points(len(param.layers), steps)]
    from theory.engine import derive

    report = report if report is not None else derive(param)
    readout = next((layer.index for layer in param.layers if layer.role == "output"), len(param.layers) + 1)
    points = []
    for q in REGISTRY:
        for layer in param.layers:
            if q.name == "propagating_update" and layer.role == "input":
                continue
            points += [Point(q.name, layer.index, step, layer.name)
                       for step in q.judged_steps(layer.index, readout, steps)]
    for name in report.modules:
        points.append(Point("init", 0, 0, name))
        last = (1,) if name == "logits" or steps == 1 else (1, steps)
        points += [Point("change", 0, step, name) for step in last]
        if name.endswith(SCORES):
            points += [Point("own", 0, 1, name), Point("carried", 0, 1, name)]
    return points
