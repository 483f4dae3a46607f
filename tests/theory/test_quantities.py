"""The one registry of quantities: the engine, the measurements and the verdicts use the same names."""

from __future__ import annotations

from theory.engine import derive
from theory.presets import get_preset
from theory.quantities import QUANTITIES, REGISTRY, judged_points


def test_every_registered_quantity_has_an_exponent_at_every_judged_point() -> None:
    report = derive(get_preset("sp", layers=3, lr_exponent="-1/2"))
    for quantity, layer, step in judged_points(4, 3):
        assert quantity in QUANTITIES
        assert report.exponent(quantity, layer, step) is not None, (quantity, layer, step)


def test_judged_points_follow_the_registry() -> None:
    points = judged_points(4, 3)
    # gradients and the init pre-activation at step 0 only; updates from step 1; hidden feature updates
    # also at the last step; the readout's logit change at step 1 only; no propagating update at layer 1
    assert ("backward_gradient", 2, 0) in points and ("backward_gradient", 2, 1) not in points
    assert ("effective_update", 1, 1) in points and ("effective_update", 1, 0) not in points
    assert ("feature_update", 3, 3) in points and ("feature_update", 4, 3) not in points
    assert not any(q == "propagating_update" and layer == 1 for q, layer, _ in points)
    assert len(points) == sum(len(q.judged_steps(layer, 4, 3)) for q in REGISTRY for layer in range(1, 5))
