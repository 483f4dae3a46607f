"""The (max, +) arithmetic of scale exponents, with ``None`` standing for exponent -infinity (a zero).

Exponents of sums of positive terms add like ``max`` (no cancellation is assumed), products add
exponents.  Four value types flow through the same rules:
``Fraction`` (fast exact numbers), ``PiecewiseLinear`` (functions of the LR exponent, for phase
diagrams), ``Tangent`` (the affine piece active at one point of the per-layer LR exponents, for the
learning-rate LP of ``theory.solver``) and sympy expressions (any other symbols, kept exact).
"""

from __future__ import annotations

from fractions import Fraction
from typing import TypeAlias, cast

import sympy

from theory.piecewise import PiecewiseLinear
from theory.tangent import Tangent

Value: TypeAlias = Fraction | PiecewiseLinear | sympy.Expr  # (Tangent values pass through untyped)
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
        return (sympy.Max if kind == "max" else sympy.Min)(*[sympy.sympify(v) for v in values])
    return max(values) if kind == "max" else min(values)  # type: ignore[type-var]


def to_sympy(value: Maybe, x: sympy.Symbol | None = None) -> sympy.Expr:
    """Exact sympy form of a value (-oo for None)."""
    if value is None:
        return -sympy.oo
    if isinstance(value, PiecewiseLinear):
        return value.to_sympy(x if x is not None else sympy.Symbol("x", real=True))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return sympy.sympify(value)


def as_number(value: object) -> Fraction | None:
    """The value as a Fraction if it is a plain number, else None."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, sympy.Basic) and value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    return None
