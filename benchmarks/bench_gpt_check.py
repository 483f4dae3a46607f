"""Benchmark of abcscale's GPT check against torch-module-monitor's RCC and mup's coordinate check, in one run.

abcscale: ``verify.width.check("gpt-mup", optimizer="adam")`` at its default widths 128..1024 with 16 seeds (3 Adam
steps, pydoc text, 4 sequences of 32 characters per update, 8 probe sequences): the seeds of a width trained
together by the batched GPT (``verify.width.gpt_train``; at width 1024 one seed a job, at 512 groups of up to 7, so
that every tensor stays in glibc's heap: ``verify.width.cost.heap_seeds``), every quantity measured at steps 0..3
(RCC effective and propagating updates, pre-activations, gradients, weight updates, attention and output logits),
then the fits and the verdict. (1) Timed end to end (a fresh SQLite store), and split by wrapping the trainer's
functions: the forward/backward pass (probe and training rows together), the measurements, the update; the rest is
data, initialisation, derivation, fits and store. (2) Its width jobs (``train_gpt_job``) timed again, width by
width in turn with the competitors' runs of the same width, best of 3 rounds, so that the changing load of a shared
machine hits every side alike; the ratios are taken there.

The competitors train the same workload the way those tools are used: the plain-torch GPT of
``docs/examples/nanogpt_mup.py`` (nanoGPT-style, muP for Adam), one model per seed and width, torch.optim.Adam
with muP's per-group learning rates, the same widths, seeds, steps, batches and probe sequences.

(a) torch-module-monitor (tmm): a ModuleMonitor with a reference copy of the model at initialisation and its
    RefinedCoordinateCheck, measuring at steps 0..3 on the same rows as abcscale's pass (the 8 probe sequences
    and the 4 training sequences): the reference forward, the monitored forward, the backward, the RCC's
    (W_t - W_0) x_t and W_0 (x_t - x_0) of every module, activation RMS and their change since the reference
    (h_t - h_0), gradient RMS and parameter change RMS, then the optimizer step.  (Attention logits would need
    the model to call tmm's attention hook; not counted.)
(b) mup: ``mup.coord_check._get_coord_data``, the loop under ``get_coord_data`` (which only chooses the optimizer
    class; the model's own muP Adam groups are passed instead), one model per seed, forward hooks recording the
    RMS of every module's output and of its parameters during each training forward, fed the same rows as
    abcscale's passes (probe and training sequences) at the same 4 measured steps.  mup measures values only,
    not changes: it keeps no W_0 and no h_0, so it cannot give the RCC's updates; its measurement time is a
    lower bound for the same quantities.

For each competitor the table also gives the time of the same per-seed passes with nothing measured (training
only), so that the rest is its measurement cost.  Ratios are of times measured in this one run, part (2).

(3) The FLOP ceiling: the matrix products of the training alone (every seed's passes; counted exactly by
``torch.utils.flop_counter.FlopCounterMode`` on one seed per width: matmuls and attention, not the elementwise
work) and of abcscale's batched job (training and measurement), against the float32 ``torch.mm`` peak of this
machine at the same thread count (best of 3 at 1024 x 1024).  Their ratio is the least time any tool needs to
train this workload here; a target of k times faster than a competitor is out of reach when the competitor's
time divided by k is below it.

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_gpt_check.py [--threads 2] [--widths 128,256,512,1024]
     [--seeds 16] [--repeats 3]
Competitors, installed without pulling a CUDA torch: ``pip install --no-deps mup==1.0.0`` (it needs pandas) and
``pip install torch-module-monitor`` (torch, numpy, h5py; torch already present).  A competitor that is not
installed is skipped with one line.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
Batches = list[tuple[torch.Tensor, torch.Tensor]]


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nanogpt_mup", ROOT / "docs" / "examples" / "nanogpt_mup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.detach().float().pow(2).mean().sqrt()


def _token_rms(t: torch.Tensor) -> torch.Tensor:
    return t.detach().pow(2).mean(dim=-1).sqrt()


def _ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


class Timers:
    """Seconds spent per label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
        return timed


@contextmanager
def _instrumented(timers: Timers) -> Iterator[None]:
    """Time the GPT trainer's parts by wrapping the names ``verify.width.gpt_train`` calls."""
    from verify.model.optim import BatchedOptimizer
    from verify.width import gpt_train

    saved = {name: getattr(gpt_train, name) for name in ("forward_backward", "quantities", "weight_gradients")}
    step = BatchedOptimizer.step
    labels = {"forward_backward": "forward/backward", "quantities": "measurement", "weight_gradients": "update"}
    for name, fn in saved.items():
        setattr(gpt_train, name, timers.wrap(labels[name], fn))
    BatchedOptimizer.step = timers.wrap("update", step)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(gpt_train, name, fn)
        BatchedOptimizer.step = step  # type: ignore[method-assign]


