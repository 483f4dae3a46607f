"""The k-ary LR search against a fake trainer with a known edge (no torch): k = 1 is the old bisection float for
float; every k ends in the same lattice cell (so within the stated precision of the edge); the optimal-LR
phase does not depend on k."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.lr.bracket import Bracket, evenly, first_block, halvings
from verify.lr.search import SearchSettings, WidthResult, width_search
from verify.lr.stability import Criterion
from verify.lr.train import LrRecord

PRECISIONS = [2 ** 0.125, 1.2, 1.5, 2.0]


def _record(seed: int, lr: float, edge: float, loss: float = 1.0) -> LrRecord:
    """Stable (final loss 0.5 * loss) iff lr <= edge; non-finite above."""
    stable = lr <= edge
    return LrRecord(seed=seed, lr=lr, init_loss=1.0, final_loss=0.5 * loss if stable else None,
                    final_accuracy=0.5 if stable else None, diverged_step=None if stable else 2,
                    peak_hidden_ratio=1.0, peak_logit_rms=1.0, init_logit_rms=1.0, peak_batch_loss=1.0, steps_run=3)


def _drive(edges: dict[int, float], search: SearchSettings, curve: Callable[[float], float] | None = None
           ) -> tuple[WidthResult, list[list[tuple[tuple[int, ...], tuple[float, ...]]]]]:
    """Run one width's search against the oracle; return the result and every round's requests."""
    gen = width_search(64, list(edges), Criterion(), search)
    rounds = []
    requests = next(gen)
    while True:
        rounds.append(requests)
        records = [_record(s, lr, edges[s], 1.0 if curve is None else curve(lr))
                   for seeds, lrs in requests for s, lr in zip(seeds, lrs, strict=True)]
        try:
            requests = gen.send(records)
        except StopIteration as stop:
            return stop.value, rounds


def _bisection(edge: float, s: SearchSettings) -> list[float]:
    """The search before the lattice (main, verify/lr/search.py ``_next_lr``): the etas it trains, in order."""
    lo: float | None = None
    hi: float | None = None
    tried = []
    while True:
        if lo is None and hi is None:
            nxt: float | None = s.start_lr
        elif hi is None:
            assert lo is not None
            nxt = lo * s.expand if lo * s.expand <= s.max_lr else None
        elif lo is None:
            nxt = hi / s.expand if hi / s.expand >= s.min_lr else None
        elif hi / lo <= s.precision * (1 + 1e-12):
            nxt = None
        else:
            nxt = math.sqrt(lo * hi)
        if nxt is None:
            return tried
        tried.append(nxt)
        if nxt <= edge:
            lo = nxt
        else:
            hi = nxt


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-6, 1e3), min_size=1, max_size=3), st.sampled_from(PRECISIONS),
       st.sampled_from([0.1, 1e-3, 0.37]))
def test_fanout_one_is_the_old_bisection_float_for_float(edges: list[float], precision: float, start: float) -> None:
    search = SearchSettings(start_lr=start, precision=precision, grid_points=0)
    _, rounds = _drive(dict(enumerate(edges)), search)
    for seed, edge in enumerate(edges):
        mine = [lr for requests in rounds for seeds, lrs in requests for s, lr in zip(seeds, lrs, strict=True)
                if s == seed]
        assert mine == _bisection(edge, search)  # the same etas, bit for bit: stored runs keep matching


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-6, 1e3), min_size=1, max_size=3), st.sampled_from(PRECISIONS))
def test_every_fanout_finds_the_same_bracket_within_the_precision(edges: list[float], precision: float) -> None:
    base = SearchSettings(precision=precision, grid_points=0)
    reference, _ = _drive(dict(enumerate(edges)), base)
    for k in (2, 3, 4, 7):
        result, rounds = _drive(dict(enumerate(edges)), replace(base, fanout=k))
        assert all(len(requests) <= k for requests in rounds)
        for seed, edge in enumerate(edges):
            e, ref = result.edges[seed], reference.edges[seed]
            assert e.lo is not None and e.hi is not None and ref.lo is not None and ref.hi is not None
            assert (e.lo.lr, e.hi.lr) == (ref.lo.lr, ref.hi.lr)  # the same lattice cell, so the same estimate
            assert e.lo.lr <= edge < e.hi.lr and e.hi.lr / e.lo.lr <= precision * (1 + 1e-9)
            assert e.max_stable is not None
            assert abs(math.log(e.max_stable / edge)) <= 0.5 * math.log(precision) + 1e-9


def test_more_candidates_take_fewer_rounds() -> None:
    edges = {0: 0.9, 1: 1.3, 2: 0.7}
    rounds = {k: len(_drive(edges, SearchSettings(grid_points=0, fanout=k))[1]) for k in (1, 3, 15)}
    # start 0.1, edge near 1: 3 expansion rounds + 4 halvings one at a time; 15 candidates do the whole
    # expansion in one round (0.1 * 4^j, j = -7..7) and the 4 halvings in another
    assert rounds == {1: 3 + 4, 3: 2 + 2, 15: 2}


def test_unbracketed_edges_are_reported_for_any_fanout() -> None:
    for k in (1, 2, 5):
        result, _ = _drive({0: 1e9, 1: 1e-12}, SearchSettings(grid_points=0, fanout=k))
        assert result.edges[0].max_stable is None and result.edges[0].note == "stable up to 10000"
        assert result.edges[1].max_stable is None and result.edges[1].note == "unstable down to 1e-07"


def test_the_optimal_lr_phase_does_not_depend_on_the_fanout() -> None:
    curve = lambda lr: 1.0 + (math.log(lr) - math.log(0.03)) ** 2  # noqa: E731
    results = {k: _drive({0: 0.5, 1: 0.6}, SearchSettings(fanout=k), curve) for k in (1, 2, 4)}
    ref, ref_rounds = results[1]
    for result, rounds in results.values():
        assert result.grid.keys() == ref.grid.keys() and result.optimal == ref.optimal
        assert result.best_grid_lr == ref.best_grid_lr
        assert rounds[-2:] == ref_rounds[-2:]  # the grid round and the refinement round, request for request
    assert ref.optimal[0] == pytest.approx(0.03, rel=1e-9)


def test_lattice_helpers() -> None:
    assert first_block(5) == [0, 1, -1, 2, -2]
    assert evenly(0, 16, 1) == [8] and evenly(0, 16, 3) == [4, 8, 12] and evenly(0, 16, 15) == list(range(1, 16))
    assert evenly(4, 8, 10) == [5, 6, 7] and evenly(0, 16, 2) == [5, 11]
    assert halvings(4.0, 2 ** 0.125) == 4 and halvings(4.0, 1.5) == 2 and halvings(4.0, 3.9) == 1
    bracket = Bracket(SearchSettings())
    assert bracket.point(2) == 0.1 * 4 * 4 and bracket.point(-1) == 0.1 / 4
    with pytest.raises(Exception, match="fanout"):
        SearchSettings(fanout=0)
