"""The one Executor seam of every sweeping command (check/verify, lr-sweep, depth-sweep): in-process by default,
Dask when asked.

Trainings are independent tasks submitted to a ``concurrent.futures.Executor``:

* the default: ``InlineExecutor``, which runs each task in this process when it is submitted;
* ``--workers N`` (N >= 2): a ``LocalCluster(n_workers=N, threads_per_worker=1, processes=True,
  host="127.0.0.1", dashboard_address=None)``: worker processes on the loopback interface only; unless the
  caller's modelled work (``work_seconds``) is too small for any cluster to finish first
  (``verify.runs.plan.cluster_pays``: the README's ``check sp --loss ce`` trains for about 0.5 s, a
  2-worker cluster costs 0.4 s), which is then trained in this process, as with ``--workers 1``;
* ``--scheduler tcp://HOST:PORT``: an existing scheduler (and so any cluster Dask reaches, e.g. Slurm via
  dask-jobqueue; docs/distributed.md).

``executor_slots`` tells a driver how many trainings run at once (1 in-process; the workers' threads, or the
GPUs they declare, on Dask); the drivers submit that many and plan their seed groups and the LR search's
fan-out from it (``verify.runs.plan``, ``verify.lr.fanout``).

Every worker pins torch to ``threads`` CPU threads through a WorkerPlugin (verify.runs.dask_plugin), so
small machines are not oversubscribed.  ``resources={"GPU": 1}`` (``--device cuda`` with ``--scheduler``)
makes every task need one unit of the workers' declared ``GPU`` resource, so a worker started with
``--resources GPU=1`` runs one training at a time whatever its thread count.  Tasks carry deterministic
keys (``verify.runs.keys.task_key``), so resubmitting a finished training in the same session returns the
existing result, and a rerun submits the same keys for the trainings the store does not hold yet.

Fault tolerance: a killed worker's task is rescheduled on another worker by Dask (the LocalCluster's nanny
restarts the worker); a task whose every worker died (``distributed.scheduler.allowed-failures`` + 1 of
them, Dask's ``KilledWorker``) fails with ``TaskFailed`` naming the task: one line, exit 2 from the CLI.

The LocalCluster's workers are forked from this process on Linux (``multiprocessing-method: fork``): a
start-up of 0.5 s instead of 6 s for spawned interpreters that import distributed and torch again (measured
on 2 cores), and 0.05 s instead of 2.5 s to close.  The workers only compute; the forked copy of the
driver's SQLite handle is never used.  Elsewhere they are spawned: scripts that call this must then guard
their entry point with ``if __name__ == "__main__":`` (the abcscale CLI does).  The LocalCluster's own log
is silenced (its failures reach the driver as exceptions).  Dask (optional extra: ``pip install
abcscale[dask]``) is imported only here, lazily.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from theory.errors import InputError, TaskFailed
from verify.runs.plan import cluster_pays


class InlineExecutor(Executor):
    """Runs each task in this process when it is submitted (the default: no workers, no Dask)."""

    slots = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the driver through the future, like any executor
            future.set_exception(err)
        return future


def submit_keyed(executor: Executor, key: str, fn: Callable[..., Any], *args: Any, label: str = "") -> Future[Any]:
    """``executor.submit(fn, *args)``, as the task named ``key`` where the executor names tasks (Dask);
    ``label`` says in words what the task computes, for the error if it keeps killing workers."""
    if isinstance(executor, DaskExecutor):
        return executor.submit_keyed(key, fn, *args, label=label)
    return executor.submit(fn, *args)


_T = TypeVar("_T")


def next_finished(running: Collection[Future[_T]], *, poll: float, waiting: bool, since: float) -> set[Future[_T]]:
    """The futures that have finished: wait for the first (at most ``poll`` s while runs that other processes
    hold are waited on), or, with none running, sleep out the rest of the poll period that began at ``since``
    (``time.monotonic``) and return none.  The sweeps' scheduling loops share it."""
    if running:
        done, _ = wait(list(running), timeout=poll if waiting else None, return_when=FIRST_COMPLETED)
        return done
    time.sleep(max(0.0, poll - (time.monotonic() - since)))
    return set()


def executor_slots(executor: Executor | None) -> int:
    """How many tasks ``executor`` runs at once (1 for anything but a DaskExecutor)."""
    return executor.slots if isinstance(executor, DaskExecutor) else 1


class _Named(Future):
    """A task's future whose Dask give-up (``KilledWorker``) becomes ``TaskFailed`` naming the task."""

    def __init__(self, inner: Future[Any], key: str, label: str) -> None:
        super().__init__()
        self._inner, self.key, self.label = inner, key, label
        inner.add_done_callback(self._copy)

    def cancel(self) -> bool:
        self._inner.cancel()
        return super().cancel()

    def _copy(self, inner: Future[Any]) -> None:
        if inner.cancelled():
            super().cancel()
            return
        err = inner.exception()
        if err is None:
            self.set_result(inner.result())
        elif type(err).__name__ == "KilledWorker":
            what = f" ({self.label})" if self.label else ""
            tries = getattr(err, "allowed_failures", 0) + 1
            self.set_exception(TaskFailed(
                f"task {self.key}{what} killed every worker that ran it ({tries} in a row); not retried "
                "(distributed.scheduler.allowed-failures); finished trainings are in the database, a rerun resumes"))
        else:
            self.set_exception(err)


