"""abcscale equivalent: are two parametrizations the same training dynamics under the abc symmetry?"""

from __future__ import annotations

import argparse

from abcscale.commands._common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "equivalent", help="abc-symmetry check: (a+t, b-t, c-k t), k=2 SGD, 1 Adam, 0 Adafactor",
        description="Decide whether B is A shifted along the abc symmetry of Tensor Programs IV "
        "(per layer: a+t, b-t, c-k t with k = 2 for SGD, 1 for Adam/signSGD/Muon, 0 for Adafactor) "
        "and name the shift t of every layer. Exit code 0 if equivalent, 1 if not.",
        epilog="example:\n  abcscale equivalent mup mfp --optimizer sgd",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("first", metavar="A", help="preset or TOML file")
    p.add_argument("second", metavar="B", help="preset or TOML file")
    p.add_argument("--layers", type=int, metavar="L", help="hidden layers (default 3)")
    p.add_argument("--optimizer", help="optimizer for both (default sgd)")
    p.add_argument("--loss", help="loss for both (default ce)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abcscale.render import equivalence_dict, render_equivalence
    from theory.config import resolve
    from theory.symmetry import equivalent

    a = resolve(args.first, layers=args.layers, optimizer=args.optimizer, loss=args.loss)
    b = resolve(args.second, layers=args.layers, optimizer=args.optimizer, loss=args.loss)
    result = equivalent(a, b)
    if args.json:
        print_json(equivalence_dict(result))
    else:
        print(render_equivalence(result, args.first, args.second, a.optimizer.name))
    return 0 if result.equivalent else 1
