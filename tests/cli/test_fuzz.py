"""Issue 16: fuzz the command line and the Python API with generated subcommands, flag values and TOML files.

What it guards, for every generated invocation of ``abcscale.cli.main``:

* it exits 0, or with 2 and exactly one line ``abcscale: error: ...`` on stderr, and never shows a traceback
  (``abcscale equivalent`` may also exit 1: "not equivalent" is an answer, not an error);
* it finishes within ``TIME_LIMIT`` seconds of CPU time and ``WALL_LIMIT`` seconds in all (SIGPROF and SIGALRM
  timers fail the example, showing its arguments);
* a refused invocation leaves the working folder exactly as it was, and no invocation leaves a temporary or
  partial file behind: the outputs named by ``--plot``/``--export``/``-o``/``--db`` are absent or complete
  (a PNG starts with the PNG signature, a results database opens);
* nothing trains: the training entry points raise ``WouldTrain``, which counts as accepted input, and by then
  no output file (figure, export, table) exists yet; ``torch.optim.Optimizer.step`` and autograd fail the test.

The Python API (``abcscale.derive`` ... ``abcscale.lr_sweep``) with arguments of wrong types and values either
returns or raises ``abcscale.InputError`` whose message names keywords, never command-line flags.

The default run is small (150 command lines and TOML files, 50 API calls); the ``slow`` variant (CI) runs 2000
command lines and TOML files and 500 API calls, derandomized so that CI is reproducible.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import abcscale
from abcscale.cli import build_parser, main
from theory.depth import DEPTH_PRESETS
from theory.errors import FLAG
from theory.parametrization import ACTIVATIONS, ALIGNMENTS, LOSSES, OPTIMIZERS
from theory.presets import PRESETS
from theory.quantities import QUANTITIES
from verify.data import DATASETS
from verify.runs.executors import executor_for as REAL_EXECUTOR_FOR

ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT = 10.0  # seconds of CPU time per invocation
WALL_LIMIT = 60.0  # seconds in all per invocation (a call that blocks uses no CPU)
PNG = b"\x89PNG\r\n\x1a\n"
MACHINE_MEMORY = 4 * 2**30  # bytes: the memory checks see a small machine wherever the test runs
FAST = {"cli": 100, "toml": 50, "api": 50}
SLOW = {"cli": 1400, "toml": 600, "api": 500}


class WouldTrain(BaseException):  # noqa: N818 -- a sentinel, not an error: the input was accepted
    """Raised by the patched training entry points: validation passed and a training would start now."""


class TrainingRan(AssertionError):
    """Raised when torch is asked to step an optimizer or backpropagate: a training escaped the patches."""


class TimeLimit(AssertionError):
    """Raised when one invocation runs past its time limit (a failure: hypothesis shrinks and shows the example)."""


# ---- the command line, read from the parser itself ----------------------------------------------------------


@dataclass(frozen=True)
class Option:
    flag: str  # the long spelling when there is one
    dest: str
    takes_value: bool
    choices: tuple[str, ...] | None


@dataclass(frozen=True)
class Command:
    name: str
    positionals: tuple[argparse.Action, ...]
    options: tuple[Option, ...]


def _commands() -> dict[str, Command]:
    """Every subcommand of ``build_parser()`` with its positionals and options (help excluded)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = {}
    for name, subparser in sub.choices.items():
        positionals = tuple(a for a in subparser._actions if not a.option_strings)
        options = tuple(Option(max(a.option_strings, key=len), a.dest, a.nargs != 0,
                               tuple(a.choices) if a.choices is not None else None)
                        for a in subparser._actions
                        if a.option_strings and not isinstance(a, argparse._HelpAction))
        commands[name] = Command(name, positionals, options)
    return commands


COMMANDS = _commands()
SPEC_COMMANDS = ("derive", "solve", "table", "check", "verify", "lr-sweep", "equivalent")
OUTPUT_FLAGS = ("--plot", "--export", "--output", "-o")

