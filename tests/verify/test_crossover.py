"""The two-term verdict of a change that sums two updates of different orders (verify.width.crossover)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from verify.width.crossover import two_term
from verify.width.verdict import judge

WIDTHS = [128, 256, 512, 1024]
N = np.asarray(WIDTHS, dtype=float)


def _seeds(curve: np.ndarray, seeds: int = 6, noise: float = 0.02) -> np.ndarray:
    rng = np.random.default_rng(0)
    return curve * np.exp(noise * rng.standard_normal((seeds, curve.size)))


def test_aligned_terms_give_the_aligned_sums_slope() -> None:
    eff, prop = 2.0 * (N / 128) ** 0, 1.8 * (N / 128) ** 0.5  # equal at n0, as in sp-full-align's readout
    result = two_term(WIDTHS, _seeds(eff + prop, noise=0), _seeds(eff, noise=0), _seeds(prop, noise=0), 0.0, 0.5)
    assert result is not None and result.cosine == pytest.approx(1.0)
    slope = np.polyfit(np.log(N), np.log(eff + prop), 1)[0]
    assert result.low - 1e-9 <= slope <= result.high + 1e-9
    assert result.high < 0.5 - 0.15  # the asymptotic exponent is out of reach at these widths


def test_orthogonal_terms_have_zero_cosine() -> None:
    eff, prop = np.ones(4), (N / 128) ** 0.5
    result = two_term(WIDTHS, _seeds(np.sqrt(eff**2 + prop**2), noise=0), _seeds(eff, noise=0),
                      _seeds(prop, noise=0), 0.0, 0.5)
    assert result is not None and abs(result.cosine) < 1e-9


class _Engine:
    """Predictions with eff 0 and prop 1/2 at the readout (layer 2 of a 2-layer net), as sp-full-align."""

    def exponent(self, quantity: str, layer: int, step: int) -> sympy.Expr | None:
        table = {"preactivation_update": sympy.Rational(1, 2), "feature_update": sympy.Rational(1, 2),
                 "effective_update": sympy.Integer(0), "propagating_update": sympy.Rational(1, 2)}
        return table.get(quantity, sympy.Integer(0))


def _rows(total: np.ndarray, eff: np.ndarray, prop: np.ndarray) -> dict[str, str]:
    values = {("preactivation_update", 2, 1): _seeds(total), ("effective_update", 2, 1): _seeds(eff),
              ("propagating_update", 2, 1): _seeds(prop), ("feature_update", 2, 1): _seeds(total)}
    rows = judge(_Engine(), values, WIDTHS, n_layers=2, steps=1)
    return {r.quantity: r.verdict + " " + r.note for r in rows if r.layer == 2 and r.step == 1
            and r.quantity in ("preactivation_update", "feature_update")}


def test_a_crossover_passes_by_the_two_term_expectation_and_says_so() -> None:
    eff, prop = 2.0 * np.ones(4), 1.8 * (N / 128) ** 0.5
    verdicts = _rows(eff + prop, eff, prop)
    assert all(v.startswith("PASS two-term") for v in verdicts.values()), verdicts


def test_cancelling_updates_fail_even_when_the_slope_looks_right() -> None:
    # |eff - prop| with prop growing past eff: the slope ends near 1/2, but the terms point against each other
    eff, prop = 2.0 * np.ones(4), 4.0 * (N / 128) ** 0.5
    verdicts = _rows(np.abs(prop - eff), eff, prop)
    assert all(v.startswith("FAIL effective and propagating updates cancel") for v in verdicts.values()), verdicts


def test_a_slope_off_both_the_exponent_and_the_sum_still_fails() -> None:
    # a total that grows like n^1 cannot come from these two terms without cancellation or error
    eff, prop = 2.0 * np.ones(4), 1.8 * (N / 128) ** 0.5
    total = (eff + prop) * (N / 128) ** 0.7
    verdicts = _rows(total, eff, prop)
    assert all(v.startswith("FAIL") for v in verdicts.values()), verdicts


def test_a_feature_change_takes_the_cosine_from_its_pre_activation_change() -> None:
    """The feature change is not the sum of the two updates (the activation lies between): the cosine comes
    from the pre-activation change, which is.  A feature change smaller than either update (relu zeroing
    half the coordinates) must not read as cancelling updates."""
    eff, prop = 2.0 * np.ones(4), 1.8 * (N / 128) ** 0.5
    values = {("preactivation_update", 1, 1): _seeds(eff + prop), ("effective_update", 1, 1): _seeds(eff),
              ("propagating_update", 1, 1): _seeds(prop), ("feature_update", 1, 1): _seeds(0.3 * (eff + prop))}
    rows = judge(_Engine(), values, WIDTHS, n_layers=2, steps=1)
    feature = next(r for r in rows if (r.quantity, r.layer) == ("feature_update", 1))
    assert feature.verdict == "PASS" and "two-term" in feature.note, feature
