"""Input encodings: shapes, dtypes, reproducibility, distributions, validation."""
import numpy as np
import pytest

from simulate.encodings import as_currents, bernoulli_spikes, gaussian_currents, static_currents


def test_gaussian_currents_have_the_requested_moments():
    """Mean and variance of 200k float32 N(0, 4) draws. The sample mean has std 2/sqrt(N),
    so |mean| < 4.5 sigma (false-positive rate ~7e-6); the sample variance has std
    ~ 4 sqrt(2/N), same 4.5 sigma bound."""
    n = 200_000
    x = gaussian_currents(4, 50, 1000, np.random.default_rng(1), std=2.0)
    assert x.dtype == np.float32 and x.shape == (4, 50, 1000)
    assert abs(x.mean()) < 4.5 * 2.0 / np.sqrt(n)
    assert abs(x.var() - 4.0) < 4.5 * 4.0 * np.sqrt(2.0 / n)
    np.testing.assert_array_equal(x, gaussian_currents(4, 50, 1000, 1, std=2.0))
    assert not np.array_equal(x, gaussian_currents(4, 50, 1000, 2, std=2.0))


def test_static_currents_repeat_the_input():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    out = static_currents(x, 4)
    assert out.shape == (4, 2, 3) and out.dtype == np.float32 and out.flags.c_contiguous
    for t in range(4):
        np.testing.assert_array_equal(out[t], x)


def test_bernoulli_spikes_fire_at_the_given_rates():
    """Per-neuron rates (0, 0.2, 1) over 40k draws each: rate 0 and 1 are exact; 0.2 is
    within 4.5 binomial standard errors (false-positive rate ~7e-6)."""
    rates = np.array([0.0, 0.2, 1.0])
    spikes = bernoulli_spikes(rates, 200, 200, 3, np.random.default_rng(7))
    assert spikes.dtype == np.float32 and set(np.unique(spikes)) <= {0.0, 1.0}
    observed = spikes.reshape(-1, 3).mean(axis=0)
    assert observed[0] == 0.0 and observed[2] == 1.0
    assert abs(observed[1] - 0.2) < 4.5 * np.sqrt(0.2 * 0.8 / 40_000)
    np.testing.assert_array_equal(spikes, bernoulli_spikes(rates, 200, 200, 3, 7))


def test_as_currents_casts_and_validates():
    out = as_currents(np.ones((2, 3, 4)))
    assert out.dtype == np.float32 and out.shape == (2, 3, 4)
    with pytest.raises(ValueError, match="array"):
        as_currents(np.ones((3, 4)))
    with pytest.raises(ValueError, match="array"):
        as_currents(np.full((1, 1, 1), np.nan))
    with pytest.raises(ValueError, match="array"):
        as_currents(np.full((1, 1, 1), 1e300))


@pytest.mark.parametrize("call, name", [
    (lambda: gaussian_currents(0, 1, 1, 0), "steps"),
    (lambda: gaussian_currents(1, 1.5, 1, 0), "batch"),
    (lambda: gaussian_currents(1, 1, -1, 0), "width"),
    (lambda: gaussian_currents(1, 1, 1, 0, std=-1.0), "std"),
    (lambda: static_currents(np.ones(3), 2), "x"),
    (lambda: static_currents(np.ones((1, 3)), 0), "steps"),
    (lambda: bernoulli_spikes(1.5, 1, 1, 1, 0), "rates"),
    (lambda: bernoulli_spikes(np.ones(4) * 0.5, 1, 1, 3, 0), "rates"),
])
def test_bad_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()