# values a user could mean; sizes that would be accepted stay small, so accepted commands are fast
GOOD: dict[str, list[str]] = {
    "layers": ["1", "2", "3", "4"], "loss": list(LOSSES), "optimizer": list(OPTIMIZERS),
    "activation": list(ACTIVATIONS), "lr_exponent": ["-1/2", "0", "1", "1/2", "x", "-1"],
    "eps_exponent": ["0", "1", "1/2", "-1/2"], "horizon": ["2", "3", "4"], "objective": ["max-updates", "max-lr"],
    "widths": ["8,16", "16,32", "32,64", "8,16,32", "16"], "depths": ["2,4", "4,8", "2,3"],
    "seeds": ["1", "2", "0", "0,1"], "steps": ["1", "2", "3"], "lr": ["0.1", "0.01"], "base_width": ["8", "16"],
    "warmup_lr": ["0.1", "1"], "batch_size": ["1", "2", "4"], "data": ["synthetic", "digits"],
    "predict": ["sp", "mup", "spec.toml"], "module": ["model.py:build", "spec.toml:build", "model.py"],
    "tolerance": ["0.15", "0.5"], "db": ["r.db", "abcscale.db", "sub/r.db"],
    "export": ["out.csv", "out.json", "sub/out.csv"], "plot": ["out.png", "out.pdf", "out.svg", "sub/out.png"],
    "workers": ["1", "2"], "scheduler": ["tcp://127.0.0.1:8786"], "device": ["cpu"],
    "criterion": ["loss", "nonfinite", "activation"], "loss_factor": ["1", "2"], "activation_bound": ["10"],
    "start_lr": ["0.1", "0.001"], "precision": ["1.5", "1.09"], "grid_points": ["0", "1", "2"],
    "optimal_by": ["loss", "accuracy"], "presets": ["sp", "sp,mup", "mfp"], "optimizers": ["sgd", "sgd,adam", "adam"],
    "losses": ["ce", "mse", "ce,mse"], "activations": ["relu", "tanh", "relu,linear"],
    "params": ["sp", "sp,mup", "spec.toml", "ntk,mfp"], "quantity": ["max_stable_lr_exponent", "regime",
                                                                    "feature_update", *QUANTITIES],
    "layer": ["1", "2", "input", "hidden", "output"], "quantities": ["feature_update", "feature_update,weight_update"],
    "paper": ["tp4", "tp5", "everett", "everett-max-updates", "haas"], "config": ["abc"],
    "format": ["latex", "markdown", "csv", "json"], "exponent_style": ["power", "bare"],
    "caption": ["A table", "x_1 & y"], "label": ["tab:x"], "output": ["out.md", "out.tex", "out.csv", "keep.md"],
    "ratios": ["1,2.5", "0.5:4:0.5", "1,3"], "n": ["8", "16", "64"], "dps": ["15", "20"], "x": ["1", "0.5"],
    "y": ["0", "0.5"], "dataset": ["digits", "synthetic"], "inputs": ["standardised", "raw"],
    "width": ["8", "16", "64"], "depth": ["2", "3", "4"], "samples": ["8", "16"], "ntk_every": ["1", "2"],
    "alphas": ["0.5,1", "0.5"], "threads": ["1", "2"], "grad_norms": ["1,2,3", "100,10,1"],
    "explosion": ["1.2", "1"], "sigma0_sq": ["1", "0.5"], "warmup": ["1", "2"], "factors": ["1,2", "0.5"],
    "warm_steps": ["0", "1"], "weight_decay": ["0", "0.1"], "momentum": ["0", "0.5"], "warmup_grid": ["1,2"],
    "horizons": ["1,2"],
}
HUGE_DIGITS = "9" * 5000
BAD = ["-1", "0", "-0", "nan", "inf", "-inf", "1e400", "1e-400", "100000000", HUGE_DIGITS, "x+y", "2*x", "abc", "",
       " ", "é∂ü", "\udcff", "/nonexistent/dir/x.png", ".", "sub", "out.txt", "spec.toml", "1,", ",", "1,,2",
       "1/0", "0x10", "1_000", "1.5", "2**10", "-", "--", "tcp://", "cuda", "cuda:7", "8,8", "-8,16", "1:2:0"]
ARGV_TEXT = st.text(st.characters(blacklist_characters="\x00"), max_size=8)  # a command line holds no NUL
SPECS = [*PRESETS, *DEPTH_PRESETS, "spec.toml", "spec.txt", "missing.toml", "sub", ".", "", "abc", "SP", "\udcff",
         "sp.toml", HUGE_DIGITS]


@st.composite
def _mostly(draw: st.DrawFn, good: list[str], bad: list[str]) -> str:
    """A good value three times in four, else a bad one or arbitrary text: most lines get past the first check."""
    pick = draw(st.integers(0, 15))
    if pick < 12:
        return draw(st.sampled_from(good))
    return draw(st.sampled_from(bad)) if pick < 15 else draw(ARGV_TEXT)


def _value(option: Option) -> st.SearchStrategy[str]:
    return _mostly(list(option.choices or GOOD.get(option.dest, ["1"])), BAD)


@st.composite
def _options(draw: st.DrawFn, command: Command, most: int = 4) -> list[str]:
    argv: list[str] = []
    for option in draw(st.lists(st.sampled_from(command.options), max_size=most)):
        argv.append(option.flag)
        if option.takes_value:
            argv.append(draw(_value(option)))
    return argv


def _positional(action: argparse.Action) -> st.SearchStrategy[str]:
    if action.choices is not None:
        return _mostly(list(action.choices), BAD)
    return _mostly([*PRESETS, *DEPTH_PRESETS, "spec.toml"], [*SPECS, *BAD])


