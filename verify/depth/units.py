"""Depth-sweep measurements through the results store and an Executor: each unit is measured once, a rerun
reads it back, and the units of an experiment run side by side on Dask workers when there are some.

A *unit* (``Unit``) is one measurement call of a depth experiment (``verify.depth.sweep``): its settings (with
the experiment's name they are the configuration, ``verify.runs.keys.describe_depth``), a width, a depth, the
seeds and a picklable ``compute(seeds)`` returning per-seed vectors, quantity -> array of shape (seeds, k).
An experiment hands all its units to ``many`` at once and gets their values back in order.  ``compute_only``
just computes them, one after the other (the library default: nothing stored).  ``StoredUnits`` reads the seeds
the store holds, claims the missing ones (``Store.claim``: another process's seeds are waited for, a dead one's
retrained), submits each unit's missing seeds as one task to its executor (deterministic key: configuration,
width, depth, seeds; the most expensive units first, at most ``in_flight`` at a time), writes each result
(``Store.write_depth``) as it completes, and returns stored and fresh rows together.

Per-seed computations (mlp-l3, residual: every seed draws its own weights in a loop) resume seed by seed.
Batched ones (ip: all seeds in one batched model, whose last bits depend on the batch) carry their seed list
in the settings and are computed whole, so a rerun prints exactly what the first run printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from verify.runs.executors import InlineExecutor, submit_keyed
from verify.runs.keys import config_key, describe_depth, task_key
from verify.runs.store import POLL_SECONDS, Store

Values = dict[str, np.ndarray]  # quantity -> (seeds, k)
Compute = Callable[[list[int]], Values]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Unit:
    """One measurement call: ``compute(seeds)`` of ``experiment`` with ``settings`` at (width, depth)."""

    experiment: str
    settings: dict[str, Any]
    width: int
    depth: int
    seeds: list[int]
    compute: Compute
    batched: bool = False
    label: str = ""

    @property
    def description(self) -> dict[str, Any]:
        """Its configuration's description (a batched unit's seed list is part of it)."""
        settings = {**self.settings, "seeds": list(self.seeds)} if self.batched else self.settings
        return describe_depth(self.experiment, settings)

    @property
    def cost(self) -> float:
        """Relative cost, for the order of submission: seeds x width^2 x depth."""
        return len(self.seeds) * self.width ** 2 * self.depth


class Units(Protocol):
    """How a depth experiment gets its units' values: computed, or through a store (and an executor)."""

    def many(self, units: list[Unit], progress: Progress = _quiet) -> list[Values]: ...


class ComputeOnly:
    """Compute every unit in this process, in order (nothing read or written)."""

    def many(self, units: list[Unit], progress: Progress = _quiet) -> list[Values]:
        out = []
        for unit in units:
            progress(unit.label)
            out.append(unit.compute(unit.seeds))
        return out

    def __call__(self, experiment: str, settings: dict[str, Any], width: int, depth: int, seeds: list[int],
                 compute: Compute, *, batched: bool = False) -> Values:
        """One unit, computed."""
        return compute(seeds)


compute_only = ComputeOnly()


@dataclass
class _Open:
    """A unit being resolved: its configuration, the seeds computed here and whether a task is out."""

    unit: Unit
    config: str
    fresh: dict[int, dict[str, np.ndarray]]
    submitted: bool = False
    busy: bool = False


