"""The width check's work model (verify.width.cost), which decides whether ``--workers`` starts a cluster.

Its seconds are measured figures (``benchmarks/bench_verify_workers.py --model`` prints them against measured
jobs; no timing here): these tests hold its shape, i.e. what makes a job more work."""

from __future__ import annotations

from dataclasses import replace

import pytest

from theory.parametrization import Parametrization
from verify.options import parametrization, trainable
from verify.runs.plan import cluster_pays
from verify.width.check import _gpt_settings
from verify.width.cost import job_seconds, jobs_seconds
from verify.width.sweep import pending_jobs
from verify.width.train import TrainSettings

MLP = TrainSettings(steps=3, batch_size=1, base_width=128)


def _param(name: str, optimizer: str = "sgd") -> Parametrization:
    return trainable(parametrization(name, optimizer=optimizer, loss="ce"))


@pytest.mark.parametrize("name", ["sp", "gpt-mup"])
def test_more_width_seeds_or_steps_is_more_work(name: str) -> None:
    param = _param(name)
    settings = (_gpt_settings(param, steps=3, batch_size=None, base_width=None, lr=None, data="pydoc")
                if name.startswith("gpt") else MLP)
    base = job_seconds(param, settings, 256, 8)
    assert job_seconds(param, settings, 512, 8) > base
    assert job_seconds(param, settings, 256, 16) > base
    assert job_seconds(param, replace(settings, steps=6), 256, 8) > base


def test_full_updates_and_newton_schulz_cost_more_than_plain_sgd() -> None:
    sgd, adam, muon = (job_seconds(_param("sp", o), MLP, 1024, 8) for o in ("sgd", "adam", "muon"))
    assert sgd < adam < muon


def check_seconds(param: Parametrization, settings: TrainSettings, widths: list[int], seeds: int) -> float:
    """A whole check's modelled seconds, as ``CheckPlan.work_seconds`` counts them."""
    return jobs_seconds(pending_jobs(param, settings, widths, list(range(seeds)), set()))


def test_the_readme_job_is_too_small_for_two_workers_and_a_gpt_check_is_not() -> None:
    """The decision ``check --workers 2`` makes on its defaults: the README's job in this process, a GPT check on
    the cluster (the bench measured 0.6 s of single-threaded training for the first, about 70 s for the second)."""
    sp = _param("sp")
    assert not cluster_pays(check_seconds(sp, MLP, [128, 256, 512, 1024], 8), 2)
    gpt = _param("gpt-mup", "adam")
    settings = _gpt_settings(gpt, steps=3, batch_size=None, base_width=None, lr=None, data="pydoc")
    assert cluster_pays(check_seconds(gpt, settings, [128, 256, 512, 1024], 16), 2)


def test_an_mlp_input_width_is_the_data_sets() -> None:
    """The work model's and the memory checks' input width (``TrainSettings.inputs``, ``input_width``) is the
    width of the rows the data set loads: the digits' pixels, or the synthetic features asked for."""
    from verify.data import load
    from verify.width.train import TrainSettings

    for data, input_dim in (("digits", 32), ("synthetic", 32), ("synthetic", 12)):
        loaded = load(data, "ce", input_dim=input_dim)
        assert TrainSettings(data=data, input_dim=input_dim).inputs == loaded.train_x.shape[1], data


def test_the_memory_check_sizes_the_job_the_cpu_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU a width's seeds train in heap-sized groups (one seed a job for a width-2048 GPT), so the check
    asks memory for that job (2.1e9 bytes), not for all 16 seeds at once (3.4e10 bytes, refused before on a
    24 GiB machine); a GPU job batches every seed and is still sized whole."""
    import verify.memory
    from theory.errors import InputError
    from theory.transformer import get_gpt_preset
    from verify.width.check import check_job_memory

    monkeypatch.setattr(verify.memory, "device_memory", lambda device: 24 * 2**30)
    param = get_gpt_preset("gpt-sp", optimizer="adam")
    settings = _gpt_settings(param, steps=3, batch_size=None, base_width=None, lr=None, data="pydoc")
    check_job_memory(param, settings, [256, 2048], 16, "cpu")  # no refusal
    with pytest.raises(InputError, match=r"--widths 2048: one width-2048 GPT job \(16 seeds\) needs"):
        check_job_memory(param, settings, [256, 2048], 16, "cuda")