# small sizes first: a drawn option later on the line replaces them (argparse keeps the last)
PREFIX = {"catapult": ["--steps", "3", "--n", "16"], "elr": ["--steps", "3", "--depth", "4"]}


# command lines that write a file, for the completeness checks: the output path, then an option or two drawn
WRITERS = [["table", "sp", "--output"], ["table", "--params", "sp,mup", "--output"],
           ["table", "--paper", "tp4", "--output"], ["table", "mup", "--phases", "--output"],
           ["table", "depth-mup", "--output"],
           ["catapult", "uv", "--steps", "3", "--n", "16", "--ratios", "1,3", "--plot"],
           ["catapult", "quadratic", "--steps", "3", "--n", "16", "--ratios", "1,3", "--plot"]]


@st.composite
def command_lines(draw: st.DrawFn, names: tuple[str, ...] = tuple(COMMANDS)) -> list[str]:
    """A subcommand, its positionals (sometimes one missing or one too many), then a few options."""
    if draw(st.integers(0, 4)) == 4:
        argv = draw(st.sampled_from(WRITERS))
        argv = [*argv, draw(_mostly(GOOD["output" if argv[-1] == "--output" else "plot"], BAD))]
        return argv + draw(_options(COMMANDS[argv[0]], 2))
    command = COMMANDS[draw(st.sampled_from(names))]
    argv = [command.name, *PREFIX.get(command.name, [])]
    positionals = list(command.positionals)
    if positionals and draw(st.integers(0, 9)) == 9:
        positionals.pop()
    for action in positionals:
        argv.append(draw(_positional(action)))
    if draw(st.integers(0, 19)) == 19:
        argv.append(draw(st.sampled_from(SPECS)))
    argv += draw(_options(command))
    outputs = [o for o in command.options if o.flag in OUTPUT_FLAGS]
    if outputs and draw(st.integers(0, 2)) == 2:  # written files are what the completeness checks look at
        option = draw(st.sampled_from(outputs))
        argv += [option.flag, draw(st.sampled_from(GOOD[option.dest]))]
    if draw(st.integers(0, 19)) == 19:
        argv.append(draw(st.sampled_from(["--bogus", "--json", "-x", "--lay", "--plot=out.png"])))
    return argv


# ---- TOML files (format: theory/config.py) -----------------------------------------------------------------

EXPONENTS = st.one_of(st.integers(-3, 3), st.sampled_from(["1/2", "-1/2", "0", "1", "3/2", "x", "nan", "inf",
                                                           "1/0", "abc", "", "2*x", "1e400", "x+y", HUGE_DIGITS]),
                      st.floats(), st.booleans(), st.sampled_from([10**30, -(10**8)]))
ANY_VALUE = st.recursive(st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=5),
                                   st.sampled_from(["sgd", "relu", "ce", "tp"])),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                             st.sampled_from(["a", "b", "name", "k"]), inner, max_size=2), max_leaves=6)
LAYERS = st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 10**8, 10**5, 10001, True, 3.5, "3", [3]]))


def _exponent_list(size: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(EXPONENTS, min_size=size, max_size=size), st.lists(EXPONENTS, max_size=6), EXPONENTS)


def _role_table() -> st.SearchStrategy[dict[str, Any]]:
    keys = {"a": EXPONENTS, "b": EXPONENTS, "c": EXPONENTS, "eps_exponent": EXPONENTS,
            "alignment": st.sampled_from([*ALIGNMENTS, "bogus", 1]), "zero_init": st.one_of(st.booleans(), EXPONENTS),
            "bogus": ANY_VALUE}
    return st.fixed_dictionaries({}, optional=keys)


def _optimizer_value() -> st.SearchStrategy[Any]:
    name = st.sampled_from([*OPTIMIZERS, "sgdd", "", 3])
    table = st.fixed_dictionaries({}, optional={
        "name": name, "eps_exponent": EXPONENTS, "momentum": st.one_of(st.floats(), st.sampled_from([0, 0.9, 1, -1])),
        "muon_scale": st.sampled_from(["jordan", "spectral", "none", "bogus", 0]), "bogus": ANY_VALUE})
    return st.one_of(name, table)


GOOD_EXPONENTS = st.one_of(st.integers(-1, 1), st.sampled_from(["1/2", "-1/2", "0", "1", "3/2"]))


