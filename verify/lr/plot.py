"""LR-sweep figures: final loss against eta per width (the mu-transfer picture), and LR against width."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from verify.fit import SlopeFit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from verify.lr.sweep import SweepResult


def lr_figure(sweep: SweepResult, *, title: str, predicted: float | None, max_fit: SlopeFit,
              opt_fit: SlopeFit) -> Figure:
    """Left: seed-mean final train loss against eta for each width (grid and edge runs; edges marked).
    Right: per-seed max-stable and optimal eta against width (log-log), the fits, and the predicted slope.

    A pyplot-free Figure: no backend is chosen, and a notebook shows the returned figure once."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.8))
    left, right = fig.subplots(1, 2)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    widths = sweep.widths
    for i, w in enumerate(widths):
        res, color = sweep.results[w], colors[i % len(colors)]
        if res.grid:
            lrs = sorted(res.grid)
            means = [np.mean([r.final_loss if r.final_loss is not None else np.nan for r in res.grid[lr]])
                     for lr in lrs]
            left.plot(lrs, means, "o-", color=color, label=f"n={w}")
        edges = [e.max_stable for e in res.edges.values() if e.max_stable is not None]
        if edges:
            left.axvline(math.exp(np.mean(np.log(edges))), color=color, ls=":", alpha=0.8)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("global learning rate eta")
    left.set_ylabel("final train loss (seed mean)")
    left.set_title("loss vs eta per width (dotted: max stable eta)")
    if left.get_legend_handles_labels()[0]:  # no grid runs (--grid-points 0): nothing to label
        left.legend(fontsize=8)
    x = np.asarray(widths, dtype=float)
    for label, which, marker, fit in (("max stable", "max", "o", max_fit), ("optimal", "opt", "s", opt_fit)):
        per_seed = [[(sweep.results[w].edges[s].max_stable if which == "max" else sweep.results[w].optimal.get(s))
                     for w in widths] for s in sweep.seeds]
        values = np.array([[np.nan if v is None else v for v in row] for row in per_seed], dtype=float)
        if np.isnan(values).all():
            continue
        for row in values:
            right.scatter(x, row, marker=marker, s=14, alpha=0.4, color="C0" if which == "max" else "C1")
        centre = np.exp(np.nanmean(np.log(values), axis=0))
        right.plot(x, centre, marker + "-", color="C0" if which == "max" else "C1",
                   label=f"{label}: slope {fit.slope:.2f}" if fit.slope is not None else label)
        if which == "max" and predicted is not None:
            gx, gy = np.exp(np.log(x).mean()), np.exp(np.nanmean(np.log(centre)))
            right.plot(x, gy * (x / gx) ** predicted, "k--", label=f"predicted slope {predicted:g}")
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("width n")
    right.set_ylabel("eta")
    right.set_title("learning rate against width")
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
