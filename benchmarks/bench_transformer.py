"""Speed of the engine on transformers: derivation time against the number of blocks, and the CLI end to end.

Run: python benchmarks/bench_transformer.py
Targets: a 12-block GPT derives in under 3 s (cold: the graph is built); time per block roughly constant (the
unrolled graph grows linearly in blocks); ``abcscale derive sp`` unchanged at about 1 s end to end.
"""

from __future__ import annotations

import statistics
import time

from bench_derive import cli_seconds  # the same end-to-end timing (this script runs from benchmarks/)


def derive_seconds(blocks: int, optimizer: str, repeats: int = 3) -> tuple[float, int]:
    """Median cold derivation time (graph built each time) and the unrolled graph's node count."""
    from theory.engine import clear_graph_cache, derive, graph_for
    from theory.transformer import get_gpt_preset

    times = []
    for _ in range(repeats):
        clear_graph_cache()
        param = get_gpt_preset("gpt-sp", blocks=blocks, optimizer=optimizer)
        start = time.perf_counter()
        derive(param)
        times.append(time.perf_counter() - start)
    return statistics.median(times), graph_for(param)[0].number_of_nodes()


def main() -> None:
    print(f"abcscale derive sp (end to end, median of 3): {cli_seconds('derive', 'sp', repeats=3):.2f} s")
    print(f"abcscale derive gpt-sp --layers 12 --optimizer adam (end to end): "
          f"{cli_seconds('derive', 'gpt-sp', '--layers', '12', '--optimizer', 'adam'):.2f} s")
    for optimizer in ("adam", "sgd"):
        print(f"\ngpt-sp, {optimizer}: cold derive (graph built, exponents, phase diagram)")
        print(f"{'blocks':>6} {'derive (s)':>11} {'nodes':>8} {'ms per block':>13} {'ratio to 2 blocks':>18}")
        base = None
        for blocks in (1, 2, 4, 8, 12, 24):
            seconds, nodes = derive_seconds(blocks, optimizer)
            per_block = 1000 * seconds / blocks
            base = per_block if blocks == 2 else base
            ratio = f"{per_block / base:.2f}" if base else "-"
            print(f"{blocks:>6} {seconds:>11.3f} {nodes:>8} {per_block:>13.1f} {ratio:>18}")


if __name__ == "__main__":
    main()
