"""Print every preset of theory.presets.PRESETS and theory.depth.DEPTH_PRESETS with its source and exponents.

Run by docs/presets.md at build time (``python _ext/list_presets.py`` from docs/), so the page always shows
what the code holds.  Exponents are those of L = 3 hidden layers; per-layer lists are (input, hidden...,
output).
"""

from __future__ import annotations

from theory.depth import DEPTH_PRESETS, get_depth_preset
from theory.errors import InputError
from theory.exponents import format_exponent
from theory.presets import PRESETS, get_preset

LAYERS = 3


def _row(values: list[object]) -> str:
    return "(" + ", ".join(format_exponent(v) for v in values) + ")"


def _power(exponent: object) -> str:
    return f"L^({format_exponent(exponent)})"


def main() -> None:
    for name, preset in PRESETS.items():
        print(f"{name}: {preset.summary}")
        print(f"  source: {preset.source}")
        constants = preset.constants
        if constants.why:
            trained = [f"base width {constants.base_width}"] if constants.base_width else []
            trained += [f"eta0 {constants.lr:g}"] if constants.lr else []
            trained += [f"first-step eta0 {constants.warmup_lr:g}"] if constants.warmup_lr else []
            print(f"  checks train it at {', '.join(trained)} ({constants.why})")
        shown_ab = False
        for optimizer in ("sgd", "adam"):
            try:
                param = get_preset(name, layers=LAYERS, optimizer=optimizer)
            except InputError as err:
                print(f"  {optimizer}: not defined ({err})")
                continue
            if not shown_ab:
                print(f"  a = {_row([l.a for l in param.layers])}   b = {_row([l.b for l in param.layers])}")
                shown_ab = True
            line = f"  {optimizer}: c = {_row([l.c for l in param.layers])}"
            if param.warmup:
                line += "; first update(s): c = " + "; ".join(_row(list(cs)) for cs in param.warmup)
            print(line)
        print()
    for name in DEPTH_PRESETS:
        for optimizer in ("sgd", "adam"):
            rp = get_depth_preset(name, optimizer=optimizer)
            eps = "" if rp.block_eps_depth is None else f", Adam epsilon ~ {_power(-rp.block_eps_depth)}"
            if optimizer == "sgd":
                print(f"{name} (residual, width exponents of mup): {rp.source}")
            print(f"  {optimizer}: branch multiplier {_power(-rp.alpha)}, block learning rate "
                  f"~ {_power(-rp.block_lr_depth)}{eps}")
        print()


if __name__ == "__main__":
    main()
