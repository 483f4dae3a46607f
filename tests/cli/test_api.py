"""The Python API (abcscale.check / verify / lr_sweep) and the command line share one path and agree.

The API runs in a subprocess, a plain Python session as a notebook user has (and with torch's default
threads, as the CLI's process): its result's table, JSON and DataFrame must equal what the CLI prints for the
same configuration trained into a separate results file.
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import abcscale
from abcscale.cli import build_parser
from tests.cli.helpers import ENV, ROOT
from tests.cli.helpers import abcscale as run_cli
from theory.errors import flag

CHECK = {"widths": [32, 64], "seeds": 2, "steps": 1, "base_width": 32}
CHECK_FLAGS = ["--widths", "32,64", "--seeds", "2", "--steps", "1", "--base-width", "32"]
SWEEP = {"widths": "8,16", "seeds": 2, "steps": 3, "base_width": 8, "grid_points": 2, "precision": 1.5}
SWEEP_FLAGS = ["--widths", "8,16", "--seeds", "2", "--steps", "3", "--base-width", "8", "--grid-points", "2",
               "--precision", "1.5"]

SESSION = """
import json, sys
import abcscale
function, spec, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
r = getattr(abcscale, function)(spec, **options)
df = r.to_dataframe()
records = df.astype(object).where(df.notna(), None).to_dict("records")
print(json.dumps({"table": r.table(), "json": r.to_json(), "passed": r.passed, "columns": list(df.columns),
                  "records": records, "repr": repr(r), "type": type(r).__name__}, default=lambda v: v.item()))