def abcscale_check(widths: list[int], seeds: int) -> tuple[float, Timers]:
    from verify.width.check import check

    timers = Timers()
    with tempfile.TemporaryDirectory() as tmp, _instrumented(timers):
        start = time.perf_counter()
        result = check("gpt-mup", optimizer="adam", widths=widths, seeds=seeds, db=str(Path(tmp) / "bench.db"))
        seconds = time.perf_counter() - start
    if not result.passed:
        print("  (note: the check did not pass every row)")
    return seconds, timers


def workload(steps: int) -> tuple[torch.Tensor, torch.Tensor, Batches]:
    """The check's probe sequences and its training batches 1..steps+1 (the last one is never applied)."""
    from theory.transformer import get_gpt_preset
    from verify.data import load_for
    from verify.width.check import _gpt_settings

    param = get_gpt_preset("gpt-mup", optimizer="adam")
    settings = _gpt_settings(param, steps=steps, batch_size=None, base_width=None, lr=None, data="pydoc")
    data = load_for(settings, "ce")
    return data.probe_x, data.probe_y, [data.batch(step + 1, settings.batch_size) for step in range(steps + 1)]


def plain(example: ModuleType, widths: list[int], seeds: int, steps: int, rows: Batches) -> float:
    """The per-seed passes of the competitors with nothing measured: training only (mup also applies the last
    pass's update, one Adam step more, a few percent of a pass)."""
    start = time.perf_counter()
    for width in widths:
        for seed in range(seeds):
            torch.manual_seed(seed)
            model, optimizer = example.build(width)
            for step in range(steps + 1):
                x, y = rows[step]
                optimizer.zero_grad()
                _ce(model(x), y).backward()
                if step < steps:
                    optimizer.step()
    return time.perf_counter() - start


def tmm_loop(example: ModuleType, widths: list[int], seeds: int, steps: int, rows: Batches) -> float:
    import torch_module_monitor as tmm

    start = time.perf_counter()
    for width in widths:
        for seed in range(seeds):
            torch.manual_seed(seed)
            model, optimizer = example.build(width)
            monitor = tmm.ModuleMonitor(monitor_step_fn=lambda step: True)
            monitor.add_activation_metric("rms", _token_rms)
            monitor.add_activation_difference_metric("rms", lambda a, b: _token_rms(a - b))
            monitor.add_gradient_metric("rms", _rms)
            monitor.add_parameter_difference_metric("rms", lambda p, q: _rms(p - q))
            monitor.set_module(model)
            monitor.set_reference_module(copy.deepcopy(model))
            rcc = tmm.RefinedCoordinateCheck(monitor)
            for step in range(steps + 1):
                x, y = rows[step]
                monitor.begin_step(step)
                with torch.no_grad():
                    monitor.reference_module(x)  # type: ignore[misc]
                optimizer.zero_grad()
                _ce(model(x), y).backward()
                monitor.monitor_gradients()
                monitor.monitor_parameters()
                rcc.refined_coordinate_check()
                monitor.end_step()
                if step < steps:
                    optimizer.step()
    return time.perf_counter() - start


def mup_loop(example: ModuleType, widths: list[int], seeds: int, batches: Batches) -> float:
    from mup.coord_check import _get_coord_data

    models = {width: (lambda width=width: example.build(width)[0]) for width in widths}
    start = time.perf_counter()
    _get_coord_data(models, [(x, y.reshape(-1)) for x, y in batches],
                    lambda model: example.optimizer(model, model.lm_head.weight.shape[1]), nsteps=len(batches),
                    fix_data=False, cuda=False, nseeds=seeds, flatten_output=True, show_progress=False,
                    output_fdict={"rms": _rms}, param_fdict={"rms": _rms})
    return time.perf_counter() - start


def _installed(module: str, hint: str) -> bool:
    if importlib.util.find_spec(module) is None:
        print(f"{module} is not installed ({hint}): skipped")
        return False
    return True


def abcscale_job(width: int, seeds: int, steps: int, timers: Timers) -> float:
    """One width's trainings as the check runs them: its jobs (``train_gpt_job``, the check's parametrization and
    settings, the seeds in the groups ``verify.width.sweep.pending_jobs`` makes on the CPU)."""
    from theory.transformer import get_gpt_preset
    from verify.width.check import _gpt_settings, choose_lr_exponent
    from verify.width.gpt_train import train_gpt_job
    from verify.width.sweep import pending_jobs

    param, _ = choose_lr_exponent(get_gpt_preset("gpt-mup", optimizer="adam"), None)
    settings = _gpt_settings(param, steps=steps, batch_size=None, base_width=None, lr=None, data="pydoc")
    with _instrumented(timers):
        start = time.perf_counter()
        for job in pending_jobs(param, settings, [width], list(range(seeds)), set()):
            train_gpt_job(job)
        return time.perf_counter() - start


