"""The executor seam (verify.runs.executors): slots, the Dask give-up as a one-line TaskFailed, GPU resources."""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from theory.errors import InputError, TaskFailed
from verify.runs.executors import InlineExecutor, _Named, executor_for, executor_slots, submit_keyed
from verify.runs.runtime import check_device, gpu_resources


class KilledWorker(Exception):
    """Stands in for distributed's KilledWorker (same name, same ``allowed_failures``)."""

    allowed_failures = 3


def test_inline_runs_one_task_at_a_time_in_this_process() -> None:
    assert executor_slots(InlineExecutor()) == 1 and executor_slots(None) == 1
    assert submit_keyed(InlineExecutor(), "k", pow, 2, 5, label="ignored").result() == 32


def test_a_task_that_killed_every_worker_becomes_one_line_naming_it() -> None:
    inner: Future[int] = Future()
    named = _Named(inner, "lr-train-abc-123", "lr-sweep training at width 512, seeds 0,1, eta 0.4,0.4")
    inner.set_exception(KilledWorker("x"))
    with pytest.raises(TaskFailed) as err:
        named.result()
    text = str(err.value)
    assert "\n" not in text and text.startswith("task lr-train-abc-123 (lr-sweep training at width 512")
    assert "(4 in a row)" in text and "a rerun resumes" in text


def test_other_outcomes_pass_through_and_cancel_reaches_the_task() -> None:
    ok: Future[int] = Future()
    named = _Named(ok, "k", "")
    ok.set_result(7)
    assert named.result() == 7
    bad: Future[int] = Future()
    named = _Named(bad, "k", "")
    bad.set_exception(ValueError("a bug in the trainer"))
    with pytest.raises(ValueError, match="a bug"):
        named.result()
    pending: Future[int] = Future()
    named = _Named(pending, "k", "")
    assert named.cancel() and pending.cancelled()


def test_bad_executor_options_are_one_line() -> None:
    with pytest.raises(InputError, match="at least 1"), executor_for(0):
        pass
    with pytest.raises(InputError, match="not both"), executor_for(2, "tcp://127.0.0.1:1"):
        pass
    with pytest.raises(InputError, match="tcp://HOST:PORT"), executor_for(1, "127.0.0.1:1"):
        pass


def test_a_gpu_needs_one_resource_unit_a_task_and_may_run_on_a_scheduler() -> None:
    assert gpu_resources("cpu") is None and gpu_resources("cuda") == {"GPU": 1}
    assert check_device("cuda", scheduler="tcp://127.0.0.1:8786") == "cuda"  # the workers' GPUs, not this machine's
    with pytest.raises(InputError, match="--workers 1"):
        check_device("cuda", workers=2)


SPANS: list[tuple[float, float]] = []


def _hold(seconds: float) -> None:
    start = time.monotonic()
    time.sleep(seconds)
    SPANS.append((start, time.monotonic()))


@pytest.mark.slow
def test_a_gpu_worker_runs_one_training_at_a_time(tmp_path: Path) -> None:
    """A worker with two threads and one GPU: tasks that need the GPU run one after the other (slots 1); a
    scheduler whose workers declare no GPU is refused in one line instead of waiting forever."""
    distributed = pytest.importorskip("distributed")
    from verify.runs.executors import DaskExecutor

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None,
                                  resources={"GPU": 1}) as cluster, distributed.Client(cluster) as client:
        assert DaskExecutor(client).slots == 2
        gpu = DaskExecutor(client, {"GPU": 1})
        assert gpu.slots == 1
        SPANS.clear()
        futures = [gpu.submit_keyed(f"hold-{i}", _hold, 0.3) for i in range(3)]
        for future in futures:
            future.result()
        spans = sorted(SPANS)
        assert len(spans) == 3 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as plain:
        with pytest.raises(InputError, match="no worker declares the resource GPU=1"):
            with executor_for(scheduler=plain.scheduler_address, resources={"GPU": 1}):
                pass


def test_a_cluster_starts_only_where_it_could_repay_its_start_up() -> None:
    """``cluster_pays``: N workers save at most work * (1 - 1/N), which must exceed ``CLUSTER_SECONDS``."""
    from verify.runs.executors import uses_cluster
    from verify.runs.plan import CLUSTER_SECONDS, cluster_pays

    assert not uses_cluster(1) and not uses_cluster(1, 1e6)
    assert uses_cluster(2) and uses_cluster(8, None)  # no model of the work: the cluster, as asked
    edge = 2 * CLUSTER_SECONDS  # two workers save half the work
    assert not cluster_pays(0.99 * edge, 2) and cluster_pays(1.01 * edge, 2)
    assert cluster_pays(0.6 * edge, 8)  # 8 workers save 7/8 of it
    assert not cluster_pays(1e6, 1)


def test_workers_2_on_a_job_too_small_for_a_cluster_train_here_and_say_so(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's kind of job with ``--workers 2``: no Dask at all (its import fails the test), the note in the
    header, and the rows of ``--workers 1``."""
    import verify.runs.executors as executors
    from verify.width.check import check

    def no_dask() -> None:
        raise AssertionError("a cluster was started for a job too small to repay it")

    monkeypatch.setattr(executors, "_import_distributed", no_dask)
    lines: list[str] = []
    small = dict(widths="16,32", seeds=2, steps=1)
    two = check("sp", loss="ce", workers=2, db=str(tmp_path / "2.db"), announce=lines.append, **small)
    one = check("sp", loss="ce", workers=1, db=str(tmp_path / "1.db"), **small)
    assert "; trained in this process: about 0.0 s of training, too little for 2 workers" in lines[0]
    assert [(r.quantity, r.layer, r.step, r.measured) for r in two.rows] == \
        [(r.quantity, r.layer, r.step, r.measured) for r in one.rows]
