"""Table objects and their renderers: exact round trips, consistent formats, clear errors."""

import csv
import io
import json

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from theory.errors import InputError
from theory.exponents import parse_exponent
from theory.presets import get_preset
from theory.tables import Column, Interval, Measured, Power, Powers, Table, Text, grid_table
from theory.tables import cells as cellfmt
from theory.tables.builders import per_layer_table, phase_table

rationals = st.builds(sympy.Rational, st.integers(-12, 12), st.integers(1, 6))


def read_power(text: str, base: str = "n") -> sympy.Rational:
    """Inverse of the plain 'power' style, written independently: 1, n, 1/n, 1/n^2, n^3, n^(p/q)."""
    if text == "1":
        return sympy.Integer(0)
    if text == base:
        return sympy.Integer(1)
    if text.startswith("1/"):
        rest = text[2:]
        return -(sympy.Integer(1) if rest == base else sympy.Integer(rest.split("^")[1]))
    exponent = text.split("^", 1)[1]
    return parse_exponent(exponent.strip("()"))


@given(rationals)
def test_exponent_cells_round_trip_through_text(e):
    assert parse_exponent(cellfmt.text(Power(e), "bare")) == e
    assert read_power(cellfmt.text(Power(e), "power")) == e
    assert read_power(cellfmt.text(Power(e, "fan_in"), "power"), "fan_in") == e


@given(rationals)
def test_latex_exponents_come_from_sympy_in_math_mode(e):
    assert cellfmt.latex(Power(e), "bare") == f"${sympy.latex(e)}$"
    power = cellfmt.latex(Power(e), "power")
    assert power.startswith("$") and power.endswith("$") and (e in (0, 1) or "n" in power)


def test_dash_and_infinity_cells():
    assert cellfmt.text(Power(None), "bare") == "-" and cellfmt.latex(Power(None), "power") == "--"
    assert cellfmt.text(Power(sympy.oo), "power") == "oo" and cellfmt.latex(Power(sympy.oo), "bare") == r"$\infty$"
    interval = Interval(None, sympy.Integer(-1), False, True)
    assert cellfmt.text(interval, "bare") == "(-oo, -1]"
    assert cellfmt.latex(interval, "bare") == r"$(-\infty, -1]$"
    assert cellfmt.text(Measured(0.4812, 0.41, 0.553), "bare") == "0.48 [0.41, 0.55]"


@pytest.fixture(scope="module")
def grid() -> Table:
    return grid_table(["sp", "ntk", "mup", "mfp"], ["sgd", "adam"], ["ce", "mse"])


def test_every_format_carries_the_same_cells(grid):
    rows = list(csv.reader(io.StringIO(grid.render("csv"))))
    assert rows[0] == ["parametrization", "sgd: ce", "sgd: mse", "adam: ce", "adam: mse"]
    data = json.loads(grid.render("json"))
    markdown = grid.render("markdown").splitlines()
    for i, row in enumerate(grid.rows):
        exact = [c.exponent for c in row[1:]]
        assert [parse_exponent(x) for x in rows[i + 1][1:]] == exact
        assert [parse_exponent(x) for x in data["rows"][i][1:]] == exact
        assert markdown[4 + i] == "| " + " | ".join(rows[i + 1]) + " |"
    assert data["columns"][1] == {"name": "ce", "group": "sgd"}


def test_grid_values_match_the_engine_reports(grid):
    # sp under SGD+CE: controlled divergence up to x = -1/2 (Haas et al.), mup: 0 (TP5)
    assert grid.cell("sp", "ce", "sgd") == Power(sympy.Rational(-1, 2))
    assert grid.cell("mup", "mse", "adam") == Power(sympy.Integer(0))


def test_latex_has_booktabs_groups_caption_and_label(grid):
    tex = grid.render("latex", caption="Max stable LR", label="tab:max")
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\multicolumn{2}{c}{sgd} & \multicolumn{2}{c}{adam}" in tex
    assert r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}" in tex
    assert r"\caption{Max stable LR}" in tex and r"\label{tab:max}" in tex
    assert r"\documentclass" not in tex
    assert grid.render("latex", standalone=True).startswith(r"\documentclass{article}")