@st.composite
def _valid_document(draw: st.DrawFn, layers: int) -> dict[str, Any]:
    """A parametrization the loader accepts: a preset with overrides, per-layer lists, or role tables."""
    kind = draw(st.sampled_from(["preset", "lists", "roles"]))
    data: dict[str, Any] = {}
    if kind == "preset":
        data["preset"] = draw(st.sampled_from(list(PRESETS)))
    elif kind == "lists":
        for key in draw(st.lists(st.sampled_from("abc"), min_size=1, unique=True)):
            data[key] = draw(st.lists(GOOD_EXPONENTS, min_size=layers + 1, max_size=layers + 1))
    else:
        for role in draw(st.lists(st.sampled_from(["input", "hidden", "output"]), min_size=1, unique=True)):
            data[role] = draw(st.fixed_dictionaries({}, optional={key: GOOD_EXPONENTS for key in "abc"}))
    extra: dict[str, st.SearchStrategy[Any]] = {
        "layers": st.one_of(st.just(layers), st.just(layers), LAYERS), "loss": st.sampled_from(LOSSES),
        "activation": st.sampled_from(list(ACTIVATIONS)), "optimizer": st.sampled_from(OPTIMIZERS),
        "lr_exponent": GOOD_EXPONENTS, "name": st.just("net")}
    if kind == "lists":
        del extra["layers"]
    data.update(draw(st.fixed_dictionaries({}, optional=extra)))
    return data


