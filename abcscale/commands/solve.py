"""abcscale solve: per-layer learning-rate exponents, for Theta(1) updates in every layer or the largest stable LRs."""

from __future__ import annotations

import argparse

from abcscale.commands._common import add_parametrization_args, parametrization_from, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "solve", help="per-layer LR exponents: Theta(1) updates in every layer (recovers muP) or the largest "
        "stable learning rates (Everett et al.)",
        description="Keep the initialisation (a, b) of PRESET|FILE and find per-layer learning-rate exponents "
        "c_l. Objective max-updates (default): every layer's effective update (W_t - W_0) x is Theta(1); with "
        "muP init this gives muP's learning rates, with SP init Everett et al.'s full-alignment exponents. "
        "Objective max-lr: the largest learning rates (smallest sum of c_l) that keep training stable, "
        "Everett et al.'s linear program with the engine's stability conditions.",
        epilog="examples:\n  abcscale solve sp --optimizer adam\n  abcscale solve mup --optimizer muon --json\n"
        "  abcscale solve mfp --optimizer sgd --objective max-lr",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_parametrization_args(p, lr_help="ignored: the solved exponents include the global LR")
    p.add_argument("--objective", default="max-updates", metavar="max-updates|max-lr",
                   help="Theta(1) updates in every layer (default), or the largest stable learning rates")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abcscale.render import render_solution, solution_dict
    from theory.presets import PRESETS
    from theory.solver import solve
    from theory.transformer import GPT_PRESETS

    args.lr_exponent = None
    optimizer = args.optimizer
    if (args.spec in PRESETS or args.spec in GPT_PRESETS) and optimizer is not None:
        # only the preset's initialisation matters here; its tabulated LRs may not exist for this optimizer
        args.optimizer = "sgd"
    param = parametrization_from(args)
    if optimizer is not None:
        param = param.with_(optimizer=optimizer)
    solution = solve(param, args.objective)
    if args.json:
        print_json(solution_dict(solution))
    else:
        print(render_solution(solution, args.spec))
    return 0
