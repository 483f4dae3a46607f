"""The sweep plan: seed groups and the LR search's fan-out from the executor's slots, and why groups are safe
(every seed trains to the same numbers in any group)."""

from __future__ import annotations

import pytest

from theory.config import resolve
from verify.lr.fanout import fanout_plan, refinement, width_model
from verify.lr.search import SearchSettings
from verify.lr.stability import Criterion
from verify.lr.sweep import sweep_plan
from verify.lr.train import LrJob, LrSettings, train_lr_job
from verify.runs.plan import job_cost, seed_groups, seed_parts
from verify.width.sweep import pending_jobs
from verify.width.train import Job, TrainSettings, train_job

LR_WIDTHS = [64, 128, 256, 512]


def test_seed_groups_are_consecutive_and_balanced() -> None:
    assert seed_groups([0, 1, 2], 2) == [(0, 1), (2,)]
    assert seed_groups(list(range(8)), 3) == [(0, 1, 2), (3, 4, 5), (6, 7)]
    assert seed_groups([4, 5], 5) == [(4,), (5,)] and seed_groups([4, 5], 1) == [(4, 5)]


def test_one_slot_splits_nothing_and_fans_out_nothing() -> None:
    fanout, parts = sweep_plan(LR_WIDTHS, 3, 1, SearchSettings())
    assert set(fanout.values()) == {1} and set(parts.values()) == {1}


def test_two_slots_split_only_the_dominant_width() -> None:
    """lr-sweep's documented protocol on two workers: width 512 is 69% of a round, so its 3 seeds go to both."""
    fanout, parts = sweep_plan(LR_WIDTHS, 3, 2, SearchSettings())
    assert parts == {64: 1, 128: 1, 256: 1, 512: 2} and set(fanout.values()) == {1}
    share = sum(job_cost(w, 3) for w in LR_WIDTHS) / 2
    assert job_cost(512, 3) > share >= job_cost(512, 2)
    assert seed_parts([128, 256, 512, 1024], 8, 2) == {128: 1, 256: 1, 512: 1, 1024: 2}  # check sp --loss ce


def test_many_slots_fan_out_the_widest_width_first() -> None:
    fanout, parts = sweep_plan(LR_WIDTHS, 3, 64, SearchSettings())
    assert parts == {w: 3 for w in LR_WIDTHS}
    assert fanout[512] == 15 and fanout[512] >= fanout[256] >= fanout[128] >= fanout[64]  # the whole tree at once
    for slots in (2, 4, 8, 16, 64):
        fanout, parts = sweep_plan(LR_WIDTHS, 3, slots, SearchSettings())
        assert all(1 <= k <= 64 for k in fanout.values()) and all(1 <= p <= min(3, slots) for p in parts.values())


def test_the_fanout_model_trades_trainings_for_rounds() -> None:
    assert refinement(4, 1) == (4, 4) and refinement(4, 3) == (2, 6) and refinement(4, 15) == (1, 15)
    one = width_model(512, 3, 3, 1, 64, 4, 5)
    fifteen = width_model(512, 3, 3, 15, 64, 4, 5)
    assert fifteen[0] < one[0] and fifteen[1] > one[1]  # shorter path, more work
    assert fanout_plan([512], 3, 1, {512: 1}, expand=4.0, precision=2 ** 0.125, grid_points=5) == {512: 1}


def test_a_cpu_job_keeps_its_every_tensor_below_the_mmap_threshold() -> None:
    """Seeds of a wide width are split so that each job's largest tensor stays in glibc's heap
    (verify.width.cost.heap_seeds); a GPU job is not split."""
    from verify.runs.runtime import MMAP_THRESHOLD
    from verify.width.check import _gpt_settings, choose_lr_exponent
    from verify.width.cost import seed_bytes

    param, _ = choose_lr_exponent(resolve("gpt-mup", optimizer="adam"), None)
    settings = _gpt_settings(param, steps=3, batch_size=None, base_width=None, lr=None, data="pydoc")
    jobs = pending_jobs(param, settings, [128, 1024], list(range(16)), set())
    assert [len(j.seeds) for j in jobs if j.width == 1024] == [1] * 16  # 16 MB a seed
    assert [len(j.seeds) for j in jobs if j.width == 128] == [16]
    assert all(len(j.seeds) * seed_bytes(param, settings, j.width) < MMAP_THRESHOLD for j in jobs)
    gpu = pending_jobs(param, settings, [128, 1024], list(range(16)), set(), device="cuda")
    assert [len(j.seeds) for j in gpu] == [16, 16]


def test_width_jobs_are_split_into_seed_groups_widest_first() -> None:
    param = resolve("sp", loss="ce")
    jobs = pending_jobs(param, TrainSettings(), [128, 256, 512, 1024], list(range(8)), {(1024, 0)}, slots=2)
    assert [(j.width, j.seeds) for j in jobs] == [(1024, (1, 2, 3, 4)), (1024, (5, 6, 7)), (512, tuple(range(8))),
                                                  (256, tuple(range(8))), (128, tuple(range(8)))]


def test_an_lr_seed_trains_to_the_same_record_in_any_group() -> None:
    """Stable runs are bit for bit the same; a diverged run is unstable in any group (only what the batch does
    after it diverged, e.g. steps_run, may differ), so the search takes the same path."""
    param = resolve("sp", loss="ce").with_(lr_exponent=0)
    settings = LrSettings(steps=12, batch_size=8, base_width=16, eval_size=64, probe_size=16, input_dim=8)
    lrs = (0.3, 1.0, 200.0)
    whole = train_lr_job(LrJob(param, 64, (0, 1, 2), lrs, settings)).records
    split = (train_lr_job(LrJob(param, 64, (0, 1), lrs[:2], settings)).records
             + train_lr_job(LrJob(param, 64, (2,), lrs[2:], settings)).records)
    assert whole[2].diverged_step is not None  # the third seed diverges: the case where groups could matter
    for a, b in zip(whole, split, strict=True):
        assert Criterion().unstable(a) == Criterion().unstable(b)
        if a.diverged_step is None:
            assert a == b


@pytest.mark.parametrize("spec", ["sp", "mup", "gpt-sp", "gpt-mup"])
def test_a_width_check_seed_trains_to_the_same_records_in_any_group(spec: str) -> None:
    from verify.width.check import _gpt_settings, choose_lr_exponent

    param, _ = choose_lr_exponent(resolve(spec, loss="ce", optimizer="adam" if "gpt" in spec else None), None)
    settings = TrainSettings(base_width=16)
    if param.network is not None:
        settings = _gpt_settings(param, steps=3, batch_size=None, base_width=32, lr=None, data="pydoc")
    whole = train_job(Job(param, 64, (0, 1, 2, 3), settings))
    split = [train_job(Job(param, 64, group, settings)) for group in seed_groups([0, 1, 2, 3], 2)]
    assert sorted(whole.records) == sorted(r for part in split for r in part.records)
    assert whole.diverged == {s: d for part in split for s, d in part.diverged.items()}
