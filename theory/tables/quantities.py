"""What a grid cell can show: report-level quantities (regime, maximal stable LR exponent, logit
exponents) and per-layer quantities of theory.engine.QUANTITIES at a chosen layer or role."""

from __future__ import annotations

from collections.abc import Callable

import sympy

from theory.engine import Report
from theory.errors import InputError
from theory.exponents import Exponent
from theory.parametrization import Parametrization, suggest
from theory.quantities import QUANTITIES
from theory.regimes import CATASTROPHIC
from theory.tables.model import Cell, Power, Text


def exact(value: Exponent | None) -> Exponent | None:
    """Engine exponent -> cell exponent: -oo (the quantity is exactly zero) becomes None (a dash)."""
    return None if value is None or value == -sympy.oo else value


def _lr_limit(report: Report, value: Exponent | None, attained: bool) -> Cell:
    if value is None:  # no stable x: the init vanishes, or catastrophic at every learning-rate exponent
        return Text("none (vanishing init)") if report.vanishing_init else Text("none")
    if not attained and value != sympy.oo:
        from theory.exponents import format_exponent

        return Text(f"< {format_exponent(value)}", f"$<{sympy.latex(value)}$")
    return Power(value)


def _yes_no(value: bool | None) -> Cell:
    return Text("?" if value is None else "yes" if value else "no")


REPORT_QUANTITIES: dict[str, tuple[str, Callable[[Report], Cell]]] = {
    "max_stable_lr_exponent": ("largest LR exponent x (eta n^x) that is stable or in controlled divergence",
                               lambda r: _lr_limit(r, r.max_stable_lr_exponent, r.max_stable_attained)),
    "max_bounded_logits_lr_exponent": ("largest LR exponent x with bounded logits (TP4-stable)",
                                       lambda r: _lr_limit(r, r.max_bounded_logits_lr_exponent, True)),
    "regime": ("stable / controlled-divergence / vanishing-init / catastrophic at the given x",
               lambda r: Text(r.regime or "?")),
    "dynamics": ("feature-learning / kernel / trivial / divergent", lambda r: Text(r.dynamics or "?")),
    "nontrivial": ("whether the logits move by Omega(1)", lambda r: _yes_no(r.nontrivial)),
    "logit_init": ("exponent of the logits at initialisation", lambda r: Power(exact(r.logits["init"]))),
    "logit_change": ("exponent of the settled logit change", lambda r: Power(exact(r.logits["update"]))),
    "logit_first_step": ("exponent of the logit change after one step",
                         lambda r: Power(exact(r.logits["first_step_update"]))),
}
ALL_QUANTITIES = tuple(REPORT_QUANTITIES) + QUANTITIES
ROLE_NAMES = ("input", "hidden", "output", "readout")


def check_quantity(quantity: str) -> str:
    if quantity not in ALL_QUANTITIES:
        raise InputError(f"unknown quantity {quantity!r}{suggest(quantity, ALL_QUANTITIES)}")
    return quantity


def layer_indices(param: Parametrization, layer: str | int) -> list[int]:
    """Weight layers (1-based) meant by an index or a role name; InputError if the net has none."""
    if isinstance(layer, int) or (isinstance(layer, str) and layer.isdigit()):
        index = int(layer)
        if not 1 <= index <= len(param.layers):
            raise InputError(f"--layer {index}: {param.name} has weight layers 1..{len(param.layers)} "
                             f"({param.hidden_layers} hidden)")
        return [index]
    role = "output" if layer == "readout" else layer
    if role not in ("input", "hidden", "output"):
        raise InputError(f"--layer {layer!r}: give a layer index or a role{suggest(str(layer), ROLE_NAMES)}")
    found = [l.index for l in param.layers if l.role == role]
    if not found:
        raise InputError(f"--layer {role}: {param.name} with {param.hidden_layers} hidden layer(s) has no "
                         f"{role} weight layer")
    return found


def cell_for(report: Report, quantity: str, layer: str | int | None) -> Cell:
    """The grid cell of one report: a report-level quantity, or a per-layer one at ``layer``."""
    if quantity in REPORT_QUANTITIES:
        if layer is not None:
            raise InputError(f"--layer: quantity {quantity!r} belongs to the whole network, not to a layer")
        return REPORT_QUANTITIES[quantity][1](report)
    if layer is None:
        raise InputError(f"quantity {quantity!r} is per layer: choose one with --layer N|input|hidden|output")
    indices = layer_indices(report.parametrization, layer)
    if report.regime == CATASTROPHIC:
        # no settled exponent: what the engine holds is where the compounding feedback stood after its horizon
        return Text("diverges", latex=r"\text{diverges}")
    values = {exact(report.layers[i - 1].values[quantity]) for i in indices}
    if len(values) > 1:
        raise InputError(f"--layer {layer}: the {layer} layers of {report.parametrization.name} differ in "
                         f"{quantity}; pick one layer by index")
    return Power(values.pop())
