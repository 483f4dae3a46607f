"""Named parametrizations, as *inputs* to the engine (never as answers).

Each preset gives per-layer (a, b, c) for L hidden layers in the no-multiplier form used by Haas et
al.'s code unless its source uses multipliers.  Paper tables that these presets should *produce*
(regimes, maximal LRs, r) are checked in the tests against the engine, not stored here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy

from theory.errors import InputError
from theory.parametrization import Optimizer, Parametrization, build_layers, suggest

H = Fraction(1, 2)
ABC = tuple[Sequence[object], Sequence[object], Sequence[object]]


@dataclass(frozen=True)
class Constants:
    """Constants (not exponents) of the convention a preset's source trains with.

    Exponents fix how quantities scale with n; these fix the prefactors at the base width, which decide at
    which widths the scaling is reached.  The engine never reads them; the torch side uses them as the
    defaults of a check (each can be overridden: ``--base-width``, ``--lr``, ``--warmup-lr``).
    """

    base_width: int | None = None  # n0, where the multipliers are 1 and the init is He
    lr: float | None = None  # eta0 at n0
    warmup_lr: float | None = None  # eta0 of the warm-up updates (Parametrization.warmup)
    why: str = ""


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    source: str
    abc: Callable[[int, str], ABC]
    warmup: Callable[[int], list[list[object]]] | None = None  # per-layer c of the first updates
    constants: Constants = Constants()


# Hajjar et al.'s code writes W = m^{-a} U with U ~ N(0, 2) and learning rates eta m^{-c}, eta = 0.01: base width
# 1.  At a base width of 128 IP's init has not vanished yet at the widths a CPU check trains (h^2_0 falls only
# like (n/128)^{-1/2}), and a subleading backward path through the readout's update is as large as the leading
# one there (docs/limitations.md).
_IP_CONSTANTS = Constants(base_width=1, lr=0.01, why="Hajjar et al.'s code convention")
# IP-LLR's first step at eta_first = 1 in that convention: the scale at which the first-step exponents are
# Theta(1) at CPU widths (eta_first = 0.01 leaves the step below the initial pre-activations, 8 rows
# pre-asymptotic over 512..4096; docs/limitations.md)
_IP_LLR_CONSTANTS = Constants(base_width=1, lr=0.01, warmup_lr=1.0,
                              why="Hajjar et al.'s code convention; a first step that reaches Theta(1) at CPU widths")


def _sp(L: int, opt: str) -> ABC:
    return [0] * (L + 1), [0] + [H] * L, [0] * (L + 1)


def _ntk(L: int, opt: str) -> ABC:
    return [0] + [H] * L, [0] * (L + 1), [0] * (L + 1)


def _mup(L: int, opt: str) -> ABC:
    b: list[object] = [0, *([H] * (L - 1)), 1]
    if opt == "sgd":
        return [0] * (L + 1), b, [-1] + [0] * (L - 1) + [1]
    if opt in ("adam", "signsgd"):
        return [0] * (L + 1), b, [0] + [1] * L
    raise InputError(f"TP5 gives learning rates for sgd and adam only, not {opt}; "
                     f"run 'abcscale solve mup --optimizer {opt}' to derive them")


def _mfp(L: int, opt: str) -> ABC:
    a: list[object] = [0, *([H] * (L - 1)), 1]
    if opt == "sgd":
        return a, [0] * (L + 1), [-1] * (L + 1)
    if opt in ("adam", "signsgd"):
        return a, [0] * (L + 1), [0] + [H] * (L - 1) + [0]
    raise InputError(f"learning rates are tabulated for sgd and adam only, not {opt}; "
                     f"run 'abcscale solve mfp --optimizer {opt}'")


def _ip(L: int, opt: str) -> ABC:
    if opt != "sgd":
        raise InputError(f"the integrable parametrization is defined for sgd, not {opt}")
    return [0] + [1] * L, [0] * (L + 1), [-1] + [-2] * (L - 1) + [-1]


def _ip_llr_first_step(L: int) -> list[list[object]]:
    """IP-LLR's first update: c = (-(L+1)/2, -(L+2)/2, ..., -(L+2)/2, -(L+1)/2)."""
    edge = Fraction(-(L + 1), 2)
    first: list[object] = [edge, *([Fraction(-(L + 2), 2)] * (L - 1)), edge]
    return [first]


