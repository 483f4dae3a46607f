"""Issue 16: bad input is refused before any work, in one line on stderr with exit code 2, within 5 s, and
nothing is written: unwritable outputs, widths (and seeds, depths, batches) that cannot fit in memory,
values that used to be accepted and then misused, and unclear messages.

Each case runs in this process (the 5 s bound excludes the interpreter's start); a few run in a real process
too, as a user would, to show that no traceback reaches the terminal.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from abcscale.cli import main
from tests.cli.helpers import abcscale, assert_clean_error

TINY = ["--widths", "32,64", "--seeds", "2", "--steps", "1"]
SWEEP = ["--widths", "8,16", "--seeds", "2", "--steps", "3", "--base-width", "8", "--grid-points", "2",
         "--precision", "1.5"]
HUGE = "100000000"  # a width of 1e8: a single n x n matrix is 4e16 bytes
MISSING = "/nonexistent/dir"

CASES = [
    # an output path that cannot be written: found before the training, not after it
    (["verify", "sp", *TINY, "--export", f"{MISSING}/x.csv"], ["--export", "does not exist"]),
    (["verify", "sp", *TINY, "--plot", f"{MISSING}/x.png"], ["--plot", "does not exist"]),
    (["check", "sp", *TINY, "--plot", "{tmp}"], ["--plot", "use a file name ending in"]),
    (["depth-sweep", "residual", "--depths", "2,4", "--widths", "32", "--seeds", "2", "--optimizers", "sgd",
      "--plot", f"{MISSING}/x.png"], ["--plot", "does not exist"]),
    (["depth-sweep", "residual", "--depths", "2,4", "--widths", "32", "--plot", "x.txt"], ["--plot", ".png"]),
    (["lr-sweep", "sp", *SWEEP, "--plot", f"{MISSING}/x.png"], ["--plot", "does not exist"]),
    (["elr", "--train", "--depth", "4", "--steps", "5", "--seeds", "0", "--plot", f"{MISSING}/x.png"],
     ["--plot", "does not exist"]),
    (["catapult", "uv", "--plot", f"{MISSING}/x.png"], ["--plot", "does not exist"]),
    (["table", "sp", "-o", "{tmp}"], ["-o", "is a folder"]),
    (["table", "sp", "-o", ""], ["-o needs a file name"]),
    (["verify", "sp", *TINY, "--db", "{tmp}/same.png", "--plot", "{tmp}/same.png"], ["the same file as --db"]),
    # sizes that cannot fit in memory: refused with the estimate, naming the option that makes them large
    (["verify", "sp", "--widths", f"64,{HUGE}", "--seeds", "2"],
     ["--widths 100000000: one width-1e8 job (2 seeds) needs ~1.6e17 bytes, more than this machine's"]),
    (["check", "sp", "--widths", "32,64", "--seeds", HUGE], ["--seeds 100000000:", "bytes"]),
    (["verify", "depth-mup", "--widths", HUGE], ["--widths 100000000: one width-1e8 depth-32 residual net"]),
    (["lr-sweep", "sp", "--widths", f"64,{HUGE}"], ["--widths 100000000: one width-1e8 job (3 seeds)"]),
    (["catapult", "mlp", "--width", HUGE], ["--width 100000000: one width-1e8 depth-2 net"]),
    (["catapult", "quadratic", "--n", HUGE], ["--n 100000000: the width-1e8 quadratic model"]),
    (["depth-sweep", "residual", "--widths", HUGE], ["--widths 100000000:", "residual net"]),
    (["depth-sweep", "residual", "--depths", f"2,{HUGE}", "--widths", "32"], ["--depths 100000000:"]),
    (["depth-sweep", "mlp-l3", "--widths", f"{HUGE},200000000"], ["--widths 200000000:", "bytes"]),
    (["depth-sweep", "ip", "--widths", f"64,{HUGE}"], ["--widths 100000000: one width-1e8 job (4 seeds)"]),
    (["elr", "--train", "--width", HUGE], ["--width 100000000:", "bytes"]),
    (["elr", "--scan", "--depth", "10000000"], ["--depth 10000000:", "bytes"]),
    (["elr", "--depth", HUGE, "--explosion", "1"], ["--depth 100000000: the model of"]),
    (["check-matrix", "--widths", f"64,{HUGE}"], ["--widths 100000000: one width-1e8 adam job (8 seeds)"]),
    (["check-matrix", "--presets", "sp", "--optimizers", "sgd", "--losses", "ce", "--activations", "relu",
      "--plot", f"{MISSING}/x.png"], ["--plot", "does not exist"]),
    # accepted and then wrong
    (["elr", "--grad-norms", ""], ["--grad-norms"]),
    (["elr", "--plot", "{tmp}/x.png"], ["--plot: only with --train"]),
    (["elr", "--scan", "--grad-norms", "1,2"], ["--grad-norms: only without --train and --scan"]),
    (["verify", "sp", *TINY, "--lr", "inf"], ["--lr inf: must be a finite positive number"]),
    (["lr-sweep", "sp", *SWEEP, "--start-lr", "inf"], ["--start-lr inf"]),
    (["lr-sweep", "sp", *SWEEP, "--tolerance", "inf"], ["--tolerance inf"]),
    (["check", "sp", *TINY, "--batch-size", "5000"], ["--batch-size 5000: the synthetic training pool has 4096"]),
    (["elr", "--depth", "5000"], ["--depth 5000: gradient norms 1.2^(depth - 1) leave float64 range"]),
    (["elr", "--sigma0-sq", "inf"], ["--sigma0-sq: must be a finite positive number, got inf"]),
    # unclear before
    (["catapult", "uv", "--x", "nan"], ["--x nan"]),
    (["catapult", "uv", "--x", "0"], ["--x 0.0"]),
    (["catapult", "uv", "--y", "inf"], ["--y inf"]),
    (["verify", "sp", "--widths", "-64,128"], ["--widths '-64,128': need at least 2 distinct widths >= 2"]),
    (["verify", "depth-mup", "--widths", "abc,256"], ["--widths 'abc,256'"]),
    (["verify", "depth-mup", "--widths", "256,abc"], ["--widths '256,abc'"]),
    (["derive", "sp", "--horizon", "1"], ["--horizon: need 2..64 unrolled steps, got 1"]),
]


def _fill(args: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in args]


@pytest.mark.parametrize("args, needles", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_refused_in_one_line_before_any_work(args: list[str], needles: list[str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    monkeypatch.chdir(tmp_path)
    args = _fill(args, tmp_path)
    if "--db" not in args and args[0] in ("verify", "check", "lr-sweep", "check-matrix"):
        args += ["--db", str(tmp_path / "t.db")]
    before = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - before
    captured = capsys.readouterr()
    assert code == 2, (captured.out, captured.err)
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1 and err.startswith("abcscale: error:"), err
    assert len(err) < 300, err  # a sentence, not a dump of the input
    for needle in needles:
        assert needle in err, (needle, err)
    assert seconds < 5, seconds
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no figure, no temporary file


def test_output_that_cannot_be_created_in_its_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    assert main(["table", "sp", "-o", "/proc/t.tex"]) == 2
    assert "-o /proc/t.tex: cannot write in /proc" in capsys.readouterr().err


def test_non_utf8_toml_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    for args in (["derive", str(binary)], ["table", str(binary)], ["table", "--params", str(binary)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err == f"abcscale: error: {binary}: not a UTF-8 text file\n", err


def test_an_existing_output_survives_a_refused_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.md"
    out.write_text("keep me")
    assert main(["table", "--params", "sp", "--quantity", "nope", "-o", str(out)]) == 2
    assert out.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [out]
    assert main(["table", "sp", "-o", str(out)]) == 0 and "| layer | role |" in out.read_text()
    assert sorted(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("args, needle", [
    (["verify", "sp", "--widths", f"64,{HUGE}"], "--widths 100000000"),
    (["table", "sp", "-o", "/"], "-o /: is a folder"),
    (["elr", "--depth", HUGE], "--depth 100000000"),
    (["catapult", "uv", "--x", "nan"], "--x nan"),
])
def test_in_a_real_process_no_traceback(args: list[str], needle: str, tmp_path: Path) -> None:
    assert_clean_error(abcscale(*args, cwd=tmp_path, timeout=60), needle)
    assert list(tmp_path.iterdir()) == []
