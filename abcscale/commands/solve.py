"""abcscale solve: per-layer learning-rate exponents giving maximal (Theta(1)) updates in every layer."""

from __future__ import annotations

import argparse

from abcscale.commands._common import add_parametrization_args, parametrization_from, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "solve", help="per-layer LR exponents for Theta(1) updates in every layer (recovers muP)",
        description="Keep the initialisation (a, b) of PRESET|FILE and find per-layer learning-rate exponents "
        "c_l such that every layer's effective update (W_t - W_0) x is Theta(1). With muP init this gives "
        "muP's learning rates; with SP init Everett et al.'s full-alignment exponents.",
        epilog="examples:\n  abcscale solve sp --optimizer adam\n  abcscale solve mup --optimizer muon --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_parametrization_args(p, lr_help="ignored: the solved exponents include the global LR")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abcscale.render import render_solution, solution_dict
    from theory.presets import PRESETS
    from theory.solver import solve

    args.lr_exponent = None
    optimizer = args.optimizer
    if args.spec in PRESETS and optimizer is not None:
        # only the preset's initialisation matters here; its tabulated LRs may not exist for this optimizer
        args.optimizer = "sgd"
    param = parametrization_from(args)
    if optimizer is not None:
        param = param.with_(optimizer=optimizer)
    solution = solve(param)
    if args.json:
        print_json(solution_dict(solution))
    else:
        print(render_solution(solution, args.spec))
    return 0
