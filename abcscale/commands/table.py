"""abcscale table: LaTeX / Markdown / CSV / JSON tables of derived (and measured) width exponents."""

from __future__ import annotations

import argparse

from theory.outputs import check_writable, write_text
from theory.parametrization import ACTIVATIONS, LOSSES, OPTIMIZERS
from theory.presets import PRESETS

EPILOG = """examples:
  abcscale table --params sp,ntk,mup,mfp --optimizers sgd,adam --losses ce,mse
  abcscale table --params sp,mup --quantity feature_update --layer 3 --format latex --standalone -o t.tex
  abcscale table sp --per-layer --lr-exponent -1/2          per-layer exponents of one configuration
  abcscale table sp --optimizer adam --phases               regimes over the LR exponent x
  abcscale table --paper tp4 --format latex                 TP4 Table 1, derived (also tp5, everett,
                                                            everett-max-updates, haas)
  abcscale table --db abcscale.db                           predicted vs measured slopes with verdicts
"""


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table", help="tables of derived (and measured) exponents: LaTeX, Markdown, CSV, JSON",
        description="Build a table from the symbolic engine and print it (or write it with -o). Four kinds: "
        "a grid of parametrizations x optimizers x losses for one quantity (--params); the per-layer "
        "exponents of one configuration (PRESET|FILE, --per-layer); its phases over the LR exponent "
        "(--phases); a reproduced paper table (--paper); or predicted vs measured slopes from a results "
        "database (--db). Exponents e mean n^e; LaTeX output uses booktabs and compiles with pdflatex.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", metavar="PRESET|FILE.toml",
                   help=f"one configuration for --per-layer / --phases ({', '.join(PRESETS)} or a TOML file)")
    what = p.add_argument_group("what to tabulate")
    what.add_argument("--params", type=_list, metavar="A,B,...", help="grid rows: presets or TOML files")
    what.add_argument("--optimizers", type=_list, metavar="sgd,adam", help="grid column groups (default sgd)")
    what.add_argument("--losses", type=_list, metavar="ce,mse", help="grid columns per optimizer (default ce)")
    what.add_argument("--quantity", metavar="Q",
                      help="grid quantity (default max_stable_lr_exponent; also regime, dynamics, nontrivial, "
                      "max_bounded_logits_lr_exponent, logit_init, logit_change, logit_first_step, or a per-layer "
                      "one such as feature_update with --layer)")
    what.add_argument("--layer", metavar="N|ROLE", help="weight layer of a per-layer quantity: index or "
                      "input/hidden/output")
    what.add_argument("--per-layer", action="store_true", help="per-layer table of PRESET|FILE (the default)")
    what.add_argument("--quantities", type=_list, metavar="Q,...", help="columns of the per-layer table")
    what.add_argument("--phases", action="store_true", help="phase table of PRESET|FILE over the LR exponent")
    what.add_argument("--paper", metavar="tp4|tp5|everett|everett-max-updates|haas",
                      help="a reproduced paper table (everett-max-updates: Everett et al.'s rows solved for "
                      "Theta(1) updates in every layer instead of their largest stable learning rates)")
    what.add_argument("--db", metavar="FILE", help="results database of 'abcscale verify': measured slopes")
    what.add_argument("--config", metavar="ID", help="with --db: only this configuration id")
    model = p.add_argument_group("model")
    model.add_argument("--layers", type=int, metavar="L", help="number of hidden layers (default 3)")
    model.add_argument("--optimizer", metavar="|".join(OPTIMIZERS), help="optimizer of PRESET|FILE (default sgd)")
    model.add_argument("--loss", metavar="|".join(LOSSES), help="loss of PRESET|FILE (default ce)")
    model.add_argument("--activation", metavar="|".join(ACTIVATIONS), help="activation (default relu)")
    model.add_argument("--lr-exponent", metavar="X", help="global LR exponent x (learning rate eta n^x n^-c_l): a "
                       "number, or one bare name such as x (docs/parametrizations.md#exponents)")
    out = p.add_argument_group("output")
    out.add_argument("--format", default=None, metavar="latex|markdown|csv|json", help="default markdown")
    out.add_argument("--json", action="store_true", help="same as --format json")
    out.add_argument("--exponent-style", metavar="power|bare", help="n^{-1/2} or -1/2 (default per table)")
    out.add_argument("--caption", help="caption (plain text; default: the table's title)")
    out.add_argument("--label", help="LaTeX label (default tab:<kind>)")
    out.add_argument("--standalone", action="store_true", help="a complete LaTeX document for pdflatex")
    out.add_argument("-o", "--output", metavar="FILE", help="write here instead of printing")
    p.set_defaults(func=run)


