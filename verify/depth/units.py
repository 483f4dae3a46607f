"""Depth-sweep measurements through the results store: each unit is measured once, a rerun reads it back.

A *unit* is one measurement call of a depth experiment (``verify.depth.sweep``): its settings (with the
experiment's name they are the configuration, ``verify.runs.keys.describe_depth``), a width, a depth and the
seeds; it returns per-seed vectors, quantity -> array of shape (seeds, k).  ``compute_only`` just computes
(the library default: nothing stored).  ``StoredUnits`` reads the seeds the store holds, claims the missing ones
(``Store.claim``: another process's seeds are waited for, a dead one's retrained), computes and writes them
(``Store.write_depth``) and returns stored and fresh rows together.

Per-seed computations (mlp-l3, residual: every seed draws its own weights in a loop) resume seed by seed.
Batched ones (ip: all seeds in one batched model, whose last bits depend on the batch) carry their seed list
in the settings and are computed whole, so a rerun prints exactly what the first run printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from verify.runs.keys import config_key, describe_depth
from verify.runs.store import POLL_SECONDS, Store

Values = dict[str, np.ndarray]  # quantity -> (seeds, k)
Compute = Callable[[list[int]], Values]


class Units(Protocol):
    """How a depth experiment gets one unit's values: computed, or through a store."""

    def __call__(self, experiment: str, settings: dict[str, Any], width: int, depth: int, seeds: list[int],
                 compute: Compute, *, batched: bool = False) -> Values: ...


def compute_only(experiment: str, settings: dict[str, Any], width: int, depth: int, seeds: list[int],
                 compute: Compute, *, batched: bool = False) -> Values:
    """Compute the unit (nothing read or written)."""
    return compute(seeds)


class StoredUnits:
    """Units read from ``store`` where finished, else claimed, computed and written (see the module docstring).

    ``computed`` and ``reused`` count the seeds measured here and those read from the store."""

    def __init__(self, store: Store, *, poll: float = POLL_SECONDS) -> None:
        self.store = store
        self.poll = poll
        self.computed = 0
        self.reused = 0

    def __call__(self, experiment: str, settings: dict[str, Any], width: int, depth: int, seeds: list[int],
                 compute: Compute, *, batched: bool = False) -> Values:
        if batched:
            settings = {**settings, "seeds": list(seeds)}
        description = describe_depth(experiment, settings)
        config = config_key(description)
        self.store.add_config(config, description)
        fresh: dict[int, dict[str, np.ndarray]] = {}
        while True:
            stored = self.store.depth_values(config, width, depth)
            missing = [s for s in seeds if s not in stored and s not in fresh]
            if not missing:
                break
            claim = self.store.claim("depth", config, [(width, depth, s) for s in missing])
            if batched and claim.busy:  # the batch is computed whole or not at all
                self.store.release("depth", config, claim.claimed)
            elif claim.claimed:
                fresh.update(self._compute(config, width, depth, seeds if batched else
                                           [s for _, _, s in claim.claimed], compute, claim.claimed))
                continue
            if claim.busy:
                time.sleep(self.poll)
        self.reused += sum(s not in fresh for s in seeds)
        rows = {s: fresh[s] if s in fresh else {q: np.asarray(v, dtype=float) for q, v in stored[s].items()}
                for s in seeds}
        return {q: np.stack([rows[s][q] for s in seeds]) for q in rows[seeds[0]]}

    def _compute(self, config: str, width: int, depth: int, seeds: list[int], compute: Compute,
                 claimed: list[tuple[Any, ...]]) -> dict[int, dict[str, np.ndarray]]:
        """Compute ``seeds`` and write them (the claims go with the write, or are released on failure)."""
        start = time.perf_counter()
        try:
            values = compute(seeds)
        except BaseException:
            self.store.release("depth", config, claimed)
            raise
        rows = {seed: {q: np.asarray(v[i], dtype=float) for q, v in values.items()} for i, seed in enumerate(seeds)}
        vectors = {s: {q: v.tolist() for q, v in r.items()} for s, r in rows.items()}
        self.store.write_depth(config, width, depth, vectors, time.perf_counter() - start)
        self.computed += len(seeds)
        return rows
