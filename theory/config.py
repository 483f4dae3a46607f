"""Load parametrizations from TOML files or preset names, with errors that name the file and field.

Format (all keys optional except the exponents)::

    name = "my-net"
    preset = "sp"              # start from a preset, then override
    layers = 3                 # hidden layers L (L+1 weight matrices)
    activation = "relu"        # relu, linear, tanh, gelu, sigmoid
    loss = "ce"                # ce, mse
    optimizer = "sgd"          # or a table: [optimizer] name = "adam", eps_exponent = "1"
    lr_exponent = "-1/2"       # global X: layer l trains with eta * n^X * n^-c_l
    alignment = "tp"           # tp (Tensor Programs, default), full, none (Everett et al.)
    warmup_c = [[-2, -3, -3, -2]]  # per-layer c of the first update(s), then c (IP-LLR style)

    # either per-layer lists of length L+1 ...
    a = [0, 0, 0, 0]
    b = [0, "1/2", "1/2", "1/2"]
    c = [0, 0, 0, 0]
    # ... or role-based tables
    [input]
    a = 0
    b = 0
    c = 0
    [hidden]
    b = "1/2"
    [output]
    b = "1/2"
    alignment = "full"

    [optimizer]                # the table form of `optimizer`
    name = "muon"
    momentum = 0.9             # sgd and muon
    muon_scale = "jordan"      # muon: jordan, spectral or none

``load_toml`` reads the file once and hands each section to its own function below.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

from theory.errors import InputError
from theory.exponents import Exponent, parse_exponent
from theory.parametrization import (
    ALIGNMENTS,
    Layer,
    Optimizer,
    Parametrization,
    check_choice,
    role_of,
)
from theory.presets import MAX_HIDDEN_LAYERS, PRESETS, get_preset
from theory.transformer import GPT_PRESETS, get_gpt_preset
from theory.transformer_config import is_transformer, load_transformer

TOP_KEYS = frozenset({"name", "preset", "layers", "activation", "loss", "optimizer", "lr_exponent", "alignment",
                      "a", "b", "c", "zero_init", "input", "hidden", "output", "source", "description",
                      "warmup_c"})
ROLE_KEYS = frozenset({"a", "b", "c", "alignment", "zero_init", "eps_exponent"})
OPTIMIZER_KEYS = frozenset({"name", "eps_exponent", "momentum", "muon_scale"})
DEFAULT_HIDDEN_LAYERS = 3


@dataclass(frozen=True)
class _Source:
    """The file being read: its parsed table and how errors name its fields."""

    path: Path
    data: dict[str, Any]

    def field(self, key: str) -> str:
        return f"{self.path.name}: {key}"

    def fail(self, key: str, why: str) -> InputError:
        return InputError(f"{self.field(key)}: {why}")


def load_toml(path: str | Path, *, layers: int | None = None, optimizer: str | None = None,
              loss: str | None = None, activation: str | None = None) -> Parametrization:
    """Parametrization from a TOML file; keyword arguments (from the CLI) override the file."""
    if not isinstance(path, str | os.PathLike):
        raise InputError(f"{path!r}: expected the path of a TOML file")
    src = _read(Path(path))
    opt = _optimizer(src, optimizer)
    if is_transformer(src.data):
        return load_transformer(src.data, src.path.name, opt, blocks=layers, loss=loss, activation=activation)
    labels = _labels(src)
    act = labels.get("activation", "relu") if activation is None else activation
    loss_name = labels.get("loss", "ce") if loss is None else loss
    lists = _exponent_lists(src)
    n_hidden = _hidden_layers(src, lists, layers)
    preset_name = labels.get("preset")
    base: Parametrization | None = None
    if preset_name is not None:
        base = get_preset(preset_name, layers=n_hidden, optimizer=opt, loss=loss_name, activation=act)
        base_layers = list(base.layers)
    else:
        if not lists and not any(role in src.data for role in ("input", "hidden", "output")):
            raise InputError(f"{src.path.name}: give a preset, per-layer lists a/b/c, or [input]/[hidden]/[output]")
        # role tables may give only some exponents; the others default to 0
        base_layers = [Layer(index=i + 1, role=role_of(i + 1, n_hidden + 1), a=parse_exponent(0),
                             b=parse_exponent(0), c=parse_exponent(0)) for i in range(n_hidden + 1)]
    out = _layers(src, base_layers, lists, inherit_alignment=preset_name is not None)
    warmup = _warmup(src, len(out))
    if base is not None and "warmup_c" not in src.data:
        warmup = base.warmup
    return Parametrization(name=labels.get("name", src.path.stem), layers=tuple(out), activation=act,
                           loss=loss_name, optimizer=opt,
                           lr_exponent=parse_exponent(src.data.get("lr_exponent", 0), src.field("lr_exponent"),
                                                       symbol=True),
                           source=labels.get("source", f"file {src.path.name}"), warmup=warmup)


def _read(path: Path) -> _Source:
    """The file's TOML table, with unknown top-level keys refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except ValueError:  # a NUL character: no file has such a name
        raise InputError(f"{str(path)!r}: a file name cannot hold a NUL character") from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path.name}: malformed TOML: {err}") from None
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown and not is_transformer(data):
        raise InputError(f"{path.name}: {unknown[0]}: unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    return _Source(path, data)


def _labels(src: _Source) -> dict[str, str]:
    """The string-valued keys (activation, loss, name, preset, source), type-checked."""
    out: dict[str, str] = {}
    for key in ("activation", "loss", "name", "preset", "source"):
        if key in src.data:
            if not isinstance(src.data[key], str):
                raise src.fail(key, f"expected a string, got {src.data[key]!r}")
            out[key] = src.data[key]
    return out


def _optimizer(src: _Source, override: str | None) -> Optimizer:
    """``optimizer = "adam"`` or an ``[optimizer]`` table; a command-line name replaces the file's name."""
    value = src.data.get("optimizer", "sgd")
    settings: dict[str, Any] = {}
    if isinstance(value, dict):
        extra = sorted(set(value) - OPTIMIZER_KEYS)
        if extra:
            raise src.fail(f"optimizer.{extra[0]}", f"unknown key (known: {', '.join(sorted(OPTIMIZER_KEYS))})")
        name = value.get("name", "sgd")
        if "eps_exponent" in value:
            settings["eps_exponent"] = parse_exponent(value["eps_exponent"], src.field("optimizer.eps_exponent"))
        if "momentum" in value:
            settings["momentum"] = value["momentum"]
        if "muon_scale" in value:
            settings["muon_scale"] = value["muon_scale"]
    else:
        name = value
    if override is not None:
        name = override
    if not isinstance(name, str):
        raise src.fail("optimizer", "expected a name like 'sgd'")
    try:
        return Optimizer(name, **settings)
    except InputError as err:
        raise InputError(f"{src.path.name}: {err}") from None


def _exponent_lists(src: _Source) -> dict[str, list[Any]]:
    """The per-layer lists a, b, c present in the file (all of one length)."""
    lists: dict[str, list[Any]] = {k: src.data[k] for k in ("a", "b", "c") if k in src.data}
    for key, value in lists.items():
        if not isinstance(value, list):
            raise src.fail(key, "expected a list with one exponent per layer")
    if len({len(v) for v in lists.values()}) > 1:
        raise InputError(f"{src.path.name}: a, b, c lists have different lengths "
                         f"{sorted({len(v) for v in lists.values()})}")
    return lists


def _hidden_layers(src: _Source, lists: dict[str, list[Any]], override: int | None) -> int:
    """L from ``layers``, the lists' length and the command line, which must agree."""
    n_hidden = src.data.get("layers")
    if n_hidden is not None and (not isinstance(n_hidden, int) or isinstance(n_hidden, bool) or n_hidden < 1):
        raise src.fail("layers", f"expected a positive integer, got {n_hidden!r}")
    if lists:
        list_hidden = len(next(iter(lists.values()))) - 1
        if list_hidden < 1:
            raise src.fail("a", "need at least 2 layers (input and output)")
        if n_hidden is not None and n_hidden != list_hidden:
            raise src.fail("layers", f"says {n_hidden} hidden layers but the lists give {list_hidden}")
        n_hidden = list_hidden
    if override is not None:
        if lists and override != n_hidden:
            raise InputError(f"--layers {override}: {src.path.name} defines {n_hidden} hidden layers")
        if not isinstance(override, int) or isinstance(override, bool) or not 1 <= override <= MAX_HIDDEN_LAYERS:
            raise InputError(f"--layers: need 1 to {MAX_HIDDEN_LAYERS} hidden layers, got {override!r}")
        n_hidden = override
    if n_hidden is not None and n_hidden > MAX_HIDDEN_LAYERS:  # building the layers alone would take minutes
        raise src.fail("layers", f"{n_hidden} hidden layers is more than the engine supports ({MAX_HIDDEN_LAYERS})")
    return DEFAULT_HIDDEN_LAYERS if n_hidden is None else int(n_hidden)


def _per_layer(src: _Source, key: str, default: Any, count: int) -> list[Any]:
    """A top-level value given once for every layer or as a list of ``count`` entries."""
    value = src.data.get(key, default)
    if isinstance(value, list):
        if len(value) != count:
            raise src.fail(key, f"expected {count} entries")
        return value
    return [value] * count


def _layers(src: _Source, base: list[Layer], lists: dict[str, list[Any]], *, inherit_alignment: bool
            ) -> list[Layer]:
    """The base layers with the file's lists, alignment, zero_init and role tables applied."""
    count = len(base)
    aligns = [check_choice(f"{src.path.name}: alignment", str(x), ALIGNMENTS)
              for x in _per_layer(src, "alignment", "tp", count)]
    zero = src.data.get("zero_init", [False] * count)
    if not isinstance(zero, list) or len(zero) != count or not all(isinstance(z, bool) for z in zero):
        raise src.fail("zero_init", f"expected {count} booleans")
    out: list[Layer] = []
    for i, layer in enumerate(base):
        changes: dict[str, Any] = {
            "alignment": aligns[i] if "alignment" in src.data or not inherit_alignment else layer.alignment,
            "zero_init": zero[i] or layer.zero_init}
        for key, values in lists.items():
            changes[key] = parse_exponent(values[i], src.field(f"{key}[{i + 1}]"))
        changes.update(_role_table(src, layer.role))
        out.append(replace(layer, **changes))
    return out


def _role_table(src: _Source, role: str) -> dict[str, Any]:
    """The changes an ``[input]`` / ``[hidden]`` / ``[output]`` table makes to the layers of its role."""
    table = src.data.get(role)
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise src.fail(role, f"expected a table like [{role}]")
    bad = sorted(set(table) - ROLE_KEYS)
    if bad:
        raise src.fail(f"{role}.{bad[0]}", f"unknown key (known: {', '.join(sorted(ROLE_KEYS))})")
    changes: dict[str, Any] = {key: parse_exponent(table[key], src.field(f"{role}.{key}"))
                               for key in ("a", "b", "c", "eps_exponent") if key in table}
    if "alignment" in table:
        changes["alignment"] = check_choice(f"{src.path.name}: {role}.alignment", str(table["alignment"]),
                                            ALIGNMENTS)
    if "zero_init" in table:
        if not isinstance(table["zero_init"], bool):
            raise src.fail(f"{role}.zero_init", "expected true or false")
        changes["zero_init"] = table["zero_init"]
    return changes


def _warmup(src: _Source, count: int) -> tuple[tuple[Exponent, ...], ...]:
    """``warmup_c``: one list of ``count`` per-layer exponents per warm-up update."""
    data = src.data.get("warmup_c", [])
    if not isinstance(data, list) or not all(isinstance(cs, list) and len(cs) == count for cs in data):
        raise src.fail("warmup_c", f"expected a list of per-layer lists with {count} exponents each (one list "
                                   "per warm-up update)")
    return tuple(tuple(parse_exponent(v, src.field(f"warmup_c[{s + 1}][{i + 1}]")) for i, v in enumerate(cs))
                 for s, cs in enumerate(data))


def resolve(spec: str | PathLike[str], *, layers: int | None = None, optimizer: str | None = None,
            loss: str | None = None, activation: str | None = None, lr_exponent: object | None = None,
            eps_exponent: object | None = None) -> Parametrization:
    """A preset name or a TOML path, with command-line overrides applied."""
    if isinstance(spec, PathLike):
        spec = str(Path(spec))
    if not isinstance(spec, str):
        raise InputError(f"spec: expected a preset name or a TOML path, got {type(spec).__name__}")
    if spec.endswith(".toml") or _is_file(spec):
        param = load_toml(spec, layers=layers, optimizer=optimizer, loss=loss, activation=activation)
    elif spec in PRESETS:
        param = get_preset(spec, layers=DEFAULT_HIDDEN_LAYERS if layers is None else layers,
                           optimizer="sgd" if optimizer is None else optimizer, loss="ce" if loss is None else loss,
                           activation="relu" if activation is None else activation)
    elif spec in GPT_PRESETS:
        param = get_gpt_preset(spec, blocks=layers, optimizer="sgd" if optimizer is None else optimizer,
                               loss="ce" if loss is None else loss,
                               activation="gelu" if activation is None else activation)
    else:
        from theory.parametrization import suggest

        raise InputError(f"unknown preset {spec!r}{suggest(spec, (*PRESETS, *GPT_PRESETS))}")
    if lr_exponent is not None:
        param = param.with_(lr_exponent=lr_exponent)
    if eps_exponent is not None:
        param = param.with_(optimizer=replace(param.optimizer,
                                              eps_exponent=parse_exponent(eps_exponent, "--eps-exponent")))
    return param


def _is_file(spec: str) -> bool:
    """Whether ``spec`` names an existing file (a name too long for the file system is not one)."""
    try:
        return Path(spec).is_file()
    except OSError:
        return False
