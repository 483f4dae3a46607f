"""Issue 16: the pieces behind "refused before any work": output files, memory estimates, the Python API's words.

* ``theory.outputs``: a path is tried before the work and written all or nothing;
* ``verify.memory``: the estimates and the refusal that names the option making a job too large;
* the Python API raises ``abcscale.InputError`` for every bad argument, naming the keyword the caller wrote.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import abcscale
from theory.errors import InputError, UnknownKeyword, flag, python_terms
from theory.outputs import check_writable, replacing, write_text
from verify import memory
from verify.options import POOL_SIZES

# --- output files ------------------------------------------------------------------------------------------------


def test_a_writable_path_is_tried_and_left_as_it_was(tmp_path: Path) -> None:
    assert check_writable("--plot", str(tmp_path / "new.png")) == str(tmp_path / "new.png")
    old = tmp_path / "old.csv"
    old.write_text("data")
    check_writable("--export", old)  # a path object too
    assert sorted(tmp_path.iterdir()) == [old] and old.read_text() == "data"


@pytest.mark.parametrize("path, needle", [("", "needs a file name"), (".", "is a folder"),
                                          ("missing/x.png", "folder missing does not exist"),
                                          (3, "expected a file name")])
def test_an_unwritable_path_is_refused(path: object, needle: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=needle):
        check_writable("-o", path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing_and_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "t.tex"
    with pytest.raises(RuntimeError), replacing(str(target)) as temporary:
        Path(temporary).write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    target.write_text("old")
    with pytest.raises(RuntimeError), replacing(str(target)) as temporary:
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]


def test_a_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_text(str(tmp_path / "t.md"), "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "t.md").stat().st_mode) == 0o644
    assert (tmp_path / "t.md").read_text() == "x"


# --- memory estimates ---------------------------------------------------------------------------------------------


def test_amounts_read_like_the_flags() -> None:
    assert [memory.amount(x) for x in (512, 1e8, 3.2e17, 2.5e5)] == ["512", "1e8", "3.2e17", "2.5e5"]


def test_the_machine_memory_is_known() -> None:
    assert 2**28 < memory.machine_memory() < 2**62


def test_the_refusal_names_the_option_that_makes_the_job_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "machine_memory", lambda: 24 * memory.GIB)

    def estimate(width: int, seeds: int) -> float:
        return 4.0 * width * width * seeds

    sizes = {"width": memory.Size("--widths", 10**8, 2), "seeds": memory.Size("--seeds", 2)}
    with pytest.raises(InputError) as error:
        memory.check_fits(estimate, sizes, "one width-1e8 job (2 seeds)")
    assert str(error.value) == ("--widths 100000000: one width-1e8 job (2 seeds) needs ~8e16 bytes, more than "
                                "this machine's 24 GiB")
    sizes = {"width": memory.Size("--widths", 1024, 2), "seeds": memory.Size("--seeds", 10**8)}
    with pytest.raises(InputError, match="^--seeds 100000000: "):
        memory.check_fits(estimate, sizes, "one width-1024 job")
    memory.check_fits(estimate, {"width": memory.Size("--widths", 1024, 2), "seeds": memory.Size("--seeds", 8)},
                      "fits")


def test_a_gpu_job_is_measured_against_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    asked: list[int] = []

    class Properties:
        total_memory = 80 * memory.GIB

    def properties(index: int) -> Properties:
        asked.append(index)
        return Properties()

    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert memory.device_memory("cuda:1") == memory.device_memory("cuda") == 80 * memory.GIB and asked == [1, 0]
    with pytest.raises(InputError, match="more than the cuda:1 device's 80 GiB"):
        memory.check_fits(lambda width: 4.0 * width**2, {"width": memory.Size("--widths", 10**6)}, "a job", "cuda:1")


def test_the_default_runs_fit_a_small_machine() -> None:
    """The estimates are floors: the commands' defaults stay far below 4 GiB."""
    small = 4 * memory.GIB
    assert memory.width_job_bytes(width=1024, seeds=8, batch_size=1, layers=3, optimizer="adam") < small
    assert memory.lr_job_bytes(width=1024, seeds=3, batch_size=32, layers=3, optimizer="adam") < small
    assert memory.catapult_run_bytes(width=256, depth=2, samples=128) < small
    assert memory.residual_run_bytes(width=256, depth=32, adam=1) < small
    assert memory.l3_run_bytes(width=1024, depth=32) < small
    assert memory.elr_run_bytes(width=64, depth=32) < small
    assert memory.elr_model_bytes(depth=32, steps=1000) < small
    assert memory.quadratic_model_bytes(n=1000) < small


