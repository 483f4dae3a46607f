"""Speed of the symbolic engine: end-to-end CLI time, growth with depth, phase-diagram time.

Run: python benchmarks/bench_derive.py
Targets (issue 2): `abcscale derive` end to end < 1.5 s at L = 3; derivation time at most linear
in L up to L = 100 (time per layer roughly constant); symbolic phase diagram < 5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def cli_seconds(*args: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "abcscale", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def derive_seconds(layers: int, lr_exponent: str = "-1/2", repeats: int = 3) -> float:
    from theory.engine import clear_graph_cache, derive
    from theory.presets import get_preset

    times = []
    for _ in range(repeats):
        clear_graph_cache()  # include building the graph
        param = get_preset("sp", layers=layers, lr_exponent=lr_exponent)
        start = time.perf_counter()
        derive(param)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    end_to_end = cli_seconds("derive", "sp", "--layers", "3")
    print(f"abcscale derive sp --layers 3 (end to end, median of 5): {end_to_end:.2f} s")
    print(f"abcscale derive sp --lr-exponent x (symbolic phase diagram, L = 3): "
          f"{cli_seconds('derive', 'sp', '--lr-exponent', 'x'):.2f} s")
    print(f"abcscale derive sp --layers 100 --lr-exponent x: "
          f"{cli_seconds('derive', 'sp', '--layers', '100', '--lr-exponent', 'x', repeats=1):.2f} s")
    print()
    print(f"{'L':>5} {'derive (s)':>11} {'ms per layer':>13} {'ratio to L=10':>14}")
    base = None
    for layers in (1, 3, 10, 20, 50, 100):
        seconds = derive_seconds(layers)
        per_layer = 1000 * seconds / (layers + 1)
        if layers == 10:
            base = per_layer
        ratio = f"{per_layer / base:.2f}" if base else "-"
        print(f"{layers:>5} {seconds:>11.3f} {per_layer:>13.2f} {ratio:>14}")


if __name__ == "__main__":
    main()
