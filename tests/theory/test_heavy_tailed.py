"""Heavy-tailed (alpha-stable) weights: the registry entry, its draws, and theory.regimes.heavy_tailed's
rate map, critical gain, pair map and depth scale, each against an independent computation.

Statistical checks and their false-positive rates: KS tests at level 1e-4 (three of them);
the pair-map Monte Carlo check is a z-test at |z| < 4.4 (two-sided 1e-5) per case, 6 cases.
Family-wise false-positive rate < 1e-3.
"""
import numpy as np
import pytest
from scipy import stats

from theory.regimes import heavy_tailed as ht
from theory import inits
from theory.core.gaussian import orthant, tail


def test_closed_forms():
    x = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(ht.stable_tail(x, 1.0), 0.5 - np.arctan(x) / np.pi, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ht.stable_tail(x, 2.0), tail(x / np.sqrt(2)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(ht.stable_density(x, 1.0), 1 / (np.pi * (1 + x * x)), rtol=1e-14)
    assert ht.tail_constant(1.0) == pytest.approx(1 / np.pi, rel=1e-14)
    assert ht.critical_gain(1.0, 2.0) == pytest.approx(2 * np.pi, rel=1e-14)
    assert ht.critical_gain(2.0) == np.inf
    assert ht.stable_quantile(0.1, 1.0) == pytest.approx(np.tan(0.4 * np.pi), rel=1e-14)


def test_tabulated_law_matches_scipy():
    """alpha != 1, 2: the spline of levy_stable's survival function, at points off its nodes."""
    x = np.array([-7.3, -1.1, 0.37, 2.9, 15.0])
    from scipy.stats import levy_stable
    np.testing.assert_allclose(ht.stable_tail(x, 1.5), levy_stable.sf(x, 1.5, 0.0), rtol=0, atol=2e-6)
    assert ht.stable_tail(0.0, 1.5) == pytest.approx(0.5, abs=1e-12)


def test_gain_for_rate_is_the_fixed_point():
    for alpha in (1.0, 1.5):
        for rate in (0.01, 0.1587, 0.4):
            gain = ht.gain_for_rate(rate, alpha, 1.3)
            assert ht.rate_map(rate, alpha, gain, 1.3) == pytest.approx(rate, rel=1e-8)
    # Cauchy closed form: G = theta tan(pi r) / r
    assert ht.gain_for_rate(0.2, 1.0, 1.0) == pytest.approx(np.tan(0.2 * np.pi) / 0.2, rel=1e-12)
    fp = ht.rate_fixed_point(1.0, ht.gain_for_rate(0.2, 1.0))
    assert fp.rate == pytest.approx(0.2, rel=1e-10) and fp.slope < 1


def test_rate_map_slope_against_central_differences():
    for alpha, r in ((1.0, 0.05), (1.0, 0.3), (1.5, 0.2)):
        h = 1e-6
        numeric = (ht.rate_map(r + h, alpha, 3.5) - ht.rate_map(r - h, alpha, 3.5)) / (2 * h)
        assert ht.rate_map_slope(r, alpha, 3.5) == pytest.approx(numeric, rel=1e-5)


def test_continuous_transition_for_cauchy():
    """alpha = 1: silence loses stability at G_c = pi theta, where the slope m = G / (pi theta)
    crosses 1; the active rate grows continuously from 0 above it; below it only silence."""
    g_c = ht.critical_gain(1.0)
    assert ht.rate_map_slope(0.0, 1.0, g_c) == pytest.approx(1.0, rel=1e-14)
    assert ht.rate_fixed_point(1.0, 0.99 * g_c).rate == 0.0
    rates = [ht.rate_fixed_point(1.0, g_c * (1 + e)).rate for e in (1e-4, 1e-3, 1e-2)]
    assert 0 < rates[0] < rates[1] < rates[2] < 0.1
    # the pair map's slope at c* rises towards 1 at the critical point: xi_c diverges
    xi = [ht.pair_fixed_point(1.0, ht.gain_for_rate(r, 1.0)).xi_c for r in (0.1587, 0.05, 0.01)]
    assert xi[0] < xi[1] < xi[2] and xi[2] > 10


def test_alpha_15_is_bistable():
    """alpha = 1.5: the active fixed point exists below G_c while silence is still stable
    (m < 1): a discontinuous transition, as for Gaussian weights."""
    gain = 0.85 * ht.critical_gain(1.5)
    fp = ht.rate_fixed_point(1.5, gain)
    assert fp.rate > 0.1 and fp.silence_slope < 1


def _pair_reference(r, r_ab, alpha, gain, threshold, rng, size=2_000_000):
    """P(both fire) by direct sampling of the shared and own stable parts of the currents."""
    def stable(n):
        if alpha == 1.0:
            return rng.standard_cauchy(n)
        return np.sqrt(2.0) * rng.standard_normal(n)
    shared = gain * r_ab ** (1 / alpha) * stable(size)
    own = gain * (r - r_ab) ** (1 / alpha)
    both = (shared + own * stable(size) > threshold) & (shared + own * stable(size) > threshold)
    return both.mean(), both.std() / np.sqrt(size)


@pytest.mark.parametrize("alpha, r, c", [(1.0, 0.16, 0.0), (1.0, 0.05, 0.5), (1.0, 0.3, 0.9),
                                         (2.0, 0.16, 0.3), (1.0, 0.16, -0.1), (2.0, 0.3, 0.8)])
def test_pair_integral_against_sampling(alpha, r, c):
    rng = np.random.default_rng([7, int(1000 * r), int(100 * c) + 100, int(alpha)])
    gain = 3.5
    r_ab = r * r + c * r * (1 - r)
    want, se = _pair_reference(r, r_ab, alpha, gain, 1.0, rng)
    got = ht._both(r, r_ab, alpha, gain, 1.0)
    assert abs(got - want) < 4.4 * se, (got, want, se)


def test_gaussian_pair_map_is_the_orthant():
    """alpha = 2 (normal weights, variance 2 gamma^2): P(both) is the bivariate normal orthant
    with correlation r_ab / r at z = theta / sqrt(2 G^2 r)."""
    r, r_ab, gain = 0.2, 0.1, 2.0
    z = 1.0 / np.sqrt(2 * gain**2 * r)
    assert ht._both(r, r_ab, 2.0, gain, 1.0) == pytest.approx(float(orthant(z, r_ab / r)), rel=1e-9)


def test_identical_inputs_stay_identical():
    gain = ht.gain_for_rate(0.2, 1.0)
    assert ht.pair_map(1.0, 0.2, 1.0, gain) == pytest.approx(1.0, abs=1e-12)


def test_pair_fixed_point_slope_against_iteration():
    """c_l - c* ~ slope^l: iterate the map from c* + 0.02 and compare the last ratio."""
    gain = ht.gain_for_rate(0.1, 1.0)
    fp = ht.pair_fixed_point(1.0, gain)
    c = fp.c_star + 0.02
    gaps = []
    for _ in range(6):
        c = ht.pair_map(c, fp.rate, 1.0, gain, 1.0, fp.rate)
        gaps.append(c - fp.c_star)
    assert gaps[-1] / gaps[-2] == pytest.approx(fp.slope, rel=0.02)
    assert 0 < fp.slope < 1 and fp.xi_c == pytest.approx(-1 / np.log(fp.slope))


def test_count_chain_large_width_follows_the_rate_map():
    """The exact chain's E[k/n] differs from the large-n map by the Jensen term
    f''(r) Var(k/n) / 2 = O(1/n): quadrupling the width must cut the gap about four-fold."""
    gain = ht.gain_for_rate(0.2, 1.0)
    mean_field = ht.propagate_rate(5, 1.0, gain, rate0=0.15)
    gaps = []
    for width in (1000, 4000):
        chain = ht.count_chain(5, width, 1.0, gain, rate0=0.15)
        np.testing.assert_allclose(chain.distribution.sum(axis=1), 1.0, rtol=1e-12)
        gaps.append(np.max(np.abs(chain.rate - mean_field)))
    assert 3.0 < gaps[0] / gaps[1] < 5.0 and gaps[1] < 1e-3, gaps


def test_registry_entry():
    spec = inits.distribution("stable", 100, 50, threshold=1.0)
    assert spec["dist"] == "stable" and spec["alpha"] == 1.0
    assert spec["scale"] == pytest.approx(ht.gain_for_rate(float(tail(1.0)), 1.0) / 100, rel=1e-14)
    spec = inits.distribution("stable", 400, 50, threshold=1.0, alpha=1.5, gain=2.0)
    assert spec["scale"] == pytest.approx(2.0 / 400 ** (1 / 1.5), rel=1e-14)
    for call in (lambda: inits.weight_std("stable", 100), lambda: inits.predict("stable", 3, 100)):
        with pytest.raises(ValueError, match="stable"):
            call()


@pytest.mark.parametrize("kwargs, name", [({"alpha": 2.5}, "alpha"), ({"alpha": 0.0}, "alpha"),
                                          ({"rate": 0.6}, "rate"), ({"gain": -1.0}, "gain"),
                                          ({"gain": 1.0, "rate": 0.1}, "rate and gain"), ({"lam": 1.0}, "params")])
def test_bad_parameters_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        inits.distribution("stable", 100, 100, threshold=1.0, **kwargs)


def test_negative_threshold_is_refused():
    with pytest.raises(ValueError, match="threshold"):
        inits.distribution("stable", 100, 100, threshold=-1.0)


@pytest.mark.parametrize("alpha", [1.0, 1.5, 0.8])
def test_draws_follow_the_stable_law(alpha):
    """KS test of 20000 draws / scale against the standard stable cdf (level 1e-4); the same
    seed gives the same matrix."""
    w = inits.sample_weights("stable", 100, 200, np.random.default_rng(3), threshold=1.0, alpha=alpha, gain=2.0)
    assert w.dtype == np.float32 and w.shape == (100, 200)
    np.testing.assert_array_equal(w, inits.sample_weights("stable", 100, 200, np.random.default_rng(3),
                                                          threshold=1.0, alpha=alpha, gain=2.0))
    scale = 2.0 / 100 ** (1 / alpha)
    x = np.sort(w.ravel().astype(np.float64) / scale)
    cdf = 1.0 - ht.stable_tail(x, alpha)
    n = x.size
    d = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert stats.kstwo.sf(d, n) > 1e-4, d


def test_cauchy_draw_is_numpys():
    """alpha = 1 is numpy's standard_cauchy times the scale (documented stream)."""
    w = inits.sample_weights("stable", 50, 60, 11, threshold=1.0)
    scale = inits.distribution("stable", 50, 60, threshold=1.0)["scale"]
    np.testing.assert_array_equal(w, (scale * np.random.default_rng(11).standard_cauchy((50, 60))).astype(np.float32))


def test_normal_and_uniform_draws_unchanged():
    """The stable branch leaves the existing draws bit-identical."""
    w = inits.sample_weights("micheli", 30, 40, 5, threshold=1.0)
    std = inits.weight_std("micheli", 30, 40, 1.0)
    np.testing.assert_array_equal(w, (std * np.random.default_rng(5).standard_normal((30, 40))).astype(np.float32))
    w = inits.sample_weights("pytorch_default", 30, 40, 5)
    half = inits.weight_std("pytorch_default", 30, 40) * np.sqrt(3)
    np.testing.assert_array_equal(w, np.random.default_rng(5).uniform(-half, half, (30, 40)).astype(np.float32))


def test_float32_overflow_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        inits.sample_weights("stable", 1000, 1000, 0, threshold=1.0, alpha=0.05, gain=1.0)


def test_typical_chi_gaussian_limit():
    """alpha = 2 (normal weights of variance 2 gamma^2): the typical gain approaches the
    mean-square gain chi = n 2 gamma^2 E[s'(u - theta)^2], u ~ N(0, 2 G^2 r), up to the
    E[ln] vs ln E bias -Var/2 = O(1/n) and the chain's sampling error."""
    from theory.core.surrogates import atan
    rate, n = 0.2, 400
    gain = ht.gain_for_rate(rate, 2.0)                 # r = 0.2 is the stable fixed point (slope 0.59)
    chi, se, _ = ht.typical_chi(2.0, gain, 1.0, width=n, depth=12, burn_in=2, chains=4, seed=1)
    u = np.sqrt(2 * gain**2 * rate) * np.random.default_rng(0).standard_normal(2_000_000)
    want = n * 2 * (gain / np.sqrt(n)) ** 2 * np.mean(atan(u - 1.0, 2.0) ** 2)
    assert chi == pytest.approx(want, rel=0.05 + 5 * se / chi)
