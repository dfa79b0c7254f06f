"""Initialiser registry: formulas at known points, sampling moments, predictions, bad input.

Formula checks compare with the expressions of docs/theory.md §7 evaluated independently here
(float64, 1e-12). Sampling checks: the sample std of 10^6 draws has relative standard error
1/sqrt(2 * 10^6) = 7e-4 (normal) or sqrt(0.8/10^6)/2 (uniform); 5e-3 is > 6 standard errors,
false-positive rate < 1e-9.
"""
import numpy as np
import pytest
from scipy import special

import theory
from theory import inits

Q1 = 0.5 * special.erfc(1 / np.sqrt(2))
PHI1 = np.exp(-0.5) / np.sqrt(2 * np.pi)

EXPECTED_STD = {  # fan_in 100, fan_out 50, threshold 1, beta 0.5
    "micheli": 1 / np.sqrt(100 * Q1),
    "micheli_reset": np.sqrt((1 - 0.25 - Q1 * (1 - Q1) + 2 * 0.5 * PHI1 / Q1) / (100 * Q1)),
    "kaiming": np.sqrt(2 / 100),
    "xavier": np.sqrt(2 / 150),
    "lecun": np.sqrt(1 / 100),
    "pytorch_default": 1 / np.sqrt(300),
    "fluctuation": np.sqrt(1 - 0.25) / np.sqrt(100 * Q1),
    "ding": np.sqrt(2) / np.sqrt(100),
}


def test_registry_has_the_issue_entries_with_docs():
    for name in EXPECTED_STD:
        entry = inits.get(name)
        assert entry.formula and entry.source and entry.std.__doc__


@pytest.mark.parametrize("name", sorted(EXPECTED_STD))
def test_formula(name):
    assert inits.weight_std(name, 100, 50, threshold=1.0, beta=0.5) == pytest.approx(EXPECTED_STD[name], rel=1e-12)


def test_own_parameters():
    assert inits.weight_std("ding", 100, 100, 2.0, lam=2.0) == pytest.approx(np.sqrt(2) * 2 / (2 * 10))
    assert inits.weight_std("fluctuation", 100, 100, 1.0, 0.0, xi=2.0, nu=0.25) == pytest.approx(1 / (2 * 5))
    # == : the registry entry calls optimal_sigma with the same scalars (one route, same bits)
    assert inits.weight_std("micheli", 100, 100, 1.0, target_var=4.0) == theory.optimal_sigma(1.0, 100, 4.0)


@pytest.mark.parametrize("name", sorted(EXPECTED_STD))
def test_sample_weights(name):
    w = inits.sample_weights(name, 1000, 1000, np.random.default_rng(0), threshold=1.0, beta=0.5)
    assert w.dtype == np.float32 and w.shape == (1000, 1000)
    std = inits.weight_std(name, 1000, 1000, 1.0, 0.5)
    assert w.std() == pytest.approx(std, rel=5e-3)
    assert abs(w.mean()) < 6 * std / 1000
    again = inits.sample_weights(name, 1000, 1000, np.random.default_rng(0), threshold=1.0, beta=0.5)
    np.testing.assert_array_equal(w, again)
    if inits.get(name).dist == "uniform":
        assert np.abs(w).max() <= std * np.sqrt(3) * (1 + 1e-6)


def test_predict_uses_propagate():
    for name in EXPECTED_STD:
        # == : predict is propagate(depth, weight_std(...)) with the same scalars (one route)
        got = inits.predict(name, 30, 500, threshold=1.0, beta=0.5)
        want = theory.propagate(30, inits.weight_std(name, 500, 500, 1.0, 0.5), 500, 1.0)
        np.testing.assert_array_equal(got.q, want.q)
        np.testing.assert_array_equal(got.rate, want.rate)
    assert inits.predict("micheli", 100, 1000).rate[-1] == pytest.approx(Q1, rel=1e-12)
    assert inits.predict("kaiming", 100, 1000).rate[-1] == 0.0


@pytest.mark.parametrize("call, name", [
    (lambda: inits.weight_std("he", 10), "name"),
    (lambda: inits.sample_weights("nope", 10, 10, 0), "name"),
    (lambda: inits.weight_std("kaiming", 0), "fan_in"),
    (lambda: inits.weight_std("kaiming", 10, -1), "fan_out"),
    (lambda: inits.weight_std("micheli", 10, 10, np.nan), "threshold"),
    (lambda: inits.weight_std("micheli", 10, 10, 1.0, 1.5), "beta"),
    (lambda: inits.weight_std("micheli", 10, 10, 1.0, -0.1), "beta"),
    (lambda: inits.weight_std("micheli", 10, 10, 1.0, 0.5, xi=2.0), "params"),
    (lambda: inits.weight_std("fluctuation", 10, 10, 1.0, 0.5, nu=0.0), "nu"),
    (lambda: inits.weight_std("fluctuation", 10, 10, 1.0, 1.0), "beta"),
    (lambda: inits.weight_std("ding", 10, 10, 1.0, lam=0.0), "lam"),
    (lambda: inits.weight_std("micheli_reset", 10, 10, -1.0, 0.9), "micheli_reset"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_regimes_partition_the_registry_and_plain_is_the_default():
    """Every entry belongs to one regime; names(regime) lists exactly those; the regime-specific
    entries (escape noise, residual blocks, heavy tails) are not "plain", so the figures of the
    deterministic feed-forward stack leave them out."""
    everything = inits.names()
    by_regime = {regime: inits.names(regime=regime) for regime in inits.REGIMES}
    assert sorted(sum(by_regime.values(), [])) == sorted(everything)
    assert "micheli" in by_regime["plain"] and "kaiming" in by_regime["plain"]
    for name in ("escape_critical", "sew_add", "stable"):
        assert name in everything and name not in by_regime["plain"]
    with pytest.raises(ValueError, match="regime"):
        inits.names(regime="quantum")
    with pytest.raises(ValueError, match="regime"):
        inits.register(inits.Initialiser("x", "", "", std=lambda *a: 1.0, regime="quantum"))
    with pytest.raises(ValueError, match="already registered"):
        inits.register(inits.Initialiser("micheli", "", "", std=lambda *a: 1.0))
    assert "x" not in inits.names()
