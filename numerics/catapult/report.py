"""Learning-rate sweeps of the solvable models as one result: phase-table rows, located edges against their
closed forms, phase-diagram rows and loss curves; as JSON-ready data (``as_dict``) and as a text table.

The ``abcscale catapult uv|quadratic`` command prints these; ``verify.catapult.report`` does the same for nets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from numerics.catapult.tables import diagram_rows, locate_edges, quadratic_experiment, uv_experiment
from theory.errors import InputError

Curve = tuple[int, float, list[float]]
"""(seed, eta * lambda_0, log10 loss at every step) of one run."""
MODELS = ("uv", "quadratic")


def format_value(value: float | None, digits: int = 3) -> str:
    """A table cell: ``digits`` significant digits, '-' for a missing value or NaN."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def format_step(step: int | None) -> str:
    """A step cell: '-' when there is none (e.g. the run never diverged)."""
    return "-" if step is None else str(step)


@dataclass(frozen=True)
class ModelSweep:
    """Every (seed, eta * lambda_0) run of one model: ``runs`` rows (``RunSummary.as_dict`` with the seed),
    ``edges`` per seed when located, ``diagram`` rows (``diagram_rows`` with the seed) and loss ``curves``."""

    model: str
    runs: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    diagram: list[dict[str, Any]]
    curves: list[Curve]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: model, runs, edges, phase_diagram."""
        return {"model": self.model, "runs": self.runs, "edges": self.edges, "phase_diagram": self.diagram}

    def table(self) -> str:
        """One line per run, then one line per seed's edges with their deviation from the closed forms."""
        lines = [f"{'seed':>4} {'eta*lam0':>9} {'phase':>9} {'log10 L0':>9} {'log10 Lmax':>10} {'t_peak':>6} "
                 f"{'eta*lam_T':>9} {'log10 L_T':>9} {'div@':>5}"]
        for r in self.runs:
            lines.append(f"{r['seed']:>4} {r['eta_lambda0']:>9.3f} {r['phase']:>9} {format_value(r['log10_loss0']):>9} "
                         f"{format_value(r['peak_log10_loss']):>10} {r['peak_step']:>6} "
                         f"{format_value(r['final_eta_lambda']):>9} {format_value(r['final_log10_loss']):>9} "
                         f"{format_step(r['diverged_step']):>5}")
        for e in self.edges:
            lines.append(f"edges (seed {e['seed']}, eta*lam0): lower {e['lower']:.4f} vs 2 "
                         f"({100 * (e['lower'] / 2 - 1):+.2f}%), upper {e['upper']:.4f} vs {e['upper_closed_name']} "
                         f"= {e['upper_closed']:.4f} ({100 * (e['upper'] / e['upper_closed'] - 1):+.2f}%)")
        return "\n".join(lines)


def sweep_model(model: str, n: Any, ratios: Sequence[float], seeds: Sequence[int], steps: int, *,
                x: float = 1.0, y: float = 0.0, linear: bool = False, dps: int | None = None,
                edges: bool = False) -> ModelSweep:
    """Run ``model`` ('uv': width ``n``, sample (``x``, ``y``); 'quadratic': integer width ``n``, ``linear`` term)
    at every ratio for every seed (mpmath with ``dps`` digits); ``edges`` also locates the window edges."""
    if model not in MODELS:
        raise InputError(f"model: expected one of {', '.join(MODELS)}, got {model!r}")
    runs: list[dict[str, Any]] = []
    curves: list[Curve] = []
    diagram: list[dict[str, Any]] = []
    located: list[dict[str, Any]] = []
    for seed in seeds:
        if model == "uv":
            exp = uv_experiment(n, steps, seed, x, y, dps)
        else:
            exp = quadratic_experiment(n, steps, seed, linear, dps)
        for summary in exp.sweep(ratios):
            runs.append({"seed": seed, **summary.as_dict()})
            curves.append((seed, summary.ratio, exp.trajectory(summary.ratio).log10_loss()))
        diagram.extend({"seed": seed, **row} for row in diagram_rows(exp.sweep(ratios)))
        if edges:
            located.append({"seed": seed, **locate_edges(exp).as_dict()})
    return ModelSweep(model, runs, located, diagram, curves)
