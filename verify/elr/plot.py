"""Figure of an ELR schedule comparison: spread over time (measured and modelled) and the model's agreement
against its persistence baseline over the horizon K."""

from __future__ import annotations

from verify.elr.report import ScheduleComparison, sgd_options


def plot_comparison(comparison: ScheduleComparison, path: str) -> None:
    """Left: geometric-mean spread per step of the tuned linear warm-up, constant rate and critical warm-up,
    measured and modelled with gamma frozen; right: MALE of the smoothed spread, model vs persistence, per K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    base, shown = comparison.base, comparison.shown
    keys = [shown[1], shown[0], shown[2]]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    for key, color in zip(keys, ("tab:blue", "tab:orange", "tab:green"), strict=False):
        s = comparison.summaries[key]
        t = np.arange(s.spread.shape[1])
        ax.plot(t, np.exp(np.mean(np.log(s.spread), axis=0)), color=color, label=f"{key} (measured)")
        ax.plot(t, np.exp(np.mean(np.log(s.predicted), axis=0)), color=color, ls="--", lw=1,
                label=f"{key} (model, gamma frozen)")
        ks = sorted(s.horizon)
        bx.plot(ks, [np.nanmean(s.horizon[k]["spread_smoothed_model"]) for k in ks], color=color, marker="o",
                label=f"{key}: model")
        bx.plot(ks, [np.nanmean(s.horizon[k]["spread_smoothed_persistence"]) for k in ks], color=color,
                marker="x", ls=":", label=f"{key}: persistence")
    ax.axhline(2.0, color="grey", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("ELR spread max E / min E (geo. mean over seeds)")
    ax.set_title(f"depth {base.depth} {base.norm} {base.arch.upper()}, {base.data}, lr {base.lr:g}"
                 f"{sgd_options(base, ', ')}")
    ax.legend(fontsize=7)
    bx.set_xscale("log")
    bx.set_xlabel("horizon K (steps between restarts of the model)")
    bx.set_ylabel("MALE of the smoothed spread (log10)")
    bx.set_title("model vs persistence of its start", fontsize=10)
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
