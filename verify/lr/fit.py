"""Exponents of the maximal stable and optimal LR against width, and the regime observed at the edge.

* Exponent fits use verify.fit.fit_slope on (seeds, widths) arrays of per-seed LRs: least squares of the
  seed-mean log LR against log width, 95% bootstrap interval over seeds.
* The edge regime is judged across widths, since the regimes are statements about growth with width:
  at each width take every seed's run at its edge (the largest stable eta, ``lo``) and fit the width
  slopes of the logits (``feature_update`` of the readout at step 1 = the engine's
  ``logits.first_step_update``; at the last step; peak training-batch logit RMS), of the last hidden
  layer's ``feature_update`` at the last step and peak activation ratio, and of the readout's
  ``backward_gradient`` (chi) at the last step.  The logits are judged at step 1 because later steps undo
  most of the first step's jump (reference theory-width.md 3.9; measured again in docs/lr_sweep.md).
  A GPT's records name their own (``verify.lr.gpt_train.gpt_edge_keys``: the logits' change, the last block's
  residual stream, the residual ratio as the peak activation).
  Verdict: ``catastrophic`` if most edge runs are catastrophic one by one (verify.lr.stability) or a hidden
  slope exceeds the tolerance; else ``controlled-divergence`` if the first-step logit slope exceeds it;
  else ``stable``.  Beyond the edge (``hi`` runs) the majority of the single-run regimes is reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from theory.regimes import CATASTROPHIC, CONTROLLED, STABLE
from verify.fit import SlopeFit, fit_slope
from verify.lr.search import WidthResult
from verify.lr.stability import Criterion
from verify.lr.train import LrRecord

EDGE_QUANTITIES = ("logits first_step_update", "logits final feature_update", "logits peak RMS",
                   "hidden feature_update",
                   "hidden peak activation ratio", "readout backward_gradient")


def _array(widths: list[int], seeds: list[int], value: dict[tuple[int, int], float | None]) -> np.ndarray:
    out = np.full((len(seeds), len(widths)), np.nan)
    for j, w in enumerate(widths):
        for i, s in enumerate(seeds):
            v = value.get((w, s))
            if v is not None:
                out[i, j] = v
    return out


def _complete_rows(values: np.ndarray) -> np.ndarray:
    """Seeds with a value at every width (a seed without a bracket at some width is left out)."""
    return values[~np.isnan(values).any(axis=1)]


def fit_lr(widths: list[int], seeds: list[int], results: dict[int, WidthResult], which: str) -> SlopeFit:
    """Exponent of the per-seed maximal stable (``which='max_stable'``) or optimal LR against width."""
    if which == "max_stable":
        value = {(w, s): results[w].edges[s].max_stable for w in widths for s in seeds}
    else:
        value = {(w, s): results[w].optimal.get(s) for w in widths for s in seeds}
    rows = _complete_rows(_array(widths, seeds, value))
    if rows.shape[0] == 0:
        return SlopeFit(None, None, None, "no seed has a value at every width")
    return fit_slope(widths, rows)


EdgeKeys = dict[str, tuple[str, int]]  # "logits", "hidden", "chi" -> (quantity, layer) in LrRecord.measurements


def mlp_edge_keys(top: int) -> EdgeKeys:
    """An MLP's: the readout's feature update (the logit change) and backward gradient, the last hidden layer's
    feature update (layer ``top`` is the readout)."""
    return {"logits": ("feature_update", top), "hidden": ("feature_update", top - 1),
            "chi": ("backward_gradient", top)}


def _edge_value(record: LrRecord, quantity: str, steps: int, keys: EdgeKeys) -> float | None:
    if quantity == "logits peak RMS":
        return record.peak_logit_rms
    if quantity == "logits first_step_update":
        return record.measurements.get((1, *keys["logits"]))
    if quantity == "logits final feature_update":
        return record.measurements.get((steps, *keys["logits"]))
    if quantity == "hidden feature_update":
        return record.measurements.get((steps, *keys["hidden"]))
    if quantity == "hidden peak activation ratio":
        return record.peak_hidden_ratio
    return record.measurements.get((steps, *keys["chi"]))


@dataclass
class EdgeRegime:
    regime: str
    slopes: dict[str, SlopeFit]
    single_run: dict[str, int]  # counts of the single-run regimes of the edge runs
    beyond: str | None  # majority single-run regime beyond the edge
    beyond_counts: dict[str, int]


def edge_regime(widths: list[int], seeds: list[int], results: dict[int, WidthResult], criterion: Criterion,
                steps: int, top: int, tolerance: float, keys: EdgeKeys | None = None) -> EdgeRegime:
    """Regime at the edge judged across widths, and the regime of the runs just beyond it.  ``keys``: where the
    records keep the logit, hidden and chi quantities (default: an MLP's whose readout is layer ``top``)."""
    keys = keys or mlp_edge_keys(top)
    slopes: dict[str, SlopeFit] = {}
    for quantity in EDGE_QUANTITIES:
        value = {}
        for w in widths:
            for s in seeds:
                lo = results[w].edges[s].lo
                value[(w, s)] = None if lo is None else _edge_value(lo, quantity, steps, keys)
        rows = _complete_rows(_array(widths, seeds, value))
        slopes[quantity] = (fit_slope(widths, rows) if rows.shape[0] else
                            SlopeFit(None, None, None, "missing at some width"))
    at = Counter(criterion.regime(e.lo) for w in widths for e in results[w].edges.values() if e.lo is not None)
    past = Counter(criterion.regime(e.hi) for w in widths for e in results[w].edges.values() if e.hi is not None)

    def above(name: str) -> bool:
        s = slopes[name].slope
        return s is not None and s > tolerance

    total = sum(at.values())
    if total and at[CATASTROPHIC] * 2 > total or above("hidden feature_update") or above(
            "hidden peak activation ratio"):
        regime = CATASTROPHIC
    elif above("logits first_step_update"):
        regime = CONTROLLED
    else:
        regime = STABLE
    beyond = past.most_common(1)[0][0] if past else None
    return EdgeRegime(regime, slopes, dict(at), beyond, dict(past))
