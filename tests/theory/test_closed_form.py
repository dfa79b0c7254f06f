"""optimal_sigma against 50-digit mpmath and against the SymPy derivation.

Tolerance: 1e-12 relative (the issue's requirement). The log-space computation loses at most
a few ulps of log(std), i.e. |log std| * 1e-16 relative, ~5e-14 at theta = 40; so 1e-12 has
margin without hiding a formula error (which would be O(1)).
"""
import mpmath
import numpy as np
import pytest

import theory
from theory.core import derivation

THRESHOLDS = [-8.0, -1.0, 0.0, 0.25, 1.0, 1.19, 2.0, 5.0, 10.0, 20.0, 30.0, 35.0, 40.0]
FAN_INS = [1, 10, 784, 4096, 10**6]
TARGET_VARS = [0.25, 1.0, 4.0]


def mp_sigma(threshold, fan_in, target_var):
    mpmath.mp.dps = 50
    z = mpmath.mpf(threshold) / mpmath.sqrt(mpmath.mpf(target_var))
    tail = mpmath.erfc(z / mpmath.sqrt(2)) / 2
    return mpmath.sqrt(mpmath.mpf(target_var) / (fan_in * tail))


@pytest.mark.parametrize("target_var", TARGET_VARS)
def test_matches_mpmath_50_digits(target_var):
    """Every representable value to 1e-12; unrepresentable ones (theta/sqrt(q*) = 80) raise."""
    for threshold in THRESHOLDS:
        for fan_in in FAN_INS:
            want = mp_sigma(threshold, fan_in, target_var)
            if want > np.finfo(np.float64).max:
                # not representable: must say so, naming the threshold, not return inf
                with pytest.raises(ValueError, match="threshold"):
                    theory.optimal_sigma(threshold, fan_in, target_var)
                continue
            got = theory.optimal_sigma(threshold, fan_in, target_var)
            rel = abs(mpmath.mpf(got) - want) / want
            assert rel < 1e-12, (threshold, fan_in, target_var, got, want)


def test_paper_value_threshold_one_fan_in_784():
    # the paper's value: 1/sqrt(784 * 0.1586553...) = 0.0896633...
    assert theory.optimal_sigma(1.0, 784) == pytest.approx(0.08966330426359, rel=1e-12)
    assert isinstance(theory.optimal_sigma(1.0, 784), float)


def test_broadcasts_over_arrays():
    thresholds = np.array([[0.0], [1.0], [2.0]])
    fan_ins = np.array([10, 100, 1000, 10000])
    got = theory.optimal_sigma(thresholds, fan_ins)
    assert got.shape == (3, 4)
    for i, threshold in enumerate(thresholds[:, 0]):
        for j, fan_in in enumerate(fan_ins):
            # same formula; numpy may run log/exp of a broadcast array and of a scalar through
            # different SIMD loops (AVX-512 SVML: <= 4 ulp). log(1e4) = 9.2 off by 4 ulp moves
            # std = exp(0.5 (...)) by 3.5e-15 relative, exp itself by 9e-16: rel 2e-14 covers it.
            assert got[i, j] == pytest.approx(theory.optimal_sigma(float(threshold), int(fan_in)), rel=2e-14)


def test_matches_sympy_derivation_on_grid():
    """The lambdified SymPy solution (erfc in float64) equals the log-space numerics where erfc
    has not underflowed; 1e-13 relative covers erfc's float64 accuracy."""
    weight_std = derivation.lambdified()["weight_std"]
    for threshold in np.linspace(-3, 6, 19):
        for fan_in in (1, 100, 1000):
            for target_var in (0.5, 1.0, 2.0):
                want = float(weight_std(threshold, target_var, fan_in))
                got = theory.optimal_sigma(threshold, fan_in, target_var)
                assert got == pytest.approx(want, rel=1e-13)


def test_far_tail_finite_and_overflow_named():
    assert np.isfinite(theory.optimal_sigma(50.0, 1))
    assert np.isfinite(theory.log_optimal_sigma(1e3, 1))
    with pytest.raises(ValueError, match="threshold"):
        theory.optimal_sigma(60.0, 1)


@pytest.mark.parametrize("kwargs, name", [
    ({"threshold": np.nan, "fan_in": 10}, "threshold"),
    ({"threshold": np.inf, "fan_in": 10}, "threshold"),
    ({"threshold": "one", "fan_in": 10}, "threshold"),
    ({"threshold": 1.0, "fan_in": 0}, "fan_in"),
    ({"threshold": 1.0, "fan_in": -3}, "fan_in"),
    ({"threshold": 1.0, "fan_in": 2.5}, "fan_in"),
    ({"threshold": 1.0, "fan_in": np.nan}, "fan_in"),
    ({"threshold": 1.0, "fan_in": True}, "fan_in"),
    ({"threshold": 1.0, "fan_in": 10, "target_var": 0.0}, "target_var"),
    ({"threshold": 1.0, "fan_in": 10, "target_var": -1.0}, "target_var"),
    ({"threshold": 1.0, "fan_in": 10, "target_var": np.inf}, "target_var"),
])
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        theory.optimal_sigma(**kwargs)
