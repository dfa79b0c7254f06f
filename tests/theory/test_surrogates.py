"""Surrogate derivatives: snnTorch's formulas and scalings, checked against the primitive
each is the derivative of (central differences in float64: h = 1e-5 gives truncation
~h^2 f''' < 1e-7 relative for these scales, so 1e-6 is a bound that a wrong factor of
2 or pi, the usual library mismatch, exceeds by orders of magnitude)."""
import numba
import numpy as np
import pytest

from theory.core.surrogates import SURROGATES, smooth_step, surrogate_code, surrogate_grad

X = np.array([-1.3, -0.4, -0.05, 0.02, 0.3, 1.7])
H = 1e-5


def _central(f, x):
    return (f(x + H) - f(x - H)) / (2 * H)


def test_atan_is_the_derivative_of_snntorch_arctan_with_alpha_2():
    primitive = lambda x: np.arctan(np.pi * x * 2.0 / 2) / np.pi     # snnTorch: (1/pi) atan(pi U alpha/2)
    np.testing.assert_allclose(surrogate_grad("atan", X), _central(primitive, X), rtol=1e-6)
    assert surrogate_grad("atan", 0.0) == pytest.approx(1.0)          # alpha/2 at the threshold


def test_fast_sigmoid_is_the_derivative_of_x_over_1_plus_k_abs_x():
    primitive = lambda x: x / (1 + 25.0 * np.abs(x))
    np.testing.assert_allclose(surrogate_grad("fast_sigmoid", X), _central(primitive, X), rtol=1e-6)


def test_sigmoid_is_the_derivative_of_the_logistic_and_does_not_overflow():
    np.testing.assert_allclose(surrogate_grad("sigmoid", X, 7.0), _central(lambda x: smooth_step(x, 7.0), X),
                               rtol=1e-6)
    assert surrogate_grad("sigmoid", 0.0) == pytest.approx(25.0 / 4)
    with np.errstate(over="raise"):
        assert np.all(surrogate_grad("sigmoid", np.array([-1e4, 1e4])) == 0.0)
        assert smooth_step(np.array([-1e4, 1e4]), 25.0).tolist() == [0.0, 1.0]


def test_triangular_and_straight_through_follow_snntorch_literally():
    np.testing.assert_array_equal(surrogate_grad("triangular", X), [1, 1, 1, -1, -1, -1])
    np.testing.assert_array_equal(surrogate_grad("triangular", np.array([0.0]), 0.5), [-0.5])  # x >= 0 flips
    np.testing.assert_array_equal(surrogate_grad("straight_through", X), np.ones_like(X))


@pytest.mark.parametrize("name", list(SURROGATES))
def test_same_function_compiles_with_numba_in_float32(name):
    func, scale = SURROGATES[name]
    jitted = numba.njit(func)
    for x in X:
        got = jitted(np.float32(x), np.float32(scale))
        assert got == pytest.approx(float(func(np.float64(np.float32(x)), scale)), rel=1e-6)
    # float64, Numba's libm exp/atan vs numpy's (SIMD on some CPUs, <= 4 ulp), no cancellation
    # in these formulas: a few 1e-16 relative; 1e-12 holds on any CPU and still catches any
    # change of formula. The float32 check above: float32 ops (6e-8 per op) against float64.
    np.testing.assert_allclose(jitted(X, scale), func(X, scale), rtol=1e-12)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="surrogate must be one of"):
        surrogate_grad("heaviside", 0.0)
    with pytest.raises(ValueError, match="scale"):
        surrogate_grad("atan", 0.0, scale=-1)
    with pytest.raises(ValueError, match="x"):
        surrogate_grad("atan", np.nan)
    assert [surrogate_code(n) for n in SURROGATES] == list(range(len(SURROGATES)))
