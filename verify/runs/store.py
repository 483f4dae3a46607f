"""Results store: one embedded SQLite file (WAL mode), written job by job in single transactions.

Tables: ``configs`` (key -> canonical JSON description, see ``verify.runs.keys``), then per kind of study:

* width checks: ``runs`` (one row per (config, width, seed): 'done' or 'diverged' and the step of divergence)
  and ``measurements`` keyed by (config, width, seed, step, quantity, layer);
* learning-rate sweeps: ``lr_runs`` (one row per (config, width, seed, lr) with the run's summary) and
  ``lr_measurements`` (engine-named quantities of that run at step 1 and the last step).

A job's rows are committed together by the driver as soon as the job completes, so a killed sweep leaves only
whole runs behind and a rerun skips exactly those (INSERT OR REPLACE: idempotent).  Non-finite values are
stored as NULL.  ``lr`` is stored as the exact IEEE double the search produced, so the deterministic search
finds its rows again.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from theory.errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (config TEXT PRIMARY KEY, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    config TEXT NOT NULL, width INTEGER NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL, diverged_step INTEGER, seconds REAL,
    PRIMARY KEY (config, width, seed));
CREATE TABLE IF NOT EXISTS measurements (
    config TEXT NOT NULL, width INTEGER NOT NULL, seed INTEGER NOT NULL, step INTEGER NOT NULL,
    quantity TEXT NOT NULL, layer INTEGER NOT NULL, value REAL,
    PRIMARY KEY (config, width, seed, step, quantity, layer));
CREATE TABLE IF NOT EXISTS lr_runs (
    config TEXT NOT NULL, width INTEGER NOT NULL, seed INTEGER NOT NULL, lr REAL NOT NULL,
    init_loss REAL, final_loss REAL, final_accuracy REAL, diverged_step INTEGER,
    peak_hidden_ratio REAL, peak_logit_rms REAL, init_logit_rms REAL, peak_batch_loss REAL,
    steps_run INTEGER NOT NULL, seconds REAL,
    PRIMARY KEY (config, width, seed, lr));
CREATE TABLE IF NOT EXISTS lr_measurements (
    config TEXT NOT NULL, width INTEGER NOT NULL, seed INTEGER NOT NULL, lr REAL NOT NULL,
    step INTEGER NOT NULL, quantity TEXT NOT NULL, layer INTEGER NOT NULL, value REAL,
    PRIMARY KEY (config, width, seed, lr, step, quantity, layer));
"""
COLUMNS = ("config", "width", "seed", "step", "quantity", "layer", "value")
LR_FIELDS = ("init_loss", "final_loss", "final_accuracy", "diverged_step", "peak_hidden_ratio", "peak_logit_rms",
             "init_logit_rms", "peak_batch_loss", "steps_run")

Measurement = tuple[int, int, int, str, int, float | None]  # width, seed, step, quantity, layer, value


class WidthResult(Protocol):
    """What a width job returns (``verify.width.train.JobResult``)."""

    width: int
    records: list[tuple[int, int, str, int, float | None]]  # seed, step, quantity, layer, value
    diverged: dict[int, int | None]
    seconds: float


class LrRunRecord(Protocol):
    """One (seed, lr) run of a learning-rate sweep (``verify.lr.train.LrRecord``)."""

    seed: int
    lr: float
    measurements: dict[tuple[int, str, int], float | None]


class LrResult(Protocol):
    """What a learning-rate job returns (``verify.lr.train.LrJobResult``)."""

    width: int
    seconds: float

    @property
    def records(self) -> Sequence[LrRunRecord]: ...


