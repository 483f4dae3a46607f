"""Fast checks of the LR sweep: bisection against a known stability oracle, the per-seed eta trick against a
plain single-LR training, the fits against known power laws, and store idempotence with tiny trainings."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from theory.config import resolve
from theory.errors import InputError
from verify.lr.fit import fit_lr
from verify.lr.search import SearchSettings, WidthResult, parabola_vertex, width_search
from verify.lr.stability import Criterion
from verify.lr.sweep import run_lr_sweep
from verify.lr.train import LrJob, LrRecord, LrSettings, train_lr_job
from verify.model.mlp import BatchedMLP, init_weights, layer_scales, per_seed_loss
from verify.model.optim import BatchedOptimizer
from verify.runs.store import Store

TINY = LrSettings(steps=3, batch_size=8, base_width=8, eval_size=32, probe_size=16, input_dim=8)


def _oracle_record(seed: int, lr: float, edge: float, loss_at: float = 1.0) -> LrRecord:
    """A run that is stable (loss falls to 0.5) iff lr <= edge, and non-finite above it."""
    stable = lr <= edge
    return LrRecord(seed=seed, lr=lr, init_loss=1.0, final_loss=0.5 * loss_at if stable else None,
                    final_accuracy=0.5 if stable else None, diverged_step=None if stable else 2,
                    peak_hidden_ratio=1.0 if stable else None, peak_logit_rms=1.0, init_logit_rms=1.0,
                    peak_batch_loss=1.0, steps_run=3)


def _drive(edges: dict[int, float], settings: SearchSettings, loss_curve=None) -> WidthResult:
    search = width_search(64, list(edges), Criterion(), settings)
    requests = next(search)
    while True:
        records = []
        for seeds, lrs in requests:
            for seed, lr in zip(seeds, lrs, strict=True):
                scale = 1.0 if loss_curve is None else loss_curve(lr)
                records.append(_oracle_record(seed, lr, edges[seed], scale))
        try:
            requests = search.send(records)
        except StopIteration as stop:
            return stop.value


@given(st.lists(st.floats(1e-5, 1e3), min_size=1, max_size=4), st.sampled_from([2 ** 0.125, 1.2, 2.0]))
def test_bisection_brackets_the_oracle_edge(edges_list: list[float], precision: float) -> None:
    settings = SearchSettings(precision=precision, grid_points=0)
    result = _drive(dict(enumerate(edges_list)), settings)
    for seed, edge in enumerate(edges_list):
        e = result.edges[seed]
        assert e.lo is not None and e.hi is not None
        assert e.lo.lr <= edge < e.hi.lr  # the oracle's edge lies in the final bracket
        assert e.hi.lr / e.lo.lr <= precision * (1 + 1e-9)
        assert e.max_stable is not None and abs(math.log(e.max_stable / edge)) <= 0.5 * math.log(precision) + 1e-9
        # trainings: expansion steps to bracket, then halvings of log(expand) down to log(precision)
        expansions = abs(math.floor(math.log(edge / settings.start_lr) / math.log(settings.expand))) + 1
        halvings = math.ceil(math.log2(math.log(settings.expand) / math.log(precision)))
        assert e.trainings <= expansions + 1 + halvings


def test_bisection_reports_unbracketed_edges() -> None:
    result = _drive({0: 1e9, 1: 1e-12}, SearchSettings(grid_points=0))
    assert result.edges[0].max_stable is None and "stable up to" in result.edges[0].note
    assert result.edges[1].max_stable is None and "unstable down to" in result.edges[1].note


def test_optimal_lr_refines_to_the_parabola_minimum() -> None:
    """Final loss 0.5 * (1 + (log lr - log 0.03)^2): the refined optimum is 0.03 (exact for a parabola)."""
    curve = lambda lr: 1.0 + (math.log(lr) - math.log(0.03)) ** 2  # noqa: E731
    result = _drive({0: 0.5, 1: 0.5}, SearchSettings(), loss_curve=curve)
    assert result.optimal[0] == pytest.approx(0.03, rel=1e-9)
    assert result.trainings == result.edges[0].trainings + 5 + 2  # bisection rounds + grid + refinement


def test_parabola_vertex_edge_cases() -> None:
    assert parabola_vertex((0.0, 1.0, 2.0), (1.0, 0.0, 1.0)) == 1.0
    assert parabola_vertex((0.0, 1.0, 2.0), (9.0, 4.0, 1.0)) == 2.0  # vertex at x = 3, clipped
    assert parabola_vertex((0.0, 1.0, 2.0), (4.0, 1.0, 0.0)) == pytest.approx(2.0)  # y = (x - 2)^2
    assert parabola_vertex((0.0, 1.0, 2.0), (0.0, 1.0, 0.0)) == 1.0  # concave: keep the middle
    assert parabola_vertex((0.0, 1.0, 2.0), (1.0, 0.0, math.inf)) == 1.0


def test_fit_recovers_a_power_law_with_seed_noise() -> None:
    widths, seeds = [64, 128, 256, 512], [0, 1, 2, 3]
    rng = np.random.default_rng(0)
    results = {}
    for w in widths:
        edges = {s: 2.0 * (w / 64) ** -0.5 * math.exp(0.05 * rng.standard_normal()) for s in seeds}
        results[w] = _drive(edges, SearchSettings(grid_points=0, precision=1.01))
    fit = fit_lr(widths, seeds, results, "max_stable")
    assert fit.slope is not None and fit.low is not None and fit.high is not None
    assert fit.low <= fit.slope <= fit.high
    # seed noise of 5% in log LR over an 8x width range moves the slope by about 0.05/log(8)*2 ~ 0.05
    assert abs(fit.slope + 0.5) < 0.06


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_per_seed_eta_equals_a_plain_training(optimizer: str) -> None:
    """Seed 1 trained beside seed 0 with another eta ends where a plain training with eta does."""
    param = resolve("sp", optimizer=optimizer, loss="ce").with_(lr_exponent=0)
    etas = (0.3, 0.05) if optimizer == "sgd" else (3e-3, 1e-3)
    batched = train_lr_job(LrJob(param, 16, (0, 1), etas, TINY)).records[1]
    from verify.data import load_for

    data = load_for(TINY, param.loss)
    scales = layer_scales(param, 16, base_width=8, input_dim=data.input_dim, output_dim=data.output_dim, lr=etas[1])
    model = BatchedMLP(scales, param.activation, init_weights(scales, [1], 16))
    opt = BatchedOptimizer(optimizer, scales)
    for step in range(1, TINY.steps + 1):
        x, y = data.batch(step, TINY.batch_size)
        loss = per_seed_loss(model.forward(x).logits, y, param.loss)
        opt.step(model.weights, list(torch.autograd.grad(loss.sum(), model.weights)))
    with torch.no_grad():
        ex, ey = data.train_x[:TINY.eval_size], data.train_y[:TINY.eval_size]
        plain = float(per_seed_loss(model.forward(ex).logits, ey, param.loss)[0])
    assert batched.final_loss == pytest.approx(plain, rel=1e-5)  # float32 rounding of the rescaled update


def test_criterion_and_regime_thresholds() -> None:
    base = dict(seed=0, lr=1.0, init_loss=2.0, final_accuracy=0.5, diverged_step=None, init_logit_rms=1.0,
                peak_batch_loss=2.0, steps_run=3)
    ok = LrRecord(final_loss=1.0, peak_hidden_ratio=2.0, peak_logit_rms=3.0, **base)
    worse = LrRecord(final_loss=3.0, peak_hidden_ratio=2.0, peak_logit_rms=30.0, **base)
    blown = LrRecord(final_loss=1.0, peak_hidden_ratio=50.0, peak_logit_rms=3.0, **base)
    assert not Criterion("loss").unstable(ok) and Criterion("loss").unstable(worse)
    assert not Criterion("loss", loss_factor=2.0).unstable(worse)
    assert Criterion("activation").unstable(blown) and not Criterion("nonfinite").unstable(blown)
    assert [Criterion().regime(r) for r in (ok, worse, blown)] == ["stable", "controlled-divergence",
                                                                   "catastrophic"]
    with pytest.raises(InputError, match="criterion"):
        Criterion("nan")


def test_store_resumes_and_reruns_are_idempotent(tmp_path: Path) -> None:
    param = resolve("sp", loss="ce")
    search = SearchSettings(start_lr=0.5, precision=1.5, grid_points=2)
    store = Store(tmp_path / "lr.db")
    first = run_lr_sweep(param, TINY, [8, 16], [0, 1], store, search=search, progress=False)
    rows = store.lr_count(first.config)
    assert first.trained > 0 and rows > 0
    again = run_lr_sweep(param, TINY, [8, 16], [0, 1], store, search=search, progress=False)
    assert again.trained == 0 and store.lr_count(first.config) == rows
    # a sweep killed mid-way: drop the runs of width 16 above its first stable eta, rerun trains only those
    lost = store.conn.execute("SELECT COUNT(*) FROM lr_runs WHERE width = 16 AND lr > 0.5").fetchone()[0]
    with store.conn:
        store.conn.execute("DELETE FROM lr_runs WHERE width = 16 AND lr > 0.5")
    resumed = run_lr_sweep(param, TINY, [8, 16], [0, 1], store, search=search, progress=False)
    assert 0 < resumed.trained and store.lr_count(first.config) == rows and lost > 0
    for w in (8, 16):
        for s in (0, 1):
            assert resumed.results[w].edges[s].max_stable == first.results[w].edges[s].max_stable
        assert resumed.results[w].optimal == first.results[w].optimal
    store.close()
