"""Terminal and JSON forms of the engine's results: reports, solved learning rates, symmetry checks (exponents
printed as exact rationals)."""

from __future__ import annotations

import sympy

from theory.depth import DEPTH_QUANTITIES, DepthReport, Pair
from theory.engine import Report
from theory.exponents import Exponent, format_exponent
from theory.quantities import BY_NAME
from theory.solver import Solution
from theory.symmetry import Equivalence
from theory.terminal import text_table

# the per-layer columns of a report, in the order a layer's training flows (labels from theory.quantities)
COLUMNS = [(name, BY_NAME[name].label) for name in
           ("init_preactivation", "backward_gradient", "weight_gradient", "weight_update", "effective_update",
            "propagating_update", "feature_update")]


def _fmt(value: Exponent | None) -> str:
    text = format_exponent(value)
    return "-" if text in ("-", "-inf") else text


def _lr_limit(report: Report, value: Exponent | None) -> str:
    """A maximal LR exponent, or why there is none (no stable x: vanishing init or blow-up everywhere)."""
    if value is not None:
        return _fmt(value)
    return "none (vanishing initialisation)" if report.vanishing_init else "none"


def render_report(report: Report) -> str:
    p = report.parametrization
    lines = [
        f"{p.name}: L={p.hidden_layers} hidden layers, {p.activation}, loss {p.loss}, optimizer {p.optimizer.name}"
        + (f" (eps n^-{format_exponent(p.optimizer.eps_exponent)})" if p.optimizer.eps_exponent is not None else "")
        + f", global LR exponent x = {format_exponent(p.lr_exponent)}",
    ]
    if p.source:
        lines.append(f"source: {p.source}")
    if report.regime is not None:
        lines.append(f"regime: {report.regime}    dynamics: {report.dynamics}    "
                     f"nontrivial: {'yes' if report.nontrivial else 'no'}")
    if report.phases is not None:
        attained = "" if report.max_stable_attained or report.max_stable_lr_exponent is None else " (not attained)"
        lines.append(f"max stable LR exponent: {_lr_limit(report, report.max_stable_lr_exponent)}{attained}    "
                     f"largest with bounded logits: {_lr_limit(report, report.max_bounded_logits_lr_exponent)}")
        variable = p.lr_exponent.name if isinstance(p.lr_exponent, sympy.Symbol) else "x"
        lines.append(f"phases over {variable}: " + " | ".join(f"{ph.interval()} {ph.regime}" for ph in report.phases))
    lines.append("")
    if report.regime is not None:
        header = ["layer", "role", "a", "b", "c"] + [title for _, title in COLUMNS] + ["verdict"]
        rows = []
        for layer in report.layers:
            rows.append([str(layer.index), layer.role, _fmt(layer.a), _fmt(layer.b), _fmt(layer.c)]
                        + [_fmt(layer.values[q]) for q, _ in COLUMNS] + [layer.verdict or "?"])
        lines.append(text_table(header, rows))
    else:  # symbolic exponents: one row per layer and quantity
        rows = [[str(layer.index), layer.role, title, _fmt(layer.values[q])]
                for layer in report.layers for q, title in COLUMNS]
        lines.append(text_table(["layer", "role", "quantity", "exponent"], rows))
    lines.append("")
    lines.append(f"logits: init {_fmt(report.logits['init'])}, change {_fmt(report.logits['update'])} "
                 f"(first step {_fmt(report.logits['first_step_update'])})")
    lines.append(f"Entries are exponents e of n (the quantity scales like n^e; RMS per coordinate), settled "
                 f"over {report.horizon} unrolled steps; '-' = exactly zero or not defined.")
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _pair_cells(value: Pair | None) -> list[str]:
    if value is None:
        return ["-", "-"]
    if value.inf:
        return ["diverges", "diverges"]
    return [format_exponent(_rational(value.n)), format_exponent(_rational(value.L))]


def _rational(value: object) -> Exponent:
    import sympy

    return sympy.Rational(str(value))