class Store:
    """A handle on the SQLite results file; safe to reopen after a crash (WAL + atomic job commits)."""

    def __init__(self, path: str | Path = "abcscale.db") -> None:
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            raise InputError(f"--db {self.path}: not a usable SQLite results file ({err})") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- configurations ------------------------------------------------------------------------------------
    def add_config(self, config: str, description: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO configs VALUES (?, ?)",
                              (config, json.dumps(description, sort_keys=True)))

    def configs(self, kind: str | None = None) -> dict[str, dict[str, Any]]:
        """Every stored configuration key with its JSON description (only those of ``kind`` if given)."""
        rows = self.conn.execute("SELECT config, description FROM configs ORDER BY config")
        out = {config: json.loads(description) for config, description in rows}
        return out if kind is None else {k: d for k, d in out.items() if d.get("kind") == kind}

    # ---- width checks --------------------------------------------------------------------------------------
    def finished(self, config: str) -> set[tuple[int, int]]:
        """(width, seed) pairs whose runs are complete (done or diverged)."""
        rows = self.conn.execute("SELECT width, seed FROM runs WHERE config = ?", (config,))
        return {(int(w), int(s)) for w, s in rows}

    def write(self, config: str, result: WidthResult) -> None:
        """Commit one width job's measurements and run rows in one transaction."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((config, result.width, seed, step, quantity, layer, value)
                 for seed, step, quantity, layer, value in result.records))
            self.conn.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                ((config, result.width, seed, "done" if step is None else "diverged", step, result.seconds)
                 for seed, step in result.diverged.items()))

    def runs(self, config: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT width, seed, status, diverged_step FROM runs WHERE config = ? "
                                 "ORDER BY width, seed", (config,))
        return [{"width": w, "seed": s, "status": st, "diverged_step": d} for w, s, st, d in rows]

    def measurements(self, config: str) -> list[Measurement]:
        """(width, seed, step, quantity, layer, value) rows of one configuration."""
        rows = self.conn.execute("SELECT width, seed, step, quantity, layer, value FROM measurements "
                                 "WHERE config = ? ORDER BY width, seed, step, quantity, layer", (config,))
        return list(rows)

    def export(self, path: str | Path, configs: Iterable[str]) -> None:
        """Write the measurements of ``configs`` to ``path`` as CSV or JSON (chosen by the suffix)."""
        path = Path(path)
        rows = [(c, *row) for c in configs for row in self.measurements(c)]
        if path.suffix == ".csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                writer.writerows(rows)
        elif path.suffix == ".json":
            path.write_text(json.dumps([dict(zip(COLUMNS, row, strict=True)) for row in rows], indent=1),
                            encoding="utf-8")
        else:
            raise InputError(f"--export {path}: use a .csv or .json file name")

    # ---- learning-rate sweeps ------------------------------------------------------------------------------
    def write_lr(self, config: str, result: LrResult) -> None:
        """Commit one learning-rate job's runs and measurements together."""
        seconds = result.seconds / max(1, len(result.records))
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO lr_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((config, result.width, r.seed, r.lr, *(getattr(r, f) for f in LR_FIELDS), seconds)
                 for r in result.records))
            self.conn.executemany(
                "INSERT OR REPLACE INTO lr_measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((config, result.width, r.seed, r.lr, step, quantity, layer, value)
                 for r in result.records for (step, quantity, layer), value in r.measurements.items()))

    def lr_run(self, config: str, width: int, seed: int, lr: float) -> dict[str, Any] | None:
        """The stored summary of one (seed, lr) run with its ``measurements``, or None if never finished."""
        row = self.conn.execute(f"SELECT {', '.join(LR_FIELDS)} FROM lr_runs WHERE config = ? AND width = ? "
                                "AND seed = ? AND lr = ?", (config, width, seed, lr)).fetchone()
        if row is None:
            return None
        values: dict[str, Any] = dict(zip(LR_FIELDS, row, strict=True))
        values["measurements"] = {(int(step), str(q), int(layer)): value for step, q, layer, value in
                                  self.conn.execute("SELECT step, quantity, layer, value FROM lr_measurements WHERE "
                                                    "config = ? AND width = ? AND seed = ? AND lr = ?",
                                                    (config, width, seed, lr))}
        return values

    def lr_count(self, config: str) -> int:
        """Number of finished (width, seed, lr) runs of a learning-rate configuration."""
        return int(self.conn.execute("SELECT COUNT(*) FROM lr_runs WHERE config = ?", (config,)).fetchone()[0])
