"""Store and runner: resume skips finished runs, divergence is recorded, exports round-trip, and claims keep
processes sharing a file from training a run twice (their leases expire when the claimer dies)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from theory.parametrization import Optimizer, Parametrization
from theory.presets import PRESETS, get_preset
from verify.runs.keys import config_key, describe
from verify.runs.store import Claim, Store, claim_key, gone, owner_id
from verify.width.sweep import config_hash, train_widths
from verify.width.train import Job, JobResult, TrainSettings, train_job

SETTINGS = TrainSettings(steps=2, batch_size=8, probe_size=8, base_width=16, input_dim=4, classes=3)


def test_resume_computes_only_missing_runs(tmp_path: Path) -> None:
    param = get_preset("sp", layers=1, lr_exponent="-1/2")
    store = Store(tmp_path / "r.db")
    computed: list[tuple[int, tuple[int, ...]]] = []
    train_widths(param, SETTINGS, [16, 32], [0, 1], store, progress=False,
              on_result=lambda r: computed.append((r.width, r.seeds)))
    assert sorted(computed) == [(16, (0, 1)), (32, (0, 1))]
    computed.clear()
    key = train_widths(param, SETTINGS, [16, 32, 64], [0, 1, 2], store, progress=False,
                    on_result=lambda r: computed.append((r.width, r.seeds)))
    assert sorted(computed) == [(16, (2,)), (32, (2,)), (64, (0, 1, 2))]
    assert len(store.finished(key)) == 9
    # 2 layers: per step 2 + 2 gradients, step 0 adds 2 init values, later steps 2*5 - 1 updates
    per_run = (4 + 2) + 2 * (4 + 9)
    assert len(store.measurements(key)) == 9 * per_run
    store.close()


def test_seed_result_does_not_depend_on_companions() -> None:
    from verify.width.train import Job

    param = get_preset("sp", layers=1)
    alone = train_job(Job(param, 32, (1,), SETTINGS))
    together = train_job(Job(param, 32, (0, 1), SETTINGS))
    a = {r[1:4]: r[4] for r in alone.records}
    b = {r[1:4]: r[4] for r in together.records if r[0] == 1}
    assert a.keys() == b.keys()
    assert all(a[k] == pytest.approx(b[k], rel=1e-4) for k in a)


def test_divergence_recorded_with_its_step(tmp_path: Path) -> None:
    from verify.width.train import Job

    param = get_preset("sp", layers=2, loss="mse", lr_exponent=0)
    result = train_job(Job(param, 64, (0,), TrainSettings(steps=30, lr=1e3, batch_size=8, probe_size=8,
                                                          input_dim=4, classes=3)))
    step = result.diverged[0]
    assert step is not None and 1 <= step <= 30
    assert all(r[4] is None for r in result.records if r[1] >= step)
    store = Store(tmp_path / "d.db")
    store.write("k", result)
    assert store.runs("k") == [{"width": 64, "seed": 0, "status": "diverged", "diverged_step": step}]
    store.close()


def test_export_csv_and_json(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.db")
    store.write("k", JobResult(width=8, seeds=(0,), records=[(0, 1, "feature_update", 2, 0.5)], diverged={0: None}))
    store.export(tmp_path / "m.csv", ["k"])
    store.export(tmp_path / "m.json", ["k"])
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert rows == [{"config": "k", "width": "8", "seed": "0", "step": "1", "quantity": "feature_update",
                     "layer": "2", "value": "0.5"}]
    assert json.loads((tmp_path / "m.json").read_text())[0]["value"] == 0.5
    store.close()


def test_config_hash_changes_with_what_matters() -> None:
    param = get_preset("sp", layers=1)
    assert config_hash(param, SETTINGS) == config_hash(get_preset("sp", layers=1), SETTINGS)
    assert config_hash(param, SETTINGS) != config_hash(param.with_(lr_exponent="-1/2"), SETTINGS)
    assert config_hash(param, SETTINGS) != config_hash(param, TrainSettings(steps=3))


def test_training_fields_change_the_config_key_and_labels_do_not() -> None:
    def key(p: Parametrization) -> str:
        return config_key(describe("width", p, {}))

    ip, ip_llr = get_preset("ip"), get_preset("ip-llr")
    assert key(ip) != key(ip_llr)  # the warm-up schedule is what is trained differently
    sgd = get_preset("sp")
    assert key(sgd) != key(sgd.with_(optimizer=Optimizer("sgd", momentum=0.9)))
    assert key(sgd) == key(sgd.with_(name="renamed", source="elsewhere"))
    assert len({key(get_preset(name)) for name in PRESETS}) == len(PRESETS)


# ---- claims: one training per run across processes ----------------------------------------------------------------
def _foreign_claim(store: Store, key: str, owner: str, expires_in: float) -> None:
    """A claim row as another process would have written it."""
    with store.conn:
        store.conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (key, owner, time.time() + expires_in))


def test_claim_sorts_runs_into_done_busy_and_claimed(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    store.write("k", JobResult(width=16, seeds=(0,), records=[], diverged={0: None}))
    _foreign_claim(store, claim_key("width", "k", (16, 1)), "1@elsewhere/alive", 60)
    _foreign_claim(store, claim_key("width", "k", (16, 2)), "2@elsewhere/dead", -1)
    claim = store.claim("width", "k", [(16, 0), (16, 1), (16, 2), (16, 3)])
    assert claim == Claim(claimed=[(16, 2), (16, 3)], done=[(16, 0)], busy=[(16, 1)])
    owners = {row["key"]: row["owner"] for row in store.claims()}
    assert owners[claim_key("width", "k", (16, 2))] == owner_id()  # the expired claim is taken over
    # the same process never waits for itself, through another handle too
    other_handle = Store(tmp_path / "c.db")
    assert other_handle.claim("width", "k", [(16, 2)]).claimed == [(16, 2)]
    other_handle.close()
    store.write("k", JobResult(width=16, seeds=(2, 3), records=[], diverged={2: None, 3: None}))
    assert [row["key"] for row in store.claims()] == [claim_key("width", "k", (16, 1))]  # written: claims gone
    store.close()


def test_a_claim_of_a_process_gone_from_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True)
    dead = f"{finished.stdout.strip()}@{socket.gethostname()}/0000"  # its pid exists no more
    alive = f"{os.getppid()}@{socket.gethostname()}/0000"  # a live process on this host (pytest's parent)
    assert gone(dead) and not gone(alive) and not gone(owner_id()) and not gone("1@elsewhere/0000")
    with Store(tmp_path / "g.db") as store:
        _foreign_claim(store, claim_key("width", "k", (16, 0)), dead, 60)
        _foreign_claim(store, claim_key("width", "k", (16, 1)), alive, 60)
        assert store.claim("width", "k", [(16, 0), (16, 1)]) == Claim(claimed=[(16, 0)], done=[], busy=[(16, 1)])


def test_claims_are_renewed_while_held_and_released_on_close(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.db", lease=0.4)
    store.claim("lr-sweep", "k", [(16, 0, 0.1)])
    time.sleep(1.2)  # three leases: only the heartbeat keeps the claim alive
    (row,) = store.claims()
    assert row["expires_at"] > time.time() and row["key"] == claim_key("lr-sweep", "k", (16, 0, 0.1))
    with Store(tmp_path / "h.db") as again:  # the same process: no conflict
        assert again.claim("lr-sweep", "k", [(16, 0, 0.1)]).claimed == [(16, 0, 0.1)]
        store.close()
        assert again.claims() == []


def test_expired_claims_of_a_dead_process_are_retrained(tmp_path: Path) -> None:
    param = get_preset("sp", layers=1, lr_exponent="-1/2")
    store = Store(tmp_path / "x.db")
    key = config_hash(param, SETTINGS)
    for width in (16, 32):
        for seed in (0, 1):
            _foreign_claim(store, claim_key("width", key, (width, seed)), "9@gone/dead", -5)
    trained: list[tuple[int, tuple[int, ...]]] = []
    train_widths(param, SETTINGS, [16, 32], [0, 1], store, progress=False,
                 on_result=lambda r: trained.append((r.width, r.seeds)))
    assert sorted(trained) == [(16, (0, 1)), (32, (0, 1))] and store.claims() == []
    store.close()


def test_a_live_claim_is_waited_for_and_read_not_trained(tmp_path: Path) -> None:
    """Another process holds width 32: this one trains width 16, waits, and reads width 32 when it is written."""
    param = get_preset("sp", layers=1, lr_exponent="-1/2")
    key = config_hash(param, SETTINGS)
    store = Store(tmp_path / "w.db")
    for seed in (0, 1):
        _foreign_claim(store, claim_key("width", key, (32, seed)), "7@elsewhere/alive", 60)
    theirs = train_job(Job(param, 32, (0, 1), SETTINGS))

    def other_process_finishes() -> None:
        time.sleep(1.0)
        with Store(tmp_path / "w.db") as other:
            other.owner = "7@elsewhere/alive"
            other.write(key, theirs)

    thread = threading.Thread(target=other_process_finishes)
    thread.start()
    trained: list[int] = []
    start = time.perf_counter()
    train_widths(param, SETTINGS, [16, 32], [0, 1], store, progress=False, poll=0.05,
                 on_result=lambda r: trained.append(r.width))
    thread.join()
    assert trained == [16] and time.perf_counter() - start >= 0.9
    assert store.finished(key) == {(16, 0), (16, 1), (32, 0), (32, 1)} and store.claims() == []
    store.close()


def test_a_dead_claimers_live_looking_lease_is_waited_out_then_retrained(tmp_path: Path) -> None:
    param = get_preset("sp", layers=1, lr_exponent="-1/2")
    key = config_hash(param, SETTINGS)
    store = Store(tmp_path / "l.db")
    _foreign_claim(store, claim_key("width", key, (32, 1)), "8@elsewhere/killed", 1.0)  # no heartbeat renews it
    trained: list[tuple[int, tuple[int, ...]]] = []
    start = time.perf_counter()
    train_widths(param, SETTINGS, [16, 32], [0, 1], store, progress=False, poll=0.05,
                 on_result=lambda r: trained.append((r.width, r.seeds)))
    assert sorted(trained) == [(16, (0, 1)), (32, (0,)), (32, (1,))] and time.perf_counter() - start >= 0.9
    store.close()


def test_a_failed_training_releases_its_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import verify.width.sweep as sweep

    def broken(job: Job) -> JobResult:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(sweep, "train_job", broken)
    store = Store(tmp_path / "f.db")
    with pytest.raises(RuntimeError):
        train_widths(get_preset("sp", layers=1), SETTINGS, [16], [0, 1], store, progress=False)
    assert store.claims() == []
    store.close()


def test_configs_by_kind_and_unknown_kinds(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    store.add_config("a", describe("width", get_preset("sp"), {}))
    store.add_config("b", {"kind": "depth", "experiment": "mlp-l3", "settings": {}})
    store.add_config("c", {"parametrization": {}})  # written before configurations had a kind
    assert list(store.configs(kind="depth")) == ["b"] and list(store.configs(kind="width")) == ["a"]
    assert store.kinds() == {"width": 1, "depth": 1, "unknown": 1}
    with pytest.raises(ValueError, match="unknown configuration kind"):
        store.configs(kind="depths")
    store.close()
