"""The results the catapult and elr commands print, built by the numerics library (no argv involved)."""

from __future__ import annotations

import pytest

from numerics.catapult.report import format_step, format_value, sweep_model
from numerics.elr import dynamics as elr
from numerics.elr.report import predict_schedules
from theory.errors import InputError


def test_uv_sweep_has_a_row_a_curve_and_a_diagram_row_per_run() -> None:
    sweep = sweep_model("uv", 1000, [1.0, 3.0, 4.5], [0, 1], 200)
    assert [r["phase"] for r in sweep.runs] == ["lazy", "catapult", "divergent"] * 2
    assert len(sweep.curves) == len(sweep.diagram) == 6 and sweep.edges == []
    assert [(seed, round(ratio, 6)) for seed, ratio, _ in sweep.curves][:3] == [(0, 1.0), (0, 3.0), (0, 4.5)]
    assert set(sweep.as_dict()) == {"model", "runs", "edges", "phase_diagram"}
    lines = sweep.table().splitlines()
    assert lines[0].split()[:3] == ["seed", "eta*lam0", "phase"] and len(lines) == 7


def test_sweep_refuses_an_unknown_model_and_formats_missing_values() -> None:
    with pytest.raises(InputError, match="model"):
        sweep_model("cubic", 10, [1.0], [0], 10)
    assert format_value(float("nan")) == "-" and format_value(None) == "-" and format_value(0.123456, 2) == "0.12"
    assert format_step(None) == "-" and format_step(7) == "7"


def test_prediction_matches_the_map_and_lists_its_times() -> None:
    prediction = predict_schedules([100.0, 10.0, 1.0], 1.0, 0.5, 10, 50)
    assert prediction.times == [0, 1, 2, 3, 5, 10, 30, 50] and prediction.layers == 3
    crit = elr.simulate([100, 10, 1], 1.0, elr.critical_warmup_schedule(0.5), 50)
    assert prediction.steps_below_2["critical"] == elr.steps_to_spread(crit.spread, 2.0)
    assert prediction.as_dict()["initial_spread"] == pytest.approx(100.0)
    assert prediction.table().splitlines()[0].startswith("model: 3 layers, initial spread 100")
