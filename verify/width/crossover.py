"""A pre-activation change is the sum of two terms of different orders: its slope at finite widths.

h^l_t - h^l_0 = (W_t - W_0) x_t + W_0 (x_t - x_0): the effective and the propagating update, exactly.  The
engine derives each term's exponent (e_eff, e_prop) and the change's as their maximum, which assumes the
two never cancel.  When the exponents differ, the smaller term is subleading only asymptotically: at the base
width n0 every parametrization coincides (He init, eta0), so the two terms start out about equal and the
ratio grows like (n/n0)^|e_eff - e_prop|, which over 128..1024 is at most a factor 2.8 for a gap of 1/2.  The
fitted slope of the sum then lies between the two exponents (measured: sp-full-align's logit change +0.35
over 128..1024 against +1/2, with both terms following their own exponents, +0.01 and +0.48).

What the sum adds to the terms' own rows is the no-cancellation assumption, so a check judges it by the
two-term model built from the engine's exponents: amplitudes A, B fitted to the measured terms with the
exponents held fixed, then the slope of A n^e_eff + B n^e_prop (aligned terms) and of its root-sum-of-squares
(orthogonal terms) over the same widths.  The measured slope must lie within the tolerance of that interval,
and the terms must not point against each other: cos(eff, prop) = (|dh|^2 - |eff|^2 - |prop|^2) /
(2 |eff| |prop|), an identity for RMS norms over the same entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_COSINE = -0.5  # below this the terms cancel to a degree the engine's max rule does not allow


@dataclass(frozen=True)
class TwoTerm:
    """Finite-width expectation for the slope of a sum of two terms, and how the terms are aligned."""

    low: float  # the smaller of the aligned and orthogonal sums' slopes
    high: float
    cosine: float  # mean over seeds and widths of cos(term 1, term 2)

    def distance(self, slope: float) -> float:
        """How far ``slope`` lies outside [low, high] (0 inside)."""
        return max(self.low - slope, slope - self.high, 0.0)


def _amplitude(widths: np.ndarray, values: np.ndarray, exponent: float) -> float:
    """A in A n^e fitted in log space to the seeds' geometric mean at each width."""
    return float(np.exp(np.mean(np.log(values).mean(axis=0) - exponent * np.log(widths))))


def _slope(widths: np.ndarray, curve: np.ndarray) -> float:
    x = np.log(widths) - np.log(widths).mean()
    y = np.log(curve) - np.log(curve).mean()
    return float((x * y).sum() / (x * x).sum())


def two_term(widths: Sequence[int], total: np.ndarray, first: np.ndarray, second: np.ndarray,
             first_exponent: float, second_exponent: float) -> TwoTerm | None:
    """The two-term expectation for ``total`` = ``first`` + ``second`` (each (seeds, widths) RMS values).

    None when a term is missing, zero or not finite somewhere (the plain rule then judges alone).
    """
    w = np.asarray(widths, dtype=float)
    arrays = [np.asarray(a, dtype=float) for a in (total, first, second)]
    if any(a.shape != arrays[0].shape or not np.isfinite(a).all() or (a <= 0).any() for a in arrays):
        return None
    total_, first_, second_ = arrays
    a = _amplitude(w, first_, first_exponent) * w ** first_exponent
    b = _amplitude(w, second_, second_exponent) * w ** second_exponent
    aligned, orthogonal = _slope(w, a + b), _slope(w, np.sqrt(a * a + b * b))
    cosine = float(np.mean((total_ ** 2 - first_ ** 2 - second_ ** 2) / (2 * first_ * second_)))
    return TwoTerm(min(aligned, orthogonal), max(aligned, orthogonal), cosine)
