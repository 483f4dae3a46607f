"""Match an inferred GPT parametrization against the GPT presets, up to the abc symmetry.

Both sides are compared in their multiplier-free form (``theory.symmetry.multiplier_free``: a = 0, b and c
shifted along the symmetry), tensor by tensor (init exponent b, LR exponent c, zero init), plus the attention
exponent and head convention.  Adam epsilon and weight decay are shown in the inferred table but not
compared: the presets leave them out.  Each preset is laid on the user's architecture (its blocks, norms,
gains, tying) with its own attention exponent, so the tensors line up one to one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from theory.errors import InputError
from theory.exponents import format_exponent
from theory.parametrization import Parametrization
from theory.symmetry import multiplier_free, shift
from theory.transformer import GPT, GPT_PRESETS, gpt_parametrization
from verify.usermodel.infer import Inference

COMPARED = tuple(name for name, p in GPT_PRESETS.items() if p.depth is None)


@dataclass(frozen=True)
class Match:
    """The preset compared with, whether the model implements it, and how it differs (one line each); when it
    does not match, ``others``: the differences from every other compared preset, nearest first."""

    preset: str
    matches: bool
    differences: tuple[str, ...]
    target: Parametrization  # the preset on the user's architecture, with the user's multipliers
    distance: int = 0  # user parameters (and the attention) that differ
    others: tuple[tuple[str, tuple[str, ...]], ...] = ()
    forced: bool = False  # the target was given (--predict)


def preset_on(name: str, inference: Inference) -> Parametrization:
    """GPT preset ``name`` on the user's architecture (its attention exponent and heads), shifted along the
    symmetry to the user's multipliers a (so weight quantities refer to the user's tensors)."""
    if name not in GPT_PRESETS:
        raise InputError(f"--predict {name!r}: with --module, a GPT preset ({', '.join(COMPARED)})")
    preset, user = GPT_PRESETS[name], inference.param
    assert isinstance(user.network, GPT)
    if preset.depth is not None:
        raise InputError(f"--predict {name!r}: depth presets are not compared across widths")
    arch = replace(user.network, attention_exponent=preset.arch.attention_exponent, heads=preset.arch.heads)
    param = gpt_parametrization(arch, preset.abc(user.optimizer.name), name=name, source=preset.source,
                                optimizer=user.optimizer, activation=user.activation)
    return shift(param, [u.a - p.a for u, p in zip(user.layers, param.layers, strict=True)])


def differences(target: Parametrization, inference: Inference) -> list[str]:
    """One line per user parameter (and the attention) that differs from ``target``, block indices merged."""
    return _merge_blocks(_differences(target, inference))


def _differences(target: Parametrization, inference: Inference) -> list[str]:
    user, name = inference.param, target.name
    assert isinstance(user.network, GPT) and isinstance(target.network, GPT)
    lines: list[str] = []
    if user.network.attention_exponent != target.network.attention_exponent:
        lines.append(f"attention: logits scale d_head^-{format_exponent(user.network.attention_exponent)} where "
                     f"{name} needs d_head^-{format_exponent(target.network.attention_exponent)}")
    if user.network.heads != target.network.heads:
        lines.append(f"attention: {user.network.heads} heads where {name} needs {target.network.heads}")
    labels = inference.labels()
    free_user, free_target = multiplier_free(user), multiplier_free(target)
    what = "" if all(layer.a == 0 for layer in user.layers) else " (multiplier-free)"
    for mine, theirs in zip(free_user.layers, free_target.layers, strict=True):
        param = labels[mine.name].split("[")[0]
        if mine.b != theirs.b:
            lines.append(f"{param}: init std n^{format_exponent(-mine.b)}{what} where {name} needs "
                         f"n^{format_exponent(-theirs.b)}")
        if mine.c != theirs.c:
            lines.append(f"{param}: LR n^{format_exponent(-mine.c)}{what} where {name} needs "
                         f"n^{format_exponent(-theirs.c)}")
        if mine.zero_init != theirs.zero_init:
            lines.append(f"{param}: {'zero' if mine.zero_init else 'random'} init where {name} needs "
                         f"{'zero' if theirs.zero_init else 'random'}")
    return list(dict.fromkeys(lines))


def _merge_blocks(lines: list[str]) -> list[str]:
    """'h.0.x: ...' and 'h.1.x: ...' with the same message -> 'h.{0,1}.x: ...'."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        match = re.search(r"\.(\d+)\.", line.split(":")[0])
        key = line if match is None else line[:match.start()] + ".{}." + line[match.end():]
        groups.setdefault(key, []).append("" if match is None else match.group(1))
    out = []
    for key, blocks in groups.items():
        out.append(key if blocks == [""] else key.replace("{}", blocks[0] if len(blocks) == 1
                                                         else "{" + ",".join(blocks) + "}", 1))
    return out


def match(inference: Inference, predict: str | None = None) -> Match:
    """The preset the model implements, else the nearest one (fewest differing parameters, then the order of
    ``COMPARED``); ``predict`` forces the target.  Differences from the other presets come along."""
    found = []
    for name in COMPARED if predict is None else [predict]:
        target = preset_on(name, inference)
        lines = _differences(target, inference)
        found.append((len({line.split(":")[0] for line in lines}), name, target, tuple(_merge_blocks(lines))))
    if predict is None:
        found.sort(key=lambda item: (item[0], COMPARED.index(item[1])))
    distance, name, target, diff = found[0]
    others = tuple((other, lines) for _, other, _, lines in found[1:]) if diff else ()
    return Match(name, not diff, diff, target, distance, others, predict is not None)