def test_the_pool_sizes_are_the_data_sets() -> None:
    from verify.data import load

    for name, size in POOL_SIZES.items():
        assert load(name, "ce").train_x.shape[0] == size


# --- the Python API's words ---------------------------------------------------------------------------------------


def test_flags_become_keywords_by_a_fixed_rule() -> None:
    assert flag("base_width") == "--base-width"
    message = "--lr 2 and --lr-exponent x, not --json; --widths/--seeds"
    assert python_terms(message, ["lr", "lr_exponent", "widths", "seeds"]) == \
        "lr 2 and lr_exponent x, not --json; widths/seeds"


def test_the_exception_types_are_exported() -> None:
    assert abcscale.InputError is InputError and issubclass(InputError, ValueError)
    assert abcscale.UnknownKeyword is UnknownKeyword and issubclass(UnknownKeyword, InputError | TypeError)
    assert {"InputError", "UnknownKeyword"} <= set(abcscale.__all__)


@pytest.mark.parametrize("call, message", [
    (lambda: abcscale.derive(None), "spec: expected a preset name, a TOML path or a Parametrization, got NoneType"),
    (lambda: abcscale.derive("sp", horizon=0), "horizon: need 2..64 unrolled steps, got 0"),
    (lambda: abcscale.derive("sp", horizon="4"),
     "horizon: expected an integer number of unrolled steps (2..64), got str"),
    (lambda: abcscale.derive("sp", layers=0), "layers: need a positive number of hidden layers, got 0"),
    (lambda: abcscale.solve(3), "spec: expected a preset name, a TOML path or a Parametrization, got int"),
    (lambda: abcscale.equivalent("sp", None), "second: expected a preset name, a TOML path or a Parametrization"),
    (lambda: abcscale.parametrization(abcscale.get_preset("mup"), layers=5), "layers 5: mup has 3 hidden layers"),
    (lambda: abcscale.get_preset("sp", layers=0), "layers: need a positive number"),
    (lambda: abcscale.get_preset(None), "unknown preset None"),
    (lambda: abcscale.resolve(None), "spec: expected a preset name or a TOML path, got NoneType"),
    (lambda: abcscale.load_toml(None), "None: expected the path of a TOML file"),
    (lambda: abcscale.check("sp", db=3), "db 3: expected a file name"),
    (lambda: abcscale.check("depth-mup", widths=[10**8]), "widths 100000000: one width-1e8 depth-32 residual net"),
    (lambda: abcscale.check("depth-mup", widths="abc,256"), "widths 'abc,256'"),
])
def test_bad_arguments_are_input_errors_in_keyword_terms(call: object, message: str) -> None:
    with pytest.raises(InputError) as error:
        call()  # type: ignore[operator]
    assert str(error.value).startswith(message), str(error.value)
    assert "--" not in str(error.value)


def test_a_binary_toml_is_an_input_error(tmp_path: Path) -> None:
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    for call in (abcscale.derive, abcscale.load_toml, abcscale.parametrization):
        with pytest.raises(InputError, match="not a UTF-8 text file"):
            call(binary)


def test_an_unknown_keyword_names_the_close_ones() -> None:
    with pytest.raises(UnknownKeyword, match=r"^check\(\): unknown keyword 'widht' \(did you mean 'widths'"):
        abcscale.check("sp", widht=[64, 128])
    with pytest.raises(TypeError, match="unknown keyword 'judged'"):  # verify is check without verdicts
        abcscale.verify("sp", judged=True)
    with pytest.raises(InputError, match="unknown keyword 'bogus'"):
        abcscale.derive("sp", bogus=1)


def test_a_figure_path_is_checked_before_drawing(tmp_path: Path) -> None:
    r = abcscale.verify("sp", widths=[8, 16], seeds=2, steps=1, base_width=8, db=str(tmp_path / "v.db"))
    with pytest.raises(InputError, match="^path x.txt: use a file name ending in .png, .pdf or .svg$"):
        r.plot("x.txt")
    with pytest.raises(InputError, match="^path /nonexistent/x.png: folder /nonexistent does not exist$"):
        r.plot("/nonexistent/x.png")
    r.plot(str(tmp_path / "c.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "v.db"]