def _reject(args: argparse.Namespace, mode: str, names: list[str]) -> None:
    from theory.errors import InputError

    for name in names:
        value = getattr(args, name)
        if value not in (None, False):
            raise InputError(f"--{name.replace('_', '-')} does not apply to {mode}")


def build(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The Table the arguments ask for (raises InputError on contradictory or bad input)."""
    from theory.config import resolve
    from theory.errors import InputError
    from theory.tables import grid_table, paper_table, per_layer_table, phase_table

    modes = [m for m, on in (("--paper", args.paper), ("--db", args.db), ("--params", args.params),
                             ("PRESET|FILE", args.spec)) if on]
    if len(modes) != 1:
        raise InputError("give exactly one of PRESET|FILE, --params, --paper, --db"
                         + (f" (got {', '.join(modes)})" if modes else ""))
    if args.layers is not None and not 1 <= args.layers <= 10_000:
        raise InputError(f"--layers: need a positive number of hidden layers, got {args.layers}")
    single = ["per_layer", "phases", "quantities", "optimizer", "loss"]
    grid = ["optimizers", "losses", "layer", "quantity"]
    if args.paper:
        _reject(args, "--paper", single + grid + ["activation", "lr_exponent", "config"])
        return paper_table(args.paper, layers=3 if args.layers is None else args.layers)
    if args.db:
        from abcscale.measured import measured_table

        _reject(args, "--db", single + grid + ["layers", "activation", "lr_exponent"])
        return measured_table(args.db, config=args.config)
    _reject(args, "a derived table", ["config"])
    if args.params:
        _reject(args, "--params (use --optimizers/--losses)", single)
        return grid_table(args.params, args.optimizers or ["sgd"], args.losses or ["ce"],
                          args.quantity or "max_stable_lr_exponent",
                          layer=args.layer, layers=args.layers, activation=args.activation,
                          lr_exponent=args.lr_exponent)
    _reject(args, "PRESET|FILE (use --optimizer/--loss)", grid)
    from theory.depth import DEPTH_PRESETS, get_depth_preset

    if args.spec in DEPTH_PRESETS:  # residual networks: exponents in width n and depth L
        _reject(args, f"{args.spec} (a depth table)", ["per_layer", "phases", "quantities", "layers"])
        from abcscale.commands._common import depth_overrides
        from theory.tables import depth_table

        return depth_table(get_depth_preset(args.spec, **depth_overrides(args)))
    if args.per_layer and args.phases:
        raise InputError("--per-layer and --phases: choose one")
    param = resolve(args.spec, layers=args.layers, optimizer=args.optimizer, loss=args.loss,
                    activation=args.activation, lr_exponent=None if args.phases else args.lr_exponent)
    if args.phases:
        _reject(args, "--phases (the table spans every x)", ["lr_exponent", "quantities"])
        return phase_table(param)
    return per_layer_table(param, args.quantities) if args.quantities else per_layer_table(param)


def run(args: argparse.Namespace) -> int:
    from theory.errors import InputError

    if args.json and args.format not in (None, "json"):
        raise InputError(f"--json and --format {args.format}: choose one")
    fmt = "json" if args.json else args.format or "markdown"
    from theory.tables.render import FORMATS

    if fmt not in FORMATS:  # checked before any work
        from theory.parametrization import check_choice

        check_choice("format", fmt, FORMATS)
    if args.output is not None:  # an empty or unwritable -o is refused before the table is built
        check_writable("-o", args.output)
    text = build(args).render(fmt, exponent_style=args.exponent_style, caption=args.caption, label=args.label,
                              standalone=args.standalone) + "\n"
    if args.output is not None:
        write_text(args.output, text)
    else:
        print(text, end="")
    return 0
