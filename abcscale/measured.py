"""Measured tables: the engine's predicted exponents next to slopes fitted from a results database
(written by ``abcscale verify``/``check`` through verify.runs.store), with CIs and PASS/FAIL verdicts.

The file may also hold lr-sweep and depth-sweep results: they are not width checks, so the table leaves them
out and says so in a note (or, when the file holds nothing else, in its one-line error).

Lives outside theory/ because reading the store imports verify (and with it torch).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from theory.errors import InputError
from theory.exponents import format_exponent
from theory.parametrization import Parametrization, suggest
from theory.tables.model import Cell, Column, Measured, Power, Table, Text
from theory.tables.quantities import exact


def parametrization_of(config: str, description: dict[str, Any]) -> Parametrization:
    """The trained parametrization, rebuilt from the store's description (its one serial form)."""
    param = Parametrization.from_dict(description["parametrization"])
    return replace(param, name=config[:8], source=f"config {config}")


KIND_NAMES = {"lr-sweep": "lr-sweep", "depth": "depth-sweep", "unknown": "older"}


def _others(kinds: dict[str, int]) -> str:
    """'2 lr-sweep and 1 depth-sweep configurations': what else the file holds (empty if nothing)."""
    order = [*KIND_NAMES, *sorted(set(kinds) - set(KIND_NAMES))]
    parts = [f"{kinds[kind]} {KIND_NAMES.get(kind, kind)}" for kind in order if kind != "width" and kinds.get(kind)]
    if not parts:
        return ""
    total = sum(n for kind, n in kinds.items() if kind != "width")
    return f"{' and '.join(parts)} configuration{'s' if total > 1 else ''}"


def _pick(configs: dict[str, dict[str, Any]], wanted: str | None, db: str, every: dict[str, dict[str, Any]]
          ) -> list[str]:
    """The width-check configurations to tabulate: all, or the one ``wanted`` names (a unique key prefix)."""
    matches = [c for c in configs if wanted is not None and c.startswith(wanted)]
    elsewhere = [c for c in every if wanted is not None and c.startswith(wanted) and c not in configs]
    if wanted is not None and not matches and len(elsewhere) == 1:
        kind = KIND_NAMES.get(str(every[elsewhere[0]].get("kind", "unknown")), "other")
        raise InputError(f"--config {wanted!r}: {elsewhere[0]} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} "
                         "configuration; 'table --db' tabulates width checks")
    if not configs:
        others = _others(Counter(str(d.get("kind", "unknown")) for d in every.values()))
        raise InputError(f"--db {db}: no width-check results in this file "
                         + (f"(it holds {others}, which 'table --db' does not tabulate; run 'abcscale check' to add "
                            "some)" if others else "(run 'abcscale check' or 'verify' first)"))
    if wanted is None:
        return list(configs)
    if len(matches) != 1:
        raise InputError(f"--config {wanted!r}: {'ambiguous' if matches else 'not in ' + db}"
                         f"{suggest(wanted, list(configs))}")
    return matches


def measured_table(db: str, config: str | None = None, tolerance: float | None = None) -> Table:
    """Predicted | measured slope [95% CI] | verdict for every judged quantity of each configuration."""
    from theory.engine import derive
    from verify.runs.store import Store
    from verify.width.points import judge_check, model_size, predictor
    from verify.width.verdict import DEFAULT_TOLERANCE, value_table

    if not Path(db).is_file():
        raise InputError(f"--db {db}: no such results file")
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    store = Store(db)
    try:
        every = store.configs()
        configs = {key: d for key, d in every.items() if d.get("kind") == "width"}
        chosen = _pick(configs, config, db, every)
        rows: list[list[Cell]] = []
        notes: list[str] = []
        others = _others(Counter(str(d.get("kind", "unknown")) for d in every.values()))
        for key in chosen:
            description = configs[key]
            param = parametrization_of(key, description)
            runs = store.runs(key)
            widths = sorted({int(r["width"]) for r in runs})
            seeds = sorted({int(r["seed"]) for r in runs})
            steps = int(description["settings"]["steps"])
            report = derive(param)
            values = value_table(store.measurements(key), widths, seeds)
            diverged = sum(r["status"] == "diverged" for r in runs)
            notes.append(f"{key[:8]}: {param.optimizer.name}, loss {param.loss}, {param.activation}, "
                         f"{model_size(param)}, x = {format_exponent(param.lr_exponent)}, widths "
                         f"{', '.join(map(str, widths))}, {len(seeds)} seeds, {steps} steps, {diverged} diverged runs")
            predicted = predictor(report)
            for row in judge_check(report, param, values, widths, steps, tol):
                verdict = row.verdict + (f" ({row.note})" if row.note and row.verdict == "FAIL" else "")
                rows.append([Text(key[:8]), Text(row.quantity), Text(row.name or str(row.layer)), Text(str(row.step)),
                             Power(exact(predicted(row))),
                             Measured(row.measured, row.low, row.high), Text(verdict)])
    finally:
        store.close()
    if others and config is None:
        notes.append(f"{db} also holds {others}: not width checks, so not in this table")
    columns = [Column("config"), Column("quantity"), Column("layer"), Column("step"), Column("predicted"),
               Column("measured [95% CI]"), Column("verdict")]
    return Table(title=f"Predicted vs measured width exponents ({db}); PASS: |measured - predicted| <= {tol:g}",
                 columns=columns, rows=rows, label="tab:measured", notes=notes)
