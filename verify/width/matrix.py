"""The check matrix: ``check`` over presets x optimizers x losses x activations, PASS/FAIL counts per cell.

Each cell is the parametrization a user gets from ``abcscale check PRESET --optimizer O --loss L --activation
A`` with every other option at its default, checked exactly as that command checks it (``verify.width.check``,
one shared results database, so a rerun resumes).  A cell is

* ``refused`` when the preset has no form for the optimizer (muP's learning rates are tabulated for SGD and
  Adam only, IP is defined for SGD): the one-line reason is kept;
* ``untrainable`` when the engine finds training catastrophic at the learning-rate exponent the check would
  use (there is nothing stable to verify);
* ``checked`` otherwise, with its PASS/FAIL/SKIP counts and the failing rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from theory.errors import InputError
from theory.exponents import format_exponent
from theory.presets import PRESETS
from theory.terminal import text_table
from verify.result import Result
from verify.width.verdict import Row

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MATRIX_OPTIMIZERS = ("sgd", "adam", "signsgd", "muon")
MATRIX_LOSSES = ("ce", "mse")
MATRIX_ACTIVATIONS = ("relu", "tanh", "gelu")


@dataclass(frozen=True)
class Cell:
    """One combination of the matrix."""

    preset: str
    optimizer: str
    loss: str
    activation: str

    def label(self) -> str:
        return f"{self.preset} {self.optimizer} {self.loss} {self.activation}"


@dataclass
class CellResult:
    """What checking one cell gave."""

    cell: Cell
    status: str  # checked, refused, untrainable
    regime: str | None = None  # the engine's, at the learning-rate exponent trained
    lr_exponent: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # PASS / FAIL / SKIP rows
    failures: list[Row] = field(default_factory=list)
    reason: str = ""

    @property
    def failed(self) -> int:
        return self.counts.get("FAIL", 0)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.cell), "status": self.status, "regime": self.regime, "lr_exponent": self.lr_exponent,
                "passed": self.counts.get("PASS", 0), "failed": self.failed, "skipped": self.counts.get("SKIP", 0),
                "reason": self.reason, "failures": [r.to_dict() for r in self.failures]}


def cells(presets: Sequence[str] = tuple(PRESETS), optimizers: Sequence[str] = MATRIX_OPTIMIZERS,
          losses: Sequence[str] = MATRIX_LOSSES, activations: Sequence[str] = MATRIX_ACTIVATIONS) -> list[Cell]:
    """Every combination, preset-major (the order the table prints)."""
    return [Cell(*combo) for combo in itertools.product(presets, optimizers, losses, activations)]


def check_cell(cell: Cell, *, db: str, layers: int | None = None, widths: Sequence[int] | str | None = None,
               seeds: int | None = None) -> CellResult:
    """``check`` of one cell with the command's defaults (``widths``/``seeds`` override them when given)."""
    from theory.config import resolve
    from theory.engine import derive
    from theory.regimes import CATASTROPHIC
    from verify.width.check import DEFAULT_SEEDS, CheckResult, check, choose_lr_exponent

    try:
        param = resolve(cell.preset, layers=layers, optimizer=cell.optimizer, loss=cell.loss,
                        activation=cell.activation)
    except InputError as err:
        return CellResult(cell, "refused", reason=str(err))
    trained, _ = choose_lr_exponent(param, None)
    regime = derive(trained).regime
    x = format_exponent(trained.lr_exponent)
    if regime == CATASTROPHIC:
        return CellResult(cell, "untrainable", regime, x, reason="the engine finds training catastrophic here")
    result = check(cell.preset, layers=layers, optimizer=cell.optimizer, loss=cell.loss, activation=cell.activation,
                   widths=widths, seeds=DEFAULT_SEEDS if seeds is None else seeds, db=db)
    assert isinstance(result, CheckResult)
    return CellResult(cell, "checked", result.outcome.regime, x, result.summary,
                      [r for r in result.rows if r.verdict == "FAIL"])


