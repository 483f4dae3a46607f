"""abcscale lr-sweep: bad input gives one line and exit 2 (nothing written); a tiny sweep prints its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abcscale.cli import main
from tests.cli.helpers import abcscale, assert_clean_error


@pytest.mark.parametrize("flags, needle", [
    (["nosuch"], "nosuch"),
    (["sp", "--widths", "64"], "--widths"),
    (["sp", "--widths", "a,b"], "--widths"),
    (["sp", "--seeds", "0"], "--seeds"),
    (["sp", "--criterion", "nan"], "--criterion"),
    (["sp", "--optimizer", "muon"], "muon"),
    (["sp", "--data", "cifar"], "--data"),
    (["sp", "--precision", "0.5"], "--precision"),
    (["sp", "--plot", "out.txt"], "--plot"),
    (["sp", "--scheduler", "localhost"], "--scheduler"),
    (["sp", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),
    (["sp", "--loss-factor", "-1"], "--loss-factor"),
    (["sp", "--device", "tpu"], "--device"),
    (["sp", "--device", "cuda:99"], "--device"),
    (["sp", "--device", "cuda", "--workers", "2"], "--workers 1"),
])
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                               needle: str) -> None:
    db = tmp_path / "x.db"
    try:
        code = main(["lr-sweep", *flags, "--db", str(db)])
    except SystemExit as exit_:  # argparse's own errors (mutually exclusive flags)
        code = int(exit_.code or 0)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("abcscale: error:"), err
    assert needle in err
    assert not db.exists()  # every flag is validated before the store is opened


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    assert_clean_error(abcscale("lr-sweep", "sp", "--criterion", "nan", cwd=tmp_path), "--criterion")


def test_tiny_sweep_json_and_rerun(tmp_path: Path) -> None:
    flags = ["lr-sweep", "sp", "--widths", "8,16", "--seeds", "2", "--steps", "3", "--base-width", "8",
             "--grid-points", "2", "--precision", "1.5", "--db", str(tmp_path / "t.db"), "--json"]
    first = abcscale(*flags, cwd=tmp_path)
    assert first.returncode in (0, 1), first.stderr
    out = json.loads(first.stdout)
    assert out["predicted_max_stable_exponent"] == "-1/2" and out["trained"] > 0
    assert out["verdict"] == ("PASS" if first.returncode == 0 else "FAIL")
    again = json.loads(abcscale(*flags, cwd=tmp_path).stdout)
    assert again["trained"] == 0 and again["max_stable_exponent"] == out["max_stable_exponent"]


def test_tiny_gpt_sweep_json_and_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A transformer sweeps too (verify.lr.gpt_train): the JSON names it, a rerun trains nothing.  In this
    process with one torch thread: a subprocess's two threads made it 40 s on the shared 2-core machine."""
    import torch

    flags = ["lr-sweep", "gpt-mup", "--optimizer", "adam", "--widths", "8,16", "--seeds", "2", "--steps", "2",
             "--grid-points", "2", "--precision", "2", "--start-lr", "0.3", "--db", str(tmp_path / "t.db"), "--json"]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(flags) in (0, 1)
        out = json.loads(capsys.readouterr().out)
        assert main(flags) in (0, 1)
        again = json.loads(capsys.readouterr().out)
    finally:
        torch.set_num_threads(before)
    assert out["parametrization"] == "gpt-mup" and out["data"] == "pydoc" and out["trained"] > 0
    assert out["predicted_max_stable_exponent"] == "0"
    assert all(row["max_stable"] is not None for row in out["widths_detail"])
    assert again["trained"] == 0 and again["max_stable_exponent"] == out["max_stable_exponent"]
