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
(docs/python_api.md).  Bad input raises ``abcscale.InputError`` (a ValueError) with a one-line message that
names the keyword as the caller wrote it (``widths``, where the command line says ``--widths``); an unknown
keyword raises ``abcscale.UnknownKeyword``, an InputError that is also a TypeError.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from os import PathLike
from typing import TYPE_CHECKING, Any, TypeVar, cast

from theory import config as _config
from theory import presets as _presets
from theory.engine import Report
from theory.errors import InputError, UnknownKeyword, python_terms
from theory.parametrization import Layer, Optimizer, Parametrization, suggest
from theory.presets import PRESETS
from theory.quantities import QUANTITIES
from theory.solver import Solution
from theory.symmetry import Equivalence

if TYPE_CHECKING:  # the trainers import torch: only when a check or a sweep runs
    from verify.depth.check import DepthCheckResult
    from verify.lr.sweep import LrSweepResult
    from verify.width.check import CheckResult

__all__ = ["PRESETS", "QUANTITIES", "Equivalence", "InputError", "Layer", "Optimizer", "Parametrization", "Report",
           "Solution", "UnknownKeyword", "check", "derive", "equivalent", "get_preset", "load_toml", "lr_sweep",
           "parametrization", "resolve", "solve", "verify"]
__version__ = "0.1.0"

OVERRIDES = ("layers", "loss", "optimizer", "activation", "lr_exponent", "eps_exponent")
_F = TypeVar("_F", bound=Callable[..., Any])


def _python_api(keywords: Callable[[], Iterable[str]] = lambda: OVERRIDES) -> Callable[[_F], _F]:
    """Decorator: the function also takes ``keywords()``; an InputError names them as keywords, not flags, and a
    keyword outside them and the function's own parameters is an ``UnknownKeyword``."""

    def wrap(function: _F) -> _F:
        own = {name for name, p in inspect.signature(function).parameters.items()
               if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            names = own | set(keywords())
            unknown = sorted(set(kwargs) - names)
            if unknown:
                raise UnknownKeyword(f"{function.__name__}(): unknown keyword {unknown[0]!r}"
                                     f"{suggest(unknown[0], sorted(names))}")
            try:
                return function(*args, **kwargs)
            except InputError as err:
                err.args = (python_terms(str(err), names),)
                raise

        return cast(_F, call)

    return wrap


def _check_keywords() -> list[str]:
    from verify.width.check import check as _check

    return [name for name in inspect.signature(_check).parameters if name not in ("spec", "judged")]


def _lr_sweep_keywords() -> list[str]:
    from verify.lr.sweep import lr_sweep as _lr_sweep

    return list(inspect.signature(_lr_sweep).parameters)


get_preset = _python_api(tuple)(_presets.get_preset)
load_toml = _python_api(tuple)(_config.load_toml)
resolve = _python_api(tuple)(_config.resolve)


@_python_api()
def parametrization(spec: str | PathLike[str] | Parametrization, **overrides: Any) -> Parametrization:
    """A Parametrization from a preset name, a TOML path or an existing object, with overrides
    (layers, loss, optimizer, activation, lr_exponent, eps_exponent)."""
    from verify.options import parametrization as _parametrization

    return _parametrization(spec, **overrides)


@_python_api()
def derive(spec: str | PathLike[str] | Parametrization, horizon: int = 4, **overrides: Any) -> Report:
    """Derive every exponent, the regime, the maximal stable LR exponent and the phase diagram."""
    from theory.engine import check_horizon
    from theory.engine import derive as _derive

    return _derive(parametrization(spec, **overrides), horizon=check_horizon(horizon))


@_python_api()
def solve(spec: str | PathLike[str] | Parametrization, **overrides: Any) -> Solution:
    """Per-layer LR exponents giving Theta(1) updates in every layer for this init/loss/optimizer."""
    from theory.solver import solve as _solve

    return _solve(parametrization(spec, **overrides))


@_python_api()
def equivalent(first: str | PathLike[str] | Parametrization, second: str | PathLike[str] | Parametrization,
               **overrides: Any) -> Equivalence:
    """abc-symmetry check between two parametrizations."""
    from theory.symmetry import equivalent as _equivalent

    def named(spec: Any, keyword: str) -> Parametrization:
        try:
            return parametrization(spec, **overrides)
        except InputError as err:  # the argument by the caller's name
            text = str(err)
            raise InputError(keyword + text[4:] if text.startswith("spec:") else text) from None

    return _equivalent(named(first, "first"), named(second, "second"))


@_python_api(_check_keywords)
def check(spec: str | PathLike[str] | Parametrization, **options: Any) -> CheckResult | DepthCheckResult:
    """Derive, train across widths, judge every quantity: ``abcscale check`` as a function.

    ``options`` are the command's flags as keywords (``verify.width.check.check`` lists them): ``widths``
    a list or "128,256", ``seeds`` a count, ``db`` the results file (default abcscale.db; reruns resume),
    ``progress=True`` for a progress bar.  The result's ``table()`` is what the command prints, ``to_dict()``
    its ``--json``, and ``passed`` is False where the command exits with 1."""
    from verify.width.check import check as _check

    return _check(spec, **options)


@_python_api(_check_keywords)
def verify(spec: str | PathLike[str] | Parametrization, **options: Any) -> CheckResult | DepthCheckResult:
    """``abcscale verify`` as a function: ``check`` without the PASS/FAIL verdicts (measured slopes only)."""
    from verify.width.check import check as _check

    return _check(spec, judged=False, **options)


@_python_api(_lr_sweep_keywords)
def lr_sweep(spec: str | PathLike[str] | Parametrization, **options: Any) -> LrSweepResult:
    """Maximal stable and optimal LR across widths against the engine: ``abcscale lr-sweep`` as a function.

    ``options`` are the command's flags as keywords (``verify.lr.sweep.lr_sweep`` lists them)."""
    from verify.lr.sweep import lr_sweep as _lr_sweep

    return _lr_sweep(spec, **options)
