"""Benchmark of the verify trainer, as ratios measured in one run.

(1) The batched sweep (``verify.width.train.train_job``: all seeds of a width in one computation) against a
    mup-style loop on the same workload: one ``nn.Sequential`` per seed trained by ``torch.optim``, forward
    hooks capturing every Linear's input and output on the probe batch, autograd for d loss / d h, and every
    quantity of ``verify.model.measure`` computed from its definition (e.g. the effective update as
    F.linear(x_t, W_t - W_0)) at the same steps.  Both start from the same initial weights (generation timed
    in both) and the script checks that they record the same numbers.  Widths 128..1024, best of 3 runs,
    alternating the two, so background load hits both alike.
    The table also gives each side's matmul FLOPs per second (FLOPs counted as below, for the loop in
    ``loop_flops``) and the loop/batched FLOP ratio: where both run at matmul speed, the time ratio cannot
    exceed it.  The "ceiling" line bounds what any batched trainer doing these matmuls could reach at the
    widest width: the loop's time over (the batched FLOPs at the rate of an isolated bmm of the trainer's
    dominant shape + the initial draw both sides pay), i.e. with every other cost set to zero.
(2) Matmul throughput of the batched training at width 2048 (default settings: 8 seeds, batch 1, probe 64)
    against torch.mm peak (2048^3, best of 5) on the same machine in the same run.  Counted: the FLOPs of
    the matmuls the trainer actually performs (2 m k n each, ``batched_flops``): per step the forward of the
    probe + training rows and their backward to the pre-activations (through layers 2..L+1 only), the
    initial-weight products P = W_0 x_t from step 1 on, and the training gradient dh^T x (K = batch); for SGD,
    where the trainer keeps w_t - w_0 factorised, the W_0 products forward and backward and the thin low-rank
    terms instead (fewer FLOPs for the same measurements, so a lower bar for time, a higher one for FLOP/s).  Not
    counted: elementwise work, the initialisation's random numbers, norms, the optimizer.  The time is the
    whole ``train_job`` (everything included); the line also gives it without the initial draw.
Both sides run in this one process with the heap settings of ``abcscale check`` (``verify.runs.runtime``;
``--default-heap`` to leave glibc's defaults).
Run: .venv/bin/python benchmarks/bench_verify.py [--threads 2] [--optimizer sgd|adam] [--default-heap]
     [--device cuda] [--widths 128,256,512,1024]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import torch

from theory.config import resolve
from theory.parametrization import Parametrization
from verify.data import load_for
from verify.model.lowrank import low_rank_applies
from verify.model.mlp import init_weights, layer_scales
from verify.runs.runtime import tune_allocator
from verify.width.train import Job, Record, TrainSettings, train_job

WIDTHS = (128, 256, 512, 1024)
SEEDS = 8
REPEATS = 3
T = TypeVar("T")


def _rms(t: torch.Tensor) -> float:
    return float(t.pow(2).mean().sqrt())


class Recorder:
    """Forward hooks in the style of mup's coordinate check: keep each Linear's input and output when on."""

    def __init__(self) -> None:
        self.recording = False
        self.captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(self, index: int) -> Callable[..., None]:
        def record(_m: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if self.recording:
                self.captured[index] = (inputs[0], output)
        return record


def mup_style_loop(param: Parametrization, width: int, seeds: tuple[int, ...], settings: TrainSettings,
                   device: str = "cpu") -> list[Record]:
    """One nn.Module per seed, forward hooks on the probe batch, verify.model.measure's quantities by definition."""
    data = load_for(settings, param.loss).to(device)
    probe_x, probe_y = data.probe_x, data.probe_y
    scales = layer_scales(param, width, base_width=settings.base_width, input_dim=data.input_dim,
                          output_dim=data.output_dim, lr=settings.eta0(param.optimizer.name, param.loss),
                          eps=settings.eps)
    if any(s.multiplier != 1.0 for s in scales):
        raise SystemExit("the mup-style loop here is written for multiplier-free parametrizations (e.g. sp)")
    init = init_weights(scales, list(seeds), width)
    records: list[Record] = []
    loss_fn = torch.nn.functional.cross_entropy if param.loss == "ce" else None
    for s, seed in enumerate(seeds):
        linears = [torch.nn.Linear(sc.fan_in, sc.fan_out, bias=False, device=device) for sc in scales]
        with torch.no_grad():
            for lin, w in zip(linears, init, strict=True):
                lin.weight.copy_(w[s])
        modules: list[torch.nn.Module] = []
        for lin in linears[:-1]:
            modules += [lin, torch.nn.ReLU()]
        model = torch.nn.Sequential(*modules, linears[-1])
        w0 = [lin.weight.detach().clone() for lin in linears]
        recorder = Recorder()
        handles = [lin.register_forward_hook(recorder.hook(i)) for i, lin in enumerate(linears)]
        captured = recorder.captured
        groups = [{"params": [lin.weight], "lr": sc.lr} for lin, sc in zip(linears, scales, strict=True)]
        opt: torch.optim.Optimizer = (torch.optim.Adam(groups, eps=settings.eps) if param.optimizer.name == "adam"
                                      else torch.optim.SGD(groups))

        def loss_of(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            if loss_fn is not None:
                return loss_fn(logits, y)
            return 0.5 * (logits - y).pow(2).sum(dim=-1).mean()

        first: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for step in range(settings.steps + 1):
            if step > 0:
                x, y = data.batch(step, settings.batch_size)
                opt.zero_grad()
                loss_of(model(x), y).backward()
                opt.step()
            recorder.recording = True
            probe_loss = loss_of(model(probe_x), probe_y)
            recorder.recording = False
            outs = [captured[i][1] for i in range(len(linears))]
            dhs = torch.autograd.grad(probe_loss, outs)
            with torch.no_grad():
                if step == 0:
                    first = {i: (a.detach(), b.detach()) for i, (a, b) in captured.items()}
                for i, lin in enumerate(linears):
                    layer, (x_in, h), dh = i + 1, captured[i], dhs[i]
                    x_in, h = x_in.detach(), h.detach()
                    x_in0, h0 = first[i]
                    rec = [("backward_gradient", _rms(dh)),
                           ("weight_gradient", float((dh.pow(2).mean(-1) * x_in.pow(2).mean(-1)).mean().sqrt()))]
                    if step == 0:
                        rec.append(("init_preactivation", _rms(h)))
                    else:
                        x_out = h if i == len(linears) - 1 else captured[i + 1][0].detach()
                        x_out0 = h0 if i == len(linears) - 1 else first[i + 1][0]
                        rec += [("preactivation_update", _rms(h - h0)), ("feature_update", _rms(x_out - x_out0)),
                                ("effective_update", _rms(torch.nn.functional.linear(x_in, lin.weight - w0[i]))),
                                ("weight_update", _rms(lin.weight - w0[i]))]
                        if layer >= 2:
                            rec.append(("propagating_update",
                                        _rms(torch.nn.functional.linear(x_in - x_in0, w0[i]))))
                    records += [(seed, step, quantity, layer, value) for quantity, value in rec]
        for handle in handles:
            handle.remove()
    return records


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall time of ``fn()``, waiting for queued GPU work on both ends."""
    _sync()
    start = time.perf_counter()
    out = fn()
    _sync()
    return time.perf_counter() - start, out


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def max_relative_difference(a: list[Record], b: list[Record]) -> float:
    da = {r[:4]: r[4] for r in a}
    db = {r[:4]: r[4] for r in b}
    if da.keys() != db.keys():
        raise SystemExit("the loop and the batched trainer recorded different quantities")
    return max(abs((da[k] or 0.0) - (db[k] or 0.0)) / max(abs(da[k] or 0.0), 1e-30) for k in da)


def _layer_flops(shapes: list[tuple[int, int]], seeds: int) -> tuple[int, int]:
    """(2 fan_in fan_out summed over all layers, the same over layers 2..L+1) times seeds: FLOPs per row."""
    per_layer = [2 * seeds * fan_in * fan_out for fan_in, fan_out in shapes]
    return sum(per_layer), sum(per_layer[1:])


def batched_flops(shapes: list[tuple[int, int]], seeds: int, settings: TrainSettings, low_rank: bool = True) -> float:
    """Matmul FLOPs of train_job.  Dense weights: per step forward + backward to h (layers 2..L+1) of probe +
    training rows, the initial-weight products from step 1 on, the training gradient dh^T x before each update.
    Factorised SGD (``low_rank``; rank r = t * batch at step t): per step only the W_0 products forward and
    backward, plus the low-rank terms (x X^T) G forward and (dh G^T) X backward, 2 r (fan_in + fan_out) per row
    and layer each; no weight gradient, no initial-weight products."""
    every, later = _layer_flops(shapes, seeds)
    rows, batch, steps = settings.probe_size + settings.batch_size, settings.batch_size, settings.steps
    if not low_rank:
        return (steps + 1) * rows * (every + later) + steps * (rows * every + batch * every)
    thin = [2 * seeds * (fan_in + fan_out) for fan_in, fan_out in shapes]
    return sum(rows * (every + later) + rows * t * batch * (sum(thin) + sum(thin[1:])) for t in range(steps + 1))


def loop_flops(shapes: list[tuple[int, int]], seeds: int, settings: TrainSettings) -> float:
    """Matmul FLOPs of the mup-style loop: probe forward + autograd to h at every step; from step 1 on the
    training forward/backward (weight and input gradients), F.linear(x_t, W_t - W_0) and F.linear(dx, W_0)."""
    every, later = _layer_flops(shapes, seeds)
    probe, batch, steps = settings.probe_size, settings.batch_size, settings.steps
    measuring = (steps + 1) * probe * (every + later) + steps * probe * (every + later)
    return measuring + steps * batch * (2 * every + later)


def bmm_rate(seeds: int, rows: int, width: int, device: str) -> float:
    """FLOP/s of the trainer's dominant product, (S, rows, n) @ (S, n, n), alone: best of 5 x 12 calls, cycling
    through four weight sets as the trainer's layers and steps do (so the weights come from memory, not cache)."""
    weights = [torch.randn(seeds, width, width, device=device) for _ in range(4)]
    x = torch.randn(seeds, rows, width, device=device)
    torch.matmul(x, weights[0])
    best = float("inf")
    for _ in range(5):
        elapsed = timed(lambda: [torch.matmul(x, w) for w in weights * 3])[0] / 12
        best = min(best, elapsed)
    return 2 * seeds * rows * width * width / best


def init_seconds(param: Parametrization, settings: TrainSettings, width: int) -> float:
    """Time of drawing the initial weights of all seeds at ``width`` (``init_weights``, as both sides do)."""
    data = load_for(settings, param.loss)
    scales = layer_scales(param, width, base_width=settings.base_width, input_dim=data.input_dim,
                          output_dim=data.output_dim, lr=0.1)
    return timed(partial(init_weights, scales, list(range(SEEDS)), width))[0]


def ceiling(param: Parametrization, width: int, settings: TrainSettings, loop_s: float, batched_flops_: float,
            device: str) -> None:
    """The best ratio the batched design could reach at ``width`` on this machine: the loop's measured time over
    a floor for the batched trainer, its matmul FLOPs all at the isolated-bmm rate plus the initial draw (which
    both sides pay) and nothing else: no elementwise work, no norms, no Python."""
    init_s = min(init_seconds(param, settings, width) for _ in range(REPEATS))
    rate = bmm_rate(SEEDS, settings.probe_size + settings.batch_size, width, device)
    floor = batched_flops_ / rate + init_s
    print(f"ceiling at width {width}: the loop's {loop_s:.3f} s / (batched matmuls at the isolated bmm rate "
          f"{rate / 1e9:.0f} GFLOP/s = {batched_flops_ / rate:.3f} s + initial draw {init_s:.3f} s) = "
          f"{loop_s / floor:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: this machine's cores)")
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: both sides train there")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="widths of part (1)")
    parser.add_argument("--default-heap", action="store_true",
                        help="leave glibc's malloc thresholds alone (the CLI tunes them: verify.runs.runtime)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.default_heap:
        tune_allocator()  # as `abcscale check` does; one process, so both sides run with it
    x = "-1/2" if args.optimizer == "sgd" else "-1"
    param = resolve("sp", loss="ce", optimizer=args.optimizer, lr_exponent=x)
    settings = TrainSettings()
    seeds = tuple(range(SEEDS))
    where = "" if args.device == "cpu" else f", on {args.device}"
    print(f"(1) SP+{args.optimizer}+CE, X = {x}, {SEEDS} seeds, {settings.steps} steps, batch {settings.batch_size}, "
          f"probe {settings.probe_size}, {args.threads} threads{where}, best of {REPEATS}")
    print(f"{'width':>6} {'batched s':>10} {'loop s':>8} {'ratio':>6} {'batched GF/s':>13} {'loop GF/s':>10} "
          f"{'max rel diff':>13}")
    total_b = total_l = 0.0
    flop_ratio = 1.0
    widths = [int(w) for w in args.widths.split(",")]
    for width in widths:
        tb = tl = float("inf")
        diff = 0.0
        for _ in range(REPEATS):
            t, loop = timed(partial(mup_style_loop, param, width, seeds, settings, args.device))
            tl = min(tl, t)
            t, batched = timed(partial(train_job, Job(param, width, seeds, settings, device=args.device)))
            tb = min(tb, t)
            diff = max_relative_difference(loop, batched.records)
        total_b, total_l = total_b + tb, total_l + tl
        shapes = [(settings.input_dim, width), (width, width), (width, width), (width, settings.classes)]
        factorised = low_rank_applies(args.optimizer, 0.0, settings.steps * settings.batch_size, width)
        fb, fl = batched_flops(shapes, SEEDS, settings, factorised), loop_flops(shapes, SEEDS, settings)
        flop_ratio = fl / fb
        print(f"{width:>6} {tb:>10.3f} {tl:>8.3f} {tl / tb:>6.2f} {fb / tb / 1e9:>13.1f} {fl / tl / 1e9:>10.1f} "
              f"{diff:>13.1e}")
    print(f"{'all':>6} {total_b:>10.3f} {total_l:>8.3f} {total_l / total_b:>6.2f}  (target >= 3)")
    print(f"matmul FLOPs loop / batched at width {widths[-1]}: {flop_ratio:.2f} (the ratio's ceiling where both "
          "are matmul-bound)")
    ceiling(param, widths[-1], settings, tl, fb, args.device)

    n = 2048
    a, b = torch.randn(n, n, device=args.device), torch.randn(n, n, device=args.device)
    torch.mm(a, b)
    job = Job(param, n, seeds, settings, device=args.device)
    data = load_for(settings, param.loss)
    flops = batched_flops([(data.input_dim, n), (n, n), (n, n), (n, data.output_dim)], SEEDS, settings,
                          low_rank_applies(args.optimizer, 0.0, settings.steps * settings.batch_size, n))
    fractions = []
    for _ in range(REPEATS):  # the peak is re-measured next to each training: the load of a shared machine drifts
        peak = max(2 * n**3 / timed(partial(torch.mm, a, b))[0] for _ in range(3))
        elapsed = timed(partial(train_job, job))[0]
        init_s = init_seconds(param, settings, n)
        fractions.append((flops / elapsed / peak, flops / (elapsed - init_s) / peak, peak, elapsed, init_s))
    best = max(fractions)
    print(f"(2) width {n}, {SEEDS} seeds, defaults, {flops / 1e9:.1f} GFLOP of matmuls per train_job; per run: "
          + ", ".join(f"{f:.0%}" for f, *_ in fractions) + " of the adjacent torch.mm peak (target >= 50%)")
    print(f"    best run: torch.mm {best[2] / 1e9:.1f} GFLOP/s, train_job {best[3]:.2f} s -> "
          f"{flops / best[3] / 1e9:.1f} GFLOP/s = {best[0]:.0%}; drawing the initial weights {best[4]:.2f} s, "
          f"without it {best[1]:.0%}")

if __name__ == "__main__":
    main()
