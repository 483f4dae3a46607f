"""One results file for every study: check, lr-sweep and depth-sweep write to it side by side, and every reader
(`table --db`, `--export`, ``Store.export``, ``Store.configs(kind=...)``) copes with all three kinds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.cli.test_table_cli import in_process
from verify.runs.store import MIXED_COLUMNS, Store

CHECK = ["check", "sp", "--loss", "ce", "--widths", "16,32", "--seeds", "2", "--steps", "1", "--base-width", "16"]
LR = ["lr-sweep", "sp", "--widths", "8,16", "--seeds", "2", "--steps", "2", "--base-width", "8", "--precision", "2",
      "--grid-points", "0"]
DEPTH = ["depth-sweep", "residual", "--depths", "2,4", "--widths", "16", "--seeds", "2", "--optimizers", "sgd",
         "--alphas", "1"]


def test_check_lr_sweep_and_depth_sweep_share_one_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "all.db")
    checked = in_process(capsys, *CHECK, "--db", db, "--json")
    assert checked.returncode in (0, 1), checked.stderr
    assert in_process(capsys, *LR, "--db", db, "--json").returncode in (0, 1)
    depth = in_process(capsys, *DEPTH, "--db", db)
    assert depth.returncode in (0, 1), depth.stderr
    with Store(db) as store:
        assert {kind: len(store.configs(kind=kind)) for kind in ("width", "lr-sweep", "depth")} == \
            {"width": 1, "lr-sweep": 1, "depth": 1}
    # a rerun of the depth sweep reads its stored units back: the same bytes
    assert in_process(capsys, *DEPTH, "--db", db).stdout == depth.stdout

    table = in_process(capsys, "table", "--db", db, "--json")
    assert table.returncode == 0, table.stderr
    data = json.loads(table.stdout)
    assert len(data["rows"]) == len(json.loads(checked.stdout)["rows"])  # the width check only
    assert data["notes"][-1] == f"{db} also holds 1 lr-sweep and 1 depth-sweep configurations: not width checks, " \
                                "so not in this table"
    for fmt in ("markdown", "latex", "csv"):
        assert in_process(capsys, "table", "--db", db, "--format", fmt).returncode == 0

    export = tmp_path / "check.csv"  # the check's --export on the shared file: resumed, exported
    again = in_process(capsys, *CHECK, "--db", db, "--export", str(export), "--json")
    assert again.returncode == checked.returncode and json.loads(again.stdout)["resumed_runs"] == 4
    rows = list(csv.DictReader(export.open(encoding="utf-8")))
    assert rows and list(rows[0]) == ["config", "width", "seed", "step", "quantity", "layer", "value"]
    assert {r["config"] for r in rows} == {json.loads(checked.stdout)["config"]}

    everything = tmp_path / "all.json"  # every kind in one export: the union of the columns
    with Store(db) as store:
        store.export(everything)
    exported = json.loads(everything.read_text(encoding="utf-8"))
    assert {r["kind"] for r in exported} == {"width", "lr-sweep", "depth"}
    assert all(list(r) == list(MIXED_COLUMNS) for r in exported)
    depth_rows = [r for r in exported if r["kind"] == "depth"]
    assert {r["quantity"] for r in depth_rows} == {"stream", "block", "effective"} and \
        {r["depth"] for r in depth_rows} == {2, 4} and all(r["lr"] is None for r in depth_rows)
    assert {r["quantity"] for r in exported if r["kind"] == "lr-sweep"} >= {"final_loss", "init_loss"}


def test_table_db_with_only_other_kinds_says_so_in_one_line(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "depth.db")
    depth = in_process(capsys, *DEPTH, "--db", db)
    assert depth.returncode in (0, 1), depth.stderr
    table = in_process(capsys, "table", "--db", db)
    assert table.returncode == 2 and table.stdout == ""
    assert table.stderr.strip().splitlines() == [
        f"abcscale: error: --db {db}: no width-check results in this file (it holds 1 depth-sweep configuration, "
        "which 'table --db' does not tabulate; run 'abcscale check' to add some)"]
    with Store(db) as store:
        (key,) = store.configs(kind="depth")
    named = in_process(capsys, "table", "--db", db, "--config", key[:6])
    assert named.returncode == 2 and "a depth-sweep configuration" in named.stderr
