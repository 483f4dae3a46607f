"""Solver and symmetry against published exponents (TP5 Table 3; Everett et al. 2024 Table 1 [S])."""

import pytest
import sympy

from theory.parametrization import Optimizer, Parametrization, build_layers
from theory.presets import get_preset
from theory.solver import solve
from theory.symmetry import equivalent, multiplier_free

R = sympy.Rational
H = R(1, 2)


@pytest.mark.parametrize("optimizer,expected", [
    ("sgd", [-1, 0, 0, 1]),  # TP5 Table 3 (muP, SGD): input LR ~ fan_out, hidden 1, output 1/fan_in
    ("adam", [0, 1, 1, 1]),  # TP5 Table 3 (muP, Adam): input 1, hidden 1/fan_in, output 1/fan_in
])
def test_solver_recovers_mup(optimizer, expected):
    assert solve(get_preset("mup", layers=3, optimizer=optimizer)).c == expected


@pytest.mark.parametrize("optimizer,expected", [
    ("sgd", [-H, H, H, 1]),  # Everett et al. Table 1, SP full alignment, SGD
    ("adam", [0, 1, 1, 1]),  # ... Adam
    ("adafactor", [0, H, H, H]),  # ... Adafactor
])
def test_solver_recovers_sp_full_alignment(optimizer, expected):
    assert solve(get_preset("sp", layers=3).with_(optimizer=optimizer)).c == expected


@pytest.mark.parametrize("name,optimizer,expected", [
    ("ntk", "sgd", [-H, -H, 0]), ("ntk", "adam", [0, H, H]), ("ntk", "adafactor", [0, H, H]),
    ("mfp", "sgd", [-1, -1, -1]), ("mfp", "adam", [0, H, 0]), ("mfp", "adafactor", [0, H, 0]),
])
def test_solver_recovers_everett_full_alignment_rows(name, optimizer, expected):
    # Everett et al. Table 1 (embedding, hidden, readout) for NTK and MFP; a = (0, 1/2, 1/2) resp. (0, 1/2, 1)
    assert solve(get_preset(name, layers=2, optimizer="sgd").with_(optimizer=optimizer)).c == expected


@pytest.mark.parametrize("scale,expected", [
    # an orthogonalised step of unit spectral norm needs LR ~ sqrt(fan_out / fan_in) for maximal updates (the
    # spectral condition, Yang, Simon and Bernstein 2023): n^{1/2} input, 1 hidden, n^{-1/2} readout
    ("none", [-H, 0, 0, H]),
    # the spectral factor sqrt(fan_out / fan_in) is that LR scaling already: one LR for every layer
    ("spectral", [0, 0, 0, 0]),
    # Jordan's sqrt(max(1, fan_out / fan_in)) covers the input layer (n/d > 1) but not the readout (k/n < 1)
    ("jordan", [0, 0, 0, H]),
])
def test_muon_solution_follows_the_shape_factor(scale, expected):
    muon = Optimizer("muon", muon_scale=scale)
    assert solve(get_preset("sp").with_(optimizer=muon)).c == expected


def test_tp5_table3_and_tp4_mup_are_equivalent():
    tp4 = Parametrization("tp4-mup", build_layers([-H, 0, 0, H], [H] * 4, [0] * 4))
    tp5 = get_preset("mup", layers=3)
    result = equivalent(tp4, tp5)
    assert result.equivalent and result.thetas == [H, 0, 0, -H]  # T1.8 of the reference notes


def test_mup_and_mfp_equivalent_sp_and_ntk_not_at_same_lr():
    assert equivalent(get_preset("mup"), get_preset("mfp")).equivalent
    verdict = equivalent(get_preset("sp"), get_preset("ntk"))
    assert not verdict.equivalent and any("c =" in r for r in verdict.reasons)


def test_multiplier_free_form_keeps_the_dynamics():
    tp4 = Parametrization("tp4-mup", build_layers([-H, 0, 0, H], [H] * 4, [0] * 4))
    free = multiplier_free(tp4)
    assert [l.a for l in free.layers] == [0] * 4 and [l.c for l in free.layers] == [-1, 0, 0, 1]
