"""A transformer described in a few TOML lines, read with the same one-line errors as an MLP's file.

Format (``theory.config`` hands a file here when it has a ``[transformer]`` table or a GPT preset)::

    name = "my-gpt"
    preset = "gpt-mup"          # optional: start from a GPT preset's exponents, then override
    optimizer = "adam"          # sgd, adam, adamw, signsgd, adafactor, muon (or an [optimizer] table)
    loss = "ce"
    activation = "gelu"
    lr_exponent = "0"
    zero_init = ["query", "readout"]   # tensor names or kinds (embedding, position, query, key, value,
                                       # attn_out, mlp_up, mlp_down, gain, readout)

    [transformer]
    blocks = 4
    heads = "fixed-count"       # fixed-count (d_head grows like n) or fixed-dim (the number of heads grows)
    attention_exponent = 1      # logits q.k / d_head^alpha
    norm = "layernorm"          # layernorm, rmsnorm, none
    norm_gains = true           # trainable gains
    tied = false                # the readout reuses the token embedding
    readout_multiplier = 0      # a tied readout's extra multiplier n^-m
    depth_alpha = 1             # branches scaled by L^-alpha: exponents in n and L (derive only)
    depth_c = { query = 0, key = 0 }   # per kind: learning rate ~ L^-c (and depth_eps: Adam epsilon ~ L^-e)

    # exponents per role (input: embeddings; vector: norm gains; hidden: Q, K, V, O, MLP; output: readout)
    [hidden]
    a = 0
    b = "1/2"
    c = 1
    wd_exponent = -1            # adamw: lambda = lambda0 n^-wd

    # and per tensor, by name
    [tensors."h0.attn.q"]
    c = "1/2"
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from theory.errors import InputError
from theory.exponents import parse_exponent
from theory.parametrization import Parametrization
from theory.transformer import GPT, GPT_PRESETS, KIND_ROLES, KINDS, gpt_parametrization

TOP_KEYS = frozenset({"name", "preset", "optimizer", "loss", "activation", "lr_exponent", "zero_init", "transformer",
                      "input", "hidden", "output", "vector", "tensors", "source", "description"})
ROLE_TABLES = ("input", "hidden", "output", "vector")
EXPONENT_KEYS = ("a", "b", "c", "eps_exponent", "wd_exponent")
ARCH_KEYS = tuple(f.name for f in fields(GPT))


def is_transformer(data: dict[str, Any]) -> bool:
    """Whether a TOML document describes a transformer."""
    return "transformer" in data or data.get("preset") in GPT_PRESETS


def load_transformer(data: dict[str, Any], where: str, optimizer: Any, *, blocks: int | None = None,
                     loss: str | None = None, activation: str | None = None) -> Parametrization:
    """The transformer ``data`` (a parsed TOML document from file ``where``) describes.

    ``optimizer``: the Optimizer already read from the file (with the command line's override); ``blocks``,
    ``loss`` and ``activation``: command-line overrides."""
    def fail(field: str, message: str) -> InputError:
        return InputError(f"{where}: {field}: {message}")

    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key for a transformer (known: {', '.join(sorted(TOP_KEYS))})")
    preset_name = data.get("preset")
    if preset_name is not None and preset_name not in GPT_PRESETS:
        raise fail("preset", f"a transformer starts from a GPT preset ({', '.join(GPT_PRESETS)}), "
                             f"got {preset_name!r}")
    preset = GPT_PRESETS[preset_name] if preset_name is not None else None
    arch_table = data.get("transformer", {})
    if not isinstance(arch_table, dict):
        raise fail("transformer", "expected a table like [transformer]")
    bad = sorted(set(arch_table) - set(ARCH_KEYS))
    if bad:
        raise fail(f"transformer.{bad[0]}", f"unknown key (known: {', '.join(ARCH_KEYS)})")
    try:
        arch = replace(preset.arch if preset is not None else GPT(), **arch_table)
        if blocks is not None:
            arch = replace(arch, blocks=blocks)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    except TypeError as err:
        raise fail("transformer", str(err)) from None

    abc: dict[str, list[object]] = {kind: [None, None, None] for kind in KINDS}
    if preset is not None:
        for kind, values in preset.abc(optimizer.name).items():
            abc[kind] = list(values)
    wd: dict[str, object] = {}
    eps: dict[str, object] = {}
    for role in ROLE_TABLES:
        table = data.get(role)
        if table is None:
            continue
        if not isinstance(table, dict):
            raise fail(role, f"expected a table like [{role}]")
        bad = sorted(set(table) - set(EXPONENT_KEYS))
        if bad:
            raise fail(f"{role}.{bad[0]}", f"unknown key (known: {', '.join(EXPONENT_KEYS)})")
        for kind in (k for k in KINDS if KIND_ROLES[k] == role):
            for position, key in enumerate("abc"):
                if key in table:
                    abc[kind][position] = parse_exponent(table[key], f"{where}: {role}.{key}")
            if "wd_exponent" in table:
                wd[kind] = parse_exponent(table["wd_exponent"], f"{where}: {role}.wd_exponent")
            if "eps_exponent" in table:
                eps[kind] = parse_exponent(table["eps_exponent"], f"{where}: {role}.eps_exponent")
    if arch.tied and "output" in data:
        raise fail("output", "a tied readout is the token embedding (role input): it has no exponents of its "
                             "own; set [input] and transformer.readout_multiplier")
    needed = {t.kind for t in arch.tensors()}
    for kind in sorted(needed):
        missing = [key for key, value in zip("abc", abc[kind], strict=True) if value is None]
        if missing:
            role = KIND_ROLES[kind]
            raise fail(f"{role}.{missing[0]}", f"no exponent for the {role} tensors ({kind}): give [{role}] "
                                               f"{', '.join(missing)} or a preset")

    tensors = data.get("tensors", {})
    if not isinstance(tensors, dict) or not all(isinstance(v, dict) for v in tensors.values()):
        raise fail("tensors", 'expected tables like [tensors."h0.attn.q"]')
    overrides: dict[str, dict[str, object]] = {}
    for name, table in tensors.items():
        bad = sorted(set(table) - set(EXPONENT_KEYS) - {"zero_init"})
        if bad:
            raise fail(f"tensors.{name}.{bad[0]}", f"unknown key (known: {', '.join(EXPONENT_KEYS)}, zero_init)")
        overrides[name] = {k: parse_exponent(v, f"{where}: tensors.{name}.{k}") for k, v in table.items()
                           if k != "zero_init"}
    zero = data.get("zero_init", [])
    if not isinstance(zero, list) or not all(isinstance(z, str) for z in zero):
        raise fail("zero_init", "expected a list of tensor names or kinds, like [\"query\", \"readout\"]")
    zero += [name for name, table in tensors.items() if table.get("zero_init") is True]
    names = {t.name for t in arch.tensors()}
    for tensor in arch.tensors():
        extra: dict[str, object] = {}
        if tensor.kind in eps and "eps_exponent" not in overrides.get(tensor.name, {}):
            extra["eps_exponent"] = eps[tensor.kind]
        if extra:
            overrides.setdefault(tensor.name, {}).update(extra)
    for name in overrides:
        if name not in names:
            raise fail(f"tensors.{name}", f"no such tensor in this transformer (e.g. {', '.join(sorted(names)[:4])})")
    try:
        return gpt_parametrization(
            arch, {k: (v[0], v[1], v[2]) for k, v in abc.items() if k in needed},
            name=str(data.get("name", preset_name or "custom-gpt")), source=str(data.get("source", "")),
            optimizer=optimizer, loss=str(data.get("loss", "ce")) if loss is None else loss,
            activation=str(data.get("activation", "gelu")) if activation is None else activation,
            lr_exponent=data.get("lr_exponent", 0), zero_init=tuple(zero), overrides=overrides, wd=wd or None)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
