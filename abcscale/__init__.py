"""abcscale: derive, verify and tabulate scaling exponents of neural-network training.

The facade only wires the layers together.  Exponents are exact sympy rationals:

>>> import abcscale
>>> report = abcscale.derive("sp", loss="ce", lr_exponent="-1/2")
>>> report.regime, report.max_stable_lr_exponent
('controlled-divergence', -1/2)
>>> [layer.values["feature_update"] for layer in report.layers]
[-1, 0, 0, 1/2]

Per-layer learning-rate exponents for Theta(1) updates in every layer, and the abc symmetry:

>>> abcscale.solve("mup").c
[-1, 0, 0, 1]
>>> abcscale.equivalent("mup", "mfp").equivalent
True
"""

from __future__ import annotations

from typing import Any

from theory.config import load_toml, resolve
from theory.engine import Report
from theory.parametrization import Layer, Optimizer, Parametrization
from theory.presets import PRESETS, get_preset
from theory.quantities import QUANTITIES
from theory.solver import Solution
from theory.symmetry import Equivalence

__all__ = ["PRESETS", "QUANTITIES", "Equivalence", "Layer", "Optimizer", "Parametrization", "Report", "Solution",
           "derive", "equivalent", "get_preset", "load_toml", "parametrization", "resolve", "solve"]
__version__ = "0.1.0"


def parametrization(spec: str | Parametrization, **overrides: Any) -> Parametrization:
    """A Parametrization from a preset name, a TOML path or an existing object, with overrides
    (layers, loss, optimizer, activation, lr_exponent, eps_exponent)."""
    if isinstance(spec, Parametrization):
        return spec.with_(**overrides) if overrides else spec
    return resolve(spec, **overrides)


def derive(spec: str | Parametrization, horizon: int = 4, **overrides: Any) -> Report:
    """Derive every exponent, the regime, the maximal stable LR exponent and the phase diagram."""
    from theory.engine import derive as _derive

    return _derive(parametrization(spec, **overrides), horizon=horizon)


def solve(spec: str | Parametrization, **overrides: Any) -> Solution:
    """Per-layer LR exponents giving Theta(1) updates in every layer for this init/loss/optimizer."""
    from theory.solver import solve as _solve

    return _solve(parametrization(spec, **overrides))


def equivalent(first: str | Parametrization, second: str | Parametrization, **overrides: Any) -> Equivalence:
    """abc-symmetry check between two parametrizations."""
    from theory.symmetry import equivalent as _equivalent

    return _equivalent(parametrization(first, **overrides), parametrization(second, **overrides))
