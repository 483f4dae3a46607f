"""Plot of depth-sweep rows: each measured value with its 95% CI next to its prediction."""

from __future__ import annotations

from verify.depth.sweep import DepthRow


def plot_rows(rows: list[DepthRow], path: str) -> None:
    """One line per row (x: predicted; o: measured with its interval, green PASS / red FAIL), written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.4 * len(rows) + 1.5))
    for i, r in enumerate(rows):
        ax.plot([r.predicted], [i], "kx")
        if r.measured is not None:
            err = [[r.measured - (r.low if r.low is not None else r.measured)],
                   [(r.high if r.high is not None else r.measured) - r.measured]]
            ax.errorbar([r.measured], [i], xerr=err, fmt="o", color="tab:green" if r.verdict == "PASS" else "tab:red")
    ax.set_yticks(range(len(rows)), [f"{r.experiment}: {r.item}" for r in rows], fontsize=7)
    ax.set_xlabel("value (x: predicted, o: measured with 95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
