"""abcscale derive: exponents, regime, maximal stable LR exponent and phase diagram of a parametrization."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from abcscale.commands._common import add_parametrization_args, parametrization_from, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "derive", help="derive width exponents, regime and maximal stable LR (symbolic, instant)",
        description="Propagate scale exponents through the unrolled training graph of an MLP under an "
        "abc-parametrization and report, per layer, how pre-activations, gradients and updates scale "
        "with the width n; the regime (stable / controlled-divergence / vanishing-init / catastrophic); the "
        "largest stable global LR exponent (none when the initialisation vanishes); and the phase diagram over "
        "the LR exponent.",
        epilog="examples:\n  abcscale derive sp --loss ce --lr-exponent -1/2\n"
        "  abcscale derive sp --optimizer adam --json\n  abcscale derive my_net.toml --lr-exponent x",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_parametrization_args(p)  # residual presets depth-mup, completep, residual-sp give exponents in n and L
    p.add_argument("--horizon", type=int, default=4, metavar="T",
                   help="training steps unrolled in the graph (default 4; exponents settle by step 2-3)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abcscale.render import render_report
    from theory.engine import check_horizon, derive

    check_horizon(args.horizon, "--horizon")
    from theory.depth import DEPTH_PRESETS

    if args.spec in DEPTH_PRESETS:
        return _run_depth(args)
    param = parametrization_from(args)
    if param.network is not None and param.network.depth_alpha is not None:
        return _run_network_depth(args, param)
    return _emit(args, derive(param, horizon=args.horizon), render_report)


def _run_network_depth(args: argparse.Namespace, param: Any) -> int:
    """A depth-scaled transformer: exponents in width n and depth L per tensor."""
    from abcscale.render_network import render_network_depth_report
    from theory.network_depth import derive_network_depth

    return _emit(args, derive_network_depth(param, horizon=args.horizon), render_network_depth_report)


def _run_depth(args: argparse.Namespace) -> int:
    """Residual presets: exponents in width n and depth L."""
    from abcscale.commands._common import depth_overrides
    from abcscale.render import render_depth_report
    from theory.depth import derive_depth, get_depth_preset

    rp = get_depth_preset(args.spec, **depth_overrides(args))
    return _emit(args, derive_depth(rp, horizon=args.horizon), lambda report: render_depth_report(report, args.layers))


def _emit(args: argparse.Namespace, report: Any, render: Callable[[Any], str]) -> int:
    """Print a report: its ``to_dict`` as JSON with --json, else its terminal form."""
    if args.json:
        print_json(report.to_dict())
    else:
        print(render(report))
    return 0
