"""The Dask WorkerPlugin that pins torch's CPU threads on every worker (imported only when Dask is used)."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin


class PinTorchThreads(WorkerPlugin):
    """``torch.set_num_threads(threads)`` (and ``verify.runs.runtime.tune_allocator``) on each worker, at start and
    after every restart."""

    name = "abcscale-pin-torch-threads"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def setup(self, worker: Any) -> None:
        import torch

        from verify.runs.runtime import tune_allocator

        torch.set_num_threads(self.threads)
        tune_allocator()