class DaskExecutor(Executor):
    """A concurrent.futures Executor over a Dask client; ``submit_keyed`` names the task deterministically.

    ``resources``: what every task needs of the workers' declared resources (e.g. {"GPU": 1})."""

    def __init__(self, client: Any, resources: dict[str, float] | None = None) -> None:
        self.client = client
        self.resources = dict(resources or {})
        self._inner = client.get_executor(pure=False, **({"resources": self.resources} if self.resources else {}))

    @property
    def slots(self) -> int:
        """Tasks that run at once now: the workers' threads, or how many tasks their resources admit."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        if not self.resources:
            return max(1, sum(int(w.get("nthreads", 1)) for w in workers))
        admits = [min(int(w.get("resources", {}).get(name, 0) // need) for name, need in self.resources.items())
                  for w in workers]
        return max(1, sum(min(a, int(w.get("nthreads", 1))) for a, w in zip(admits, workers, strict=True)))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._inner.submit(fn, *args, **kwargs)

    def submit_keyed(self, key: str, fn: Callable[..., Any], *args: Any, label: str = "") -> Future[Any]:
        """``fn(*args)`` as the Dask task ``key`` (no keyword arguments: they would go to Dask)."""
        return _Named(self._inner.submit(fn, *args, key=key), key, label)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("--workers/--scheduler need Dask: pip install 'abcscale[dask]'") from None
    return distributed


def check_address(address: str) -> None:
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls", "inproc", "ucx") or not host or not port.isdigit():
        raise InputError(f"--scheduler {address!r}: expected an address like tcp://HOST:PORT")


@contextmanager
def executor_for(workers: int = 1, scheduler: str | None = None, *, threads: int = 1, cluster: bool = False,
                 resources: dict[str, float] | None = None, work_seconds: float | None = None) -> Iterator[Executor]:
    """Serial in-process executor by default; a Dask LocalCluster for ``workers`` >= 2 (or any ``workers``
    with ``cluster=True``: benchmarks compare like with like); or the cluster of ``scheduler``.

    ``threads``: torch threads per worker; ``resources``: what each task needs (``DaskExecutor``);
    ``work_seconds``: the caller's modelled single-threaded work, if it has a model: a local cluster that
    cannot pay off for it (``uses_cluster``) is not started."""
    if workers < 1:
        raise InputError(f"--workers {workers}: must be at least 1")
    if scheduler is not None and workers > 1:
        raise InputError("--workers and --scheduler: give one of them, not both")
    if scheduler is None and not cluster and not uses_cluster(workers, work_seconds):
        yield InlineExecutor()
        return
    distributed = _import_distributed()
    if scheduler is not None:
        check_address(scheduler)
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except OSError as err:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({err})") from None
        try:
            client.register_plugin(_pin_plugin(threads))
            executor = DaskExecutor(client, resources)
            _check_resources(executor, scheduler)
            yield executor
        finally:
            client.close()
        return
    with ExitStack() as stack:
        stack.enter_context(_quiet("distributed"))
        if sys.platform.startswith("linux"):
            import dask

            stack.enter_context(dask.config.set({"distributed.worker.multiprocessing-method": "fork"}))
        local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None,
                                         resources=resources or None)
        stack.callback(local.close)
        client = distributed.Client(local)
        stack.callback(client.close)
        client.register_plugin(_pin_plugin(threads))
        yield DaskExecutor(client, resources)


def uses_cluster(workers: int, work_seconds: float | None = None) -> bool:
    """Whether ``--workers workers`` (no scheduler) starts a LocalCluster for ``work_seconds`` of modelled
    work (None: unknown, a cluster whenever ``workers`` >= 2)."""
    if workers < 2:
        return False
    return work_seconds is None or cluster_pays(work_seconds, workers)


def _check_resources(executor: DaskExecutor, scheduler: str) -> None:
    """A task needing a resource no worker declares would wait forever: refuse it in one line instead."""
    if not executor.resources:
        return
    workers = executor.client.scheduler_info(n_workers=-1)["workers"].values()
    for name, need in executor.resources.items():
        if not any(w.get("resources", {}).get(name, 0) >= need for w in workers):
            raise InputError(f"--scheduler {scheduler}: no worker declares the resource {name}={need:g} that "
                             f"each training needs (start GPU workers with: dask worker {scheduler} --nworkers 1 "
                             f"--resources {name}=1)")


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence logger ``name`` (the LocalCluster's scheduler, nannies and forked workers) for the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _pin_plugin(threads: int) -> Any:
    from verify.runs.dask_plugin import PinTorchThreads

    return PinTorchThreads(threads)
