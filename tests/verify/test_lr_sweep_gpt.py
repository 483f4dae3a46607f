"""Fast checks of the LR sweep's transformer path (``verify.lr.gpt_train``): the per-seed eta trick against a
plain single-LR training of the batched GPT, for every optimizer the GPT trainer has; divergence recorded with
its step; GPT runs keyed apart from MLP runs; a killed sweep resumes from the store."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from theory.config import resolve
from verify.data import load_for
from verify.lr.gpt_train import build, gpt_edge_keys, lm_loss
from verify.lr.search import SearchSettings
from verify.lr.stability import Criterion
from verify.lr.sweep import config_hash, run_lr_sweep
from verify.lr.train import LrJob, LrSettings, train_lr_job
from verify.model.optim import GPT_SUPPORTED, BatchedOptimizer
from verify.runs.store import Store


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny GPT jobs run single-threaded: on the shared 2-core machine two torch threads made a tiny job 15x
    slower (0.5 s against 0.03 s, measured), and the results do not depend on it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# 2 heads of dimension 32 at the base width 64 (verify.model.gpt.DEFAULT_HEAD_DIM): widths are multiples of 2
TINY = LrSettings(steps=3, batch_size=2, base_width=64, eval_size=4, probe_size=2, data="pydoc")


def _gpt(optimizer: str = "adam", name: str = "gpt-mup"):  # type: ignore[no-untyped-def]
    return resolve(name, optimizer=optimizer).with_(lr_exponent=0)


@pytest.mark.parametrize("optimizer", GPT_SUPPORTED)
def test_per_seed_eta_equals_a_plain_training(optimizer: str) -> None:
    """Seed 1 trained beside seed 0 with another eta ends where a plain training of seed 1 with that eta does."""
    param = _gpt(optimizer)
    etas = (3e-3, 1e-3) if optimizer != "sgd" else (0.3, 0.1)
    batched = train_lr_job(LrJob(param, 16, (0, 1), etas, TINY)).records[1]
    data = load_for(TINY, "ce")
    model = build(param, 16, (1,), TINY, data.input_dim, data.train_x.shape[1], torch.device("cpu"))
    model.scales = [replace(scale, lr=scale.lr * etas[1]) for scale in model.scales]  # the plain training
    for t in model.tensors:
        t.requires_grad_(True)
    opt = BatchedOptimizer.for_spec(param.optimizer, model.scales)
    for step in range(1, TINY.steps + 1):
        x, y = data.batch(step, TINY.batch_size)
        loss = lm_loss(model.forward(x).logits, y)
        opt.step(model.tensors, list(torch.autograd.grad(loss.sum(), model.tensors)))
    with torch.no_grad():
        plain = float(lm_loss(model.forward(data.train_x[:TINY.eval_size]).logits, data.train_y[:TINY.eval_size])[0])
    assert batched.final_loss is not None and batched.final_loss < batched.init_loss  # type: ignore[operator]
    assert batched.final_loss == pytest.approx(plain, rel=1e-4)  # float32 rounding of the rescaled update


def test_a_divergent_run_is_recorded_with_its_step_and_the_others_go_on() -> None:
    result = train_lr_job(LrJob(_gpt("sgd", "gpt-sp"), 16, (0, 1), (1e-3, 1e12), TINY))
    calm, blown = result.records
    assert calm.diverged_step is None and calm.final_loss is not None and math.isfinite(calm.final_loss)
    assert blown.diverged_step is not None and 1 <= blown.diverged_step <= TINY.steps
    assert blown.final_loss is None and Criterion("nonfinite").unstable(blown)
    key = (1, *gpt_edge_keys(_gpt())["logits"])
    assert calm.measurements[key] is not None and blown.measurements[key] is None


def test_gpt_runs_are_keyed_apart() -> None:
    mlp = LrSettings(steps=3)
    assert config_hash(_gpt("adam", "gpt-mup"), TINY) != config_hash(_gpt("adam", "gpt-sp"), TINY)
    assert config_hash(_gpt("adam"), TINY) != config_hash(_gpt("adamw"), TINY)
    assert config_hash(_gpt(), TINY) != config_hash(resolve("mup", optimizer="adam"), mlp)


def test_killed_gpt_sweep_resumes(tmp_path: Path) -> None:
    param = _gpt()
    search = SearchSettings(start_lr=0.3, precision=2.0, grid_points=2)
    store = Store(tmp_path / "lr.db")
    first = run_lr_sweep(param, TINY, [8, 16], [0, 1], store, search=search, progress=False)
    rows = store.lr_count(first.config)
    assert first.trained > 0 and rows > 0
    assert all(first.results[w].edges[s].max_stable is not None for w in (8, 16) for s in (0, 1))
    again = run_lr_sweep(param, TINY, [8, 16], [0, 1], store, search=search, progress=False)
    assert again.trained == 0 and store.lr_count(first.config) == rows
    with store.conn:  # killed mid-way: the runs of width 16 after its first (below 0.3) never reached the store
        lost = store.conn.execute("DELETE FROM lr_runs WHERE width = 16 AND lr < 0.3").rowcount
    resumed = run_lr_sweep(param, TINY, [8, 16], [0, 1], store, search=search, progress=False)
    assert lost > 0 and 0 < resumed.trained and store.lr_count(first.config) == rows
    for w in (8, 16):
        for s in (0, 1):
            assert resumed.results[w].edges[s].max_stable == first.results[w].edges[s].max_stable
        assert resumed.results[w].optimal == first.results[w].optimal
    store.close()


@pytest.mark.slow
def test_two_dask_workers_give_the_serial_gpt_sweep(tmp_path: Path) -> None:
    """The GPT job crosses the executor seam as the MLP's does: the same stored rows as in-process."""
    pytest.importorskip("distributed")
    from verify.runs.executors import executor_for

    # single-threaded here (the fixture) as on the workers: identical float reductions
    param, search = _gpt(), SearchSettings(start_lr=1e-2, precision=2.0, grid_points=2)
    serial_store, dask_store = Store(tmp_path / "serial.db"), Store(tmp_path / "dask.db")
    serial = run_lr_sweep(param, TINY, [8, 64], [0, 1, 2], serial_store, search=search, progress=False)
    with executor_for(workers=2) as executor:
        dask = run_lr_sweep(param, TINY, [8, 64], [0, 1, 2], dask_store, search=search, executor=executor,
                            in_flight=2, progress=False)
    rows = "SELECT width, seed, lr, final_loss, diverged_step FROM lr_runs ORDER BY width, seed, lr"
    assert dask_store.conn.execute(rows).fetchall() == serial_store.conn.execute(rows).fetchall()
    assert dask.runs_trained == serial.runs_trained > 0
    serial_store.close()
    dask_store.close()
