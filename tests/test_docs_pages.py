"""Fast checks that the docs pages match the code: the example TOML, the pasted tables, the README commands,
the command-line reference.  (The live outputs are produced by the docs build: tests/test_docs_build.py.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import sympy

from abcscale.cli import build_parser, main
from theory.config import load_toml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
R = sympy.Rational


def test_example_toml_loads_with_every_field() -> None:
    p = load_toml(DOCS / "examples" / "sp_adam_full_align.toml")
    assert p.name == "sp-adam-full-align" and p.hidden_layers == 3
    assert (p.activation, p.loss, p.optimizer.name, p.lr_exponent) == ("relu", "ce", "adam", 0)
    assert [l.a for l in p.layers] == [0, 0, 0, 0]
    assert [l.b for l in p.layers] == [0, R(1, 2), R(1, 2), R(1, 2)]
    assert [l.c for l in p.layers] == [0, 1, 1, 1]
    assert {l.alignment for l in p.layers} == {"full"}
    assert p.source.startswith("Everett et al. 2024")


def test_typo_example_is_rejected_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", str(DOCS / "examples" / "typo.toml")]) == 2
    assert "typo.toml: activaton: unknown key" in capsys.readouterr().err


def test_getting_started_shows_the_readme_commands_verbatim() -> None:
    """CI (.ci/run) runs the README's two commands; the getting-started page must show the same ones."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = (DOCS / "getting_started.md").read_text(encoding="utf-8")
    commands = re.findall(r"^```bash\n(.*?)\n```", readme, re.M | re.S)
    assert len(commands) == 2
    for command in commands:
        assert f"```bash\n{command}\n```" in page


def test_readme_commands_run_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """The install never activates .venv: after the first command, every command the README shows calls the
    environment's programs, and the derivation it shows prints the lines shown (issue 16)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(bash|console)\n(.*?)\n```", readme, re.M | re.S)
    commands = [line.removeprefix("$ ") for kind, body in blocks for line in body.splitlines()
                if kind == "bash" or line.startswith("$ ")]
    assert commands[0].startswith("python3 -m venv .venv && ")
    assert len(commands) == 3 and all(c.startswith(".venv/bin/") for c in commands[1:]), commands
    assert "(`. .venv/bin/activate`) and type `abcscale ...`" in readme  # how the table's synopses run
    for body in (body for kind, body in blocks if kind == "console"):
        command, *shown = body.splitlines()
        assert main(shlex.split(command.removeprefix("$ "))[1:]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert [line for line in shown if line != "..." and line not in printed] == []


def test_cli_reference_covers_every_subcommand() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"{{command-output}} abcscale {name} --help" in page, name


@pytest.mark.parametrize("args", [
    ["table", "--paper", "tp4"], ["table", "--paper", "tp5"], ["table", "--paper", "everett"],
    ["table", "--paper", "everett-max-updates"], ["table", "--paper", "haas"],
    ["table", "--params", "sp,ntk,mup,mfp", "--optimizers", "sgd,adam", "--losses", "ce,mse"],
    ["table", "sp", "--per-layer", "--lr-exponent", "-1/2"], ["table", "sp", "--optimizer", "adam", "--phases"],
    ["table", "--params", "sp,mup", "--quantity", "effective_update", "--layer", "output", "--lr-exponent", "-1/2"]])
def test_tables_page_shows_the_commands_output(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """docs/tables.md pastes these commands' Markdown output: every line they print now must be a line of the page."""
    page = (DOCS / "tables.md").read_text(encoding="utf-8")
    assert f"`abcscale {' '.join(args)}`" in page
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert any(line.startswith("|") for line in lines)
    missing = [line for line in lines if line not in page.splitlines()]
    assert not missing, missing


@pytest.mark.parametrize("args", [["table", "--params", "sp", "--quantity", "max_lr"],
                                  ["table", "--params", "sp", "--layers", "1", "--quantity", "feature_update",
                                   "--layer", "hidden"]])
def test_tables_page_shows_the_error_messages(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """docs/tables.md shows these bad inputs with the one line each prints on stderr (exit code 2)."""
    page = (DOCS / "tables.md").read_text(encoding="utf-8")
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"$ abcscale {' '.join(args)}\n{captured.err.strip()}\n" in page


def test_tables_page_latex_file_is_the_printed_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The page's `-o tp4.tex` command (compiled to docs/img/tp4_table1.png) writes the standalone LaTeX it prints."""
    args = ["table", "--paper", "tp4", "--format", "latex", "--standalone", "-o", "tp4.tex"]
    assert f"abcscale {' '.join(args)}\n" in (DOCS / "tables.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(args) == 0
    written = (tmp_path / "tp4.tex").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(args[:-2]) == 0
    printed = capsys.readouterr().out
    assert written.strip() == printed.strip()
    assert written.lstrip().startswith("\\documentclass") and written.rstrip().endswith("\\end{document}")
    assert "\\caption{Tensor Programs IV, Table 1" in written and "$\\mu$P" in written


# words of the project's own process, which mean nothing to a reader (an upstream project's "mup's issue 55" is fine)
PROCESS_WORDS = re.compile(r"(?<!'s )\bissue \d+|must[- ]show|acceptance item|reference notes?\b|theory-(?:width|seeds)"
                           r"|shared/reference|previous session|search tool|\bthe brief\b", re.I)
# pages whose wording is revised separately; remove an entry once its page is clean
PROCESS_WORDS_PENDING: set[str] = set()


def test_pages_use_no_internal_process_words() -> None:
    found = {}
    for page in sorted(DOCS.rglob("*.md")):
        name = str(page.relative_to(DOCS))
        if "_build" in page.parts or name in PROCESS_WORDS_PENDING:
            continue
        hits = PROCESS_WORDS.findall(page.read_text(encoding="utf-8"))
        if hits:
            found[name] = hits
    assert not found, found


def test_page_titles_are_plain_text() -> None:
    """Titles appear in the navigation and the browser tab: no math, no issue numbers."""
    for page in sorted(DOCS.rglob("*.md")):
        if "_build" in page.parts:
            continue
        titles = re.findall(r"^#{1,3} (.*)$", page.read_text(encoding="utf-8"), re.M)
        for title in titles:
            assert "$" not in title and not re.search(r"\(issue \d+\)", title), f"{page.name}: {title}"
