"""Exponent parsing (fuzzed), TOML loading and their one-line errors."""

from fractions import Fraction

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from theory.config import load_toml, resolve
from theory.errors import InputError
from theory.exponents import format_exponent, parse_exponent
from theory.presets import get_preset


@given(st.fractions(min_value=-1000, max_value=1000, max_denominator=50))
def test_rationals_round_trip(value):
    text = format_exponent(parse_exponent(str(value)))
    assert parse_exponent(text) == sympy.Rational(value.numerator, value.denominator)


@given(st.text(max_size=30))
def test_parser_never_crashes_on_garbage(text):
    try:
        value = parse_exponent(text, "field")
    except InputError as err:
        assert "field" in str(err) and "\n" not in str(err)
    else:
        assert isinstance(value, sympy.Expr)


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", float("inf"), float("nan"), "1/0", "x*y", "", True, [1]])
def test_non_finite_or_malformed_exponents_are_rejected(bad):
    with pytest.raises(InputError):
        parse_exponent(bad, "c[2]")


def test_floats_are_read_exactly():
    assert parse_exponent(0.5) == sympy.Rational(1, 2) and parse_exponent("-0.25") == sympy.Rational(-1, 4)


def test_only_the_lr_exponent_may_be_one_bare_symbol():
    # a, b, c and epsilon are numbers; the global LR exponent may be one name (the phase diagram's variable)
    assert parse_exponent(" ( x ) ", "lr_exponent", symbol=True) == sympy.Symbol("x", real=True)
    with pytest.raises(InputError, match="must be numbers"):
        parse_exponent("1/2 - theta", "b[2]")
    with pytest.raises(InputError, match="one bare name"):
        parse_exponent("1/2 - x", "lr_exponent", symbol=True)


def write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_toml_lists_and_role_tables_agree(tmp_path):
    lists = write(tmp_path, 'a = [0,0,0,0]\nb = [0,"1/2","1/2","1/2"]\nc = [0,0,0,0]\n', "lists.toml")
    roles = write(tmp_path, '[input]\nb = 0\n[hidden]\nb = "1/2"\n[output]\nb = 0.5\n', "roles.toml")
    p, q = load_toml(lists), load_toml(roles, layers=3)
    assert [l.b for l in p.layers] == [l.b for l in q.layers] == [l.b for l in get_preset("sp").layers]


def test_toml_preset_with_override(tmp_path):
    path = write(tmp_path, 'preset = "sp"\nloss = "mse"\n[output]\nb = 1\n')
    p = load_toml(path)
    assert p.loss == "mse" and p.layers[-1].b == 1 and p.layers[1].b == sympy.Rational(1, 2)


@pytest.mark.parametrize("text,needle", [
    ('a = [0, 0', "malformed TOML"),
    ('a = [0,0]\nb = [0,0]\nc = [0,"1/2 +"]\n', "c[2]"),
    ('a = [0,0]\nb = [0]\nc = [0,0]\n', "different lengths"),
    ('preset = "spp"\n', "did you mean 'sp'"),
    ('preset = "sp"\nloss = "hinge"\n', "unknown loss 'hinge'"),
    ('preset = "sp"\nbogus = 1\n', "bogus"),
    ('preset = "sp"\n[hidden]\nd = 1\n', "hidden.d"),
    ('layers = 3\na = [0,0]\nb = [0,0]\nc = [0,0]\n', "layers"),
    ('preset = "sp"\nlr_exponent = "inf"\n', "lr_exponent"),
])
def test_toml_errors_name_file_and_field(tmp_path, text, needle):
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(InputError) as err:
        load_toml(path)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_unknown_preset_suggests(tmp_path):
    with pytest.raises(InputError, match="did you mean 'mup'"):
        resolve("mupp")


def test_wrong_number_of_layers(tmp_path):
    path = write(tmp_path, 'a = [0,0,0]\nb = [0,"1/2","1/2"]\nc = [0,0,0]\n')
    with pytest.raises(InputError, match="--layers 5"):
        resolve(str(path), layers=5)
    with pytest.raises(InputError, match="--layers"):
        get_preset("sp", layers=0)


def test_fractions_accepted():
    assert parse_exponent(Fraction(-3, 2)) == sympy.Rational(-3, 2)


def test_toml_optimizer_table_keeps_every_setting(tmp_path):
    path = write(tmp_path, 'preset = "sp"\n[optimizer]\nname = "muon"\nmomentum = 0.9\nmuon_scale = "spectral"\n')
    opt = load_toml(path).optimizer
    assert (opt.name, opt.momentum, opt.muon_scale) == ("muon", 0.9, "spectral")


@pytest.mark.parametrize("table,needle", [
    ('name = "adam"\nmomentum = 0.9', "momentum: applies to sgd and muon"),
    ('name = "sgd"\nmomentum = 1.5', "momentum: expected a number in [0, 1)"),
    ('name = "muon"\nmuon_scale = "jordn"', "did you mean 'jordan'"),
    ('name = "sgd"\nmuon_scale = "none"', "muon_scale: applies to muon"),
    ('name = "sgd"\nbetas = [0.9]', "optimizer.betas: unknown key"),
])
def test_toml_optimizer_errors_name_the_field(tmp_path, table, needle):
    path = write(tmp_path, f'preset = "sp"\n[optimizer]\n{table}\n', "opt.toml")
    with pytest.raises(InputError) as err:
        load_toml(path)
    assert needle in str(err.value) and "opt.toml" in str(err.value) and "\n" not in str(err.value)
