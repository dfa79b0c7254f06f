"""Mean-field maps: fixed points, stability, critical threshold, basin, correlation map.

References: the closed-form slope theta phi(theta) / (2 Q(theta)) (docs/theory.md §2, §3) and its SymPy
derivation; an independent bisection; scipy's bivariate normal CDF and mpmath quadrature for the
orthant probability. Tolerances are float64 round-off scaled by the condition of each quantity.
"""
import mpmath
import numpy as np
import pytest
from scipy import stats

import theory
from theory.core import derivation
from theory.meanfield import maps as meanfield
from theory.core.gaussian import density, orthant, tail


def paper_sigma(threshold, fan_in=1000):
    return theory.optimal_sigma(threshold, fan_in)


def test_slope_at_threshold_one_is_closed_form():
    points = theory.fixed_points(paper_sigma(1.0), 1000, 1.0)
    active = points[-1]
    # a simple root: h = g - q has h'(1) = S - 1 = -0.24, so a round-off e <= 1e-14 in h moves
    # it by e / 0.24 = 4e-14 (see the bisection test for e); slope and rate are forward values
    assert active.q == pytest.approx(1.0, rel=1e-12)
    want = 1.0 * density(1.0) / (2 * tail(1.0))
    assert want == pytest.approx(0.7625676380804, rel=1e-12)
    assert active.slope == pytest.approx(want, rel=1e-10)
    assert active.stable
    assert active.rate == pytest.approx(tail(1.0), rel=1e-12)


def test_slope_matches_sympy_derivative():
    lam = derivation.lambdified()
    for threshold in (0.3, 1.0, 2.0):
        for q in (0.2, 1.0, 3.0):
            sigma = 0.05
            want = lam["map_slope"](threshold, q, 500, sigma**2)
            assert theory.length_map_slope(q, sigma, 500, threshold) == pytest.approx(want, rel=1e-12)
            want_map = lam["next_variance"](threshold, q, 500, sigma**2)
            assert theory.length_map(q, sigma, 500, threshold) == pytest.approx(want_map, rel=1e-13)
    assert lam["fixed_point_slope"](1.0) == pytest.approx(0.7625676380804, rel=1e-12)


def test_zero_is_a_stable_fixed_point_with_zero_slope():
    for threshold in (0.5, 1.0, 1.5):
        zero = theory.fixed_points(paper_sigma(threshold), 1000, threshold)[0]
        assert zero.q == 0.0 and zero.slope == 0.0 and zero.stable and zero.rate == 0.0


def test_critical_threshold_matches_mpmath_root():
    """critical_threshold() against the 50-digit mpmath root of S(z) = z phi(z) / (2 Q(z)) = 1.

    The root is well conditioned: dS/dz = (3 - z^2) / z = 1.33 at z_c (from S = 1), so a
    computed S with relative error of a few ulps (exp in phi, ndtr in Q) moves z_c by
    ~1e-15, and brentq stops at xtol + 4 eps |z| ~ 2e-15. rel = 1e-14 holds on any IEEE-754
    machine whatever SIMD path numpy's exp takes."""
    mpmath.mp.dps = 50
    z_c = mpmath.findroot(lambda z: z * mpmath.npdf(z) / (2 * mpmath.ncdf(-z)) - 1, 1.19)
    assert theory.critical_threshold() == pytest.approx(float(z_c), rel=1e-14)
    assert theory.critical_threshold(2.25) == pytest.approx(1.5 * float(z_c), rel=1e-14)


