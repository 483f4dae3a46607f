"""derive -> train across widths -> fit -> judge: the steps shared by ``abcscale verify`` and ``check``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import sympy

from theory.errors import InputError
from theory.exponents import Exponent
from theory.parametrization import Parametrization
from verify.runs.executors import executor_for
from verify.runs.store import Store
from verify.width.sweep import config_hash, train_widths
from verify.width.train import TrainSettings
from verify.width.verdict import DEFAULT_TOLERANCE, Row, judge, value_table


@dataclass
class Outcome:
    param: Parametrization  # as trained (with the LR exponent used)
    lr_exponent_source: str  # "given" or "engine edge"
    regime: str | None
    config: str
    widths: list[int]
    seeds: list[int]
    rows: list[Row]
    runs: list[dict[str, object]]
    values: dict[tuple[str, int, int], np.ndarray]  # (quantity, layer, step) -> (seeds, widths)
    resumed: int = 0  # (width, seed) runs found finished in the store, not trained again


def edge_lr_exponent(param: Parametrization) -> Exponent | None:
    """The engine's maximal stable LR exponent of ``param`` (None when there is no finite edge)."""
    from theory.engine import derive

    edge = derive(param).max_stable_lr_exponent
    if edge is None or edge in (sympy.oo, -sympy.oo):
        return None
    return edge


def choose_lr_exponent(param: Parametrization, given: str | None) -> tuple[Parametrization, str]:
    if given is not None:
        return param.with_(lr_exponent=given), "given"
    edge = edge_lr_exponent(param)
    if edge is None:
        return param, "parametrization (the engine finds no finite maximal stable LR exponent)"
    return param.with_(lr_exponent=edge), "engine edge (max stable LR exponent)"


def run(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: list[int], db: str, *,
        predict: Parametrization | None = None, workers: int = 1,
        scheduler: str | None = None, tolerance: float = DEFAULT_TOLERANCE,
        progress: bool = True, lr_source: str = "given", device: str = "cpu") -> Outcome:
    """Train (resuming from ``db``), then judge against the engine's exponents for ``predict`` (or ``param``)."""
    from theory.engine import derive

    target = (predict or param).with_(lr_exponent=param.lr_exponent)
    report = derive(target)
    if report.regime is None:
        raise InputError(f"{target.name}: exponents are symbolic; give numbers to verify")
    store = Store(db)
    try:
        finished = store.finished(config_hash(param, settings))
        resumed = sum((width, seed) in finished for width in widths for seed in seeds)
        threads = max(1, (os.cpu_count() or 1) // workers)
        with executor_for(workers, scheduler, threads=threads) as executor:
            config = train_widths(param, settings, widths, seeds, store, executor=executor,
                                  in_flight=max(workers, 4 if scheduler else 1),
                                  progress=progress, device=device)
        values = value_table(store.measurements(config), widths, seeds)
        runs = [r for r in store.runs(config) if r["width"] in widths and r["seed"] in seeds]
    finally:
        store.close()
    rows = judge(report, values, widths, len(param.layers), settings.steps, tolerance)
    return Outcome(param, lr_source, report.regime, config, widths, seeds, rows, runs, values, resumed)
