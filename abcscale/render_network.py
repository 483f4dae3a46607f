"""The terminal form of a transformer's report: one row per tensor, identical blocks grouped into one row."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from abcscale.render import COLUMNS, _fmt, summary_lines
from theory.engine import Report
from theory.exponents import format_exponent
from theory.network_depth import NetworkDepthReport
from theory.terminal import text_table
from theory.transformer import group_blocks


def render_network_report(report: Report) -> str:
    p = report.parametrization
    arch = p.network
    norm = "no norms" if arch.norm == "none" else f"{arch.norm} ({'trainable' if arch.norm_gains else 'fixed'} gains)"
    lines = [f"{p.name}: GPT, {arch.blocks} blocks, heads {arch.heads}, logits q.k / d_head^"
             f"{format_exponent(arch.attention_exponent)}, {norm}, {'tied' if arch.tied else 'untied'} embeddings; "
             f"{p.activation}, loss {p.loss}, optimizer {p.optimizer.name}, global LR exponent x = "
             f"{format_exponent(p.lr_exponent)}"]
    lines += summary_lines(report)
    lines.append("")
    decay = any(layer.wd_exponent is not None for layer in p.layers)
    header = ["tensor", "role", "a", "b", "c", *(["wd"] if decay else []), *[title for _, title in COLUMNS],
              "verdict"]
    rows = []
    for layer, tensor in zip(report.layers, p.layers, strict=True):
        cells = [layer.role + (" (zero)" if tensor.zero_init else ""), _fmt(layer.a), _fmt(layer.b), _fmt(layer.c),
                 *([_fmt(tensor.wd_exponent)] if decay else []), *[_fmt(layer.values[q]) for q, _ in COLUMNS],
                 layer.verdict or "?"]
        rows.append((tensor.name, cells))
    lines.append(text_table(header, group_blocks(rows)))
    lines.append("")
    lines.append(_module_table(report.modules, _fmt))
    lines.append("")
    lines.append(f"Entries are exponents e of n = d_model (RMS per coordinate), settled over {report.horizon} unrolled "
                 "steps; '-' = exactly zero. A row 'h0-3.attn.q' stands for that tensor in blocks 0 to 3 (their "
                 "exponents agree); "
                 "'.scores' are attention logits (read through a softmax: growth saturates it, as the output "
                 "logits under cross-entropy).")
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _module_table(modules: Mapping[str, Mapping[str, Any]], cell: Callable[[Any], str]) -> str:
    """The reported values (attention logits, residual stream, logits): init, change and first step's change."""
    rows = [(name, [cell(row[k]) for k in ("init", "change", "first_step_change")]) for name, row in modules.items()]
    return text_table(["value", "init", "change", "first step"], group_blocks(rows))


def _pair_text(value: object) -> str:
    """'n^x L^y' of a pair (or a plain width exponent), '-' for exactly zero."""
    from theory.depth import Pair

    if value is None:
        return "-"
    if isinstance(value, Pair):
        if value.inf:
            return "diverges"
        return f"{_fraction(value.n)}, {_fraction(value.L)}"
    return f"{_fraction(value)}, 0"


def _fraction(value: Any) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


DEPTH_COLUMNS = ("init_preactivation", "backward_gradient", "weight_update", "effective_update", "feature_update")


def render_network_depth_report(report: NetworkDepthReport) -> str:
    """A depth-scaled transformer: per tensor and value, exponents 'n, L' (width first)."""
    from theory.quantities import BY_NAME

    p = report.parametrization
    arch = p.network
    lr = format_exponent(-arch.depth_c[0][1]) if arch.depth_c else "0"
    eps = f", Adam epsilon L^{format_exponent(-arch.depth_eps[0][1])}" if arch.depth_eps else ""
    lines = [f"{p.name}: GPT, branches scaled by L^{format_exponent(-arch.depth_alpha)}, hidden tensors' LR "
             f"L^{lr}{eps}; {p.activation}, loss {p.loss}, optimizer {p.optimizer.name}, global LR exponent "
             f"x = {format_exponent(p.lr_exponent)}",
             f"source: {p.source}" if p.source else "",
             f"regime (n -> oo, then L -> oo): {report.regime}", ""]
    header = ["tensor", *[BY_NAME[q].label for q in DEPTH_COLUMNS]]
    rows = [(name, [_pair_text(row[q]) for q in DEPTH_COLUMNS]) for name, row in report.tensors.items()]
    lines.append(text_table(header, group_blocks(rows)))
    lines.append("")
    lines.append(_module_table(report.modules, _pair_text))
    lines.append("")
    lines.append(f"Entries are exponents 'x, y': the quantity scales like n^x L^y (width first), settled over "
                 f"{report.horizon} unrolled steps. Each block row stands for a group of the L blocks.")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(line for line in lines if line is not None)
