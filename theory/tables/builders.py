"""Tables built from engine reports: a grid over parametrizations x optimizers x losses for one
quantity, the per-layer table of one configuration, and the phase table over the LR exponent."""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from theory.config import resolve
from theory.engine import Report, derive
from theory.errors import InputError
from theory.exponents import format_exponent, parse_exponent
from theory.parametrization import Parametrization
from theory.quantities import BY_NAME, QUANTITIES
from theory.regimes import Phase
from theory.tables.model import Cell, Column, Interval, Power, Table, Text
from theory.tables.quantities import cell_for, check_quantity, exact

PER_LAYER_DEFAULT = ("init_preactivation", "backward_gradient", "weight_update", "effective_update",
                     "propagating_update", "feature_update")


def _describe(param: Parametrization) -> str:
    return (f"{param.name}, L={param.hidden_layers}, {param.activation}, {param.optimizer.name}, loss {param.loss}, "
            f"x = {format_exponent(param.lr_exponent)}")


def grid_table(specs: Sequence[str | Parametrization], optimizers: Sequence[str], losses: Sequence[str],
               quantity: str = "max_stable_lr_exponent", *, layer: str | int | None = None,
               layers: int | None = None, activation: str | None = None, lr_exponent: object | None = None,
               horizon: int = 4) -> Table:
    """One row per parametrization, one column per (optimizer, loss): ``quantity`` of each derivation."""
    check_quantity(quantity)
    if not specs or not optimizers or not losses:
        raise InputError("a grid needs at least one parametrization, optimizer and loss")
    rows: list[list[Cell]] = []
    for spec in specs:
        row: list[Cell] = []
        name = spec if isinstance(spec, str) else spec.name
        for optimizer in optimizers:
            for loss in losses:
                if isinstance(spec, Parametrization):
                    param = spec.with_(optimizer=optimizer, loss=loss)
                    if lr_exponent is not None:
                        param = param.with_(lr_exponent=lr_exponent)
                else:
                    param = resolve(spec, layers=layers, optimizer=optimizer, loss=loss, activation=activation,
                                    lr_exponent=lr_exponent)
                    name = param.name
                row.append(cell_for(derive(param, horizon=horizon), quantity, layer))
        rows.append([Text(name), *row])
    where = "" if layer is None else f" at layer {layer}"
    shown = None if lr_exponent is None else format_exponent(parse_exponent(lr_exponent, "lr_exponent", symbol=True))
    x = "" if shown is None else f", global LR exponent x = {shown}"
    columns = [Column("parametrization")] + [Column(loss, optimizer) for optimizer in optimizers for loss in losses]
    return Table(title=f"{quantity}{where} (width exponents){x}", columns=columns, rows=rows,
                 label=f"tab:{quantity.replace('_', '-')}")


def per_layer_table(param: Parametrization, quantities: Sequence[str] = PER_LAYER_DEFAULT,
                    horizon: int = 4) -> Table:
    """One row per weight layer: a, b, c and the settled exponents of ``quantities``, plus the verdict."""
    for quantity in quantities:
        if quantity not in QUANTITIES:
            check_quantity(quantity)
            raise InputError(f"quantity {quantity!r} belongs to the whole network; per-layer tables show "
                             f"{', '.join(QUANTITIES)}")
    if param.lr_exponent.free_symbols:
        raise InputError("--per-layer needs a numeric --lr-exponent (use --phases for the diagram over x)")
    report = derive(param, horizon=horizon)
    columns = [Column("layer"), Column("role"), Column("a", latex="$a$"), Column("b", latex="$b$"),
               Column("c", latex="$c$")]
    columns += [Column(BY_NAME[q].label, latex=BY_NAME[q].latex) for q in quantities]
    columns.append(Column("verdict"))
    rows: list[list[Cell]] = [[Text(str(lr.index)), Text(lr.role), Power(lr.a), Power(lr.b), Power(lr.c),
             *[Power(exact(lr.values[q])) for q in quantities], Text(lr.verdict or "?")] for lr in report.layers]
    notes = [f"regime {report.regime}, dynamics {report.dynamics}; logit change exponent "
             f"{format_exponent(exact(report.logits['update']))}" if report.regime else "symbolic exponents"]
    return Table(title=f"Per-layer width exponents: {_describe(param)}", columns=columns, rows=rows,
                 label=f"tab:{param.name}-per-layer", notes=notes + report.notes)


def phase_interval(phase: Phase) -> Interval:
    """The LR-exponent interval of one engine phase as a table cell (end points as exact rationals)."""

    def ex(value: object) -> sympy.Rational | None:
        return None if value is None else sympy.Rational(str(value))

    return Interval(ex(phase.lower), ex(phase.upper), phase.lower_closed, phase.upper_closed)


def phases_of(report: Report) -> list[Phase]:
    if report.phases is None:
        raise InputError("phases need numeric a, b, c exponents (only the LR exponent may vary)")
    return report.phases


def _limit(value: sympy.Expr | None) -> str:
    """A maximal LR exponent for a note ('none': no x is stable, e.g. a vanishing initialisation)."""
    return "none" if value is None else format_exponent(value)


def phase_table(param: Parametrization, horizon: int = 4) -> Table:
    """One row per regime interval of the global LR exponent x (learning rate eta n^x)."""
    report = derive(param.with_(lr_exponent=sympy.Symbol("x", real=True)), horizon=horizon)
    phases = phases_of(report)
    rows: list[list[Cell]] = [[phase_interval(p), Text(p.regime)] for p in phases]
    p = report.parametrization
    notes = [f"max stable x = {_limit(report.max_stable_lr_exponent)}; largest x with bounded logits "
             f"= {_limit(report.max_bounded_logits_lr_exponent)}", *report.notes]
    return Table(title=f"Phases over the LR exponent x (eta n^x): {p.name}, L={p.hidden_layers}, {p.activation}, "
                 f"{p.optimizer.name}, loss {p.loss}", columns=[Column("x", latex="$x$"), Column("regime")],
                 rows=rows, label=f"tab:{p.name}-phases", notes=notes)
