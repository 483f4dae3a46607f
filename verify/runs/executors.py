"""The one Executor seam of every sweeping command: in-process by default, Dask when asked.

Trainings are independent tasks submitted to a ``concurrent.futures.Executor``:

* the default: ``InlineExecutor``, which runs each task in this process when it is submitted;
* ``--workers N`` (N >= 2): a ``LocalCluster(n_workers=N, threads_per_worker=1, processes=True,
  host="127.0.0.1", dashboard_address=None)``: worker processes on the loopback interface only;
* ``--scheduler tcp://HOST:PORT``: an existing scheduler (and so any cluster Dask reaches, e.g. Slurm via
  dask-jobqueue);

Every worker pins torch to ``threads`` CPU threads through a WorkerPlugin (verify.runs.dask_plugin), so
small machines are not oversubscribed.  Tasks carry deterministic keys (``verify.runs.keys.task_key``), so
resubmitting a finished training in the same session returns the existing result.  Workers spawn fresh
interpreters: scripts that call this must guard their entry point with ``if __name__ == "__main__":``
(the abcscale CLI does).  Dask (optional extra: ``pip install abcscale[dask]``) is imported only here, lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any

from theory.errors import InputError


class InlineExecutor(Executor):
    """Runs each task in this process when it is submitted (the default: no workers, no Dask)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the driver through the future, like any executor
            future.set_exception(err)
        return future


def submit_keyed(executor: Executor, key: str, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """``executor.submit(fn, *args)``, as the task named ``key`` where the executor names tasks (Dask)."""
    if isinstance(executor, DaskExecutor):
        return executor.submit_keyed(key, fn, *args)
    return executor.submit(fn, *args)


class DaskExecutor(Executor):
    """A concurrent.futures Executor over a Dask client; ``submit_keyed`` names the task deterministically."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._inner = client.get_executor(pure=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._inner.submit(fn, *args, **kwargs)

    def submit_keyed(self, key: str, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` as the Dask task ``key`` (no keyword arguments: they would go to Dask)."""
        return self._inner.submit(fn, *args, key=key)

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
def executor_for(workers: int = 1, scheduler: str | None = None, *, threads: int = 1) -> Iterator[Executor]:
    """Serial in-process executor by default; a Dask LocalCluster for ``workers`` >= 2; or ``scheduler``."""
    if workers < 1:
        raise InputError(f"--workers {workers}: must be at least 1")
    if scheduler is not None and workers > 1:
        raise InputError("--workers and --scheduler: give one of them, not both")
    if scheduler is None and workers == 1:
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
            yield DaskExecutor(client)
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        client.register_plugin(_pin_plugin(threads))
        yield DaskExecutor(client)
    finally:
        client.close()
        cluster.close()



def _pin_plugin(threads: int) -> Any:
    from verify.runs.dask_plugin import PinTorchThreads

    return PinTorchThreads(threads)
