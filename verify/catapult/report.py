"""A learning-rate sweep of ReLU nets as one result: per-run records, the catapult window's edges, the rank
correlation of ReLU sparsity with the learning rate per hidden layer, phase-diagram rows and loss curves; as
JSON-ready data (``as_dict``) and as a text table (``abcscale catapult mlp`` prints these)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from numerics.catapult.report import Curve, format_step, format_value
from theory.errors import InputError
from verify.catapult.sweep import (
    RankCorrelation,
    RunRecord,
    SweepConfig,
    WindowEdges,
    run_sweep,
    sparsity_rank_correlation,
    window_edges,
)


@dataclass(frozen=True)
class NetSweep:
    """``run_sweep`` of ``config`` with its window edges and per-layer sparsity correlations (layers with too
    few catapult runs for one, and all after them, are left out)."""

    config: SweepConfig
    records: list[RunRecord]
    edges: WindowEdges
    correlations: list[RankCorrelation]

    @property
    def diagram(self) -> list[dict[str, Any]]:
        """Phase-diagram rows (seed, eta, final lambda (NaN if diverged), 2/eta, phase), as for the models."""
        return [{"seed": r.seed, "eta": r.eta, "final_lambda": r.lam[-1] if r.diverged_step is None else math.nan,
                 "two_over_eta": 2 / r.eta, "phase": r.phase} for r in self.records]

    @property
    def curves(self) -> list[Curve]:
        """(seed, eta * lambda_0, log10 loss per step) of every run; a zero loss is -inf."""
        return [(r.seed, r.ratio, [math.log10(v) if v > 0 else -math.inf for v in r.loss]) for r in self.records]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: model 'mlp', config, runs, edges, sparsity_correlation."""
        return {"model": "mlp", "config": asdict(self.config), "runs": [r.as_dict() for r in self.records],
                "edges": vars(self.edges), "sparsity_correlation": [vars(c) for c in self.correlations]}

    def table(self) -> str:
        """One line per run, the window edges, and one line per layer's sparsity correlation."""
        lines = [f"{'seed':>4} {'eta*lam0':>8} {'phase':>9} {'L0':>7} {'Lmax':>9} {'t_peak':>6} {'L_T':>8} "
                 f"{'eta*lam_T':>9} {'|th|2/P 0->max->T':>20} {'inactive/layer':>16} {'div@':>5}"]
        for r in self.records:
            wn = f"{r.weight_norm[0]:.3f}->{max(r.weight_norm):.3g}->{r.weight_norm[-1]:.3g}"
            inactive = ",".join(f"{v:.3f}" for v in r.inactive_final) or "-"
            lines.append(f"{r.seed:>4} {r.ratio:>8.2f} {r.phase:>9} {r.loss[0]:>7.3g} {r.peak_loss:>9.3g} "
                         f"{r.peak_step:>6} {r.loss[-1]:>8.3g} {format_value(r.final_eta_lambda):>9} {wn:>20} "
                         f"{inactive:>16} {format_step(r.diverged_step):>5}")
        e = self.edges
        lines.append(f"window (eta*lam0, grid midpoints, mean over seeds +- std (+) half spacing): lower "
                     f"{format_value(e.lower, 4)} +- {format_value(e.lower_err, 2)}, upper {format_value(e.upper, 4)} "
                     f"+- {format_value(e.upper_err, 2)}{' (no divergence in grid)' if math.isnan(e.upper) else ''}")
        for layer, c in enumerate(self.correlations):
            lines.append(f"inactive fraction vs eta*lam0 (layer {layer + 1}, {c.runs} catapult runs): Spearman "
                         f"rho {c.rho:.3f}, 95% bootstrap CI [{c.ci_low:.3f}, {c.ci_high:.3f}]")
        return "\n".join(lines)


def sweep_net(config: SweepConfig, progress: bool = False) -> NetSweep:
    """Train every run of ``config`` (``progress``: a bar on stderr), then locate the window and correlate."""
    records = run_sweep(config, progress=progress)
    correlations = []
    for layer in range(config.depth - 1):
        try:
            correlations.append(sparsity_rank_correlation(records, layer=layer))
        except InputError:
            break
    return NetSweep(config, records, window_edges(records), correlations)
