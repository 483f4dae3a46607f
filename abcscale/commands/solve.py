"""abcscale solve: per-layer learning-rate exponents giving maximal (Theta(1)) updates in every layer."""

from __future__ import annotations

import argparse

from abcscale.commands._common import add_parametrization_args, parametrization_from, print_json
from theory.terminal import text_table


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
    from theory.exponents import format_exponent
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
    report = solution.report
    if args.json:
        print_json({"c": [format_exponent(c) for c in solution.c],
                    "layers": [{"index": l.index, "role": l.role, "a": format_exponent(l.a),
                                "b": format_exponent(l.b), "c": format_exponent(c)}
                               for l, c in zip(report.layers, solution.c, strict=True)],
                    "regime": report.regime,
                    "max_stable_lr_exponent": format_exponent(report.max_stable_lr_exponent),
                    "logits": {k: format_exponent(v) for k, v in report.logits.items()}})
        return 0
    p = solution.parametrization
    print(f"{args.spec} init with {p.optimizer.name}, loss {p.loss}: learning rate of layer l = eta n^-c_l")
    rows = [[str(l.index), l.role, format_exponent(l.a), format_exponent(l.b), format_exponent(c),
             format_exponent(l.values["effective_update"])] for l, c in zip(report.layers, solution.c, strict=True)]
    print(text_table(["layer", "role", "a", "b", "c (solved)", "dW x"], rows))
    print(f"regime with these rates: {report.regime}; logit change n^{format_exponent(report.logits['update'])}")
    return 0