@st.composite
def toml_documents(draw: st.DrawFn) -> bytes:
    """A TOML parametrization: mostly a valid one with a key or two replaced by good or bad values, sometimes
    broken syntax or not UTF-8 at all."""
    layers = draw(st.integers(1, 4))
    keys: dict[str, st.SearchStrategy[Any]] = {
        "name": st.one_of(st.text(max_size=6), st.integers()), "preset": st.sampled_from([*PRESETS, "nope", 1]),
        "layers": LAYERS, "activation": st.sampled_from([*ACTIVATIONS, "swish", 0]),
        "loss": st.sampled_from([*LOSSES, "l1", 0]), "optimizer": _optimizer_value(),
        "lr_exponent": EXPONENTS, "alignment": st.one_of(st.sampled_from([*ALIGNMENTS, "bogus"]),
                                                         st.lists(st.sampled_from(ALIGNMENTS), max_size=6)),
        "a": _exponent_list(layers + 1), "b": _exponent_list(layers + 1), "c": _exponent_list(layers + 1),
        "zero_init": st.one_of(st.lists(st.booleans(), min_size=layers + 1, max_size=layers + 1), ANY_VALUE),
        "warmup_c": st.one_of(st.lists(st.lists(EXPONENTS, min_size=layers + 1, max_size=layers + 1), max_size=2),
                              ANY_VALUE),
        "input": _role_table(), "hidden": _role_table(), "output": _role_table(),
        "source": st.text(max_size=5), "description": st.text(max_size=5), "bogus": ANY_VALUE}
    data = draw(_valid_document(layers))
    for key in draw(st.lists(st.sampled_from(sorted(keys)), max_size=2, unique=True)):
        data[key] = draw(keys[key])
    text = _toml(data).encode("utf-8")
    damage = draw(st.integers(0, 14))  # 0 first: hypothesis favours small draws
    if damage == 14:
        text += draw(st.sampled_from([b"\n= =\n", b"\n[input\n", b"\na = [1, 2\n", b"\nlayers = 3\nlayers = 4\n",
                                      b"\n\xff\xfe\x00\x80", b"\nb = \"\\uDCFF\"\n", b"\x00"]))
    elif damage == 13:
        text = text[:draw(st.integers(0, len(text)))]
    elif damage == 12:
        text = draw(st.binary(max_size=40))
    return text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return '"' + "".join(ch if ch.isprintable() and ch not in '"\\' and not 0xD800 <= ord(ch) < 0xE000
                             else f"\\u{ord(ch):04X}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08X}"
                             for ch in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml(data: dict[str, Any]) -> str:
    """``data`` as TOML: scalars and lists first, then one [section] per table value."""
    lines = [f"{k} = {_scalar(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {_scalar(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@st.composite
def toml_command_lines(draw: st.DrawFn) -> tuple[list[str], bytes]:
    """A TOML document and a command line that reads it as its parametrization."""
    document = draw(toml_documents())
    command = COMMANDS[draw(st.sampled_from(SPEC_COMMANDS))]
    spec = draw(st.sampled_from(["spec.toml", "spec.toml", "spec.txt"]))
    argv = [command.name, spec]
    if command.name == "equivalent":
        argv.append(draw(st.sampled_from(["spec.toml", "sp", "mup"])))
    elif command.name == "table" and draw(st.booleans()):
        argv = ["table", "--params", draw(st.sampled_from([spec, f"sp,{spec}"]))]
    return argv + draw(_options(command)), document


# ---- running one invocation ---------------------------------------------------------------------------------


@contextlib.contextmanager
def time_limit(what: object, seconds: float = TIME_LIMIT, wall: float = WALL_LIMIT) -> Iterator[None]:
    """Raise ``TimeLimit`` naming ``what`` if the block uses more than ``seconds`` of CPU time (SIGPROF: a busy
    2-core CI machine does not count against it) or waits more than ``wall`` seconds (SIGALRM: a blocked call)."""

    def fire(signum: int, frame: FrameType | None) -> None:
        kind = "CPU" if signum == signal.SIGPROF else "wall-clock"
        raise TimeLimit(f"still running after {seconds if kind == 'CPU' else wall:g} s of {kind} time: {what!r}")

    handlers = {sig: signal.signal(sig, fire) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, wall)
    cpu, start = time.process_time(), time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    used, waited = time.process_time() - cpu, time.monotonic() - start
    if used > seconds or waited > wall:  # a timer fired into code that swallowed its exception
        raise TimeLimit(f"ran {used:.1f} s of CPU time, {waited:.1f} s in all: {what!r}")


MAX_THREADS = 1024  # torch crashes at its first kernel with ~1e5 threads


def _would_train(*args: Any, **kwargs: Any) -> Any:
    import torch

    assert torch.get_num_threads() <= MAX_THREADS, f"would train with {torch.get_num_threads()} torch threads"
    raise WouldTrain()


def _trained(*args: Any, **kwargs: Any) -> Any:
    raise TrainingRan("a training escaped the patches")


@contextlib.contextmanager
def _inline_executor(workers: int = 1, scheduler: str | None = None, *, threads: int = 1, cluster: bool = False,
                     resources: dict[str, float] | None = None, work_seconds: float | None = None) -> Iterator[Any]:
    """``executor_for`` with its checks but without starting Dask: the trainings would stay in this process."""
    from verify.runs.executors import InlineExecutor, _import_distributed, check_address, uses_cluster

    if workers < 1 or (scheduler is not None and workers > 1):
        with REAL_EXECUTOR_FOR(workers, scheduler, threads=threads):  # its checks refuse before anything starts
            pass
    if uses_cluster(workers, work_seconds) or scheduler is not None:
        _import_distributed()
    if scheduler is not None:
        check_address(scheduler)
    yield InlineExecutor()


TRAINERS = ("verify.width.sweep.train_job", "verify.width.check.train_widths", "verify.lr.sweep.train_lr_job",
            "verify.depth.sweep.run_experiment", "verify.depth.sweep.residual", "verify.catapult.report.sweep_net",
            "verify.elr.report.compare", "verify.elr.report.scan", "verify.usermodel.train.train_module")


@contextlib.contextmanager
def no_training() -> Iterator[None]:
    """Every training entry point raises ``WouldTrain``; a torch optimizer step or backward pass fails the test;
    the machine has ``MACHINE_MEMORY`` bytes."""
    import torch

    threads = torch.get_num_threads()
    with contextlib.ExitStack() as stack:
        for target in TRAINERS:
            stack.enter_context(mock.patch(target, _would_train))
        for module in ("verify.width.check", "verify.lr.sweep", "verify.runs.executors"):
            stack.enter_context(mock.patch(f"{module}.executor_for", _inline_executor))
        # refusals by size do not depend on the machine the test runs on: a 1e8-step request that a large one
        # would accept and run for minutes is refused here as on a small one
        stack.enter_context(mock.patch("verify.memory.machine_memory", lambda: MACHINE_MEMORY))
        stack.enter_context(mock.patch("torch.optim.Optimizer.step", _trained))
        stack.enter_context(mock.patch("torch.autograd.backward", _trained))
        try:
            yield
        finally:
            torch.set_num_threads(threads)  # catapult, elr and depth-sweep set it for the trainings


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Outcome:
    argv: list[str]
    code: int | str  # the exit code, or "train"
    out: str
    err: str
    new: dict[str, bytes] = field(default_factory=dict)  # files created or changed, by relative path


def _named_outputs(argv: list[str]) -> tuple[set[str], set[str]]:
    """The (figures/exports/tables, databases) files the command line names, as paths relative to the folder."""
    outputs: set[str] = set()
    databases: set[str] = set()
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag in OUTPUT_FLAGS:
            outputs.add(os.path.normpath(value) if value.strip() else value)
        elif flag == "--db":
            databases.add(os.path.normpath(value) if value.strip() else value)
    outputs |= {os.path.normpath(a.partition("=")[2]) for a in argv if a.startswith("--plot=")}
    if argv and argv[0] in ("verify", "check", "check-matrix", "lr-sweep", "depth-sweep"):
        databases.add("abcscale.db")
    return outputs, databases


def _complete(path: Path, database: bool) -> str | None:
    """Why ``path`` is not a complete output file (None when it is)."""
    data = path.read_bytes()
    if database:
        from verify.runs.store import Store

        try:
            Store(path).close()
        except Exception as err:  # noqa: BLE001 -- any failure to open is the finding
            return f"results database does not open: {err!r}"
        return None
    if not data:
        return "empty"
    suffix = path.suffix.lower()
    if suffix == ".png" and not data.startswith(PNG):
        return "not a PNG"
    if suffix == ".pdf" and not (data.startswith(b"%PDF") and b"%%EOF" in data[-64:]):
        return "not a complete PDF"
    if suffix == ".svg" and b"</svg>" not in data:
        return "not a complete SVG"
    return None


def invoke(argv: list[str], folder: Path, counter: Counter[str], kind: str) -> Outcome:
    """Run ``main(argv)`` in ``folder`` under the time limit, the training patches and captured output."""
    before = _snapshot(folder)
    out, err = io.StringIO(), io.StringIO()
    code: int | str
    counter[kind] += 1
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with no_training(), time_limit(argv), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            except WouldTrain:
                code = "train"
    finally:
        os.chdir(cwd)
    after = _snapshot(folder)
    counter[f"{kind} {argv[0]} {code}"] += 1
    outcome = Outcome(argv, code, out.getvalue(), err.getvalue(),
                      {name: data for name, data in after.items() if before.get(name) != data})
    _judge(outcome, before, after, folder)
    return outcome


def _judge(o: Outcome, before: dict[str, bytes], after: dict[str, bytes], folder: Path) -> None:
    shown = f"{o.argv!r} -> {o.code!r}\nstdout: {o.out[-2000:]}\nstderr: {o.err[-2000:]}"
    assert "Traceback" not in o.out and "Traceback" not in o.err, shown
    allowed = (0, 1, 2, "train") if o.argv[0] == "equivalent" else (0, 2, "train")
    assert o.code in allowed, shown
    if o.code == 2:
        lines = o.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("abcscale: error:"), shown
        assert after == before, f"a refused invocation changed files {sorted(set(after) ^ set(before))}: {shown}"
        return
    if o.code == 1:
        assert o.err == "", shown
    o.out.encode("utf-8")  # a UTF-8 terminal could print it (a lone surrogate from argv would raise here)
    outputs, databases = _named_outputs(o.argv)
    unexpected = sorted(set(o.new) - outputs - databases)
    assert not unexpected, f"unexpected files {unexpected} (temporary or partial?): {shown}"
    assert set(before) <= set(after), f"files removed: {sorted(set(before) - set(after))}: {shown}"
    if o.code == "train":
        early = sorted(set(o.new) & (outputs - databases))
        assert not early, f"outputs {early} written before the training: {shown}"
    for name in o.new:
        why = _complete(folder / name, name in databases)
        assert why is None, f"{name}: {why}: {shown}"


@contextlib.contextmanager
def work_folder(document: bytes | None = None) -> Iterator[Path]:
    """A fresh folder with a sub-folder, an existing table and the TOML file (spec.toml and spec.txt)."""
    with tempfile.TemporaryDirectory(prefix="abcscale-fuzz-") as name:
        folder = Path(name)
        (folder / "sub").mkdir()
        (folder / "keep.md").write_text("keep me\n")
        if document is not None:
            (folder / "spec.toml").write_bytes(document)
            (folder / "spec.txt").write_bytes(document)
        yield folder


# ---- the Python API -----------------------------------------------------------------------------------------

# small integers stay small: a valid 64-layer solve takes a minute, a 64-step horizon half of one
API_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 9), st.sampled_from([10**8, 10**30, -(10**8)]), st.floats(),
    st.sampled_from(["", "abc", "sp", "8,16", "16,32", "1", "0", "-1/2", "x", "nan", "inf", "cpu", "cuda", "digits",
                     "synthetic", "out.png", "out.csv", "r.db", "sub", ".", "/nonexistent/dir/x.png", "tcp://",
                     "tcp://127.0.0.1:8786", "2*x", "adam", "mse", "tanh", "a\x00b", "\udcff", HUGE_DIGITS]),
    st.lists(st.integers(-2, 64), max_size=3), st.lists(st.text(max_size=3), max_size=2),
    st.sampled_from([(8, 16), {"a": 1}, object(), b"sp", Path("out.png"), Path("spec.toml"), 1j, [[8, 16]]]),
    st.text(max_size=6))
