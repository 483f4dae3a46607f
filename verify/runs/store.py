"""Results store: one embedded SQLite file (WAL mode) that holds width checks, learning-rate sweeps and depth
sweeps side by side, written job by job in single transactions, with claims so that processes sharing the file
never train the same run twice.

Tables.  ``configs`` maps a key to its canonical JSON description (``verify.runs.keys``); the description's
``kind`` ("width", "lr-sweep" or "depth") says which pair of tables holds its rows:

* width checks: ``runs`` (one row per (config, width, seed): 'done' or 'diverged' and the step of divergence)
  and ``measurements`` keyed by (config, width, seed, step, quantity, layer);
* learning-rate sweeps: ``lr_runs`` (one row per (config, width, seed, lr) with the run's summary) and
  ``lr_measurements`` (engine-named quantities of that run at step 1 and the last step);
* depth sweeps: ``depth_runs`` (one row per (config, width, depth, seed)) and ``depth_measurements`` keyed by
  (config, width, depth, seed, quantity, idx): the per-seed vector of a quantity, ``idx`` its position;
* ``claims`` (key, owner, expires_at): runs some process is training now.

A job's rows are committed together by the driver as soon as the job completes, so a killed sweep leaves only
whole runs behind and a rerun skips exactly those (INSERT OR REPLACE: idempotent).  Non-finite values are
stored as NULL, except in depth vectors, which keep +-inf and read NULL back as NaN.  ``lr`` is stored as the
exact IEEE double the search produced, so the deterministic search finds its rows again.

Claim protocol (``Store.claim``).  A run is named by its kind, configuration and the columns of its run row
(``claim_key``).  Before training runs the driver (never a Dask worker: the worker only computes) claims them in
one ``BEGIN IMMEDIATE`` transaction that drops expired claims, then sorts every run into *done* (its run row
exists: read it), *busy* (claimed by another owner whose lease has not expired: wait, then look again) or
*claimed* (a claim row with this owner and ``expires_at = now + lease`` is written: train it).  The owner is one
id per process (pid, host and a random part), so a process never waits for itself: two sweeps in one process, or a
retry after an exception, take their own claims again.  While a handle holds claims a heartbeat thread renews
every claim of its owner each lease/4 seconds, so a long job keeps its claim on any executor (in-process trainings
included); when the process dies the heartbeat stops and the claims expire ``lease`` seconds later, after which
the next claimer retrains the runs.  A claimer on the same host sees at once that the owner's pid no longer exists
(``gone``) and takes its claims over without waiting for the lease.  Writing a job's results deletes its claims in
the same transaction; a driver that stops early releases the claims it still holds, and so does ``close``.  Hosts
sharing one file must agree on the clock to well within the lease.
"""

from __future__ import annotations

import csv
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from theory.errors import InputError
from verify.runs.keys import KINDS

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
CREATE TABLE IF NOT EXISTS depth_runs (
    config TEXT NOT NULL, width INTEGER NOT NULL, depth INTEGER NOT NULL, seed INTEGER NOT NULL, seconds REAL,
    PRIMARY KEY (config, width, depth, seed));
CREATE TABLE IF NOT EXISTS depth_measurements (
    config TEXT NOT NULL, width INTEGER NOT NULL, depth INTEGER NOT NULL, seed INTEGER NOT NULL,
    quantity TEXT NOT NULL, idx INTEGER NOT NULL, value REAL,
    PRIMARY KEY (config, width, depth, seed, quantity, idx));
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL);
"""
COLUMNS = ("config", "width", "seed", "step", "quantity", "layer", "value")
LR_COLUMNS = ("config", "width", "seed", "lr", "step", "quantity", "layer", "value")
DEPTH_COLUMNS = ("config", "width", "depth", "seed", "quantity", "idx", "value")
EXPORT_COLUMNS = {"width": COLUMNS, "lr-sweep": LR_COLUMNS, "depth": DEPTH_COLUMNS}
# an export mixing kinds: every column, blank (CSV) or null (JSON) where a kind has none
MIXED_COLUMNS = ("kind", "config", "width", "depth", "seed", "lr", "step", "quantity", "layer", "idx", "value")
LR_FIELDS = ("init_loss", "final_loss", "final_accuracy", "diverged_step", "peak_hidden_ratio", "peak_logit_rms",
             "init_logit_rms", "peak_batch_loss", "steps_run")
# the run row of each kind: its table and the columns (after config) that name one run
RUN_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "width": ("runs", ("width", "seed")),
    "lr-sweep": ("lr_runs", ("width", "seed", "lr")),
    "depth": ("depth_runs", ("width", "depth", "seed")),
}
LEASE_SECONDS = 120.0  # a claim's life without renewal: how long a dead process's runs stay blocked
POLL_SECONDS = 0.5  # how often a driver looks again at runs another process is training

Measurement = tuple[int, int, int, str, int, float | None]  # width, seed, step, quantity, layer, value
RunId = tuple[Any, ...]  # the run columns of RUN_TABLES[kind], in order: (width, seed), (width, seed, lr), ...
DepthValues = dict[int, dict[str, list[float]]]  # seed -> quantity -> per-seed vector

_OWNERS: dict[int, str] = {}


def owner_id() -> str:
    """This process's claim owner, ``pid@host/random``: one per process (a forked child gets its own)."""
    pid = os.getpid()
    if pid not in _OWNERS:
        _OWNERS[pid] = f"{pid}@{socket.gethostname()}/{secrets.token_hex(4)}"
    return _OWNERS[pid]


