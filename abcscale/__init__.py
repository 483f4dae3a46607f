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

The main job, derive + train across widths + judge, returns a result object: ``r = abcscale.check("mup")``,
then ``print(r.table())`` (what ``abcscale check mup`` prints), ``r.to_dataframe()``, ``r.plot()``.
``abcscale.verify`` and ``abcscale.lr_sweep`` do the same for ``abcscale verify`` and ``abcscale lr-sweep``
(docs/python_api.md).  Bad input raises ``abcscale.InputError`` with a one-line message.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

from theory.config import load_toml, resolve
from theory.engine import Report
from theory.errors import InputError
from theory.parametrization import Layer, Optimizer, Parametrization
from theory.presets import PRESETS, get_preset
from theory.quantities import QUANTITIES
from theory.solver import Solution
from theory.symmetry import Equivalence

if TYPE_CHECKING:  # the trainers import torch: only when a check or a sweep runs
    from verify.depth.check import DepthCheckResult
    from verify.lr.sweep import LrSweepResult
    from verify.width.check import CheckResult

__all__ = ["PRESETS", "QUANTITIES", "Equivalence", "InputError", "Layer", "Optimizer", "Parametrization", "Report",
           "Solution", "check", "derive", "equivalent", "get_preset", "load_toml", "lr_sweep", "parametrization",
           "resolve", "solve", "verify"]
__version__ = "0.1.0"


def parametrization(spec: str | PathLike[str] | Parametrization, **overrides: Any) -> Parametrization:
    """A Parametrization from a preset name, a TOML path or an existing object, with overrides
    (layers, loss, optimizer, activation, lr_exponent, eps_exponent)."""
    if isinstance(spec, Parametrization):
        return spec.with_(**overrides) if overrides else spec
    if not isinstance(spec, str | PathLike):
        raise InputError(f"spec: expected a preset name, a TOML path or a Parametrization, got {type(spec).__name__}")
    return resolve(spec, **overrides)


def derive(spec: str | PathLike[str] | Parametrization, horizon: int = 4, **overrides: Any) -> Report:
    """Derive every exponent, the regime, the maximal stable LR exponent and the phase diagram.

    ``horizon``: unrolled training steps, 2..64 (``InputError`` otherwise, as for a bad ``spec``)."""
    from theory.engine import check_horizon
    from theory.engine import derive as _derive

    return _derive(parametrization(spec, **overrides), horizon=check_horizon(horizon))


def solve(spec: str | Parametrization, **overrides: Any) -> Solution:
    """Per-layer LR exponents giving Theta(1) updates in every layer for this init/loss/optimizer."""
    from theory.solver import solve as _solve

    return _solve(parametrization(spec, **overrides))


def equivalent(first: str | Parametrization, second: str | Parametrization, **overrides: Any) -> Equivalence:
    """abc-symmetry check between two parametrizations."""
    from theory.symmetry import equivalent as _equivalent

    return _equivalent(parametrization(first, **overrides), parametrization(second, **overrides))


def check(spec: str | Parametrization, **options: Any) -> CheckResult | DepthCheckResult:
    """Derive, train across widths, judge every quantity: ``abcscale check`` as a function.

    ``options`` are the command's flags as keywords (``verify.width.check.check`` lists them): ``widths``
    a list or "128,256", ``seeds`` a count, ``db`` the results file (default abcscale.db; reruns resume),
    ``progress=True`` for a progress bar.  The result's ``table()`` is what the command prints, ``to_dict()``
    its ``--json``, and ``passed`` is False where the command exits with 1."""
    from verify.width.check import check as _check

    return _check(spec, **options)


def verify(spec: str | Parametrization, **options: Any) -> CheckResult | DepthCheckResult:
    """``abcscale verify`` as a function: ``check`` without the PASS/FAIL verdicts (measured slopes only)."""
    from verify.width.check import check as _check

    return _check(spec, judged=False, **options)


def lr_sweep(spec: str | Parametrization, **options: Any) -> LrSweepResult:
    """Maximal stable and optimal LR across widths against the engine: ``abcscale lr-sweep`` as a function.

    ``options`` are the command's flags as keywords (``verify.lr.sweep.lr_sweep`` lists them)."""
    from verify.lr.sweep import lr_sweep as _lr_sweep

    return _lr_sweep(spec, **options)
