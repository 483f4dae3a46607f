"""Store and runner: resume skips finished runs, divergence is recorded, exports round-trip."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from theory.parametrization import Optimizer, Parametrization
from theory.presets import PRESETS, get_preset
from verify.runs.keys import config_key, describe
from verify.runs.store import Store
from verify.width.sweep import config_hash, train_widths
from verify.width.train import JobResult, TrainSettings, train_job

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
