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
     ["--widths 100000000: one width-1e8 job (1 seed) needs ~8e16 bytes, more than this machine's"]),
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
    # found by tests/cli/test_fuzz.py
    (["derive", "sp", "--optimizer", ""], ["unknown optimizer ''"]),  # an empty name was the default
    (["derive", "depth-mup", "--loss", ""], ["unknown loss ''"]),
    (["table", "sp", "--activation", ""], ["unknown activation ''"]),
    (["depth-sweep", "residual", "--threads", HUGE], ["--threads: need 1 to 1024 torch threads"]),  # torch crashed
    (["catapult", "uv", "--steps", HUGE], ["--steps 100000000: a sweep of 17 runs over 1e8 steps needs ~"]),
    (["catapult", "mlp", "--steps", HUGE], ["--steps 100000000:", "over 1e8 steps needs ~"]),
    (["catapult", "uv", "--dps", HUGE], ["--dps: need 15 to 1000 digits, got 100000000"]),  # hung
    (["elr", "--grad-norms", "1,2,3", "--steps", "10000000000"],  # unchecked with --grad-norms: hung
     ["--steps 10000000000: the model of 3 layers over 10000000000 steps needs ~"]),
    (["table", "sp", "-o", "9" * 5000], ["-o 999", "...: cannot write in . (File name too long)"]),  # traceback
    (["catapult", "uv", "--plot", "0\r"], ["--plot 0\\r: use a file name ending in"]),  # was two lines
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


@pytest.mark.parametrize("text, args, needle", [
    ('layers = 100000000\n[hidden]\nb = "1/2"\n', [], "p.toml: layers: 100000000 hidden layers is more than"),
    ('[hidden]\nb = "1/2"\n', ["--layers", HUGE], "--layers: need 1 to 10000 hidden layers, got 100000000"),
])
def test_toml_layers_beyond_the_engine_are_refused_at_once(text: str, args: list[str], needle: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A TOML file without a preset, or --layers with it, built 1e8 layers before anything checked them (hung)."""
    spec = tmp_path / "p.toml"
    spec.write_text(text)
    before = time.perf_counter()
    assert main(["derive", str(spec), *args]) == 2
    assert needle in capsys.readouterr().err and time.perf_counter() - before < 5


def test_a_line_break_in_an_argument_stays_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's own messages echo arguments too: found by fuzzing, they printed two lines."""
    with pytest.raises(SystemExit) as stop:
        main(["derive", "sp", "x\ny"])
    assert stop.value.code == 2 and capsys.readouterr().err == "abcscale: error: unrecognized arguments: x\\ny\n"


def test_solve_without_a_fixed_point_stops_when_its_sweeps_cycle(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The fixed-point iteration used to run all 20 sweeps (100 derivations, 20 s) around a cycle of 5."""
    spec = tmp_path / "p.toml"
    spec.write_text('a = ["3/2", 0, -1, -1, 0]\nloss = "mse"\n')
    before = time.process_time()
    assert main(["solve", str(spec)]) == 2
    assert "the fixed-point iteration cycles after" in capsys.readouterr().err
    assert time.process_time() - before < 10


@pytest.mark.parametrize("function, spec, options, needle", [
    ("derive", "sp-object", {"optimizer": False}, "unknown optimizer False"),  # AttributeError deep in the engine
    ("solve", "sp", {"activation": ""}, "unknown activation ''"),  # an empty name was the default
    ("check", "sp", {"announce": False}, "announce False: expected a function"),  # TypeError after validating
    ("lr_sweep", "sp", {"announce": 3}, "announce 3: expected a function"),
    ("check", "depth-mup", {"widths": False}, "widths False: expected a list of integers"),  # TypeError
    ("derive", "a\x00b.toml", {}, "a file name cannot hold a NUL character"),  # ValueError from open()
    ("check", "sp", {"db": "a\x00b.db"}, "db 'a\\x00b.db': a file name cannot hold a NUL character"),
    ("check", "sp", {"plot": "a\x00b.png"}, "plot 'a\\x00b.png': a file name cannot hold a NUL character"),
    ("check", "sp", {"plot": "/nonexistent/a\nb.png"}, "plot /nonexistent/a\\nb.png: folder"),  # was two lines
])
def test_python_api_found_by_fuzzing(function: str, spec: str, options: dict[str, object], needle: str,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arguments of wrong types the Python API let through to a TypeError, AttributeError or ValueError."""
    import abcscale
    from theory.errors import FLAG

    monkeypatch.chdir(tmp_path)
    target = abcscale.parametrization("sp") if spec == "sp-object" else spec
    with pytest.raises(abcscale.InputError) as error:
        getattr(abcscale, function)(target, **options)
    message = str(error.value)
    assert needle in message and FLAG.search(message) is None and len(message.splitlines()) == 1, message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, needle", [
    (["verify", "sp", "--widths", f"64,{HUGE}"], "--widths 100000000"),
    (["table", "sp", "-o", "/"], "-o /: is a folder"),
    (["elr", "--depth", HUGE], "--depth 100000000"),
    (["catapult", "uv", "--x", "nan"], "--x nan"),
])
def test_in_a_real_process_no_traceback(args: list[str], needle: str, tmp_path: Path) -> None:
    assert_clean_error(abcscale(*args, cwd=tmp_path, timeout=60), needle)
    assert list(tmp_path.iterdir()) == []
