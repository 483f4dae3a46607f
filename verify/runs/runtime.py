"""Process settings that make CPU trainings faster without changing a single number they compute.

glibc's malloc hands every block above its mmap threshold (128 KiB at start, raised only step by step) back
to the kernel when it is freed, and trims the top of the heap past its trim threshold.  A batched training
allocates and frees probe-sized activations (2 MB at width 1024, 8 seeds) many times a step, so each new
tensor is zero-filled page by page by the kernel on first touch: measured 25,000 minor page faults per
8-seed width-1024 job (100 MB).  Raising the two thresholds keeps freed blocks in the heap for reuse
(6,000 faults, most of them the fresh initial weights), the remedy PyTorch's CPU performance notes give
with jemalloc or tcmalloc, without a preloaded allocator.  Memory freed by a training stays with the
process (up to ``TRIM_THRESHOLD``) instead of returning to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 512 << 20

_done = False


def tune_allocator() -> bool:
    """Keep large freed blocks in glibc's heap (see the module docstring); True if applied.

    Idempotent; a no-op returning False on other platforms or C libraries without ``mallopt``.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done


def check_device(text: str, *, workers: int = 1, scheduler: str | None = None) -> str:
    """``text`` if torch can train on that device ("cpu", "cuda", "cuda:N"); else an InputError naming it.

    A GPU on this machine is driven by this one process, so a device other than the CPU refuses ``workers`` > 1.
    With a Dask ``scheduler`` the trainings run on its workers, which must have the GPU (each task then needs
    one unit of their ``GPU`` resource: ``gpu_resources``); this machine's CUDA is not checked.  The check
    happens before anything is trained or written, so a bad ``--device`` leaves the database as it was.
    """
    import torch

    from theory.errors import InputError

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {text!r}: expected cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return "cpu"
    if device.type != "cuda":
        raise InputError(f"--device {text!r}: the trainer runs on cpu or cuda")
    if workers > 1:
        raise InputError(f"--device {text}: trainings run in this process or on a --scheduler's GPU workers; "
                         "use --workers 1")
    if scheduler is not None:
        return str(device)
    if not torch.cuda.is_available():
        raise InputError(f"--device {text}: this torch ({torch.__version__}) sees no CUDA device")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) here")
    return str(device)


def gpu_resources(device: str) -> dict[str, float] | None:
    """What each Dask task needs of its worker on ``device``: one ``GPU`` (one training at a time per GPU
    worker), or nothing on the CPU."""
    return None if device == "cpu" else {"GPU": 1}
