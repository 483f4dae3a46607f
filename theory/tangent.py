"""The affine piece of a (max, +) exponent that is active at one point: exact cuts for the LR solver.

With only learning-rate exponents c_l varying, every derived exponent built from ``+`` and ``max`` is
the largest of finitely many affine forms in c.  Carrying (value at c*, slope in c) through the graph
picks, at each ``max``, the form that is largest at c*: the result is one of those affine forms, equal
to the exponent at c* and below it everywhere else.  So "this form <= 0" holds wherever the exponent is
<= 0, and is a valid cutting plane for a linear program over c.  ``min`` has no such lower form
(min(A, B) <= 0 is not convex), so it raises :class:`NotMaxPlus`.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import zip_longest


class NotMaxPlus(ValueError):
    """A rule took a minimum: the exponent is not a maximum of affine forms in c."""


class Tangent:
    """Exponent ``value`` at the point c*, and the ``slope`` (d exponent / d c_l) of its active form."""

    __slots__ = ("slope", "value")

    def __init__(self, value: Fraction, slope: tuple[Fraction, ...] = ()) -> None:
        self.value = Fraction(value)
        self.slope = slope  # shorter tuples are padded with zeros

    @staticmethod
    def lift(value: Tangent | Fraction | int) -> Tangent:
        return value if isinstance(value, Tangent) else Tangent(Fraction(value))

    def __add__(self, other: Tangent | Fraction | int) -> Tangent:
        other = Tangent.lift(other)
        slope = tuple(p + q for p, q in zip_longest(self.slope, other.slope, fillvalue=Fraction(0)))
        return Tangent(self.value + other.value, slope)

    __radd__ = __add__

    def __neg__(self) -> Tangent:
        return Tangent(-self.value, tuple(-s for s in self.slope))

    def __sub__(self, other: Tangent | Fraction | int) -> Tangent:
        return self + (-Tangent.lift(other))

    def maximum(self, other: Tangent | Fraction | int) -> Tangent:
        """The form active at c* (ties keep the first: both are forms of the maximum)."""
        other = Tangent.lift(other)
        return other if other.value > self.value else self

    def minimum(self, other: object) -> Tangent:
        raise NotMaxPlus("a rule takes a minimum (bounded activation or Adam epsilon)")

    def offset(self, point: list[Fraction]) -> Fraction:
        """Constant term of the active form: form(c) = slope . c + offset."""
        return self.value - sum((s * p for s, p in zip(self.slope, point, strict=False)), Fraction(0))

    def same_form(self, other: Tangent, point: list[Fraction]) -> bool:
        """Whether two tangents at the same point carry the same affine form."""
        return self.value == other.value and padded(self.slope, len(point)) == padded(other.slope, len(point))

    def __repr__(self) -> str:
        return f"Tangent({self.value}, {[str(s) for s in self.slope]})"


def unit(index: int, size: int, scale: Fraction) -> tuple[Fraction, ...]:
    """The slope ``scale`` along coordinate ``index`` (0-based) of ``size``."""
    return tuple(scale if i == index else Fraction(0) for i in range(size))


def padded(slope: tuple[Fraction, ...], size: int) -> tuple[Fraction, ...]:
    """``slope`` as a full tuple of ``size`` coordinates."""
    return tuple(slope) + (Fraction(0),) * (size - len(slope))