class StoredUnits:
    """Units read from ``store`` where finished, else claimed, computed through ``executor`` (in this process
    by default) and written (see the module docstring).

    ``computed`` and ``reused`` count the seeds measured here and those read from the store."""

    def __init__(self, store: Store, *, poll: float = POLL_SECONDS, executor: Executor | None = None,
                 in_flight: int = 1) -> None:
        self.store = store
        self.poll = poll
        self.executor = executor or InlineExecutor()
        self.in_flight = max(1, in_flight)
        self.computed = 0
        self.reused = 0

    def __call__(self, experiment: str, settings: dict[str, Any], width: int, depth: int, seeds: list[int],
                 compute: Compute, *, batched: bool = False) -> Values:
        """One unit through the store."""
        return self.many([Unit(experiment, settings, width, depth, seeds, compute, batched)])[0]

    def many(self, units: list[Unit], progress: Progress = _quiet) -> list[Values]:
        opened = []
        for unit in units:
            description = unit.description
            config = config_key(description)
            self.store.add_config(config, description)
            opened.append(_Open(unit, config, {}))
        order = sorted(range(len(opened)), key=lambda i: -opened[i].unit.cost)
        running: dict[Future[Values], tuple[_Open, list[int], list[tuple[Any, ...]], float]] = {}
        try:
            while True:
                pending = [opened[i] for i in order if not opened[i].submitted]
                if not pending and not running:
                    break
                for item in pending:
                    if len(running) >= self.in_flight:
                        break
                    task = self._claim(item)
                    if task is not None:
                        seeds, claimed = task
                        progress(item.unit.label)
                        key = task_key("depth", item.config, item.unit.width, item.unit.depth, seeds)
                        future = submit_keyed(self.executor, key, item.unit.compute, seeds,
                                              label=f"depth-sweep unit {item.unit.label or item.config}")
                        running[future] = (item, seeds, claimed, time.perf_counter())
                if running:
                    waiting = any(item.busy for item in opened if not item.submitted)
                    done, _ = wait(list(running), timeout=self.poll if waiting else None,
                                   return_when=FIRST_COMPLETED)
                else:
                    done = set()
                    time.sleep(self.poll)
                for future in done:
                    item, seeds, claimed, start = running[future]
                    values = future.result()  # a failure leaves it in ``running``: its claims go below
                    del running[future]
                    self._write(item, seeds, values, time.perf_counter() - start)
                    item.submitted = False  # look again: every seed should now be in the store or fresh
        finally:
            for future in running:
                future.cancel()
            for item, _, claimed, _ in running.values():
                self.store.release("depth", item.config, claimed)
        return [self._values(item) for item in opened]

    def _claim(self, item: _Open) -> tuple[list[int], list[tuple[Any, ...]]] | None:
        """The seeds to compute now for ``item`` and their claims, or None (all stored, or another process's)."""
        unit = item.unit
        stored = self.store.depth_values(item.config, unit.width, unit.depth)
        missing = [s for s in unit.seeds if s not in stored and s not in item.fresh]
        item.busy = False
        if not missing:
            item.submitted = True  # resolved: nothing left to do
            return None
        claim = self.store.claim("depth", item.config, [(unit.width, unit.depth, s) for s in missing])
        if unit.batched and claim.busy:  # the batch is computed whole or not at all
            self.store.release("depth", item.config, claim.claimed)
            item.busy = True
            return None
        if claim.busy:
            item.busy = True
        if not claim.claimed:
            return None
        item.submitted = True
        seeds = list(unit.seeds) if unit.batched else [s for _, _, s in claim.claimed]
        return seeds, list(claim.claimed)

    def _write(self, item: _Open, seeds: list[int], values: Values, seconds: float) -> None:
        rows = {seed: {q: np.asarray(v[i], dtype=float) for q, v in values.items()} for i, seed in enumerate(seeds)}
        vectors = {s: {q: v.tolist() for q, v in r.items()} for s, r in rows.items()}
        self.store.write_depth(item.config, item.unit.width, item.unit.depth, vectors, seconds)
        item.fresh.update(rows)
        self.computed += len(seeds)

    def _values(self, item: _Open) -> Values:
        unit = item.unit
        stored = self.store.depth_values(item.config, unit.width, unit.depth)
        self.reused += sum(s not in item.fresh for s in unit.seeds)
        rows = {s: item.fresh[s] if s in item.fresh else {q: np.asarray(v, dtype=float) for q, v in stored[s].items()}
                for s in unit.seeds}
        return {q: np.stack([rows[s][q] for s in unit.seeds]) for q in rows[unit.seeds[0]]}
