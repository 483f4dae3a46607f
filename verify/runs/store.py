"""Results store: one embedded SQLite file (WAL mode), written job by job in single transactions.

Tables: ``configs`` (hash -> canonical JSON of parametrization + settings), ``runs`` (one row per
(config, width, seed) with status 'done' or 'diverged' and the step of divergence) and ``measurements``
keyed by (config, width, seed, step, quantity, layer).  A job's measurements and its run rows are
committed together, so a killed sweep leaves only whole runs behind and a rerun skips exactly those.
Non-finite values are stored as NULL.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from theory.errors import InputError
from verify.width.train import JobResult

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
"""
COLUMNS = ("config", "width", "seed", "step", "quantity", "layer", "value")


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

    def add_config(self, config: str, description: dict[str, object]) -> None:
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO configs VALUES (?, ?)",
                              (config, json.dumps(description, sort_keys=True)))

    def finished(self, config: str) -> set[tuple[int, int]]:
        """(width, seed) pairs whose runs are complete (done or diverged)."""
        rows = self.conn.execute("SELECT width, seed FROM runs WHERE config = ?", (config,))
        return {(int(w), int(s)) for w, s in rows}

    def write(self, config: str, result: JobResult) -> None:
        """Commit one job's measurements and run rows in one transaction."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((config, result.width, seed, step, quantity, layer, value)
                 for seed, step, quantity, layer, value in result.records))
            self.conn.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                ((config, result.width, seed, "done" if step is None else "diverged", step, result.seconds)
                 for seed, step in result.diverged.items()))

    def configs(self) -> dict[str, dict[str, Any]]:
        """Every stored configuration key with its JSON description."""
        rows = self.conn.execute("SELECT config, description FROM configs ORDER BY config")
        return {config: json.loads(description) for config, description in rows}

    def runs(self, config: str) -> list[dict[str, object]]:
        rows = self.conn.execute("SELECT width, seed, status, diverged_step FROM runs WHERE config = ? "
                                 "ORDER BY width, seed", (config,))
        return [{"width": w, "seed": s, "status": st, "diverged_step": d} for w, s, st, d in rows]

    def measurements(self, config: str) -> list[tuple[int, int, int, str, int, float | None]]:
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
