"""abcscale check: derive + verify + verdict, predicted exponents against measured slopes (exit 1 on FAIL)."""

from __future__ import annotations

import argparse

from abcscale.commands.verify import add_arguments, execute


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="derive exponents, train across widths, PASS/FAIL per quantity",
                       description="The main job: derive the width exponents of a parametrization, train it "
                                   "across widths (all seeds of a width batched), fit the log-log slope of every "
                                   "quantity with a bootstrap CI over seeds and print predicted | measured +- CI "
                                   "| PASS/FAIL.  Exit code 1 when any quantity fails, so it can gate CI.")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return execute(args, judged=True)
