"""Every width's LR search at once: the trainings ready to run, widest width first, and where records go.

``SearchPool`` drives one ``width_search`` generator per width (each with its own fan-out) without knowing how
trainings run: the driver (``verify.lr.sweep.run_lr_sweep``, or the simulation benchmarks/sim_lr_search.py)
takes ``Task``s from ``ready``, trains them however it likes and hands each task's records back with
``deliver``; a width's next round starts when the records of its whole round are in.  Each request of a round
is split into the width's seed groups (``verify.runs.plan.seed_groups``).  ``lookup`` answers a request from
the store first: it appends the stored records to its list argument and returns the (seed, lr) pairs still to
train, so finished trainings are never queued again.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace

from verify.lr.records import LrRecord
from verify.lr.search import Request, Round, SearchSettings, WidthResult, width_search
from verify.lr.stability import Criterion
from verify.runs.plan import seed_groups

Lookup = Callable[[int, Request, list[LrRecord]], list[tuple[int, float]]]


@dataclass(frozen=True)
class Task:
    """One training to run: ``seeds[i]`` of ``width`` with learning rate ``lrs[i]``."""

    width: int
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]

    def runs(self) -> list[tuple[int, int, float]]:
        """Its (width, seed, lr) runs, as the store names them."""
        return [(self.width, seed, lr) for seed, lr in zip(self.seeds, self.lrs, strict=True)]

    def only(self, runs: list[tuple[int, int, float]]) -> Task:
        """The same width with only these runs."""
        return replace(self, seeds=tuple(s for _, s, _ in runs), lrs=tuple(lr for _, _, lr in runs))


@dataclass
class _Width:
    search: Generator[Round, list[LrRecord], WidthResult]
    records: list[LrRecord] = field(default_factory=list)
    outstanding: int = 0
    rounds: int = 0


def _nothing_stored(width: int, request: Request, found: list[LrRecord]) -> list[tuple[int, float]]:
    return list(zip(*request, strict=True))


class SearchPool:
    """The searches of ``widths``: ``ready`` holds the tasks to run (widest first); ``deliver`` takes records.

    ``fanout`` and ``parts`` map each width to its candidates a round and its seed groups (default 1)."""

    def __init__(self, widths: list[int], seeds: list[int], criterion: Criterion, search: SearchSettings, *,
                 fanout: dict[int, int] | None = None, parts: dict[int, int] | None = None,
                 lookup: Lookup | None = None) -> None:
        self.results: dict[int, WidthResult] = {}
        self.ready: list[Task] = []
        self.reused = 0  # (seed, lr) runs answered by lookup
        self._parts = parts or {}
        self._lookup = lookup or _nothing_stored
        self._widths: dict[int, _Width] = {}
        for width in sorted(widths, reverse=True):
            settings = replace(search, fanout=(fanout or {}).get(width, search.fanout))
            state = _Width(width_search(width, list(seeds), criterion, settings))
            self._widths[width] = state
            self._start(width, next(state.search))
            self._advance(width)

    @property
    def done(self) -> bool:
        """Every width's search has ended."""
        return not self._widths

    def rounds(self, width: int) -> int:
        """Rounds the width's search has asked for so far (the final count once it is done)."""
        return self._widths[width].rounds if width in self._widths else self.results[width].rounds

    def take(self) -> Task:
        """The next task: the widest width's first."""
        self.ready.sort(key=lambda t: -t.width)
        return self.ready.pop(0)

    def deliver(self, width: int, records: list[LrRecord]) -> None:
        """Records of a finished task (or of runs read from the store); may start the width's next round."""
        state = self._widths[width]
        state.records.extend(records)
        state.outstanding -= len(records)
        self._advance(width)

    def _start(self, width: int, requests: Round) -> None:
        state = self._widths[width]
        state.rounds += 1
        for seeds, lrs in requests:
            missing = self._lookup(width, (seeds, lrs), state.records)
            self.reused += len(seeds) - len(missing)
            if not missing:
                continue
            lr_of = dict(missing)
            for group in seed_groups([s for s, _ in missing], self._parts.get(width, 1)):
                self.ready.append(Task(width, group, tuple(lr_of[s] for s in group)))
            state.outstanding += len(missing)

    def _advance(self, width: int) -> None:
        """Feed finished rounds to the search until one needs training (or the search ends)."""
        state = self._widths[width]
        while state.outstanding == 0:
            records, state.records = state.records, []
            try:
                requests = state.search.send(records)
            except StopIteration as stop:
                result: WidthResult = stop.value
                result.rounds = state.rounds
                self.results[width] = result
                del self._widths[width]
                return
            self._start(width, requests)