def test_text_is_escaped_for_latex():
    table = Table("t", [Column("a_b"), Column("x")], [[Text("50% & #1"), Power(sympy.Rational(1, 2))]])
    tex = table.render("latex", caption="cost $5 {x} ~ ^ \\")
    assert r"50\% \& \#1" in tex and r"a\_b" in tex
    assert r"\caption{cost \$5 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{}}" in tex


@pytest.mark.parametrize("options,needle", [
    ({"fmt": "html"}, "unknown format 'html'"),
    ({"fmt": "latex", "exponent_style": "frac"}, "unknown exponent style 'frac'"),
    ({"fmt": "latex", "label": "tab:a b"}, "label 'tab:a b'"),
    ({"fmt": "markdown", "standalone": True}, "--standalone"),
    ({"fmt": "latex", "caption": "Kanji 表"}, "pdflatex"),
])
def test_bad_render_options_raise_one_line_input_errors(grid, options, needle):
    with pytest.raises(InputError) as err:
        grid.render(**options)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_rows_must_fit_the_columns():
    with pytest.raises(ValueError):
        Table("t", [Column("a")], [[Text("x"), Text("y")]])


def test_per_layer_and_phase_tables():
    table = per_layer_table(get_preset("sp", lr_exponent="-1/2"))
    # Haas et al.: at the edge x = -1/2, input dx n^-1, hidden Theta(1), logits n^{1/2}
    assert [c.exponent for c in table.column("dx")] == [-1, 0, 0, sympy.Rational(1, 2)]
    assert [c.text for c in table.column("verdict")][1:3] == ["feature-learning"] * 2
    phases = phase_table(get_preset("sp", loss="mse"))
    assert [c.text for c in phases.column("regime")] == ["stable", "catastrophic"]
    with pytest.raises(InputError, match="numeric --lr-exponent"):
        per_layer_table(get_preset("sp", lr_exponent="x"))


def test_powers_cell_and_markdown_escaping():
    table = Table("t", [Column("a|b"), Column("c")], [[Text("x|y"), Powers((sympy.Integer(0), sympy.Rational(1, 2)))]])
    assert table.render("markdown").splitlines()[-1] == r"| x\|y | 0, 1/2 |"
    assert cellfmt.latex(table.rows[0][1], "bare") == r"$0, \frac{1}{2}$"


@pytest.mark.parametrize("kwargs,needle", [
    ({"quantity": "max_lr"}, "unknown quantity 'max_lr'"),
    ({"quantity": "feature_update"}, "--layer"),
    ({"quantity": "feature_update", "layer": 9}, "layers 1..4"),
    ({"quantity": "feature_update", "layer": "hidden", "layers": 1}, "no hidden weight layer"),
    ({"quantity": "regime", "layer": 2}, "whole network"),
    ({"quantity": "feature_update", "layer": "middle"}, "--layer 'middle'"),
])
def test_grid_bad_input(kwargs, needle):
    with pytest.raises(InputError) as err:
        grid_table(["sp"], ["sgd"], ["ce"], **kwargs)
    assert needle in str(err.value)


def test_grid_of_a_per_layer_quantity_says_diverges_where_the_regime_is_catastrophic() -> None:
    """SP with SGD at x = 0 is catastrophic (exponents grow with every unrolled step): no number is shown."""
    from theory.tables.builders import grid_table
    from theory.tables.render import render

    at_zero = render(grid_table(["sp", "mup"], ["sgd"], ["ce"], "effective_update", layer="output",
                                lr_exponent=0))
    assert "| sp | diverges |" in at_zero and "| mup | 0 |" in at_zero
    at_edge = render(grid_table(["sp"], ["sgd"], ["ce"], "effective_update", layer="output", lr_exponent="-1/2"))
    assert "| sp | 1/2 |" in at_edge
