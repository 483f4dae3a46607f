"""A small exact linear program (Fractions, simplex with Bland's rule) for the learning-rate solver.

The solver's programs have a handful of variables (one LR exponent per layer) and a few dozen rows,
and they start from a point known to be feasible, so no phase one is needed: the free variables are
split as c = point + up - down with up, down >= 0, which makes the point the origin.
"""

from __future__ import annotations

from fractions import Fraction

Row = tuple[tuple[Fraction, ...], Fraction]  # (s, bound): s . c <= bound


class Unbounded(ValueError):
    """The objective decreases without bound on the feasible set."""


def minimise(weights: list[Fraction], rows: list[Row], point: list[Fraction]) -> list[Fraction]:
    """A minimiser of ``weights . c`` subject to ``s . c <= bound`` for every row, from a feasible ``point``.

    >>> F = Fraction
    >>> rows = [((F(-1), F(0)), F(0)), ((F(-1), F(-2)), F(1))]  # c1 >= 0, c1 + 2 c2 >= -1
    >>> minimise([F(1), F(1)], rows, [F(3), F(3)])
    [Fraction(0, 1), Fraction(-1, 2)]
    >>> minimise([F(1), F(3)], rows, [F(3), F(3)])
    Traceback (most recent call last):
    ...
    theory.lp.Unbounded: minimise: the objective is unbounded below
    """
    m = len(point)
    slack = [bound - sum((s * p for s, p in zip(slope, point, strict=True)), Fraction(0)) for slope, bound in rows]
    if any(value < 0 for value in slack):
        raise ValueError("minimise: the starting point violates a row")
    # tableau over the 2m split variables and one slack per row; maximise -weights . (up - down)
    width = 2 * m + len(rows)
    table = [[*slope, *(-s for s in slope), *(Fraction(i == j) for j in range(len(rows))), slack[i]]
             for i, (slope, _) in enumerate(rows)]
    profit = [*(-w for w in weights), *weights, *([Fraction(0)] * len(rows))]
    basis = [2 * m + i for i in range(len(rows))]
    while True:
        entering = next((j for j in range(width) if profit[j] > 0), None)  # Bland: first improving column
        if entering is None:
            break
        ratios = [(table[i][-1] / table[i][entering], basis[i], i) for i in range(len(rows)) if table[i][entering] > 0]
        if not ratios:
            raise Unbounded("minimise: the objective is unbounded below")
        _, _, leaving = min(ratios)  # smallest ratio, ties to the smallest basic variable (Bland)
        pivot = table[leaving][entering]
        table[leaving] = [v / pivot for v in table[leaving]]
        for i in range(len(rows)):
            if i != leaving and table[i][entering] != 0:
                factor = table[i][entering]
                table[i] = [v - factor * w for v, w in zip(table[i], table[leaving], strict=True)]
        factor = profit[entering]
        profit = [v - factor * w for v, w in zip(profit, table[leaving][:-1], strict=True)]
        basis[leaving] = entering
    values = [Fraction(0)] * width
    for i, variable in enumerate(basis):
        values[variable] = table[i][-1]
    return [p + values[l] - values[m + l] for l, p in enumerate(point)]