API_SPECS = st.one_of(st.sampled_from([*PRESETS, *DEPTH_PRESETS, "spec.toml", "missing.toml", "abc", "", "sub",
                                       Path("spec.toml"), Path("sp"), None, 3, 2.5, ["sp"], b"sp", object(),
                                       "a\x00b.toml", "\udcff"]),
                      st.builds(lambda name: abcscale.parametrization(name), st.sampled_from(list(PRESETS))),
                      st.text(max_size=6))


API_GOOD_SPECS = st.one_of(st.sampled_from([*PRESETS, *DEPTH_PRESETS, "spec.toml", Path("spec.toml")]),
                           st.builds(lambda name: abcscale.parametrization(name), st.sampled_from(list(PRESETS))))
API_GOOD: dict[str, list[Any]] = {
    "layers": [1, 2, 3], "loss": list(LOSSES), "optimizer": ["sgd", "adam", *OPTIMIZERS],
    "activation": list(ACTIVATIONS), "lr_exponent": ["-1/2", 0, "x", 1, 0.5], "eps_exponent": [None, 1, "1/2"],
    "horizon": [2, 3, 4], "widths": ["8,16", [8, 16], (16, 32)], "seeds": [1, 2], "steps": [1, 2],
    "lr": [0.1, 1], "base_width": [8, 16], "warmup_lr": [None, 0.1], "batch_size": [1, 2], "data": list(DATASETS),
    "predict": ["sp", "mup", None], "tolerance": [0.15], "db": ["r.db", Path("r.db"), "sub/r.db"],
    "export": [None, "out.csv", "out.json"], "plot": [None, "out.png", Path("out.svg")], "workers": [1, 2],
    "scheduler": [None], "device": ["cpu"], "depths": [None, "2,4", [2, 4]], "progress": [False],
    "announce": [None, lambda line: None], "criterion": ["loss", "nonfinite", "activation"], "loss_factor": [1.0],
    "activation_bound": [10.0], "start_lr": [0.1, None], "precision": [1.5], "grid_points": [0, 1],
    "optimal_by": ["loss", "accuracy"]}


