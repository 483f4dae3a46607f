"""Acceptance (issue 4): measured maximal-stable LR exponents across a 16x width range against the engine.

Side by side: the engine's ``max_stable_lr_exponent`` (derived, never typed here; the paper values it must
equal are asserted separately) and the slope fitted to bisected edges at widths 64..1024 (3 seeds, 50 SGD
steps, criterion 'loss').  Tolerance 0.15, the verdict tolerance of `abcscale lr-sweep`.  For SP+SGD+CE it
admits a deviation that is *not* a finite-width effect: the edge fits -0.600 [-0.625, -0.575] over 64..512
(recorded, docs/lr_sweep.md), and on a GPU over 64..8192 still -0.623 [-0.626, -0.619] (-0.606 for divergence;
-0.463 with a 10-step budget, -0.621 with 200).  Slowing only the readout's learning rate moves it back to
-0.450, so the derived -1/2 describes the hidden layers' instability while over 50 steps the readout gives out
first, with an exponent the engine does not produce (docs/limitations.md, "Known disagreements").  This test
therefore checks the engine's edge to within 0.15, not to within a finite-width bias.  About 1.5 minutes per
configuration on 2 cores (no optimal-LR grid here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abcscale.cli import main
from theory.config import resolve
from theory.engine import derive

FLAGS = ["--widths", "64,128,256,512,1024", "--seeds", "3", "--steps", "50", "--grid-points", "0", "--json"]
TOLERANCE = 0.15


@pytest.mark.parametrize("spec, loss, paper", [("sp", "ce", -0.5), ("sp", "mse", -1.0), ("mup", "ce", 0.0)])
def test_engine_edge_is_the_papers(spec: str, loss: str, paper: float) -> None:
    """Haas et al. 2025 (SP: CE n^-1/2, MSE n^-1) and TP4/TP5 (muP: n^0), reference theory-width.md 3.5."""
    assert float(derive(resolve(spec, loss=loss)).max_stable_lr_exponent) == paper


def _sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, loss: str) -> dict:
    code = main(["lr-sweep", spec, "--loss", loss, "--db", str(tmp_path / "acc.db"), *FLAGS])
    out = json.loads(capsys.readouterr().out)
    assert code == (0 if out["verdict"] == "PASS" else 1)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("spec, loss", [("sp", "ce"), ("sp", "mse"), ("mup", "ce")])
def test_measured_max_stable_exponent(tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str,
                                      loss: str) -> None:
    out = _sweep(tmp_path, capsys, spec, loss)
    predicted = float(derive(resolve(spec, loss=loss)).max_stable_lr_exponent)
    fit = out["max_stable_exponent"]
    assert fit["low"] <= fit["slope"] <= fit["high"]
    assert abs(fit["slope"] - predicted) <= TOLERANCE, fit
    assert out["verdict"] == "PASS"
    if (spec, loss) == ("sp", "ce"):
        # controlled divergence: the first-step logit jump grows with width at the edge, hidden features do not
        assert out["edge_regime"] == "controlled-divergence", out["edge_slopes"]
        assert out["edge_slopes"]["hidden feature_update"]["slope"] <= TOLERANCE
    if (spec, loss) == ("sp", "mse"):
        assert out["beyond_edge_regime"] == "catastrophic"