"""


def python_session(cwd: Path, function: str, spec: str, **options: Any) -> dict[str, Any]:
    """Run ``abcscale.<function>(spec, **options)`` in a fresh interpreter in ``cwd``; what its result shows."""
    done = subprocess.run([sys.executable, "-c", SESSION, function, spec, json.dumps(options)], capture_output=True,
                          text=True, cwd=cwd, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_check_in_python_agrees_with_the_cli(tmp_path: Path) -> None:
    api = python_session(tmp_path, "check", "mup", db=str(tmp_path / "api.db"), **CHECK)
    text = run_cli("check", "mup", *CHECK_FLAGS, "--db", str(tmp_path / "text.db"), cwd=tmp_path)
    as_json = run_cli("check", "mup", *CHECK_FLAGS, "--db", str(tmp_path / "json.db"), "--json", cwd=tmp_path)
    assert api["type"] == "CheckResult" and api["repr"].startswith("<CheckResult mup (sgd, ce): ")
    cli = json.loads(as_json.stdout)
    assert api["records"] == cli["rows"] and api["columns"] == list(cli["rows"][0])  # the DataFrame = the JSON rows
    assert len(api["records"]) == 31
    # the whole output, except the results file's name that the engine line quotes
    assert api["json"] + "\n" == as_json.stdout
    assert api["table"].replace("api.db", "text.db") + "\n" == text.stdout
    assert text.returncode == as_json.returncode == (0 if api["passed"] else 1) and cli["passed"] == api["passed"]


def test_lr_sweep_in_python_agrees_with_the_cli(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    api = python_session(tmp_path / "api", "lr_sweep", "sp", db="t.db", **SWEEP)
    as_json = run_cli("lr-sweep", "sp", *SWEEP_FLAGS, "--db", "t.db", "--json", cwd=tmp_path)
    text = run_cli("lr-sweep", "sp", *SWEEP_FLAGS, "--db", "u.db", cwd=tmp_path)
    cli = json.loads(as_json.stdout)
    assert api["type"] == "LrSweepResult" and api["records"] == cli["widths_detail"]
    assert [r["width"] for r in api["records"]] == [8, 16]
    assert api["json"] + "\n" == as_json.stdout  # same db name in another directory: identical
    assert api["table"].replace("t.db", "u.db") + "\n" == text.stdout
    assert text.returncode == (0 if api["passed"] else 1) and cli["verdict"] == ("PASS" if api["passed"] else "FAIL")


def test_verify_returns_measurements_without_verdicts(tmp_path: Path) -> None:
    r = abcscale.verify("sp", db=str(tmp_path / "v.db"), **CHECK)
    assert r.passed and "verdict" not in r.table() and "PASS" not in r.table()
    assert r.to_dict()["passed"] is True and len(r.rows) == 31
    frame = r.to_dataframe()
    assert list(frame.columns) == ["quantity", "layer", "step", "predicted", "measured", "low", "high", "verdict",
                                   "note"]
    figure = r.plot(str(tmp_path / "cc.png"))
    assert (tmp_path / "cc.png").stat().st_size > 0 and len(figure.axes) == 8
    assert r._repr_html_().startswith("<pre>sp (sgd, ce, L=3): lr exponent X = -1/2")
    again = abcscale.check("sp", db=str(tmp_path / "v.db"), **CHECK)  # same trainings: resumed, now judged
    assert again.outcome.resumed == 4 and again.summary["PASS"] + again.summary["FAIL"] == 31
    assert [row.measured for row in again.rows] == [row.measured for row in r.rows]


def test_check_takes_a_parametrization_object(tmp_path: Path) -> None:
    param = abcscale.parametrization("mup", loss="mse")
    r = abcscale.verify(param, db=str(tmp_path / "p.db"), lr_exponent="-1/4", **CHECK)
    data = r.to_dict()
    assert r.param.loss == "mse" and data["lr_exponent"] == "-1/4" and data["lr_exponent_source"] == "given"
    with pytest.raises(abcscale.InputError, match="^layers 2: mup has 3 hidden layers"):  # the keyword, no flag
        abcscale.verify(param, layers=2, db=str(tmp_path / "p.db"), **CHECK)


@pytest.mark.parametrize("function, options, needle", [
    ("check", {"widths": [64]}, "widths"),
    ("check", {"widths": "64,abc"}, "widths"),
    ("check", {"widths": [64, 64]}, "widths"),
    ("check", {"widths": 64}, "widths"),
    ("check", {"seeds": 0}, "seeds"),
    ("check", {"seeds": [0, 1]}, "seeds"),
    ("check", {"steps": 0}, "steps"),
    ("check", {"lr": -0.1}, "lr"),
    ("check", {"lr": "0.1"}, "lr"),
    ("check", {"tolerance": 0}, "tolerance"),
    ("check", {"data": "mnist"}, "data"),
    ("check", {"export": "out.txt"}, "export"),
    ("check", {"plot": "out.txt"}, "plot"),
    ("check", {"optimizer": "adafactor"}, "adafactor"),
    ("check", {"device": "tpu"}, "device"),
    ("check", {"device": "cuda", "workers": 2}, "workers 1"),
    ("check", {"scheduler": "localhost"}, "scheduler"),
    ("check", {"depths": [4, 8]}, "residual preset"),
    ("verify", {"loss": "hinge"}, "loss"),
    ("lr_sweep", {"widths": [64]}, "widths"),
    ("lr_sweep", {"criterion": "nan"}, "criterion"),
    ("lr_sweep", {"optimizer": "muon"}, "muon"),
    ("lr_sweep", {"precision": 0.5}, "precision"),
    ("lr_sweep", {"loss_factor": -1}, "loss_factor"),
    ("lr_sweep", {"plot": "out.txt"}, "plot"),
    # issue 16: every bad argument is an InputError naming the keyword, before anything is trained or written
    ("check", {"lr": math.inf}, "lr inf: must be a finite positive number"),
    ("check", {"tolerance": math.inf}, "tolerance inf"),
    ("check", {"widths": [64, 10**8]}, "widths 100000000: one width-1e8 job (1 seed) needs ~"),
    ("check", {"seeds": 10**8}, "seeds 100000000: keeping the measurements of 4 widths x 100000000 seeds"),
    ("check", {"batch_size": 5000}, "batch_size 5000: the synthetic training pool has 4096 examples"),
    ("check", {"export": "/nonexistent/dir/x.csv"}, "export /nonexistent/dir/x.csv: folder /nonexistent/dir does"),
    ("check", {"plot": "/nonexistent/x.png"}, "plot /nonexistent/x.png: folder"),
    ("check", {"plot": ""}, "plot needs a file name"),
    ("check", {"device": 3}, "device 3: expected a string"),
    ("check", {"scheduler": 3}, "scheduler 3"),
    ("check", {"workers": "2"}, "workers '2'"),
    ("check", {"base_width": 0}, "base_width 0"),
    ("check", {"warmup_lr": 0.1}, "warmup_lr: sp has no warm-up schedule"),
    ("lr_sweep", {"precision": "a"}, "precision a: must be a finite positive number"),
    ("lr_sweep", {"grid_points": 1.5}, "grid_points 1.5"),
    ("lr_sweep", {"start_lr": "a"}, "start_lr a"),
    ("lr_sweep", {"start_lr": math.inf}, "start_lr inf"),
    ("lr_sweep", {"criterion": 3}, "criterion 3: unknown"),
    ("lr_sweep", {"widths": [8, 10**8]}, "widths 100000000: one width-1e8 job (3 seeds) needs ~"),
    ("lr_sweep", {"plot": "/nonexistent/x.png"}, "plot /nonexistent/x.png: folder"),
])
def test_bad_input_raises_one_line_and_writes_nothing(tmp_path: Path, function: str, options: dict[str, Any],
                                                      needle: str) -> None:
    db = tmp_path / "x.db"
    with pytest.raises(abcscale.InputError) as error:
        getattr(abcscale, function)("sp", db=str(db), **options)
    message = str(error.value)
    assert needle in message and "\n" not in message
    assert not [k for k in _keywords(function) if flag(k) in message], message  # the caller's words, no flags
    assert not db.exists()


def _keywords(function: str) -> list[str]:
    """The keywords of the library function behind ``abcscale.<function>``."""
    from verify.lr.sweep import lr_sweep
    from verify.width.check import check

    return list(inspect.signature(lr_sweep if function == "lr_sweep" else check).parameters)


def test_depth_presets_check_across_depths(tmp_path: Path) -> None:
    with pytest.raises(abcscale.InputError, match="^export x.csv: depth runs are not stored"):
        abcscale.check("completep", depths="2,4", export="x.csv")
    r = abcscale.check("completep", depths=[2, 4], widths=[64], seeds=2, plot=str(tmp_path / "d.png"))
    assert type(r).__name__ == "DepthCheckResult" and [row.predicted for row in r.rows] == [0.0, 0.0, 0.0]
    assert r.table().startswith("completep (sgd): residual MLP, alpha = 1, width 64, depths 2,4, 2 seeds")
    assert r.table().endswith(f"figure written to {tmp_path / 'd.png'}") and (tmp_path / "d.png").exists()
    assert list(r.to_dataframe()["verdict"]) == [row.verdict for row in r.rows]


def test_to_dataframe_without_pandas_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = abcscale.verify("sp", db=str(tmp_path / "v.db"), **CHECK)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModuleNotFoundError, match=r"abcscale\[dataframe\]"):
        r.to_dataframe()


@pytest.mark.parametrize("command, function", [("check", "verify.width.check.check"),
                                               ("verify", "verify.width.check.check"),
                                               ("lr-sweep", "verify.lr.sweep.lr_sweep")])
def test_the_cli_defaults_are_the_library_defaults(command: str, function: str) -> None:
    import importlib

    module, name = function.rsplit(".", 1)
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    flags = vars(build_parser().parse_args([command, "sp"]))
    shared = [key for key in flags if key in parameters and key != "spec"]
    assert len(shared) >= 15
    assert {key: flags[key] for key in shared} == {key: parameters[key].default for key in shared}
    shown = importlib.import_module(f"abcscale.commands.{'lr_sweep' if command == 'lr-sweep' else 'verify'}"
                                    ).DEFAULT_WIDTHS
    assert shown == ",".join(map(str, importlib.import_module(module).DEFAULT_WIDTHS))  # what --help says


# runs the code, then prints the modules loaded, whatever the code's exit (the CLI ends with SystemExit)
LOADED = """
import json, runpy, sys
try:
    exec(sys.argv[1])
except SystemExit:
    pass
sys.stdout = sys.__stdout__
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""


def _loaded(code: str) -> set[str]:
    """Modules in ``sys.modules`` after a fresh interpreter has run ``code``."""
    done = subprocess.run([sys.executable, "-c", LOADED, code], capture_output=True, text=True, cwd=ROOT, env=ENV,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.rsplit("MODULES ", 1)[1]))


def test_import_abcscale_and_derive_leave_torch_out() -> None:
    modules = _loaded("import abcscale; abcscale.derive('sp')")
    assert "theory.engine" in modules and "torch" not in modules and "pandas" not in modules


def test_the_derive_command_leaves_torch_out() -> None:
    # exactly `python -m abcscale derive sp`
    modules = _loaded("sys.argv = ['abcscale', 'derive', 'sp']; runpy.run_module('abcscale', run_name='__main__')")
    assert "abcscale.commands.derive" in modules and "torch" not in modules


def test_the_facade_exports_the_api() -> None:
    assert {"check", "verify", "lr_sweep", "InputError"} <= set(abcscale.__all__)
    assert abcscale.InputError is __import__("theory.errors", fromlist=["InputError"]).InputError