def mm_peak() -> float:
    """float32 ``torch.mm`` FLOP/s at 1024 x 1024 on this machine with torch's current threads, best of 3."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(20):
            a @ b
        best = max(best, 20 * 2 * 1024 ** 3 / (time.perf_counter() - start))
    return best


def counted_flops(run: Callable[[], Any]) -> int:
    """Matmul and attention FLOPs of ``run()``, as torch's FlopCounterMode counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return int(counter.get_total_flops())


def flop_ceiling(example: ModuleType, widths: list[int], seeds: int, steps: int, rows: Batches,
                 times: dict[str, float]) -> None:
    """Part (3): the training's and abcscale's counted FLOPs against the torch.mm peak."""
    training = seeds * sum(counted_flops(partial(plain, example, [width], 1, steps, rows)) for width in widths)
    ours = sum(counted_flops(partial(abcscale_job, width, seeds, steps, Timers())) for width in widths)
    peak = mm_peak()
    floor = training / peak
    print(f"(3) FLOP ceiling: torch.mm peak {peak / 1e9:.0f} GFLOP/s ({torch.get_num_threads()} threads, float32, "
          f"1024 x 1024)\n"
          f"  training alone: {training / 1e9:.0f} GFLOP of matmuls and attention, at least {floor:.1f} s here "
          f"(one model per seed ran at {training / times['training alone'] / 1e9:.0f} GFLOP/s)\n"
          f"  abcscale, training and measurement: {ours / 1e9:.0f} GFLOP, at least {ours / peak:.1f} s "
          f"(ran at {ours / times['abcscale'] / 1e9:.0f} GFLOP/s)")
    for label, what in (("tmm", "torch-module-monitor"), ("mup", "mup")):
        if label in times:
            half = times[label] / 2
            print(f"  2x faster than {what} is {half:.1f} s: {'below' if half < floor else 'above'} the "
                  f"training's floor of {floor:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--widths", default="128,256,512,1024")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    repeats = args.repeats
    torch.set_num_threads(args.threads)
    widths, seeds, steps = [int(w) for w in args.widths.split(",")], args.seeds, 3
    example = _example()
    probe_x, probe_y, batches = workload(steps)
    rows = [(torch.cat([probe_x, x]), torch.cat([probe_y, y])) for x, y in batches]  # abcscale's pass rows
    print(f"GPT check workload: widths {widths}, {seeds} seeds, {steps} Adam steps, {torch.get_num_threads()} "
          "threads")
    total, timers = abcscale_check(widths, seeds)
    parts = ", ".join(f"{label} {seconds:.1f} s" for label, seconds in timers.seconds.items())
    rest = total - sum(timers.seconds.values())
    print(f"(1) abcscale check gpt-mup --optimizer adam, end to end: {total:.1f} s ({parts}; the rest: data, "
          f"initialisation, derivation, fits, store {rest:.1f} s, {100 * rest / total:.0f}%)")
    sides = {"tmm": _installed("torch_module_monitor", "pip install torch-module-monitor"),
             "mup": (_installed("mup", "pip install --no-deps mup==1.0.0")
                     and _installed("pandas", "pip install pandas"))}
    # (2) width by width, each side in turn, so that the shared machine's changing load hits every side alike
    times: dict[str, float] = {}
    for width in widths:
        runs: dict[str, Callable[[], float]] = {
            "abcscale": partial(abcscale_job, width, seeds, steps, Timers()),
            "training alone": partial(plain, example, [width], seeds, steps, rows)}
        if sides["tmm"]:
            runs["tmm"] = partial(tmm_loop, example, [width], seeds, steps, rows)
        if sides["mup"]:
            runs["mup"] = partial(mup_loop, example, [width], seeds, rows)
        best: dict[str, float] = {}
        for _ in range(repeats):
            for label, run in runs.items():
                best[label] = min(best.get(label, float("inf")), run())
        for label, seconds in best.items():
            times[label] = times.get(label, 0.0) + seconds
    ours = times["abcscale"]
    print(f"(2) width by width, sides in turn, best of {repeats} (training and measurement, no fits):\n"
          f"  abcscale, seeds batched: {ours:.1f} s\n"
          f"  one model per seed, nothing measured: {times['training alone']:.1f} s")
    for label, what in (("tmm", "torch-module-monitor RCC"), ("mup", "mup coordinate check")):
        if label in times:
            print(f"  {what}, one model per seed: {times[label]:.1f} s (measurement "
                  f"{times[label] - times['training alone']:.1f} s); abcscale is {times[label] / ours:.2f}x faster")
    flop_ceiling(example, widths, seeds, steps, rows, times)


if __name__ == "__main__":
    main()
