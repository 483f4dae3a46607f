"""The one serial form of a Parametrization: every field, round trip, and the config keys built on it."""

from __future__ import annotations

import sympy
from hypothesis import given
from hypothesis import strategies as st

from theory.parametrization import OPTIMIZERS, Optimizer, Parametrization, build_layers, serial_fields
from theory.presets import get_preset

R = sympy.Rational
quarter = st.integers(-8, 8).map(lambda k: R(k, 4))


@st.composite
def parametrizations(draw: st.DrawFn) -> Parametrization:
    L = draw(st.integers(1, 3))
    n = L + 1
    a, b, c = ([draw(quarter) for _ in range(n)] for _ in range(3))
    name = draw(st.sampled_from(OPTIMIZERS))
    eps = draw(st.none() | quarter) if name in ("adam", "adafactor") else None
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9])) if name in ("sgd", "muon") else 0.0
    scale = draw(st.sampled_from(["jordan", "spectral", "none"])) if name == "muon" else "jordan"
    layers = build_layers(a, b, c, alignment=draw(st.sampled_from(["tp", "full", "none"])),
                          zero_init=[draw(st.booleans()) for _ in range(n)])
    warmup = tuple(tuple(draw(quarter) for _ in range(n)) for _ in range(draw(st.integers(0, 2))))
    return Parametrization(draw(st.text(max_size=5)), layers, activation=draw(st.sampled_from(["relu", "tanh"])),
                           loss=draw(st.sampled_from(["ce", "mse"])),
                           optimizer=Optimizer(name, eps_exponent=eps, momentum=momentum, muon_scale=scale),
                           lr_exponent=draw(quarter | st.just(sympy.Symbol("x", real=True))), warmup=warmup)


@given(parametrizations())
def test_round_trip_keeps_every_field(param: Parametrization) -> None:
    assert Parametrization.from_dict(param.to_dict()) == param


def test_to_dict_names_every_dataclass_field() -> None:
    # a field added to Parametrization, Layer or Optimizer must appear in the serial form (or this fails)
    data = get_preset("ip-llr").to_dict()
    assert set(serial_fields()["Parametrization"]) == set(data)
    assert set(serial_fields()["Layer"]) == set(data["layers"][0])
    assert set(serial_fields()["Optimizer"]) == set(data["optimizer"])


def test_mlp_keys_survive_new_fields() -> None:
    """Fields added for transformers (network, tensor names, weight decay) stay out of an MLP's training record
    at their defaults, so result files written before them still resume: these are the keys of sp (SGD) and
    mup (Adam) as stored by the version before transformers existed."""
    from theory.config import resolve
    from verify.runs.keys import config_key

    assert config_key(get_preset("sp", optimizer="sgd").training_dict()) == "494f867bd2efcad0"
    assert config_key(get_preset("mup", optimizer="adam").training_dict()) == "c9002473d2c4690e"
    gpt = Parametrization.from_dict(resolve("gpt-mup").to_dict())
    assert gpt == resolve("gpt-mup") and "network" in resolve("gpt-mup").training_dict()
