"""Renderers of tables: LaTeX (booktabs, optional standalone document), Markdown, CSV and JSON (plain aligned
terminal text is ``theory.terminal.text_table``)."""

from __future__ import annotations

import csv
import io
import json
import re

from theory.errors import InputError
from theory.parametrization import check_choice
from theory.tables import cells
from theory.tables.model import Column, Table

FORMATS = ("latex", "markdown", "csv", "json")
_LABEL = re.compile(r"^[A-Za-z0-9:._\-]+$")
PREAMBLE = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{amsmath}
\pagestyle{empty}
\begin{document}
"""


def _header(col: Column) -> str:
    return f"{col.group}: {col.name}" if col.group else col.name


def markdown(table: Table, style: str) -> str:
    def row(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    lines = [row([_header(c) for c in table.columns]), "|" + "|".join(["---"] * len(table.columns)) + "|"]
    lines += [row([cells.text(c, style) for c in r]) for r in table.rows]
    caption = table.caption or table.title
    out = ([f"**{caption}**", ""] if caption else []) + lines
    if table.notes:
        out += [""] + [f"Note: {n}" for n in table.notes]
    return "\n".join(out)


def to_csv(table: Table, style: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_header(c) for c in table.columns])
    for r in table.rows:
        writer.writerow([cells.text(c, style) for c in r])
    return buffer.getvalue().rstrip("\n")


def to_json(table: Table) -> str:
    data = {"title": table.title, "caption": table.caption, "label": table.label,
            "columns": [{"name": c.name, "group": c.group} for c in table.columns],
            "rows": [[cells.json_value(c) for c in r] for r in table.rows], "notes": table.notes}
    return json.dumps(data, indent=2)


def _group_rows(columns: list[Column]) -> list[str]:
    """The spanning group header and its \\cmidrule lines (empty if no column has a group)."""
    if not any(c.group for c in columns):
        return []
    spans: list[tuple[str | None, int, int]] = []  # (group, first column, last column), 1-based
    for i, col in enumerate(columns, start=1):
        if spans and spans[-1][0] == col.group and col.group is not None:
            spans[-1] = (col.group, spans[-1][1], i)
        else:
            spans.append((col.group, i, i))
    heads = [rf"\multicolumn{{{hi - lo + 1}}}{{c}}{{{cells.escape(g)}}}" if g else "" for g, lo, hi in spans]
    rules = " ".join(rf"\cmidrule(lr){{{lo}-{hi}}}" for g, lo, hi in spans if g)
    return ["    " + " & ".join(heads) + r" \\", "    " + rules]


def latex(table: Table, style: str, *, standalone: bool = False) -> str:
    spec = "l" + "c" * (len(table.columns) - 1)
    caption = table.caption or table.title
    body = [r"\begin{table}[ht]", r"  \centering"]
    if caption:
        body.append(r"  \caption{" + cells.escape(caption) + "}")
    if table.label:
        body.append(r"  \label{" + table.label + "}")
    body += [r"  \begin{tabular}{" + spec + "}", r"    \toprule"]
    body += _group_rows(table.columns)
    body.append("    " + " & ".join(c.latex if c.latex is not None else cells.escape(c.name)
                                    for c in table.columns) + r" \\")
    body.append(r"    \midrule")
    body += ["    " + " & ".join(cells.latex(c, style) for c in r) + r" \\" for r in table.rows]
    body += [r"    \bottomrule", r"  \end{tabular}"]
    for note in table.notes:
        body.append(r"  \par\smallskip{\footnotesize " + cells.escape(note) + "}")
    body.append(r"\end{table}")
    text = "\n".join(body)
    return PREAMBLE + text + "\n\\end{document}" if standalone else text


def render(table: Table, fmt: str = "markdown", *, exponent_style: str | None = None, caption: str | None = None,
           label: str | None = None, standalone: bool = False) -> str:
    """The table as text in one of FORMATS; caption/label override the table's own."""
    check_choice("format", fmt, FORMATS)
    style = check_choice("exponent style", exponent_style or table.exponent_style, cells.STYLES)
    if label is not None and not _LABEL.match(label):
        raise InputError(f"label {label!r}: use letters, digits and : . _ - only")
    if standalone and fmt != "latex":
        raise InputError(f"--standalone applies to --format latex, not {fmt}")
    from dataclasses import replace

    table = replace(table, caption=table.caption if caption is None else caption,
                    label=table.label if label is None else label)
    if fmt == "latex":
        return latex(table, style, standalone=standalone)
    if fmt == "markdown":
        return markdown(table, style)
    if fmt == "csv":
        return to_csv(table, style)
    return to_json(table)
