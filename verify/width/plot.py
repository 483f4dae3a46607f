"""Coordinate-check figure: log-log, one panel per quantity, measured points per layer, predicted slopes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from theory.quantities import QUANTITIES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from verify.width.check import Outcome


def coordinate_figure(outcome: Outcome) -> Figure:
    """Each panel: seed-mean of one quantity against width at its first judged step, one line per layer,
    and the predicted exponent as a dashed line through the geometric mean of the measured points.

    A pyplot-free Figure: no backend is chosen, and a notebook shows the returned figure once."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 7.5))
    axes = fig.subplots(2, 4, squeeze=False)
    widths = np.asarray(outcome.widths, dtype=float)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, quantity in zip(axes.flat, QUANTITIES, strict=True):
        seen: set[int] = set()
        for row in outcome.rows:
            if row.quantity != quantity or row.layer in seen:
                continue
            seen.add(row.layer)
            data = outcome.values.get((quantity, row.layer, row.step))
            if data is None or np.isnan(data).any() or (data <= 0).any():
                continue
            color = colors[(row.layer - 1) % len(colors)]
            mean = np.exp(np.log(data).mean(axis=0))
            label = row.name or f"l={row.layer}"  # a network's tensors by name
            ax.loglog(widths, mean, "o-", color=color, base=2, label=f"{label} t={row.step} {row.verdict}")
            try:
                slope = float(row.predicted)
            except ValueError:
                continue
            centre_x, centre_y = np.exp(np.log(widths).mean()), np.exp(np.log(mean).mean())
            ax.loglog(widths, centre_y * (widths / centre_x) ** slope, "--", color=color, base=2, alpha=0.6)
        ax.set_title(quantity.replace("_", " "))
        ax.set_xlabel("width n")
        ax.legend(fontsize=7)
    fig.suptitle(f"{outcome.param.name}: measured (points) vs predicted slope (dashed)")
    fig.tight_layout()
    return fig
