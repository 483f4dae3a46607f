"""Figure of a catapult sweep (solvable models or nets): the phase diagram and the first seed's loss curves."""

from __future__ import annotations

import math
from typing import Any

from numerics.catapult.report import Curve


def plot_sweep(path: str, curves: list[Curve], diagram: list[dict[str, Any]], model: str) -> None:
    """Left: final lambda against eta with the 2/eta curve; right: log10 loss curves (first seed).

    Raises OSError or ValueError when ``path`` cannot be written (the figure is closed either way)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_d, ax_l) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"lazy": "tab:blue", "catapult": "tab:orange", "divergent": "tab:red"}
    etas = sorted(row["eta"] for row in diagram)
    for phase, colour in colours.items():
        pts = [(row["eta"], row["final_lambda"]) for row in diagram if row["phase"] == phase]
        if pts and phase != "divergent":
            ax_d.plot(*zip(*pts, strict=True), "o", color=colour, label=phase)
    for row in diagram:
        if row["phase"] == "divergent":
            ax_d.axvline(row["eta"], color=colours["divergent"], alpha=0.15)
    ax_d.plot(etas, [2 / e for e in etas], "k--", label="2/eta")
    ax_d.set_xlabel("eta")
    ax_d.set_ylabel("final lambda (top NTK eigenvalue)")
    ax_d.set_title(f"{model}: phase diagram (red lines: divergent)")
    ax_d.legend()
    first_seed = curves[0][0] if curves else 0
    cmap = plt.get_cmap("viridis")
    mine = [c for c in curves if c[0] == first_seed]
    for i, (_, ratio, losses) in enumerate(mine):
        ax_l.plot(range(len(losses)), losses, color=cmap(i / max(len(mine) - 1, 1)), label=f"{ratio:.2f}")
    finite = [v for _, _, losses in mine for v in losses if math.isfinite(v)]
    if finite:  # show the spikes: the first 80 steps, 12 decades below the start
        ax_l.set_ylim(min(finite[0] - 12, max(finite)) , max(finite) + 1)
    ax_l.set_xlim(0, 80)
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("log10 loss")
    ax_l.set_title(f"loss curves (seed {first_seed}), label = eta*lambda_0")
    ax_l.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
