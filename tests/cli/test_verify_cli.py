"""abcscale verify / check from the command line: bad input exits 2 writing nothing; small end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abcscale.cli import main

TINY = ["--widths", "16,32", "--seeds", "2", "--steps", "1", "--base-width", "16"]


@pytest.mark.parametrize("flags, field", [
    (["--widths", "64"], "--widths"),
    (["--widths", "64,abc"], "--widths"),
    (["--seeds", "0"], "--seeds"),
    (["--steps", "0"], "--steps"),
    (["--data", "mnist"], "--data"),
    (["--loss", "hinge"], "loss"),
    (["--optimizer", "adafactor"], "adafactor"),
    (["--export", "out.txt"], "--export"),
    (["--lr-exponent=1/0"], "--lr-exponent"),
    (["--device", "tpu"], "--device"),
    (["--device", "cuda:99"], "--device"),
    (["--device", "cuda", "--workers", "2"], "--workers 1"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              flags: list[str], field: str) -> None:
    db = tmp_path / "x.db"
    assert main(["check", "sp", "--db", str(db), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("abcscale: error:") and field in err and "\n" not in err
    assert not db.exists()


def test_unknown_preset_suggests(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["verify", "mupp", "--db", str(tmp_path / "x.db")]) == 2
    assert "did you mean 'mup'" in capsys.readouterr().err


def test_check_json_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.db"
    code = main(["check", "mup", "--loss", "ce", "--db", str(db), "--json", "--export", str(tmp_path / "m.csv"),
                 *TINY])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and (code == 1) == (out["summary"]["FAIL"] > 0)
    assert out["lr_exponent"] == "0" and out["lr_exponent_source"].startswith("engine edge")
    assert out["resumed_runs"] == 0
    assert {r["quantity"] for r in out["rows"]} >= {"feature_update", "init_preactivation", "weight_update"}
    assert (tmp_path / "m.csv").read_text().startswith("config,width,seed,step,quantity,layer,value")
    assert main(["verify", "mup", "--loss", "ce", "--db", str(db), *TINY]) == 0  # resumes: nothing retrained
    printed = capsys.readouterr().out
    assert "verdict" not in printed and "0 of 4 (width, seed) runs trained now, 4 resumed from the db" in printed
    wider = ["--widths", "16,32,64", *TINY[2:]]
    assert main(["verify", "mup", "--loss", "ce", "--db", str(db), *wider]) == 0  # only width 64 is new
    assert "2 of 6 (width, seed) runs trained now, 4 resumed from the db" in capsys.readouterr().out


def test_depths_verify_residual_presets_against_theory_depth() -> None:
    import json as _json

    from tests.cli.helpers import abcscale

    result = abcscale("check", "completep", "--depths", "2,4", "--widths", "64", "--seeds", "2", "--json")
    assert result.returncode in (0, 1), result.stderr
    data = _json.loads(result.stdout)
    assert [r["predicted"] for r in data["rows"]] == [0.0, 0.0, 0.0]  # CompleteP: flat in L (theory.depth)


def test_depths_bad_input() -> None:
    from tests.cli.helpers import abcscale, assert_clean_error

    assert_clean_error(abcscale("verify", "sp", "--depths", "4,8"), "--depths", "residual preset")
    assert_clean_error(abcscale("verify", "depth-mup", "--depths", "4,x"), "--depths")


@pytest.mark.parametrize("args, field", [
    (["gpt-mup", "--loss", "mse"], "--loss mse"),
    (["gpt-mup", "--data", "digits"], "--data digits"),
    (["gpt-mup", "--optimizer", "muon"], "--optimizer muon"),
    (["gpt-mup", "--widths", "64,65"], "width 65"),
    (["gpt-mup", "--predict", "mup"], "--predict mup"),
    (["sp", "--data", "pydoc"], "--data pydoc"),
])
def test_bad_transformer_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          args: list[str], field: str) -> None:
    db = tmp_path / "x.db"
    assert main(["check", *args, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("abcscale: error:") and field in err and "\n" not in err
    assert not db.exists()


@pytest.mark.parametrize("args, field", [
    (["gpt-mup", "--loss", "mse"], "--loss mse"),
    (["gpt-mup", "--data", "digits"], "--data digits"),
    (["gpt-mup", "--data", "synthetic"], "--data synthetic"),
    (["gpt-mup", "--optimizer", "muon"], "--optimizer muon"),
    (["gpt-mup", "--widths", "64,65"], "width 65"),
    (["gpt-mup", "--widths", "64,100000000"], "--widths 100000000"),
    (["gpt-sp", "--batch-size", "100000000"], "--batch-size 100000000"),
    (["sp", "--data", "pydoc"], "--data pydoc"),
])
def test_lr_sweep_refuses_bad_transformer_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            args: list[str], field: str) -> None:
    db = tmp_path / "x.db"
    assert main(["lr-sweep", *args, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("abcscale: error:") and field in err and "\n" not in err
    assert not db.exists()


def test_check_a_gpt_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny GPT check: rows named by tensor and reported value, JSON names them, a rerun resumes."""
    db = tmp_path / "g.db"
    tiny = ["--widths", "32,64", "--seeds", "2", "--steps", "2", "--base-width", "32", "--db", str(db)]
    code = main(["check", "gpt-mup", "--optimizer", "adam", "--layers", "1", "--json", *tiny])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and out["lr_exponent"] == "0"
    names = {(r["quantity"], r["name"]) for r in out["rows"]}
    assert {("effective_update", "h0.attn.q"), ("change", "h0.attn.scores"), ("own", "h0.attn.scores"),
            ("init", "logits"), ("change", "h0.resid.mlp")} <= names
    assert ("propagating_update", "wte") not in names
    assert main(["verify", "gpt-mup", "--optimizer", "adam", "--layers", "1", *tiny]) == 0
    printed = capsys.readouterr().out
    assert "0 of 4 (width, seed) runs trained now, 4 resumed" in printed and "tensor" in printed
    assert printed.startswith("gpt-mup (adam, ce, 1 block): ")
