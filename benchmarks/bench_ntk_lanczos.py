"""Top NTK eigenvalue: Lanczos (JVP/VJP, no Jacobian) against the exact eigenvalue of J J^T / m.

Prints, per (depth, width): parameter count, exact and Lanczos values, relative error, Lanczos
iterations, the time ratio t_exact / t_lanczos (both measured in this run, same thread count; > 1 means
Lanczos is faster) and the memory of the Jacobian that only the exact route forms.
Usage: .venv/bin/python benchmarks/bench_ntk_lanczos.py [--samples 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from verify.catapult.net import ReLUNet, load_task
from verify.catapult.ntk import top_eigenvalue_exact, top_eigenvalue_lanczos

CASES = ((2, 256), (2, 1024), (2, 4096), (3, 256), (3, 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, _ = load_task("digits", args.samples, seed=0)
    warm = ReLUNet(x.shape[1], 8, 2, seed=0)  # first-call overhead of torch.func out of the timings
    top_eigenvalue_exact(warm, x)
    top_eigenvalue_lanczos(warm, x)
    print(f"digits 0/1 standardised, m={args.samples}, float64, {args.threads} threads")
    print(f"{'depth':>5} {'width':>6} {'params':>9} {'exact':>12} {'lanczos':>12} {'rel err':>9} {'iters':>5} "
          f"{'t_exact s':>9} {'t_lanczos s':>11} {'ratio':>6} {'J MB':>7}")
    for depth, width in CASES:
        model = ReLUNet(x.shape[1], width, depth, seed=0)
        params = sum(p.numel() for p in model.parameters())
        start = time.perf_counter()
        exact = top_eigenvalue_exact(model, x)
        t_exact = time.perf_counter() - start
        start = time.perf_counter()
        result = top_eigenvalue_lanczos(model, x)
        t_lanczos = time.perf_counter() - start
        rel = abs(result.value - exact) / exact
        jac_mb = 8 * params * args.samples / 2**20
        print(f"{depth:>5} {width:>6} {params:>9} {exact:>12.8f} {result.value:>12.8f} {rel:>9.1e} "
              f"{result.iterations:>5} {t_exact:>9.3f} {t_lanczos:>11.3f} {t_exact / t_lanczos:>6.2f} {jac_mb:>7.1f}")


if __name__ == "__main__":
    main()