def gone(owner: str) -> bool:
    """True when ``owner`` was a process on this host that no longer exists (its claims need not wait out the
    lease).  Only on POSIX and only for this host; a reused pid or a zombie counts as alive (the lease decides)."""
    pid, _, rest = owner.partition("@")
    host = rest.rpartition("/")[0]
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's live process
        return False
    return False


def claim_key(kind: str, config: str, run: RunId) -> str:
    """The claims table's name of one run (JSON: an ``lr`` keeps its exact double through repr)."""
    return json.dumps([kind, config, *run])


@dataclass(frozen=True)
class Claim:
    """How ``Store.claim`` sorted the runs asked for: train ``claimed``, read ``done``, wait for ``busy``."""

    claimed: list[RunId]
    done: list[RunId]
    busy: list[RunId]


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


def _mixed(kind: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """One export row of ``kind`` spread over ``MIXED_COLUMNS`` (None where the kind has no such column)."""
    named = {"kind": kind, **dict(zip(EXPORT_COLUMNS[kind], row, strict=True))}
    return tuple(named.get(name) for name in MIXED_COLUMNS)


class _Heartbeat(threading.Thread):
    """Renews every claim of ``owner`` in ``path`` each lease/4 seconds, on its own connection, until stopped."""

    def __init__(self, path: Path, owner: str, lease: float) -> None:
        super().__init__(name="abcscale-claims", daemon=True)
        self.path, self.owner, self.lease = path, owner, lease
        self.stopped = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            while not self.stopped.wait(self.lease / 4):
                try:
                    with conn:
                        conn.execute("UPDATE claims SET expires_at = ? WHERE owner = ?",
                                     (time.time() + self.lease, self.owner))
                except sqlite3.Error:  # a missed beat: the next one renews, 3/4 of the lease is left
                    pass
        finally:
            conn.close()


class Store:
    """A handle on the SQLite results file; safe to reopen after a crash (WAL + atomic job commits).

    ``lease``: seconds a claim lives without renewal (default ``LEASE_SECONDS``, read when the handle opens)."""

    def __init__(self, path: str | Path = "abcscale.db", *, lease: float | None = None) -> None:
        self.path = Path(path)
        self.lease = LEASE_SECONDS if lease is None else lease
        self.owner = owner_id()
        self._held: set[str] = set()  # claim keys this handle took and has not written or released
        self._heartbeat: _Heartbeat | None = None
        try:
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            raise InputError(f"--db {self.path}: not a usable SQLite results file ({err})") from None

    def close(self) -> None:
        """Release the claims still held, stop the heartbeat, close the file."""
        try:
            if self._held:
                with self.conn:
                    self._delete_claims(self._held)
                self._held.clear()
        except sqlite3.Error:  # closing after a failure: the claims then expire with their lease
            pass
        if self._heartbeat is not None:
            self._heartbeat.stopped.set()
            self._heartbeat = None
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
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown configuration kind {kind!r}: expected one of {', '.join(KINDS)}")
        rows = self.conn.execute("SELECT config, description FROM configs ORDER BY config")
        out = {config: json.loads(description) for config, description in rows}
        return out if kind is None else {k: d for k, d in out.items() if d.get("kind") == kind}

    def kinds(self) -> Counter[str]:
        """How many configurations of each kind the file holds ("unknown": written before kinds existed)."""
        return Counter(str(d.get("kind", "unknown")) for d in self.configs().values())

    # ---- claims --------------------------------------------------------------------------------------------
    def claim(self, kind: str, config: str, runs: Iterable[RunId]) -> Claim:
        """Claim the unfinished, unclaimed ``runs`` of ``config`` for this process, in one transaction.

        See the module docstring: finished runs come back as ``done``, runs under another owner's live lease
        as ``busy``, the rest (expired claims and this owner's own included) as ``claimed``."""
        table, columns = RUN_TABLES[kind]
        finished = f"SELECT 1 FROM {table} WHERE config = ? AND " + " AND ".join(f"{c} = ?" for c in columns)
        claimed: list[RunId] = []
        done: list[RunId] = []
        busy: list[RunId] = []
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("DELETE FROM claims WHERE expires_at < ?", (now,))
            for run in runs:
                if self.conn.execute(finished, (config, *run)).fetchone() is not None:
                    done.append(run)
                    continue
                key = claim_key(kind, config, run)
                holder = self.conn.execute("SELECT owner FROM claims WHERE key = ?", (key,)).fetchone()
                if holder is not None and holder[0] != self.owner and not gone(holder[0]):
                    busy.append(run)
                    continue
                self.conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (key, self.owner, now + self.lease))
                claimed.append(run)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        if claimed:
            self._held.update(claim_key(kind, config, run) for run in claimed)
            self._beat()
        return Claim(claimed, done, busy)

    def release(self, kind: str, config: str, runs: Iterable[RunId]) -> None:
        """Give back this owner's claims on ``runs`` (not trained after all), so others need not wait."""
        keys = {claim_key(kind, config, run) for run in runs}
        with self.conn:
            self._delete_claims(keys)
        self._held -= keys

    def claims(self) -> list[dict[str, Any]]:
        """Every claim row (key, owner, expires_at): who trains what now, for inspection."""
        rows = self.conn.execute("SELECT key, owner, expires_at FROM claims ORDER BY key")
        return [{"key": k, "owner": o, "expires_at": e} for k, o, e in rows]

    def _delete_claims(self, keys: Iterable[str]) -> None:
        """Inside the caller's transaction: drop this owner's claims on ``keys``."""
        self.conn.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", ((k, self.owner) for k in keys))

    def _written(self, kind: str, config: str, runs: Iterable[RunId]) -> None:
        """Inside the write transaction: the runs are stored, so their claims go."""
        keys = {claim_key(kind, config, run) for run in runs}
        self._delete_claims(keys)
        self._held -= keys

    def _beat(self) -> None:
        if self._heartbeat is None or not self._heartbeat.is_alive():
            self._heartbeat = _Heartbeat(self.path, self.owner, self.lease)
            self._heartbeat.start()

    # ---- width checks --------------------------------------------------------------------------------------
    def finished(self, config: str) -> set[tuple[int, int]]:
        """(width, seed) pairs whose runs are complete (done or diverged)."""
        rows = self.conn.execute("SELECT width, seed FROM runs WHERE config = ?", (config,))
        return {(int(w), int(s)) for w, s in rows}

    def write(self, config: str, result: WidthResult) -> None:
        """Commit one width job's measurements and run rows in one transaction (and drop their claims)."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((config, result.width, seed, step, quantity, layer, value)
                 for seed, step, quantity, layer, value in result.records))
            self.conn.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                ((config, result.width, seed, "done" if step is None else "diverged", step, result.seconds)
                 for seed, step in result.diverged.items()))
            self._written("width", config, [(result.width, seed) for seed in result.diverged])

    def runs(self, config: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT width, seed, status, diverged_step FROM runs WHERE config = ? "
                                 "ORDER BY width, seed", (config,))
        return [{"width": w, "seed": s, "status": st, "diverged_step": d} for w, s, st, d in rows]

    def measurements(self, config: str) -> list[Measurement]:
        """(width, seed, step, quantity, layer, value) rows of one configuration."""
        rows = self.conn.execute("SELECT width, seed, step, quantity, layer, value FROM measurements "
                                 "WHERE config = ? ORDER BY width, seed, step, quantity, layer", (config,))
        return list(rows)

    # ---- exports -------------------------------------------------------------------------------------------
    def rows(self, config: str) -> list[tuple[Any, ...]]:
        """The export rows of one configuration of any kind, in the columns ``EXPORT_COLUMNS[kind]``.

        Width checks: their measurements; learning-rate sweeps: each run's measurements, then its summary
        fields (``LR_FIELDS``) as quantities with no step and no layer; depth sweeps: their per-seed vectors."""
        kind = self._kind(config)
        if kind == "width":
            return [(config, *row) for row in self.measurements(config)]
        if kind == "lr-sweep":
            rows = list(self.conn.execute(
                "SELECT config, width, seed, lr, step, quantity, layer, value FROM lr_measurements WHERE config = ? "
                "ORDER BY width, seed, lr, step, quantity, layer", (config,)))
            for width, seed, lr, *values in self.conn.execute(
                    f"SELECT width, seed, lr, {', '.join(LR_FIELDS)} FROM lr_runs WHERE config = ? "
                    "ORDER BY width, seed, lr", (config,)):
                rows.extend((config, width, seed, lr, None, name, None, value)
                            for name, value in zip(LR_FIELDS, values, strict=True))
            return rows
        return list(self.conn.execute(
            "SELECT config, width, depth, seed, quantity, idx, value FROM depth_measurements WHERE config = ? "
            "ORDER BY width, depth, seed, quantity, idx", (config,)))

    def export(self, path: str | Path, configs: Iterable[str] | None = None) -> None:
        """Write the rows of ``configs`` (default: every configuration) to ``path`` as CSV or JSON (by suffix).

        One kind: that kind's columns (``EXPORT_COLUMNS``); several kinds: ``MIXED_COLUMNS``, empty (CSV) or
        null (JSON) where a kind has no such column."""
        path = Path(path)
        if path.suffix not in (".csv", ".json"):
            raise InputError(f"--export {path}: use a .csv or .json file name")
        chosen = list(self.configs()) if configs is None else list(configs)
        kinds = {c: self._kind(c) for c in chosen}
        columns: tuple[str, ...]
        if len(set(kinds.values())) > 1:
            columns = MIXED_COLUMNS
            rows = [_mixed(kinds[c], row) for c in chosen for row in self.rows(c)]
        else:
            columns = EXPORT_COLUMNS[next(iter(kinds.values()), "width")]
            rows = [row for c in chosen for row in self.rows(c)]
        if path.suffix == ".csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                writer.writerows(rows)
        else:
            path.write_text(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], indent=1),
                            encoding="utf-8")

    def _kind(self, config: str) -> str:
        """The kind of a stored configuration ("width" for one not in ``configs``: the oldest files)."""
        row = self.conn.execute("SELECT description FROM configs WHERE config = ?", (config,)).fetchone()
        kind = "width" if row is None else json.loads(row[0]).get("kind", "width")
        return kind if kind in EXPORT_COLUMNS else "width"

    # ---- learning-rate sweeps ------------------------------------------------------------------------------
    def write_lr(self, config: str, result: LrResult) -> None:
        """Commit one learning-rate job's runs and measurements together (and drop their claims)."""
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
            self._written("lr-sweep", config, [(result.width, r.seed, r.lr) for r in result.records])

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

    # ---- depth sweeps --------------------------------------------------------------------------------------
    def write_depth(self, config: str, width: int, depth: int, values: DepthValues, seconds: float) -> None:
        """Commit one depth unit's per-seed vectors and run rows together (and drop their claims)."""
        per_seed = seconds / max(1, len(values))
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO depth_measurements VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((config, width, depth, seed, quantity, idx, float(value))
                 for seed, vectors in values.items() for quantity, vector in vectors.items()
                 for idx, value in enumerate(vector)))
            self.conn.executemany("INSERT OR REPLACE INTO depth_runs VALUES (?, ?, ?, ?, ?)",
                                  ((config, width, depth, seed, per_seed) for seed in values))
            self._written("depth", config, [(width, depth, seed) for seed in values])

    def depth_values(self, config: str, width: int, depth: int) -> DepthValues:
        """The finished seeds of one depth unit: seed -> quantity -> vector (NULL read back as NaN)."""
        seeds = [int(s) for (s,) in self.conn.execute(
            "SELECT seed FROM depth_runs WHERE config = ? AND width = ? AND depth = ?", (config, width, depth))]
        out: DepthValues = {seed: {} for seed in seeds}
        for seed, quantity, value in self.conn.execute(
                "SELECT seed, quantity, value FROM depth_measurements WHERE config = ? AND width = ? AND depth = ? "
                "ORDER BY seed, quantity, idx", (config, width, depth)):
            if seed in out:
                out[seed].setdefault(quantity, []).append(math.nan if value is None else float(value))
        return out

    def depth_runs(self, config: str) -> list[dict[str, Any]]:
        """The finished (width, depth, seed) runs of a depth configuration."""
        rows = self.conn.execute("SELECT width, depth, seed FROM depth_runs WHERE config = ? ORDER BY width, depth, "
                                 "seed", (config,))
        return [{"width": w, "depth": d, "seed": s} for w, d, s in rows]
