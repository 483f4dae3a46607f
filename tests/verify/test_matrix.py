"""The check matrix: which cells it checks, refuses or skips, and how it reports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from theory.presets import PRESETS
from verify.width.matrix import Cell, cells, check_cell, run_matrix


def test_cells_cover_every_combination_preset_major() -> None:
    every = cells()
    assert len(every) == len(PRESETS) * 4 * 2 * 3
    assert every[0] == Cell("sp", "sgd", "ce", "relu") and every[1] == Cell("sp", "sgd", "ce", "tanh")
    assert len(set(every)) == len(every)


def test_a_preset_without_a_form_for_the_optimizer_is_refused_with_its_reason(tmp_path: Path) -> None:
    result = check_cell(Cell("mup", "muon", "ce", "relu"), db=str(tmp_path / "m.db"))
    assert result.status == "refused" and "sgd and adam only" in result.reason
    assert not (tmp_path / "m.db").exists()  # nothing trained, nothing written


def test_a_catastrophic_cell_is_not_trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SP under MSE with a readout that starts large: every learning rate blows up
    import verify.width.check as check_module

    def no_edge(param, given):  # noqa: ANN001, ANN202 - the signature of choose_lr_exponent
        return param.with_(lr_exponent=1), "given"

    monkeypatch.setattr(check_module, "choose_lr_exponent", no_edge)
    result = check_cell(Cell("sp", "sgd", "mse", "relu"), db=str(tmp_path / "m.db"))
    assert result.status == "untrainable" and result.regime == "catastrophic"
    assert not (tmp_path / "m.db").exists()


@pytest.mark.slow
def test_a_small_matrix_counts_rows_and_lists_failures(tmp_path: Path) -> None:
    # widths below the base width are pre-asymptotic on purpose: some rows fail and are listed by name
    result = run_matrix([Cell("sp", "sgd", "ce", "relu"), Cell("ip", "adam", "ce", "relu")],
                        db=str(tmp_path / "m.db"), widths=[32, 64], seeds=2)
    checked, refused = result.rows
    assert checked.status == "checked" and sum(checked.counts.values()) == 34
    assert refused.status == "refused"
    assert result.passed == (checked.failed == 0)
    text = result.table()
    assert "sp      sgd" in text and "refused" in text and result.summary_line() in text
    for failure in checked.failures:
        assert f"{failure.quantity} {failure.layer}@{failure.step}" in text
    assert result.to_dict()["cells"][0]["failed"] == checked.failed
