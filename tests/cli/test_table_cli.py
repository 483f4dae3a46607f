"""`abcscale table` as a user runs it: every mode, every format, and bad input."""

import csv
import io
import json
import os
import shutil
import subprocess

import pytest

from abcscale.cli import main
from tests.cli.helpers import abcscale, assert_clean_error


def in_process(capsys, *args: str) -> subprocess.CompletedProcess[str]:
    """The same CLI entry point without a new interpreter (bad-input cases are many and fast)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)


def test_grid_markdown_default():
    result = abcscale("table", "--params", "sp,ntk,mup,mfp", "--optimizers", "sgd,adam", "--losses", "ce,mse")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| parametrization | sgd: ce | sgd: mse | adam: ce | adam: mse |" in lines
    assert "| sp | -1/2 | -1 | -1 | -3/2 |" in lines  # Haas et al. (reference 3.5)


def test_grid_csv_and_json_agree():
    args = ["table", "--params", "sp,mup", "--optimizers", "sgd,adam", "--quantity", "feature_update",
            "--layer", "output", "--lr-exponent", "-1"]
    rows = list(csv.reader(io.StringIO(abcscale(*args, "--format", "csv").stdout)))
    data = json.loads(abcscale(*args, "--json").stdout)
    assert rows[0] == ["parametrization", "sgd: ce", "adam: ce"]
    assert [r[1:] for r in rows[1:]] == [r[1:] for r in data["rows"]]


def test_per_layer_latex_power_style():
    result = abcscale("table", "sp", "--per-layer", "--lr-exponent", "-1/2", "--format", "latex",
                      "--exponent-style", "power", "--caption", "SP at the edge", "--label", "tab:sp-edge")
    assert result.returncode == 0, result.stderr
    assert r"\caption{SP at the edge}" in result.stdout and r"\label{tab:sp-edge}" in result.stdout
    assert r"$n^{1 / 2}$" in result.stdout  # logit change n^{1/2} (Haas et al.)


def test_phases_and_paper_tables():
    phases = abcscale("table", "sp", "--optimizer", "adam", "--phases")
    assert "| (-3/2, -1] | controlled-divergence |" in phases.stdout.splitlines()
    for paper in ("tp4", "tp5", "haas"):
        result = abcscale("table", "--paper", paper, "--format", "csv")
        assert result.returncode == 0 and result.stdout.count("\n") >= 4, (paper, result.stderr)


def test_output_file_and_standalone_document_compiles(tmp_path):
    out = tmp_path / "tp4.tex"
    result = abcscale("table", "--paper", "tp4", "--format", "latex", "--standalone", "-o", str(out))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert out.read_text().startswith(r"\documentclass{article}")
    if shutil.which("pdflatex") is None:
        if os.environ.get("ABCSCALE_REQUIRE_LATEX") == "1":
            pytest.fail("ABCSCALE_REQUIRE_LATEX=1 but pdflatex is not installed")
        return
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", out.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and (tmp_path / "tp4.pdf").is_file(), run.stdout[-2000:]


@pytest.mark.parametrize("args,needles", [
    (["--params", "sp", "--quantity", "max_lr"], ["unknown quantity 'max_lr'"]),
    (["--params", "sp", "--quantity", "feature_update", "--layer", "7"], ["--layer 7", "1..4"]),
    (["--params", "sp", "--layers", "1", "--quantity", "feature_update", "--layer", "hidden"],
     ["no hidden weight layer"]),
    (["--params", "sp", "--quantity", "feature_update"], ["--layer"]),
    (["--params", "sp", "--format", "html"], ["unknown format 'html'"]),
    (["--params", "sp", "--exponent-style", "fraction"], ["exponent style"]),
    (["--params", "sp,spp"], ["unknown preset 'spp'"]),
    (["--params", "sp", "--optimizers", "lion"], ["unknown optimizer 'lion'"]),
    (["--params", "sp", "--label", "tab:a b", "--format", "latex"], ["label"]),
    (["--params", "sp", "--standalone"], ["--standalone"]),
    (["--paper", "tp6"], ["unknown paper table 'tp6'"]),
    (["--paper", "tp4", "--params", "sp"], ["exactly one"]),
    ([], ["exactly one"]),
    (["sp", "--phases", "--per-layer"], ["choose one"]),
    (["sp", "--per-layer", "--lr-exponent", "x"], ["numeric --lr-exponent"]),
    (["sp", "--optimizers", "sgd"], ["--optimizers"]),
    (["--paper", "tp4", "--quantity", "regime"], ["--quantity"]),
    (["missing.toml"], ["missing.toml"]),
])
def test_bad_input_is_one_line_exit_2(capsys, args, needles):
    assert_clean_error(in_process(capsys, "table", *args), *needles)


def test_bad_input_in_a_real_process():
    assert_clean_error(abcscale("table", "--params", "sp", "--quantity", "max_lr"), "unknown quantity 'max_lr'")


def test_bad_input_writes_no_file(capsys, tmp_path):
    out = tmp_path / "t.tex"
    assert_clean_error(in_process(capsys, "table", "--params", "sp", "--quantity", "nope", "-o", str(out)), "nope")
    assert_clean_error(in_process(capsys, "table", "--params", "sp", "--format", "latex", "--caption", "表",
                                  "-o", str(out)), "pdflatex")
    assert_clean_error(in_process(capsys, "table", "--params", "sp", "-o", str(tmp_path / "no" / "t.md")),
                       "does not exist")
    assert list(tmp_path.iterdir()) == []


TINY = ["--widths", "16,32", "--seeds", "2", "--steps", "1", "--base-width", "16"]


def test_measured_table_shows_what_verify_judged(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    code = main(["check", "mup", "--loss", "ce", "--db", db, "--json", *TINY])
    judged = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    table = in_process(capsys, "table", "--db", db, "--json")
    assert table.returncode == 0, table.stderr
    data = json.loads(table.stdout)
    assert [c["name"] for c in data["columns"]] == ["config", "quantity", "layer", "step", "predicted",
                                                     "measured [95% CI]", "verdict"]
    assert len(data["rows"]) == len(judged["rows"])
    for mine, theirs in zip(data["rows"], judged["rows"], strict=True):
        assert (mine[1], int(mine[2]), int(mine[3])) == (theirs["quantity"], theirs["layer"], theirs["step"])
        assert mine[4] == (None if theirs["predicted"] in ("-", "-oo") else theirs["predicted"])
        assert mine[5] == {"estimate": theirs["measured"], "low": theirs["low"], "high": theirs["high"]}
        assert mine[6].split(" ")[0] == theirs["verdict"]
    # the same table as a standalone LaTeX document compiles
    tex = tmp_path / "measured.tex"
    assert in_process(capsys, "table", "--db", db, "--format", "latex", "--standalone", "-o", str(tex)).returncode == 0
    if shutil.which("pdflatex"):
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]
    elif os.environ.get("ABCSCALE_REQUIRE_LATEX") == "1":
        pytest.fail("ABCSCALE_REQUIRE_LATEX=1 but pdflatex is not installed")
    assert_clean_error(in_process(capsys, "table", "--db", db, "--config", "zzzz"), "--config 'zzzz'")


def test_measured_table_bad_db(capsys, tmp_path):
    missing = tmp_path / "none.db"
    assert_clean_error(in_process(capsys, "table", "--db", str(missing)), "no such results file")
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert_clean_error(in_process(capsys, "table", "--db", str(empty)), "no width-check results")
    assert_clean_error(in_process(capsys, "table", "--db", str(empty), "--layers", "2"), "--layers")
    assert_clean_error(in_process(capsys, "table", "--db", str(empty), "--quantity", "regime"), "--quantity")
