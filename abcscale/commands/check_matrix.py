"""abcscale check-matrix: ``check`` over presets x optimizers x losses x activations, PASS/FAIL per cell."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from abcscale.commands._common import print_json
from theory.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    from theory.presets import PRESETS
    from verify.width.matrix import MATRIX_ACTIVATIONS, MATRIX_LOSSES, MATRIX_OPTIMIZERS

    p = sub.add_parser("check-matrix", help="check every preset x optimizer x loss x activation; counts per cell",
                       description="Run 'abcscale check' with its defaults on every combination of the chosen "
                                   "presets, optimizers, losses and activations, and print PASS/FAIL counts per "
                                   "combination and the failing rows.  Combinations a preset has no form for, and "
                                   "those the engine finds catastrophic, are listed and skipped.  One results "
                                   "database serves every cell, so a rerun resumes.  Exit 1 when a row fails.",
                       epilog="example:\n  abcscale check-matrix --presets sp,mup --optimizers sgd,adam "
                              "--losses ce --activations relu",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default=",".join(PRESETS), help=f"comma-separated (default {','.join(PRESETS)})")
    p.add_argument("--optimizers", default=",".join(MATRIX_OPTIMIZERS),
                   help=f"comma-separated (default {','.join(MATRIX_OPTIMIZERS)})")
    p.add_argument("--losses", default=",".join(MATRIX_LOSSES), help=f"default {','.join(MATRIX_LOSSES)}")
    p.add_argument("--activations", default=",".join(MATRIX_ACTIVATIONS),
                   help=f"default {','.join(MATRIX_ACTIVATIONS)}")
    p.add_argument("--layers", type=int, default=None, metavar="L", help="hidden layers (default 3)")
    p.add_argument("--widths", default=None, help="comma-separated widths (default: check's, 128,256,512,1024)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per width (default: check's, 8)")
    p.add_argument("--db", default="abcscale.db", help="SQLite results file (resumes finished runs)")
    p.add_argument("--plot", default=None, metavar="PATH.png", help="write a grid of failing rows per cell")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _choices(flag: str, text: str, options: tuple[str, ...]) -> list[str]:
    from theory.parametrization import check_choice

    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise InputError(f"{flag} {text!r}: give at least one value")
    return [check_choice(flag, v, options) for v in values]


def _check_memory(selected: list[Any], widths: list[int] | None, seeds: int | None, layers: int | None) -> None:
    """Refuse before the first cell trains when a cell's widest job cannot fit (its optimizer's state counted)."""
    from verify.memory import Size, amount, check_fits, width_job_bytes
    from verify.width.check import DEFAULT_SEEDS, DEFAULT_WIDTHS

    widest = max(widths or DEFAULT_WIDTHS)
    count = DEFAULT_SEEDS if seeds is None else seeds
    for optimizer in sorted({cell.optimizer for cell in selected}):
        check_fits(functools.partial(width_job_bytes, optimizer=optimizer, batch_size=1, inputs=32),
                   {"width": Size("--widths", widest, 2), "seeds": Size("--seeds", count),
                    "layers": Size("--layers", 3 if layers is None else layers)},
                   f"one width-{amount(widest)} {optimizer} job ({count} seeds)")


def run(args: argparse.Namespace) -> int:
    from theory.parametrization import ACTIVATIONS, LOSSES, OPTIMIZERS
    from theory.presets import PRESETS
    from verify.options import PLOT_SUFFIXES, at_least, check_output, parse_widths
    from verify.width.matrix import cells, run_matrix

    selected = cells(_choices("--presets", args.presets, tuple(PRESETS)),
                     _choices("--optimizers", args.optimizers, OPTIMIZERS),
                     _choices("--losses", args.losses, LOSSES), _choices("--activations", args.activations,
                                                                          tuple(ACTIVATIONS)))
    widths = None if args.widths is None else parse_widths(args.widths)
    if args.seeds is not None:
        at_least("--seeds", args.seeds, 1)
    if args.layers is not None:
        at_least("--layers", args.layers, 1)
    check_output("--plot", args.plot, PLOT_SUFFIXES)
    _check_memory(selected, widths, args.seeds, args.layers)
    from tqdm import tqdm

    bar = tqdm(total=len(selected), desc="check-matrix", unit="cell", disable=args.json or not sys.stderr.isatty(),
               leave=False)

    def advance(result: object) -> None:
        bar.update(1)

    result = run_matrix(selected, db=args.db, layers=args.layers, widths=widths, seeds=args.seeds, on_cell=advance)
    bar.close()
    if args.plot:
        result.write_figure(args.plot)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.table())
        if args.plot:
            print(f"grid written to {args.plot}")
    return 0 if result.passed else 1