def _keywords(function: str) -> list[str]:
    import inspect

    from verify.lr.sweep import lr_sweep
    from verify.width.check import check

    own = {"derive": ["horizon"], "check": list(inspect.signature(check).parameters)[1:],
           "lr_sweep": list(inspect.signature(lr_sweep).parameters)[1:]}.get(function, [])
    return sorted({*abcscale.OVERRIDES, *own, "bogus"} - {"judged"})


API_FUNCTIONS = ("derive", "solve", "equivalent", "parametrization", "check", "verify", "lr_sweep")


@st.composite
def api_calls(draw: st.DrawFn) -> tuple[str, list[Any], dict[str, Any]]:
    function = draw(st.sampled_from(API_FUNCTIONS))
    args = [draw(_api_value(API_GOOD_SPECS, API_SPECS)) for _ in range(2 if function == "equivalent" else 1)]
    names = draw(st.lists(st.sampled_from(_keywords("check" if function == "verify" else function)), unique=True,
                          max_size=4))
    return function, args, {name: draw(_api_value(st.sampled_from(API_GOOD.get(name, [None])), API_VALUES))
                            for name in names}


def _api_value(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A good value two times in three (so that most calls get past the first check), else a wild one."""
    return st.integers(0, 2).flatmap(lambda pick: good if pick < 2 else bad)


def call_api(call: tuple[str, list[Any], dict[str, Any]], document: bytes, counter: Counter[str]) -> None:
    """``abcscale.<function>(*args, **kwargs)`` returns or raises InputError speaking in keywords."""
    function, args, kwargs = call
    counter["api"] += 1
    with work_folder(document) as folder:
        cwd = os.getcwd()
        os.chdir(folder)
        out, err = io.StringIO(), io.StringIO()
        try:
            with no_training(), time_limit(call), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                outcome = "returned"
                try:
                    getattr(abcscale, function)(*args, **kwargs)
                except WouldTrain:
                    outcome = "train"
                except abcscale.InputError as error:
                    outcome = "refused"
                    message = str(error)
                    assert "\n" not in message.strip(), (call, message)
                    assert FLAG.search(message) is None, f"a flag in a Python error: {message!r} from {call!r}"
        finally:
            os.chdir(cwd)
    counter[f"api {function} {outcome}"] += 1


# ---- the tests ----------------------------------------------------------------------------------------------

GOOD_TOML = b'preset = "sp"\nlayers = 2\n[hidden]\nb = "1/2"\n'


# reproducible in CI; no explain phase: its tracing slows the code under the time limit several-fold
SETTINGS: dict[str, Any] = {"deadline": None, "derandomize": True, "database": None,
                            "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
                            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


def _cli_test(examples: int, counter: Counter[str]) -> Callable[[], None]:
    @settings(max_examples=examples, **SETTINGS)
    @given(argv=command_lines(), document=st.one_of(st.just(GOOD_TOML), toml_documents()))
    def run(argv: list[str], document: bytes) -> None:
        with work_folder(document) as folder:
            invoke(argv, folder, counter, "cli")

    return run


def _toml_test(examples: int, counter: Counter[str]) -> Callable[[], None]:
    @settings(max_examples=examples, **SETTINGS)
    @given(case=toml_command_lines())
    def run(case: tuple[list[str], bytes]) -> None:
        argv, document = case
        with work_folder(document) as folder:
            invoke(argv, folder, counter, "toml")

    return run


def _api_test(examples: int, counter: Counter[str]) -> Callable[[], None]:
    @settings(max_examples=examples, **SETTINGS)
    @given(call=api_calls(), document=st.one_of(st.just(GOOD_TOML), toml_documents()))
    def run(call: tuple[str, list[Any], dict[str, Any]], document: bytes) -> None:
        call_api(call, document, counter)

    return run


def test_fuzz_command_line() -> None:
    counter: Counter[str] = Counter()
    _cli_test(FAST["cli"], counter)()
    _toml_test(FAST["toml"], counter)()
    assert counter["cli"] >= FAST["cli"] and counter["toml"] >= FAST["toml"], counter


def test_fuzz_python_api() -> None:
    counter: Counter[str] = Counter()
    _api_test(FAST["api"], counter)()
    assert counter["api"] >= FAST["api"], counter


@pytest.mark.slow
def test_fuzz_command_line_slow() -> None:
    counter: Counter[str] = Counter()
    _cli_test(SLOW["cli"], counter)()
    _toml_test(SLOW["toml"], counter)()
    assert counter["cli"] + counter["toml"] >= 1000, counter


@pytest.mark.slow
def test_fuzz_python_api_slow() -> None:
    counter: Counter[str] = Counter()
    _api_test(SLOW["api"], counter)()
    assert counter["api"] >= SLOW["api"], counter


def test_every_option_has_values_a_user_could_mean() -> None:
    """A new option gets good values here (or choices in the parser), or the fuzz would mostly refuse it."""
    missing = sorted({f"{c.name} {o.flag}" for c in COMMANDS.values() for o in c.options
                      if o.takes_value and o.choices is None and o.dest not in GOOD})
    assert not missing, missing


def test_the_patches_stop_every_trainer(tmp_path: Path) -> None:
    """The patched names are the ones the commands look up: each of these command lines reaches a trainer."""
    counter: Counter[str] = Counter()
    lines = [["verify", "sp", "--widths", "8,16", "--seeds", "1", "--steps", "1"],
             ["check", "mup", "--widths", "8,16", "--seeds", "1", "--steps", "1", "--workers", "2"],
             ["check", "depth-mup", "--depths", "2,4", "--widths", "16", "--seeds", "1"],
             ["check-matrix", "--presets", "sp", "--optimizers", "sgd", "--losses", "ce", "--activations", "relu",
              "--widths", "8,16", "--seeds", "1"],
             ["lr-sweep", "sp", "--widths", "8,16", "--seeds", "1", "--steps", "1", "--base-width", "8"],
             ["lr-sweep", "gpt-mup", "--optimizer", "adam", "--widths", "8,16", "--seeds", "1", "--steps", "1"],
             ["depth-sweep", "residual", "--depths", "2,4", "--widths", "16", "--seeds", "2"],
             ["catapult", "mlp", "--width", "8", "--samples", "8", "--steps", "2"],
             ["elr", "--train", "--depth", "2", "--steps", "2", "--seeds", "0"],
             ["elr", "--scan", "--depth", "2", "--seeds", "0"],
             ["verify", "--module", f"{ROOT / 'docs' / 'examples' / 'nanogpt_mup.py'}:build", "--widths", "64,128"]]
    for argv in lines:
        with work_folder(GOOD_TOML) as folder:
            assert invoke(argv, folder, counter, "cli").code == "train", argv


def test_the_judge_catches_what_it_guards(tmp_path: Path) -> None:
    """The checks fail on a traceback, a second error line, a file left by a refused run and a broken figure."""
    shown = Outcome(["derive", "sp"], 2, "", "abcscale: error: a\nmore\n")
    with pytest.raises(AssertionError):
        _judge(shown, {}, {}, tmp_path)
    with pytest.raises(AssertionError):
        _judge(Outcome(["derive", "sp"], 1, "", "Traceback (most recent call last):\n"), {}, {}, tmp_path)
    with pytest.raises(AssertionError):
        _judge(Outcome(["table", "sp"], 2, "", "abcscale: error: x\n"), {}, {"t.md": b"x"}, tmp_path)
    (tmp_path / "out.png").write_bytes(b"half")
    with pytest.raises(AssertionError, match="not a PNG"):
        _judge(Outcome(["catapult", "uv", "--plot", "out.png"], 0, "", "", {"out.png": b"half"}), {},
               {"out.png": b"half"}, tmp_path)
    with pytest.raises(AssertionError, match="unexpected files"):
        _judge(Outcome(["table", "sp"], 0, "", "", {".t.md.1.ab.md": b""}), {}, {".t.md.1.ab.md": b""}, tmp_path)
    (tmp_path / "r.db").write_bytes(b"not sqlite at all, longer than a header" * 4)
    with pytest.raises(AssertionError, match="does not open"):
        _judge(Outcome(["verify", "sp", "--db", "r.db"], "train", "", "", {"r.db": b"x"}), {}, {"r.db": b"x"},
               tmp_path)
    with pytest.raises(TimeLimit, match="CPU"), time_limit("busy", 0.2):
        while True:
            pass
    with pytest.raises(TimeLimit, match="wall-clock"), time_limit("blocked", 5, wall=0.2):
        time.sleep(2)
