"""The (max, +) arithmetic of scale exponents, with ``None`` standing for exponent -infinity (a zero).

Exponents of sums of positive terms add like ``max`` (no cancellation is assumed), products add
exponents.  Four value types flow through the same rules:
``Fraction`` (fast exact numbers), ``PiecewiseLinear`` (functions of the LR exponent, for phase
diagrams), ``Tangent`` (the affine piece active at one point of the per-layer LR exponents, for the
learning-rate LP of ``theory.solver``) and any ordered type with ``+`` (``theory.depth``'s pairs).  Sympy
expressions are refused: nested ``Max``/``Min`` simplification has no bound on its work (it hung on
exponents in several symbols), so symbols other than one LR exponent never reach the graph
(``theory.exponents``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, TypeAlias, cast

import sympy

from theory.piecewise import PiecewiseLinear
from theory.tangent import Tangent

# Fraction, PiecewiseLinear, Tangent or theory.depth's Pair: the rules are generic over them (Any, as before:
# the alias used to name sympy.Expr, which mypy reads as Any)
Value: TypeAlias = Any
Maybe: TypeAlias = Value | None  # None = exponent -oo (the quantity is exactly zero)


def add(*terms: Maybe) -> Maybe:
    """Exponent of a product: the sum of exponents (-oo absorbs)."""
    total: Value = Fraction(0)
    for term in terms:
        if term is None:
            return None
        total = total + term
    return total


def mx(*terms: Maybe) -> Maybe:
    """Exponent of a sum of non-cancelling terms: the largest exponent (-oo terms drop out)."""
    present = [t for t in terms if t is not None]
    if not present:
        return None
    return _fold(present, "max")


def mn(*terms: Maybe) -> Maybe:
    """The smallest exponent (e.g. of a bounded function: min(h, 0))."""
    if any(t is None for t in terms):
        return None
    return _fold([t for t in terms if t is not None], "min")


def _fold(values: list[Value], kind: str) -> Value:
    if any(isinstance(v, Tangent) for v in values):
        pieces = cast(list[Tangent | Fraction], values)
        tangent = Tangent.lift(pieces[0])
        for piece in pieces[1:]:
            tangent = tangent.maximum(piece) if kind == "max" else tangent.minimum(piece)
        return cast(Value, tangent)
    if any(isinstance(v, PiecewiseLinear) for v in values):
        acc = PiecewiseLinear.lift(values[0])
        for v in values[1:]:
            acc = acc.maximum(v) if kind == "max" else acc.minimum(v)
        return acc
    if any(isinstance(v, sympy.Basic) for v in values):
        raise TypeError("sympy values in the scale graph: parse exponents with theory.exponents (numbers, or one "
                        "bare LR symbol carried as a PiecewiseLinear)")
    return max(values) if kind == "max" else min(values)


def to_sympy(value: Maybe, x: sympy.Symbol | None = None) -> sympy.Expr:
    """Exact sympy form of a value (-oo for None)."""
    if value is None:
        return -sympy.oo
    if isinstance(value, PiecewiseLinear):
        return value.to_sympy(x if x is not None else sympy.Symbol("x", real=True))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, sympy.Rational):
        return value
    raise TypeError(f"not an exponent value: {type(value).__name__}")


def as_number(value: object) -> Fraction | None:
    """The value as a Fraction if it is a plain number, else None."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, sympy.Basic) and value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    return None
