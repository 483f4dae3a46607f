"""Presets whose checks depend on what is trained being exactly what was derived: warm-up schedules, Muon's
shape factor, and the constants of a preset's source convention (theory.presets.Constants)."""

from __future__ import annotations

from pathlib import Path

import pytest

from theory.errors import InputError
from verify.width.check import check


@pytest.mark.slow
@pytest.mark.parametrize("spec, options", [
    ("ip-llr", {}),  # the warm-up step trained with the warm-up exponents, at its source's constants
    ("ip", {}),
    ("sp", {"optimizer": "muon"}),  # the engine's Muon has the trainer's shape factor
])
def test_every_row_passes(tmp_path: Path, spec: str, options: dict[str, str]) -> None:
    result = check(spec, db=str(tmp_path / "r.db"), **options)
    failed = [(r.quantity, r.layer, r.step, r.predicted, r.measured) for r in result.rows if r.verdict != "PASS"]
    assert not failed


@pytest.mark.slow
def test_ip_llr_without_its_warm_up_fails_where_the_step_matters(tmp_path: Path) -> None:
    # the same network trained with the later updates' eta0 on the first step too: the first step stays below
    # the vanishing initial pre-activations, so the step-1 rows of the deeper layers miss the engine's Theta(1)
    # (the engine derives from the warm-up schedule; this shows the check can see a schedule that is not trained)
    result = check("ip-llr", warmup_lr=0.01, db=str(tmp_path / "r.db"))
    assert any(r.verdict == "FAIL" and r.step == 1 and r.layer >= 3 for r in result.rows)


def test_a_warm_up_constant_needs_a_schedule(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--warmup-lr: sp has no warm-up schedule"):
        check("sp", warmup_lr=1.0, db=str(tmp_path / "r.db"))
    assert not (tmp_path / "r.db").exists()
