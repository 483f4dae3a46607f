"""The documentation builds with zero warnings, and its pages show what the commands print now.

The build is the ``built`` fixture of tests/conftest.py: one build per test session, shared with
tests/test_docs_browser.py.
"""

from __future__ import annotations

import html
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from abcscale.cli import main


def _text(page: Path) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def _cli(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        main(list(args))
    return out.getvalue().rstrip()


@pytest.mark.slow
def test_getting_started_shows_a_live_derivation_and_a_passing_check(built: Path) -> None:
    text = _text(built / "getting_started.html")
    assert _cli("derive", "sp", "--loss", "ce", "--lr-exponent", "-1/2") in text
    summary = re.search(r"(\d+) PASS, (\d+) FAIL, (\d+) SKIP", text)
    assert summary is not None and summary.group(2) == "0" and int(summary.group(1)) > 30
    assert (built / "_images" / "sp_check.png").stat().st_size > 10_000


@pytest.mark.slow
def test_engine_and_presets_pages_show_live_outputs(built: Path) -> None:
    engine = _text(built / "engine.html")
    assert _cli("solve", "mup", "--optimizer", "adam") in engine
    assert _cli("derive", "completep", "--optimizer", "adam") in engine
    presets = _text(built / "presets.html")
    from theory.depth import DEPTH_PRESETS
    from theory.presets import PRESETS

    for name, preset in PRESETS.items():
        assert f"{name}: {preset.summary}" in presets and preset.source in presets
    for name in DEPTH_PRESETS:
        assert f"{name} (residual" in presets


@pytest.mark.slow
def test_cli_reference_is_the_help_text(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # docs/conf.py builds with this terminal width
    text = _text(built / "cli.html")
    for command in ("derive", "check", "table", "catapult"):
        out = io.StringIO()
        with redirect_stdout(out), pytest.raises(SystemExit):
            main([command, "--help"])
        assert out.getvalue().rstrip() in text, command


@pytest.mark.slow
def test_api_reference_documents_the_facade_and_the_engine(built: Path) -> None:
    text = _text(built / "api.html")
    for name in ("abcscale.derive", "theory.engine.derive", "theory.graph.build_graph", "verify.fit",
                 "numerics.catapult.uv_model"):
        assert name in text, name
    assert ">>> report = abcscale.derive(" in text  # the docstring example is rendered


@pytest.mark.slow
def test_notebook_tutorial_ran_at_build_time(built: Path) -> None:
    """docs/notebook.md is executed while the docs build: its outputs are this build's."""
    page = built / "notebook.html"
    text = _text(page)
    assert "('controlled-divergence', -1/2)" in text
    # a CheckResult shows in a notebook as the table the command prints
    assert "mup (sgd, ce, L=3)" in text and "widths 128,256,512,1024; 4 seeds" in text
    assert "34 PASS, 0 FAIL, 0 SKIP" in text
    assert "\\begin{table}" in text and "\\label{tab:max-lr}" in text
    figures = re.findall(r'<img[^>]*src="([^"]+\.png)"', page.read_text(encoding="utf-8"))
    assert figures and all((page.parent / src).stat().st_size > 10_000 for src in figures), figures


@pytest.mark.slow
def test_gallery_shows_every_figure_with_its_command(built: Path) -> None:
    page = built / "gallery.html"
    html_text = page.read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]*src="([^"]+\.png)"', html_text)
    assert len(figures) >= 20, figures
    for src in figures:
        assert (page.parent / src).stat().st_size > 5_000, src
    assert html_text.count('class="gallery-item') == len(figures) - 1  # the LaTeX table image stands alone
    assert _text(page).count("$ abcscale ") + _text(page).count("$ python ") >= len(figures) - 1


@pytest.mark.slow
def test_commands_have_a_copy_button_that_leaves_out_prompts_and_output(built: Path) -> None:
    index = (built / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]*src="_static/copybutton\.js', index)
    script = (built / "_static" / "copybutton.js").read_text(encoding="utf-8")
    # docs/conf.py: "$ ", ">>> " and "... " are prompts; with prompts in a block only the prompted lines are copied
    assert r"formatCopyText(text, '\\$ |>>> |\\.\\.\\. ', true, true, true" in script
