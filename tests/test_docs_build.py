"""The documentation builds with zero warnings, and its pages show what the commands print now."""

from __future__ import annotations

import html
import io
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from abcscale.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _text(page: Path) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def _cli(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        main(list(args))
    return out.getvalue().rstrip()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    # -W: any warning (bad markup, a command with an unexpected exit code, a missing page) fails the build;
    # -E: a fresh environment, so every command runs again
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
                           "-d", str(out / ".doctrees"), str(ROOT / "docs"), str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr  # -q prints warnings only
    return out


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
