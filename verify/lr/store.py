"""LR-sweep tables in the same SQLite file as verify.runs.store (default abcscale.db).

``lr_runs`` holds one row per (config, width, seed, lr) with the run's summary (verify.lr.train.LrRecord),
``lr_measurements`` the engine-named quantities of that run at step 1 and the last step.  A job's rows are
committed in one transaction by the driver as soon as the job completes, so a killed sweep keeps every
finished training and a rerun asks the store before training anything (INSERT OR REPLACE: idempotent).
Configurations go into verify.runs.store's ``configs`` table.  ``lr`` is stored as the exact IEEE double the
search produced, so the deterministic search finds its rows again.
"""

from __future__ import annotations

from pathlib import Path

from verify.lr.train import LrJobResult, LrRecord
from verify.runs.store import Store

LR_SCHEMA = """
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
_FIELDS = ("init_loss", "final_loss", "final_accuracy", "diverged_step", "peak_hidden_ratio", "peak_logit_rms",
           "init_logit_rms", "peak_batch_loss", "steps_run")


class LrStore:
    """verify.runs.store.Store plus the LR-sweep tables, on one connection."""

    def __init__(self, path: str | Path = "abcscale.db") -> None:
        self.store = Store(path)
        self.conn = self.store.conn
        self.conn.executescript(LR_SCHEMA)

    def close(self) -> None:
        self.store.close()

    def add_config(self, config: str, description: dict[str, object]) -> None:
        self.store.add_config(config, description)

    def write(self, config: str, result: LrJobResult) -> None:
        """Commit one job's runs and measurements together."""
        seconds = result.seconds / max(1, len(result.records))
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO lr_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((config, result.width, r.seed, r.lr, *(getattr(r, f) for f in _FIELDS), seconds)
                 for r in result.records))
            self.conn.executemany(
                "INSERT OR REPLACE INTO lr_measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((config, result.width, r.seed, r.lr, step, quantity, layer, value)
                 for r in result.records for (step, quantity, layer), value in r.measurements.items()))

    def record(self, config: str, width: int, seed: int, lr: float) -> LrRecord | None:
        """The stored run (with its measurements), or None if it was never finished."""
        row = self.conn.execute(f"SELECT {', '.join(_FIELDS)} FROM lr_runs WHERE config = ? AND width = ? "
                                "AND seed = ? AND lr = ?", (config, width, seed, lr)).fetchone()
        if row is None:
            return None
        values = dict(zip(_FIELDS, row, strict=True))
        measurements = {(int(step), str(q), int(layer)): value for step, q, layer, value in self.conn.execute(
            "SELECT step, quantity, layer, value FROM lr_measurements WHERE config = ? AND width = ? AND seed = ? "
            "AND lr = ?", (config, width, seed, lr))}
        return LrRecord(seed=seed, lr=lr, measurements=measurements, **values)

    def count(self, config: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM lr_runs WHERE config = ?", (config,)).fetchone()[0])
