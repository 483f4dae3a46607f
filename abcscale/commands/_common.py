"""Arguments shared by the commands that take a parametrization (PRESET or FILE.toml plus overrides)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from theory.config import resolve
from theory.exponents import parse_exponent
from theory.parametrization import ACTIVATIONS, LOSSES, OPTIMIZERS, Parametrization
from theory.presets import PRESETS
from theory.terminal import strict_json, text_table
from theory.transformer import GPT_PRESETS

__all__ = ["add_parametrization_args", "check_exponent_flags", "parametrization_from", "print_json", "text_table"]

LR_EXPONENT_HELP = ("global LR exponent on top of the per-layer ones: layer l trains with eta n^X n^-c_l; a number "
                    "(-1/2, 0.5, 1/2 - 1/3; within +-1000) or one bare name such as x for the phase diagram over it "
                    "(not an expression in names: docs/parametrizations.md#exponents)")


EXPONENT_FLAGS = (("lr_exponent", "--lr-exponent", True), ("eps_exponent", "--eps-exponent", False))


def check_exponent_flags(args: argparse.Namespace) -> None:
    """Refuse a malformed ``--lr-exponent`` / ``--eps-exponent`` (InputError naming the flag) before the command
    runs: before it imports torch or opens a database, so a bad exponent costs a second and writes nothing."""
    for attr, flag, symbol in EXPONENT_FLAGS:
        text = getattr(args, attr, None)
        if isinstance(text, str):
            parse_exponent(text, flag, symbol=symbol)


def add_parametrization_args(parser: argparse.ArgumentParser, *, lr_help: str | None = None,
                             with_lr: bool = True, optional_spec: bool = False) -> None:
    """PRESET|FILE.toml and the model overrides; ``with_lr`` adds --lr-exponent and --eps-exponent;
    ``optional_spec``: the spec may be left out (``verify --module`` reads the model instead)."""
    parser.add_argument("spec", metavar="PRESET|FILE.toml", nargs="?" if optional_spec else None,
                        help=f"an MLP preset ({', '.join(PRESETS)}), a transformer preset ({', '.join(GPT_PRESETS)}; "
                             "docs/transformers.md) or a TOML file (see docs/parametrizations.md)")
    parser.add_argument("--layers", type=int, metavar="L",
                        help="number of hidden layers (default 3), or of blocks for a transformer (default 2)")
    parser.add_argument("--loss", metavar="|".join(LOSSES), help="loss (default ce)")
    parser.add_argument("--optimizer", metavar="|".join(OPTIMIZERS), help="optimizer (default sgd)")
    parser.add_argument("--activation", metavar="|".join(ACTIVATIONS),
                        help="activation (default relu; gelu for a transformer)")
    if not with_lr:
        return
    parser.add_argument("--lr-exponent", metavar="X", help=lr_help or LR_EXPONENT_HELP)
    parser.add_argument("--eps-exponent", metavar="E", help="Adam epsilon = eps n^-E, E a number (default: negligible)")


def parametrization_from(args: argparse.Namespace) -> Parametrization:
    return resolve(args.spec, layers=args.layers, optimizer=args.optimizer, loss=args.loss,
                   activation=args.activation, lr_exponent=args.lr_exponent, eps_exponent=args.eps_exponent)


def depth_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The model flags of a residual preset (``theory.depth.get_depth_preset``), defaults for the absent ones: an
    empty ``--loss ''`` is refused there, not read as the default."""
    given = {"optimizer": args.optimizer, "loss": args.loss, "activation": args.activation,
             "lr_exponent": getattr(args, "lr_exponent", None)}
    defaults = {"optimizer": "sgd", "loss": "ce", "activation": "relu", "lr_exponent": 0}
    return {key: defaults[key] if value is None else value for key, value in given.items()}


def print_json(data: Any) -> None:
    """``data`` as strict JSON on stdout (NaN and infinities as null)."""
    sys.stdout.write(strict_json(data) + "\n")
