"""Validation of the options the commands share, for the CLI and the Python API alike.

Each check raises ``theory.errors.InputError`` with one line naming the option as the command line spells it
(``--widths``; the Python API rewrites it to the keyword, ``theory.errors.python_terms``), before anything is
trained or written.
Torch-free: the command line imports nothing heavy until an option has passed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from theory.errors import InputError
from theory.outputs import check_writable
from theory.parametrization import Parametrization

Ints = str | Sequence[int]  # "128,256" as the command line takes it, or a list of integers
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
EXPORT_SUFFIXES = (".csv", ".json")


def parse_ints(value: Ints, option: str, minimum: int, example: str) -> list[int]:
    """Sorted distinct integers from "a,b,c" or a sequence; at least 2 of them, each >= ``minimum``."""
    try:
        text = value if isinstance(value, str) else ",".join(str(v) for v in value)
    except TypeError:  # a single number from Python
        raise InputError(f"{option} {value!r}: expected a list of integers or a string like {example}") from None
    try:
        numbers = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InputError(f"{option} {text!r}: expected comma-separated integers like {example}") from None
    if len(numbers) < 2 or numbers[0] < minimum:
        raise InputError(f"{option} {text!r}: need at least 2 distinct {option.lstrip('-')} >= {minimum}")
    return numbers


def parse_widths(value: Ints) -> list[int]:
    """Widths to fit a slope over: at least 2 distinct, each >= 2."""
    return parse_ints(value, "--widths", 2, "128,256,512")


def at_least(option: str, value: object, low: int) -> int:
    """``value`` if it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{option} {value!r}: must be an integer >= {low}")
    if value < low:
        raise InputError(f"{option} {value}: must be at least {low}")
    return value


def positive(option: str, value: object) -> float:
    """``value`` as a float if it is a finite positive number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise InputError(f"{option} {value}: must be a finite positive number")
    return float(value)


def check_suffix(option: str, path: str | None, suffixes: Sequence[str]) -> None:
    """A file name the writer understands (its format follows from the suffix)."""
    if path is not None and not str(path).strip():
        raise InputError(f"{option} needs a file name (got an empty one)")
    if path is not None and not str(path).endswith(tuple(suffixes)):
        listed = ", ".join(suffixes[:-1]) + " or " + suffixes[-1]
        raise InputError(f"{option} {path}: use a file name ending in {listed}")


def check_text(option: str, value: object) -> str:
    """``value`` if it is a string (a name or an address), else ``InputError``."""
    if not isinstance(value, str):
        raise InputError(f"{option} {value!r}: expected a string")
    return value


def check_output(option: str, path: str | None, suffixes: Sequence[str]) -> None:
    """An output file of a known format that can be written (``theory.outputs.check_writable``), or None."""
    if path is not None:
        check_suffix(option, path, suffixes)
        check_writable(option, path)


def check_distinct_files(*files: tuple[str, str | None]) -> None:
    """No two of the (option, path) files are the same file (one would overwrite the other)."""
    seen: dict[str, str] = {}
    for option, path in files:
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise InputError(f"{option} {path}: the same file as {seen[key]}")
        seen[key] = option


def check_data(name: str, *, transformer: bool | None = None) -> str:
    """A data set the trainers know (``verify.data.DATASETS``); with ``transformer`` given, one that this kind
    of model trains on (sequences for a transformer, rows of features for an MLP)."""
    from verify.data import DATASETS, MLP_DATASETS, SEQUENCE_DATASETS

    if name not in DATASETS:
        from theory.parametrization import suggest

        raise InputError(f"unknown --data {name!r}{suggest(str(name), DATASETS)}")
    if transformer is True and name not in SEQUENCE_DATASETS:
        raise InputError(f"--data {name}: a transformer trains on token sequences ({', '.join(SEQUENCE_DATASETS)})")
    if transformer is False and name not in MLP_DATASETS:
        raise InputError(f"--data {name}: a character corpus for transformers; an MLP trains on "
                         f"{' or '.join(MLP_DATASETS)}")
    return name


POOL_SIZES = {"synthetic": 4096, "digits": 1797 - 64}  # training examples besides the 64-row probe batch


def check_batch(batch_size: int, data: str) -> None:
    """A batch the training pool of ``data`` can fill (a larger one would silently be the whole pool)."""
    pool = POOL_SIZES[data]
    if batch_size > pool:
        raise InputError(f"--batch-size {batch_size}: the {data} training pool has {pool} examples")


def check_scheduler(scheduler: str | None) -> None:
    """A Dask scheduler address of the right shape (connecting is left to the executor)."""
    if scheduler is not None:
        from verify.runs.executors import check_address

        check_address(check_text("--scheduler", scheduler))


def check_path(option: str, path: object) -> str:
    """``path`` (a string or a path object) as a string, else ``InputError``."""
    if not isinstance(path, str | os.PathLike):
        raise InputError(f"{option} {path!r}: expected a file name")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise InputError(f"{option} {path!r}: expected a file name")
    if "\x00" in text:
        raise InputError(f"{option} {text!r}: a file name cannot hold a NUL character")
    return text


def check_callback(option: str, value: object) -> None:
    """``value`` is None or a function (``announce`` is called with the header line before training)."""
    if value is not None and not callable(value):
        raise InputError(f"{option} {value!r}: expected a function taking one line of text, or None")


def parametrization(spec: str | os.PathLike[str] | Parametrization, *, layers: int | None = None,
                    optimizer: str | None = None, loss: str | None = None, activation: str | None = None,
                    lr_exponent: object | None = None, eps_exponent: object | None = None) -> Parametrization:
    """A preset name or TOML path (``theory.config.resolve``), or a Parametrization, with the overrides applied."""
    from theory.config import resolve

    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, str):
        return resolve(spec, layers=layers, optimizer=optimizer, loss=loss, activation=activation,
                       lr_exponent=lr_exponent, eps_exponent=eps_exponent)
    if not isinstance(spec, Parametrization):
        raise InputError(f"spec: expected a preset name, a TOML path or a Parametrization, got {type(spec).__name__}")
    if layers is not None and layers != spec.hidden_layers:
        raise InputError(f"--layers {layers}: {spec.name} has {spec.hidden_layers} hidden layers; give a preset "
                         "name or a TOML path to change the depth")
    changes = {k: v for k, v in (("optimizer", optimizer), ("loss", loss), ("activation", activation),
                                 ("lr_exponent", lr_exponent)) if v is not None}
    param = spec.with_(**changes) if changes else spec
    if eps_exponent is not None:
        from dataclasses import replace

        from theory.exponents import parse_exponent

        param = param.with_(optimizer=replace(param.optimizer,
                                              eps_exponent=parse_exponent(eps_exponent, "--eps-exponent")))
    return param


def trainable(param: Parametrization) -> Parametrization:
    """``param`` if a width check can train it: an MLP with the MLP trainer's optimizers, or a GPT with the GPT
    trainer's (``verify.model.optim``) and cross-entropy (a language model); else one line."""
    from verify.model.optim import GPT_SUPPORTED, SUPPORTED

    supported = SUPPORTED if param.network is None else GPT_SUPPORTED
    kind = "MLP" if param.network is None else "transformer"
    if param.optimizer.name not in supported:
        raise InputError(f"--optimizer {param.optimizer.name}: the torch {kind} trainer supports "
                         f"{', '.join(supported)}")
    if param.network is not None and param.loss != "ce":
        raise InputError(f"--loss {param.loss}: a transformer trains as a character language model, with "
                         "cross-entropy (ce) only")
    return param