def _sp_full_align(L: int, opt: str) -> ABC:
    b: list[object] = [0] + [H] * L
    if opt == "sgd":
        return [0] * (L + 1), b, [-H] + [H] * (L - 1) + [1]
    if opt in ("adam", "signsgd"):
        return [0] * (L + 1), b, [0] + [1] * L
    raise InputError(f"tabulated for sgd and adam only, not {opt}")


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("sp", "standard parametrization: He/fan-in init, one global learning rate",
           "Haas et al. 2025 (code param.py: b = (0, 1/2, ..., 1/2), c = 0); TP4 Sec. 4", _sp),
    Preset("ntk", "neural tangent parametrization (TP4's NTP): multipliers n^{-1/2}, unit init",
           "Yang & Hu 2021 (TP4) Table 1", _ntk),
    Preset("mup", "maximal update parametrization, learning rates from TP5 Table 3 (SGD or Adam form)",
           "Yang et al. 2022 (TP5) Table 3; abc form as in Haas et al.'s code", _mup),
    Preset("mfp", "mean-field parametrization: readout multiplier n^{-1}",
           "Yang & Hu 2021 (TP4) Table 1 (L=1); Everett et al. 2024 Table 1 for deeper nets", _mfp),
    Preset("ip", "integrable parametrization: a = (0, 1, ..., 1), b = 0, learning rates n, n^2, ..., n",
           "Hajjar, Chizat, Giraud 2021 (code base_abc_param.py, 'standard IP')", _ip, constants=_IP_CONSTANTS),
    Preset("ip-llr", "integrable parametrization with a large first learning rate, then the standard IP rates",
           "Hajjar, Chizat, Giraud 2021 (code: IP-LLR, one warm-up step, without the per-layer calibration)",
           _ip, _ip_llr_first_step, constants=_IP_LLR_CONSTANTS),
    Preset("sp-full-align", "SP init with per-layer learning rates for full alignment",
           "Everett et al. 2024 Table 1 (SP, full alignment); Haas et al. 2025 'SP-full-align' (mup_spllit)",
           _sp_full_align),
]}


def constants_of(spec: str) -> Constants:
    """The training constants of preset ``spec`` (none for a TOML file or an unknown name)."""
    preset = PRESETS.get(spec)
    return preset.constants if preset is not None else Constants()


MAX_HIDDEN_LAYERS = 10_000  # the largest L a preset or a TOML file may ask for


def get_preset(name: str, *, layers: int = 3, optimizer: str | Optimizer = "sgd", loss: str = "ce",
               activation: str = "relu", lr_exponent: object = 0) -> Parametrization:
    """Build preset ``name`` for ``layers`` hidden layers and the given optimizer/loss/activation."""
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError(f"unknown preset {name!r}{suggest(str(name), tuple(PRESETS))}")
    if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
        raise InputError(f"--layers: need a positive number of hidden layers, got {layers!r}")
    if layers > MAX_HIDDEN_LAYERS:
        raise InputError(f"--layers: {layers} hidden layers is more than the engine supports ({MAX_HIDDEN_LAYERS})")
    opt = optimizer if isinstance(optimizer, Optimizer) else Optimizer(optimizer)
    preset = PRESETS[name]
    try:
        a, b, c = preset.abc(layers, opt.name)
    except InputError as err:  # one table can serve two presets (ip, ip-llr): name the one asked for
        raise InputError(f"preset {name}: {err}") from None
    from theory.exponents import parse_exponent

    warmup: tuple[tuple[sympy.Expr, ...], ...] = ()
    if preset.warmup is not None:
        warmup = tuple(tuple(parse_exponent(v, f"warmup c[{i + 1}]") for i, v in enumerate(cs))
                       for cs in preset.warmup(layers))
    return Parametrization(name=name, layers=build_layers(a, b, c), activation=activation, loss=loss,
                           optimizer=opt, lr_exponent=parse_exponent(lr_exponent, "lr_exponent", symbol=True),
                           source=preset.source, warmup=warmup)
