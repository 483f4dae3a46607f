"""The ``abcscale`` command line: thin wiring from arguments to the theory/numerics/verify layers.

Bad input never shows a traceback: it prints one line ``abcscale: error: ...`` and exits with 2.  So does a
training task that kept killing its Dask workers (``TaskFailed``): no verdict, finished results are kept.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from abcscale.commands import COMMAND_MODULES
from abcscale.commands._common import check_exponent_flags
from theory.errors import InputError, TaskFailed, one_line

EPILOG = """examples:
  abcscale derive sp --loss ce --lr-exponent -1/2     exponents, regime, max stable LR
  abcscale derive sp --lr-exponent x                  phase diagram over the LR exponent x
  abcscale solve sp --optimizer adam                  per-layer LR exponents for maximal updates
  abcscale equivalent mup mfp                         abc-symmetry check
  abcscale check sp --loss ce                         derive + train across widths + verdicts
"""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # let numbers and lists starting with a minus sign be values, not options: -1/2, -.5, -1e-3, -64,128
        self._negative_number_matcher = re.compile(r"^-(\d|\.\d)[\d.,/eE+-]*$")

    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse's own usage errors too)
        self.exit(2, f"abcscale: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="abcscale", description="Derive, verify and tabulate width (and depth) scaling "
                     "exponents of neural-network training under abc-parametrizations.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"abcscale.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"abcscale.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from verify.runs.runtime import tune_allocator  # no torch import: a faster heap for the trainings, same numbers

    tune_allocator()
    try:
        check_exponent_flags(args)
        return int(args.func(args) or 0)
    except (InputError, TaskFailed) as err:
        print(f"abcscale: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `abcscale derive sp --json | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("abcscale: interrupted (finished results are kept in the database)", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