def test_critical_threshold_agrees_with_bisection():
    """Independent bisection on the fixed-point slope reported by fixed_points (which finds the
    q* = 1 point numerically), 60 halvings of [1, 1.5].

    Tolerance, from the conditioning of this route (not of critical_threshold, checked to
    1e-14 against mpmath above). At theta_c the slope at q* = 1 is 1, so h(q) = g(q) - q has a
    double root there (a transcritical crossing of two fixed points). Near it, with
    x = q - 1, a = S(theta) - 1 ~= S' (theta - theta_c) and e the round-off in computed h,

        h(x) ~= a x + (g''/2) x^2 + e,    g''(1) = S (z^2 - 3) / 2 = -0.79,
        S' = dS/dtheta = (3 - z^2) / z = 1.33          (both at z = theta_c, S = 1).

    The computed root near 1 sits at x ~= -e / a, where the slope is 1 + a - g'' e / a; its
    side of 1 (the bisection's decision) is right only while a^2 > |g'' e|, and for
    a^2 < 2 |g'' e| the two roots can vanish or swap. So the located threshold is uncertain by

        |theta - theta_c| <= sqrt(2 |g''| e) / S'.

    e: h(1) = n sigma^2 Q(theta) - 1 with sigma = exp(0.5 (-log n - log Q(theta))); numpy's SIMD
    log/exp (up to ~4 ulp, path chosen per CPU) on log n = 6.9 and log Q = -2.1 give sigma^2 a
    relative error up to ~7e-15, plus ndtr's few ulps: e <= 1e-14 (45 ulp of 1). Hence
    sqrt(2 * 0.79 * 1e-14) / 1.33 = 9.4e-8 -> abs = 1e-7 (the 60 halvings add 4e-19).
    The bisection cannot do better than this sqrt(round-off) limit on any machine."""
    def unstable(threshold):
        points = theory.fixed_points(paper_sigma(threshold), 1000, threshold)
        at_one = min(points, key=lambda p: abs(p.q - 1.0))
        return at_one.slope > 1.0

    lo, hi = 1.0, 1.5
    assert not unstable(lo) and unstable(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if unstable(mid) else (mid, hi)
    critical = theory.critical_threshold()
    assert critical == pytest.approx(0.5 * (lo + hi), abs=1e-7)  # sqrt(2|g''| e)/S', docstring
    assert 1.18 < critical < 1.20
    # with q* = 4 the critical threshold scales by sqrt(q*)
    assert theory.critical_threshold(4.0) == pytest.approx(2 * critical, rel=1e-12)


def test_basin_boundary_separates_silence_from_activity():
    sigma = paper_sigma(1.0)
    boundary = theory.basin_boundary(sigma, 1000, 1.0)
    assert boundary is not None and 0.0 < boundary.q < 1.0 and not boundary.stable
    below = theory.propagate(400, sigma, 1000, 1.0, q0=boundary.q * (1 - 1e-6))
    above = theory.propagate(400, sigma, 1000, 1.0, q0=boundary.q * (1 + 1e-6))
    assert below.q[-1] < 1e-12
    assert above.q[-1] == pytest.approx(1.0, rel=1e-9)


def test_above_critical_threshold_q_star_is_unstable_and_runs_away():
    threshold = 1.4
    points = theory.fixed_points(paper_sigma(threshold), 1000, threshold)
    at_one = min(points, key=lambda p: abs(p.q - 1.0))
    # simple root again: S(1.4) - 1 = 0.30, so e / 0.30 ~ 3e-14 (far from the double root at theta_c)
    assert at_one.q == pytest.approx(1.0, rel=1e-10) and not at_one.stable
    active = theory.stable_fixed_point(paper_sigma(threshold), 1000, threshold)
    assert active.q > 1.0
    run = theory.propagate(300, paper_sigma(threshold), 1000, threshold, q0=1.0 + 1e-6)
    assert run.q[-1] == pytest.approx(active.q, rel=1e-8)


def test_depth_scale():
    slope = 1.0 * density(1.0) / (2 * tail(1.0))
    assert theory.depth_scale(paper_sigma(1.0), 1000, 1.0) == pytest.approx(-1 / np.log(slope), rel=1e-9)
    # Kaiming at threshold 1 has only the silent fixed point: depth scale 0
    assert theory.depth_scale(np.sqrt(2 / 1000), 1000, 1.0) == 0.0


def test_propagate_shapes_and_fixed_point():
    # at the stable point each layer adds a round-off e <= 1e-14 and contracts the earlier ones by
    # S = 0.76: |q_l - 1| <= e / (1 - 0.76) = 4e-14 at any depth
    run = theory.propagate(100, paper_sigma(1.0), 1000, 1.0)
    assert run.q.shape == run.rate.shape == (101,)
    np.testing.assert_allclose(run.q, 1.0, rtol=1e-12)
    np.testing.assert_allclose(run.rate, tail(1.0), rtol=1e-12)
    kaiming = theory.propagate(10, np.sqrt(2 / 1000), 1000, 1.0)
    assert kaiming.rate[0] == pytest.approx(tail(1.0)) and kaiming.rate[-1] == 0.0
    assert theory.propagate(0, 0.1, 10, 1.0).q.shape == (1,)


def test_propagate_per_layer_widths():
    widths = [100, 200, 400]
    sigmas = [theory.optimal_sigma(1.0, n) for n in widths]
    run = theory.propagate(3, sigmas, widths, 1.0)
    np.testing.assert_allclose(run.q, 1.0, rtol=1e-12)


def test_orthant_against_scipy_and_mpmath():
    for z in (-1.0, 0.0, 0.5, 1.0, 2.5):
        for c in (-0.9, -0.3, 0.0, 0.4, 0.95, 0.999):
            cov = [[1, c], [c, 1]]
            want = stats.multivariate_normal(mean=[0, 0], cov=cov).cdf([-z, -z])
            # scipy's CDF is accurate to ~1e-8 (Genz); compare at that level
            assert orthant(z, c) == pytest.approx(want, abs=2e-8)
    # mpmath at 30 digits via the same Plackett integral but adaptive (tanh-sinh) quadrature
    mpmath.mp.dps = 30
    for z, c in ((1.0, 0.5), (2.0, -0.5), (0.3, 0.99)):
        q = mpmath.erfc(z / mpmath.sqrt(2)) / 2
        integral = mpmath.quad(lambda r: mpmath.exp(-z**2 / (1 + r)) / mpmath.sqrt(1 - r**2), [0, c])
        want = q**2 + integral / (2 * mpmath.pi)
        # (2, -0.5) cancels: Q^2 = 5.2e-4 against a result of 3.2e-6 (condition 318), so abs
        # governs there: 4-ulp SIMD exp/sin/arcsin errors on terms of 5e-4 are ~5e-19 << 1e-16
        assert orthant(z, c) == pytest.approx(float(want), rel=1e-13, abs=1e-16)
    assert orthant(1.0, 1.0) == pytest.approx(tail(1.0), rel=1e-13)
    assert orthant(1.0, -1.0) == pytest.approx(0.0, abs=1e-15)


def test_correlation_map_fixed_point_and_slopes():
    sigma = paper_sigma(1.0)
    assert theory.correlation_map(1.0, sigma, 1000, 1.0) == pytest.approx(1.0, rel=1e-13)
    # uncorrelated inputs -> output correlation Q(theta) (bias 0, q = q* = 1): P2 = Q^2
    assert theory.correlation_map(0.0, sigma, 1000, 1.0) == pytest.approx(tail(1.0), rel=1e-12)
    c_star, slope = theory.correlation_fixed_point(sigma, 1000, 1.0)
    assert 0 < c_star < 1 and 0 < slope < 1
    assert theory.correlation_map(c_star, sigma, 1000, 1.0) == pytest.approx(c_star, abs=1e-12)
    # slope near c = 1 grows without bound (step nonlinearity)
    slopes = [meanfield.correlation_slope(1 - eps, sigma, 1000, 1.0) for eps in (1e-2, 1e-4, 1e-8)]
    assert slopes[0] < slopes[1] < slopes[2] and slopes[2] > 1e2
    # finite-difference check of the analytic slope away from 1
    h = 1e-6
    fd = (theory.correlation_map(0.5 + h, sigma, 1000, 1.0) - theory.correlation_map(0.5 - h, sigma, 1000, 1.0)) / (2 * h)
    assert meanfield.correlation_slope(0.5, sigma, 1000, 1.0) == pytest.approx(fd, rel=1e-7)


def test_correlation_map_monte_carlo():
    """Monte Carlo twin of the correlation map: pairs of N(0,1)-membrane inputs with correlation
    c, spikes through one wide layer. 2e5 pairs x fresh weights; the estimator's std is about
    3e-3, so the 5-sigma tolerance 0.015 has a false-positive rate < 1e-6."""
    rng = np.random.default_rng(7)
    n, pairs, c, threshold = 200, 1000, 0.5, 1.0
    sigma = paper_sigma(threshold, n)
    estimates = []
    for _ in range(20):
        x = rng.standard_normal((pairs, n))
        y = c * x + np.sqrt(1 - c**2) * rng.standard_normal((pairs, n))
        w = sigma * rng.standard_normal((n, n))
        ua, ub = (x > threshold) @ w, (y > threshold) @ w
        estimates.append(np.mean(ua * ub) / np.sqrt(np.mean(ua**2) * np.mean(ub**2)))
    want = theory.correlation_map(c, sigma, n, threshold)
    assert np.mean(estimates) == pytest.approx(want, abs=0.015)


@pytest.mark.parametrize("call, name", [
    (lambda: theory.propagate(-1, 0.1, 10, 1.0), "depth"),
    (lambda: theory.propagate(2.5, 0.1, 10, 1.0), "depth"),
    (lambda: theory.propagate(3, -0.1, 10, 1.0), "sigma_w"),
    (lambda: theory.propagate(3, np.nan, 10, 1.0), "sigma_w"),
    (lambda: theory.propagate(3, 0.1, 0, 1.0), "fan_in"),
    (lambda: theory.propagate(3, 0.1, 10, np.inf), "threshold"),
    (lambda: theory.propagate(3, 0.1, 10, 1.0, q0=-1.0), "q0"),
    (lambda: theory.propagate(3, 0.1, 10, 1.0, bias_var=-1.0), "bias_var"),
    (lambda: theory.fixed_points(0.1, 10, np.nan), "threshold"),
    (lambda: theory.correlation_map(1.5, 0.1, 10, 1.0), "c"),
    (lambda: theory.rate_map(1.5, 0.1, 10, 1.0), "rate"),
    (lambda: theory.critical_threshold(0.0), "target_var"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