def render_depth_report(report: DepthReport, layers: int | None = None) -> str:
    p = report.parametrization
    lines = [f"{p.name}: residual MLP h^(l+1) = h^l + L^-alpha W_l phi(h^l), alpha = {format_exponent(p.alpha)}, "
             f"{p.width.activation}, loss {p.width.loss}, optimizer {p.width.optimizer.name}",
             f"block learning rate ~ n^-c L^-{format_exponent(p.block_lr_depth)}; source: {p.source}",
             f"regime (n -> oo, then L -> oo): {report.regime}"]
    if layers is not None:
        lines.append(f"(--layers {layers} does not change exponents: they are powers of n and of L)")
    lines.append("")
    rows = [[name, *_pair_cells(report.init[key])] for key, name in
            (("stream", "stream h at init"), ("branch_sum", "sum of branches at init"), ("logits", "logits at init"))]
    for key in DEPTH_QUANTITIES:
        rows.append([key, *_pair_cells(report.first_step[key]), *_pair_cells(report.settled[key])])
    header = ["quantity", "n (init/step 1)", "L (init/step 1)", "n (settled)", "L (settled)"]
    lines.append(text_table(header, [r + [""] * (5 - len(r)) for r in rows]))
    lines.append("")
    lines.append("Entries are exponents: a quantity scales like n^(n column) L^(L column), width first.")
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def solution_dict(solution: Solution) -> dict[str, object]:
    """The solved exponents as JSON: the objective, c per layer, each layer's (a, b, c), regime, max stable LR,
    logits and the report's notes."""
    report = solution.report
    return {"objective": solution.objective, "c": [format_exponent(c) for c in solution.c],
            "layers": [{"index": l.index, "role": l.role, "a": format_exponent(l.a),
                        "b": format_exponent(l.b), "c": format_exponent(c)}
                       for l, c in zip(report.layers, solution.c, strict=True)],
            "regime": report.regime,
            "max_stable_lr_exponent": (None if report.max_stable_lr_exponent is None
                                       else format_exponent(report.max_stable_lr_exponent)),
            "logits": {k: format_exponent(v) for k, v in report.logits.items()},
            "notes": report.notes}


GOALS = {"max-updates": "Theta(1) updates in every layer", "max-lr": "largest stable learning rates"}


def render_solution(solution: Solution, name: str) -> str:
    """The solved exponents of ``name``'s initialisation: per-layer (a, b, solved c, dW x), regime, logit change,
    and the report's notes when the initialisation vanishes (the rates are solved, TP4's init condition fails)."""
    report, p = solution.report, solution.parametrization
    rows = [[str(l.index), l.role, format_exponent(l.a), format_exponent(l.b), format_exponent(c),
             format_exponent(l.values["effective_update"])] for l, c in zip(report.layers, solution.c, strict=True)]
    lines = [f"{name} init with {p.optimizer.name}, loss {p.loss}, {GOALS[solution.objective]}: "
             "learning rate of layer l = eta n^-c_l",
             text_table(["layer", "role", "a", "b", "c (solved)", "dW x"], rows),
             f"regime with these rates: {report.regime}; logit change n^{format_exponent(report.logits['update'])}"]
    if report.vanishing_init:
        lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def equivalence_dict(result: Equivalence) -> dict[str, object]:
    """The symmetry check as JSON: equivalent, the shift t per layer ('theta'), reasons if not."""
    return {"equivalent": result.equivalent, "theta": [format_exponent(t) for t in result.thetas],
            "reasons": result.reasons}


def render_equivalence(result: Equivalence, first: str, second: str, optimizer: str) -> str:
    """The verdict on ``first`` and ``second`` under ``optimizer``, the shift t per layer, and the reasons."""
    lines = [f"{first} and {second} ({optimizer}): {'equivalent' if result.equivalent else 'not equivalent'}"]
    if result.thetas:
        lines.append("shift t per layer: " + ", ".join(format_exponent(t) for t in result.thetas))
    lines += [f"  - {reason}" for reason in result.reasons]
    return "\n".join(lines)
