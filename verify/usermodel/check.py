"""``abcscale verify --module FILE.py:FACTORY``: infer, match, train, judge a user's own GPT.

The inferred parametrization is printed as a table, then matched against the GPT presets up to the abc
symmetry (``verify.usermodel.match``); the target (``predict``, else the matching or nearest preset, laid on
the user's architecture) gives the engine's predictions, and the user's model trained at the widths gives the
measured slopes, judged by ``verify.width.verdict`` as ``abcscale check`` does, with the user's parameter names.
The result fails when the model does not implement the target or when a row fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from theory.errors import InputError
from theory.exponents import format_exponent
from theory.terminal import strict_json, text_table
from verify.data import SEQ_LEN
from verify.usermodel.infer import Inference, infer
from verify.usermodel.load import build, load_factory
from verify.usermodel.match import Match, match
from verify.width.check import GPT_SEEDS, GPT_WIDTHS
from verify.width.train import TrainSettings
from verify.width.verdict import DEFAULT_TOLERANCE, Row, format_table, summary, value_table

DEFAULT_WIDTHS = GPT_WIDTHS  # as abcscale check on a transformer: 128..1024 (why: docs/transformers.md)
DEFAULT_SEEDS = GPT_SEEDS
DEFAULT_STEPS = 3
BATCH_SIZE = 4  # sequences per update, as the built-in GPT check
PROBE_SIZE = 8  # probe sequences
MAX_WIDTH = 8192


@dataclass
class ModuleResult:
    """Inference, match and (when trained) the verdict rows."""

    spec: str
    inference: Inference
    match: Match
    widths: list[int]
    seeds: int
    steps: int
    tolerance: float
    rows: list[Row] = field(default_factory=list)
    diverged: dict[tuple[int, int], int] = field(default_factory=dict)
    trained: bool = False

    @property
    def passed(self) -> bool:
        return self.match.matches and not any(r.verdict == "FAIL" for r in self.rows)

    def inferred_table(self) -> str:
        header = ["parameter", "shape", "role", "a", "b", "c", "eps", "wd"]
        cells = []
        for r in self.inference.rows:
            eps = "-" if r.eps is None else f"{r.eps:g}" + ("" if r.eps_exponent is None else
                                                              f" n^{format_exponent(-r.eps_exponent)}")
            wd = f"{r.wd:g}" + ("" if r.wd_exponent is None else f" n^{format_exponent(-r.wd_exponent)}")
            b = "zero" if r.zero_init else format_exponent(r.b)
            cells.append([r.name, r.shape, r.role, format_exponent(r.a), b, format_exponent(r.c), eps, wd])
        return text_table(header, cells)

    def architecture(self) -> str:
        p = self.inference.param
        net = p.network
        assert net is not None
        return (f"{net.blocks} blocks, {net.heads} heads, attention d_head^-{format_exponent(net.attention_exponent)}, "
                f"{net.norm}{' with gains' if net.norm_gains else ' without gains'}, "
                f"{'tied' if net.tied else 'untied'} readout, {p.activation} MLP, {p.optimizer.name}")

    def match_lines(self) -> list[str]:
        """Which preset it implements, or how it differs from the nearest (then from the others)."""
        m = self.match
        if m.matches:
            return [f"implements {m.preset} (up to the abc symmetry)"]
        first = f"does not implement {m.preset} (--predict), which differs in:" if m.forced else \
            f"does not implement any preset; nearest {m.preset}, which differs in:"
        lines = [first,
                 *(f"  {d}" for d in m.differences)]
        for name, diff in m.others:
            lines += [f"{name} differs in:", *(f"  {d}" for d in diff)]
        return lines

    def table(self) -> str:
        lines = [f"{Path(self.spec).name}: inferred at widths {','.join(map(str, self.inference.widths))} "
                 "(std ~ n^-b, multiplier ~ n^-a, LR ~ n^-c)", self.inferred_table(), self.architecture()]
        flags = [f"  {r.name}: {flag}" for r in self.inference.rows for flag in r.flags]
        if flags:
            lines += ["flagged (far from a multiple of 1/4):", *flags]
        lines += self.match_lines()
        if self.trained:
            lines.append(f"judged against {self.match.preset}: widths {','.join(map(str, self.widths))}; "
                         f"{self.seeds} seeds; {self.steps} steps; tolerance +-{self.tolerance:g}")
            lines.append(format_table(self.rows))
            for (width, seed), step in sorted(self.diverged.items()):
                lines.append(f"diverged: width {width} seed {seed} at step {step}")
            counts = summary(self.rows)
            lines.append(f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.spec, "widths": self.widths,
                "inferred": [{"parameter": r.name, "shape": r.shape, "role": r.role, "a": format_exponent(r.a),
                              "b": format_exponent(r.b), "c": format_exponent(r.c), "zero_init": r.zero_init,
                              "eps": r.eps, "eps_exponent": None if r.eps_exponent is None else
                              format_exponent(r.eps_exponent), "wd": r.wd,
                              "wd_exponent": None if r.wd_exponent is None else format_exponent(r.wd_exponent),
                              "flags": list(r.flags)} for r in self.inference.rows],
                "architecture": self.inference.param.network.to_dict() if self.inference.param.network else None,
                "activation": self.inference.param.activation, "optimizer": self.inference.param.optimizer.name,
                "preset": self.match.preset, "matches": self.match.matches,
                "differences": list(self.match.differences),
                "other_presets": {name: list(diff) for name, diff in self.match.others}, "passed": self.passed,
                "summary": summary(self.rows), "rows": [r.to_dict() for r in self.rows],
                "diverged": [{"width": w, "seed": s, "step": t} for (w, s), t in sorted(self.diverged.items())]}

    def to_json(self) -> str:
        return strict_json(self.to_dict(), indent=1)


def parse_widths(text: str | Sequence[int] | None) -> list[int]:
    if text is None:
        return list(DEFAULT_WIDTHS)
    try:
        widths = [int(w) for w in (text.split(",") if isinstance(text, str) else text)]
    except (TypeError, ValueError):
        raise InputError(f"--widths {text!r}: expected comma-separated integers") from None
    if len(widths) < 2 or widths != sorted(set(widths)) or widths[0] < 1 or widths[-1] > MAX_WIDTH:
        raise InputError(f"--widths {text!r}: need at least two increasing widths in 1..{MAX_WIDTH}")
    return widths


def verify_module(spec: str, *, widths: str | Sequence[int] | None = None, seeds: int | None = None,
                  steps: int | None = None, predict: str | None = None, optimizer: str | None = None,
                  lr: float | None = None, tolerance: float | None = None, batch_size: int | None = None,
                  train: bool = True) -> ModuleResult:
    """Infer the parametrization of FACTORY's model, match it and (``train``) check it across the widths."""
    width_list = parse_widths(widths)
    seeds = DEFAULT_SEEDS if seeds is None else seeds
    steps = DEFAULT_STEPS if steps is None else steps
    for flag, value, low, high in (("--seeds", seeds, 1, 64), ("--steps", steps, 1, 100),
                                   ("--batch-size", batch_size or BATCH_SIZE, 1, 256)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError(f"{flag} {value!r}: need an integer in {low}..{high}")
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if not 0 < tol < 10:
        raise InputError(f"--tolerance {tolerance!r}: need a number in (0, 10)")
    factory = load_factory(spec)
    inference = infer([build(factory, w, optimizer=optimizer, lr=lr) for w in width_list])
    found = match(inference, predict)
    result = ModuleResult(spec, inference, found, width_list, seeds, steps, tol)
    if not train:
        return result
    from theory.engine import derive
    from verify.usermodel.train import train_module
    from verify.width.points import judge_check

    settings = TrainSettings(steps=steps, batch_size=batch_size or BATCH_SIZE, probe_size=PROBE_SIZE,
                             base_width=width_list[0], data="pydoc", seq_len=SEQ_LEN)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one small model at a time: measured 5.7 s CPU with 1 thread, 28.8 s with 2 (2 seeds)
    try:
        measured = train_module(factory, inference, width_list, list(range(seeds)), settings, optimizer=optimizer,
                                lr=lr)
    finally:
        torch.set_num_threads(threads)
    values = value_table(measured.records, width_list, list(range(seeds)))
    report = derive(found.target)
    rows = judge_check(report, found.target, values, width_list, steps, tol)
    labels = inference.labels()
    result.rows = [replace(r, name=labels.get(r.name, r.name)) for r in rows]
    result.diverged, result.trained = measured.diverged, True
    return result