@dataclass
class MatrixResult(Result):
    """Every cell's outcome; ``passed`` when no checked cell has a failing row."""

    rows: list[CellResult]
    widths: str  # as trained, e.g. "128,256,512,1024"
    seeds: int

    @property
    def passed(self) -> bool:
        return not any(r.failed for r in self.rows)

    def table(self, *, header: bool = True) -> str:
        lines = [f"check matrix: {len(self.rows)} cells, each checked as 'abcscale check' does (widths {self.widths}; "
                 f"{self.seeds} seeds; every other option at its default)"] if header else []
        body = [[r.cell.preset, r.cell.optimizer, r.cell.loss, r.cell.activation,
                 "-" if r.regime is None else f"{r.regime} ({r.lr_exponent})",
                 str(r.counts.get("PASS", "-")), str(r.counts.get("FAIL", "-")), _short(r)] for r in self.rows]
        lines.append(text_table(["preset", "optimizer", "loss", "activation", "engine regime (x)", "PASS", "FAIL",
                                 "note"], body, right={5, 6}))
        failing = [r for r in self.rows if r.failed]
        if failing:
            lines.append("")
            lines.append("failing rows (quantity layer@step predicted:measured):")
            for r in failing:
                lines.append(f"  {r.cell.label()}: " + ", ".join(
                    f"{f.quantity} {f.layer}@{f.step} {f.predicted}:{_num(f.measured)}" for f in r.failures))
        lines.append("")
        lines.append(self.summary_line())
        return "\n".join(lines)

    def summary_line(self) -> str:
        checked = [r for r in self.rows if r.status == "checked"]
        clean = sum(1 for r in checked if not r.failed)
        others = {s: sum(1 for r in self.rows if r.status == s) for s in ("refused", "untrainable")}
        return (f"{len(checked)} cells checked: {clean} pass every row, {len(checked) - clean} with failing rows "
                f"({sum(r.failed for r in checked)} rows); {others['refused']} refused by their preset, "
                f"{others['untrainable']} untrainable per the engine")

    def to_dict(self) -> dict[str, Any]:
        return {"widths": self.widths, "seeds": self.seeds, "passed": self.passed, "cells": self.row_dicts()}

    def row_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rows]

    def figure(self) -> Figure:
        """FAIL counts per cell: one row per preset, one column per (optimizer, loss, activation)."""
        import numpy as np
        from matplotlib.figure import Figure

        presets = list(dict.fromkeys(r.cell.preset for r in self.rows))
        columns = list(dict.fromkeys((r.cell.optimizer, r.cell.loss, r.cell.activation) for r in self.rows))
        grid = np.full((len(presets), len(columns)), np.nan)
        for r in self.rows:
            if r.status == "checked":
                grid[presets.index(r.cell.preset), columns.index((r.cell.optimizer, r.cell.loss,
                                                                  r.cell.activation))] = r.failed
        fig = Figure(figsize=(max(8.0, 0.35 * len(columns) + 2), 0.45 * len(presets) + 2.2))
        ax = fig.subplots()
        image = ax.imshow(grid, cmap="Reds", vmin=0, aspect="auto")
        ax.set_yticks(range(len(presets)), presets)
        ax.set_xticks(range(len(columns)), [" ".join(c) for c in columns], rotation=90, fontsize=7)
        for i, j in itertools.product(range(len(presets)), range(len(columns))):
            ax.text(j, i, "-" if np.isnan(grid[i, j]) else f"{int(grid[i, j])}", ha="center", va="center", fontsize=6)
        fig.colorbar(image, ax=ax, label="failing rows (-: refused or untrainable)")
        ax.set_title("check matrix: failing rows per cell")
        fig.tight_layout()
        return fig


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _short(r: CellResult) -> str:
    if r.status == "checked":
        return ""
    reason = r.reason.split(";")[0]
    return f"{r.status}: {reason}"


def run_matrix(selected: Sequence[Cell], *, db: str, layers: int | None = None,
               widths: Sequence[int] | str | None = None, seeds: int | None = None,
               on_cell: Callable[[CellResult], None] | None = None) -> MatrixResult:
    """Check every cell in turn (finished trainings are resumed from ``db``)."""
    out = []
    for cell in selected:
        result = check_cell(cell, db=db, layers=layers, widths=widths, seeds=seeds)
        out.append(result)
        if on_cell is not None:
            on_cell(result)
    from verify.width.check import DEFAULT_SEEDS, DEFAULT_WIDTHS

    shown = DEFAULT_WIDTHS if widths is None else widths
    label = shown if isinstance(shown, str) else ",".join(map(str, shown))
    return MatrixResult(out, label, DEFAULT_SEEDS if seeds is None else seeds)
