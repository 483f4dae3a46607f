"""abcscale catapult: tables, JSON, plot file, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from abcscale.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_uv_table_with_edges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catapult", "uv", "--n", "1000", "--ratios", "1,3,4.5", "--edges"]) == 0
    out = capsys.readouterr().out
    assert "lazy" in out and "catapult" in out and "divergent" in out and "edges (seed 0" in out


def test_quadratic_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "quad.png"
    assert main(["catapult", "quadratic", "--n", "200", "--ratios", "1,2.2,5", "--json", "--plot", str(plot)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["phase"] for r in data["runs"]] == ["lazy", "catapult", "divergent"]
    assert plot.stat().st_size > 1000


def test_mlp_small_sweep_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catapult", "mlp", "--dataset", "synthetic", "--width", "32", "--samples", "16",
                 "--ratios", "1,30", "--steps", "20", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert runs[0]["phase"] == "lazy" and runs[1]["phase"] == "divergent"


@pytest.mark.parametrize("args", [
    ["catapult", "uv", "--ratios", "0:3:1"],
    ["catapult", "uv", "--ratios", "a,b"],
    ["catapult", "uv", "--n", "abc"],
    ["catapult", "uv", "--n", "-5"],
    ["catapult", "uv", "--dps", "5"],
    ["catapult", "uv", "--seeds", "x"],
    ["catapult", "quadratic", "--n", "7"],
    ["catapult", "mlp", "--dataset", "mnist", "--ratios", "1"],
    ["catapult", "mlp", "--depth", "1", "--ratios", "1"],
    ["catapult", "nope"],
])
def test_bad_input_exits_2_with_one_line(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "abcscale", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("abcscale: error:") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def _strict(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_diverged_runs_are_null_in_strict_json(capsys: pytest.CaptureFixture[str]) -> None:
    # eta lambda_0 = 6 diverges: its peak loss and final kernel are not finite, and JSON has no NaN/Infinity
    assert main(["catapult", "uv", "--n", "100", "--ratios", "3,6", "--json"]) == 0
    runs = _strict(capsys.readouterr().out)["runs"]  # type: ignore[index]
    diverged = [r for r in runs if r["phase"] == "divergent"]
    assert diverged and all(r["peak_log10_loss"] is None and r["final_eta_lambda"] is None for r in diverged)
