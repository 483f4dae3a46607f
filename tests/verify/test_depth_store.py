"""Depth sweeps through the results store (verify.depth.units): the same rows with or without it, a rerun
measures nothing, per-seed units resume seed by seed, batched ones are computed whole, and claims hold."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from verify.depth.sweep import run_experiment
from verify.depth.units import StoredUnits, Values, compute_only
from verify.runs.keys import config_key, describe_depth
from verify.runs.store import Store, claim_key

RESIDUAL = {"widths": [16], "seeds": [0, 1], "depths": [2, 4], "alphas": [1.0], "optimizers": ["sgd"]}


def test_stored_rows_equal_computed_rows_and_a_rerun_measures_nothing(tmp_path: Path) -> None:
    plain = run_experiment("residual", **RESIDUAL)
    with Store(tmp_path / "d.db") as store:
        first = StoredUnits(store)
        assert run_experiment("residual", **RESIDUAL, units=first) == plain
        again = StoredUnits(store)
        assert run_experiment("residual", **RESIDUAL, units=again) == plain
        assert (first.computed, first.reused, again.computed, again.reused) == (4, 0, 0, 4)
        (config,) = store.configs(kind="depth")
        assert store.depth_runs(config) == [{"width": 16, "depth": d, "seed": s} for d in (2, 4) for s in (0, 1)]


class Fake:
    """A unit's computation that records the seeds it was asked for; values depend on the seed only."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, seeds: list[int]) -> Values:
        self.calls.append(list(seeds))
        return {"q": np.array([[s + 0.5, np.inf] for s in seeds]), "r": np.array([[np.nan] for _ in seeds])}


def test_per_seed_units_resume_seed_by_seed_and_batched_units_whole(tmp_path: Path) -> None:
    with Store(tmp_path / "u.db") as store:
        units = StoredUnits(store)
        fake = Fake()
        units("x", {"a": 1}, 8, 2, [0, 1], fake)
        out = units("x", {"a": 1}, 8, 2, [0, 1, 2], fake)
        assert fake.calls == [[0, 1], [2]]
        np.testing.assert_array_equal(out["q"], [[0.5, np.inf], [1.5, np.inf], [2.5, np.inf]])  # inf kept
        assert np.isnan(out["r"]).all() and out["r"].shape == (3, 1)  # NaN read back as NaN
        batched = Fake()
        units("x", {"a": 1}, 8, 2, [0, 1], batched, batched=True)
        units("x", {"a": 1}, 8, 2, [0, 1, 2], batched, batched=True)  # another batch: its own configuration
        units("x", {"a": 1}, 8, 2, [0, 1, 2], batched, batched=True)
        assert batched.calls == [[0, 1], [0, 1, 2]]


def _hold(store: Store, config: str, run: tuple[int, int, int], seconds: float) -> None:
    with store.conn:
        store.conn.execute("INSERT INTO claims VALUES (?, ?, ?)",
                           (claim_key("depth", config, run), "5@elsewhere/x", time.time() + seconds))


def test_seeds_another_process_holds_are_waited_for_and_read(tmp_path: Path) -> None:
    config = config_key(describe_depth("x", {"a": 1}))
    with Store(tmp_path / "w.db") as store:
        store.add_config(config, describe_depth("x", {"a": 1}))
        _hold(store, config, (8, 2, 1), 60)

        def other_finishes() -> None:
            time.sleep(0.5)
            with Store(tmp_path / "w.db") as other:
                other.owner = "5@elsewhere/x"
                other.write_depth(config, 8, 2, {1: {"q": [7.0, 7.0], "r": [7.0]}}, 0.1)

        thread = threading.Thread(target=other_finishes)
        thread.start()
        fake = Fake()
        out = StoredUnits(store, poll=0.05)("x", {"a": 1}, 8, 2, [0, 1], fake)
        thread.join()
        assert fake.calls == [[0]] and out["q"][1].tolist() == [7.0, 7.0]


def test_a_batched_unit_waits_out_a_dead_claimers_lease_then_computes_every_seed(tmp_path: Path) -> None:
    description = describe_depth("x", {"a": 1, "seeds": [0, 1]})
    config = config_key(description)
    with Store(tmp_path / "b.db") as store:
        _hold(store, config, (8, 2, 1), 0.5)  # never renewed: its process is gone
        fake = Fake()
        start = time.perf_counter()
        StoredUnits(store, poll=0.05)("x", {"a": 1}, 8, 2, [0, 1], fake, batched=True)
        assert fake.calls == [[0, 1]] and time.perf_counter() - start >= 0.4 and store.claims() == []


def test_a_failed_unit_releases_its_claims(tmp_path: Path) -> None:
    def broken(seeds: list[int]) -> Values:
        raise RuntimeError("diverged")

    with Store(tmp_path / "f.db") as store:
        with pytest.raises(RuntimeError):
            StoredUnits(store)("x", {}, 8, 2, [0, 1], broken)
        assert store.claims() == []
    assert compute_only("x", {}, 8, 2, [3], Fake())["q"].tolist() == [[3.5, np.inf]]


def test_units_run_side_by_side_through_an_executor(tmp_path: Path) -> None:
    """Every unit of an experiment goes to the executor at once (two in flight here): the same rows."""
    from concurrent.futures import ThreadPoolExecutor

    plain = run_experiment("residual", **RESIDUAL)
    with Store(tmp_path / "x.db") as store, ThreadPoolExecutor(2) as pool:
        units = StoredUnits(store, executor=pool, in_flight=2)
        assert run_experiment("residual", **RESIDUAL, units=units) == plain
        assert (units.computed, units.reused) == (4, 0) and store.claims() == []


@pytest.mark.slow
def test_depth_sweep_on_two_dask_workers_prints_the_in_process_result(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    pytest.importorskip("distributed")
    flags = ["depth-sweep", "residual", "--depths", "2,4,8", "--widths", "32", "--seeds", "3", "--alphas", "0.5,1",
             "--optimizers", "sgd", "--json", "--threads", "1"]  # one thread in both: the same float sums
    outs = []
    for extra in ([], ["--workers", "2"]):
        done = subprocess.run([sys.executable, "-m", "abcscale", *flags, "--db", str(tmp_path / f"{len(extra)}.db"),
                               *extra], capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2])
        assert done.returncode in (0, 1), done.stderr
        outs.append(json.loads(done.stdout))
    assert outs[0] == outs[1]
