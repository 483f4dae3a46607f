"""One seed's search for its maximal stable eta on a fixed lattice, ``k`` candidates a round.

Every candidate is a point of one lattice fixed by the settings, so the final bracket does not depend on ``k``
when stability is monotone in eta: it is the one lattice cell where a stable point meets an unstable one.

1. **Expansion lattice** ``start_lr * expand^j`` (j an integer; the value is built by the same chain of
   multiplications, or divisions for j < 0, as a one-at-a-time search would): a round probes ``k`` consecutive
   points next to those already known: around j = 0 first (0, 1, -1, 2, ...), then above the highest point
   if everything so far was stable, below the lowest if everything was unstable.  It ends with an adjacent
   stable ``j`` and unstable ``j + 1`` (or at ``min_lr`` / ``max_lr``).
2. **Refinement lattice** inside that cell: ``2^D`` leaves, D the number of halvings of log(expand) that bring
   hi/lo to ``precision`` or below.  Node ``i`` is the geometric midpoint ``sqrt(node(i - h) * node(i + h))``
   of the dyadic interval it halves (h the lowest set bit of i), computed from the same floats bisection
   computes.  A round probes ``k`` nodes evenly spaced inside the current bracket [a, b]; the new bracket is
   the lowest unstable probe (or b) and the highest stable probe below it (or a).  With k = 1 this is
   bisection at sqrt(lo * hi), float for float; with k = 2^d - 1 a round does d halvings at once.

The final bracket is one leaf: hi/lo <= precision for every k, and the estimate sqrt(lo * hi) is within a
factor sqrt(precision) of the edge if stability is monotone.  Non-monotone stability may give different
brackets for different k (each one a stable point next to an unstable one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol


class Limits(Protocol):
    """The search settings a bracket reads (``verify.lr.search.SearchSettings``)."""

    @property
    def start_lr(self) -> float: ...
    @property
    def expand(self) -> float: ...
    @property
    def precision(self) -> float: ...
    @property
    def min_lr(self) -> float: ...
    @property
    def max_lr(self) -> float: ...


def halvings(expand: float, precision: float) -> int:
    """How many halvings of log(expand) bring the bracket's ratio to ``precision`` (with bisection's 1e-12)."""
    ratio, depth = expand, 0
    while ratio > precision * (1 + 1e-12):
        ratio, depth = math.sqrt(ratio), depth + 1
    return depth


def first_block(k: int) -> list[int]:
    """The first round's expansion points: 0, 1, -1, 2, -2, ... (k of them, consecutive)."""
    return [(i + 1) // 2 if i % 2 else -(i // 2) for i in range(k)]


def evenly(a: int, b: int, k: int) -> list[int]:
    """``k`` integers strictly between ``a`` and ``b``, evenly spaced (all of them when there are at most k)."""
    if b - a - 1 <= k:
        return list(range(a + 1, b))
    return sorted({a + (2 * j * (b - a) + k + 1) // (2 * (k + 1)) for j in range(1, k + 1)})


@dataclass
class Bracket:
    """The lattice search of one seed: ``candidates(k)`` proposes a round, ``add`` takes each outcome back."""

    limits: Limits
    expansion: dict[int, bool] = field(default_factory=dict)  # j -> unstable
    cell: int | None = None  # j of the stable end of the expansion cell, once found
    depth: int = 0
    leaves: dict[int, bool] = field(default_factory=dict)  # leaf index -> unstable
    a: int = 0  # current bracket in leaf indices (a stable, b unstable)
    b: int = 0
    note: str = ""
    _values: dict[int, float] = field(default_factory=dict)
    _nodes: dict[int, float] = field(default_factory=dict)

    # ---- lattice values ----------------------------------------------------------------------------------
    def point(self, j: int) -> float:
        """``start_lr * expand^j`` by the chain of multiplications (divisions) a step-by-step search makes."""
        if j not in self._values:
            s = self.limits
            self._values[j] = s.start_lr if j == 0 else (self.point(j - 1) * s.expand if j > 0
                                                           else self.point(j + 1) / s.expand)
        return self._values[j]

    def node(self, i: int) -> float:
        """Leaf-lattice node ``i`` (0 and 2^depth are the expansion cell's ends)."""
        if i not in self._nodes:
            assert self.cell is not None
            if i == 0:
                self._nodes[i] = self.point(self.cell)
            elif i == 1 << self.depth:
                self._nodes[i] = self.point(self.cell + 1)
            else:
                h = i & -i
                self._nodes[i] = math.sqrt(self.node(i - h) * self.node(i + h))
        return self._nodes[i]

    # ---- the search ----------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return bool(self.note) or (self.cell is not None and self.b - self.a <= 1)

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """(lo, hi): the eta at the edge (stable) and beyond it (unstable) found so far."""
        if self.cell is not None:
            return self.node(self.a), self.node(self.b)
        stable = [j for j, bad in self.expansion.items() if not bad]
        unstable = [j for j, bad in self.expansion.items() if bad]
        return (self.point(max(stable)) if stable else None, self.point(min(unstable)) if unstable else None)

    def candidates(self, k: int) -> list[float]:
        """The etas of the next round (at most ``k``; none once the search is done)."""
        if self.done:
            return []
        if self.cell is not None:
            return [self.node(i) for i in evenly(self.a, self.b, k)]
        return [self.point(j) for j in self._expansion_block(k)]

    def add(self, lr: float, unstable: bool) -> None:
        """Record the outcome of one candidate ``lr`` (an eta this bracket proposed)."""
        if self.cell is None:
            j = next(j for j, v in self._values.items() if v == lr)
            self.expansion[j] = unstable
        else:
            i = next(i for i, v in self._nodes.items() if v == lr)
            self.leaves[i] = unstable

    def settle(self) -> None:
        """After a round: move to the refinement once a cell is found, and narrow the bracket."""
        if self.cell is None:
            self._find_cell()
            return
        bad = [i for i, unstable in self.leaves.items() if unstable and self.a < i < self.b]
        self.b = min(bad, default=self.b)
        self.a = max((i for i, unstable in self.leaves.items() if not unstable and self.a < i < self.b),
                     default=self.a)

    def _find_cell(self) -> None:
        stable = sorted(j for j, bad in self.expansion.items() if not bad)
        if stable:
            above = [j for j, bad in self.expansion.items() if bad and j > stable[0]]
            if above:
                u = min(above)
                s = max(j for j in stable if j < u)
                if u - s == 1:
                    self.cell, self.depth = s, halvings(self.limits.expand, self.limits.precision)
                    self.a, self.b = 0, 1 << self.depth
                    self._nodes.clear()
                    self.leaves = {0: False, self.b: True}

    def _expansion_block(self, k: int) -> list[int]:
        s = self.limits
        known = self.expansion
        if not known:
            block = first_block(k)
        else:
            stable = [j for j, bad in known.items() if not bad]
            if stable and any(bad and j > min(stable) for j, bad in known.items()):
                u = min(j for j, bad in known.items() if bad and j > min(stable))
                return evenly(max(j for j in stable if j < u), u, k)  # a gap (only when rounds were not consecutive)
            if stable:  # nothing unstable above the stable points: go up
                block = [max(known) + i for i in range(1, k + 1)]
            else:  # all unstable: go down
                block = [min(known) - i for i in range(1, k + 1)]
        inside = [j for j in block if j == 0 or s.min_lr <= self.point(j) <= s.max_lr]
        if not inside:
            self.note = (f"stable up to {s.max_lr:g}" if any(not bad for bad in known.values())
                         else f"unstable down to {s.min_lr:g}")
        return inside
