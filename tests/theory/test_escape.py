"""theory.regimes.escape: closed forms of the escape-noise network against quadrature and limits.

Every check here is deterministic (quadrature, root finding): tolerances come from the
quadrature's accuracy (scipy.quad to ~1e-10, 80-node Gauss-Hermite products to ~1e-9 for these
smooth integrands) or from the size of the limit being checked, stated where used.
"""
import numpy as np
import pytest
from scipy import integrate, stats

from theory.regimes import escape as E
from theory import inits
from theory.meanfield.maps import correlation_map as heaviside_map
from theory.meanfield.maps import correlation_slope as heaviside_slope
from theory.core.surrogates import probit

CONFIGS = [(1.0, 0.5, 1.0, 0.0), (1.0, 0.2, 2.5, 0.1), (0.5, 1.0, 0.7, 0.0), (1.5, 0.8, 4.0, 0.3)]


def _gauss_expectation(func, q):
    """E[func(u)] for u ~ N(0, q) by adaptive quadrature."""
    sd = np.sqrt(q)
    value, _ = integrate.quad(lambda u: func(u) * stats.norm.pdf(u, scale=sd), -12 * sd, 12 * sd,
                              epsabs=1e-13, epsrel=1e-11, limit=200)
    return value


@pytest.mark.parametrize("threshold,tau,q,_", CONFIGS)
def test_rate_is_the_gaussian_integral_of_the_escape_function(threshold, tau, q, _):
    expected = _gauss_expectation(lambda u: stats.norm.cdf((u - threshold) / tau), q)
    assert E.escape_rate(q, threshold, tau) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("threshold,tau,q,_", CONFIGS)
@pytest.mark.parametrize("c", [-0.6, 0.0, 0.45, 0.95])
def test_expected_pair_moment_is_a_bivariate_normal_orthant(threshold, tau, q, _, c):
    # E[f(u_a) f(u_b)], (u_a, u_b) ~ N(0, q [[1, c], [c, 1]]), u_a = sqrt(q) x, u_b = sqrt(q)(c x + s y):
    # the inner mean over y is the 1-d identity E_y Phi((a + b y)/tau) = Phi(a / sqrt(tau^2 + b^2)),
    # the outer one adaptive quadrature over x
    s = np.sqrt(1 - c * c)
    inner = lambda x: stats.norm.cdf((np.sqrt(q) * c * x - threshold) / np.sqrt(tau**2 + q * s * s))  # noqa: E731
    quad = _gauss_expectation(lambda x: stats.norm.cdf((np.sqrt(q) * x - threshold) / tau) * inner(x), 1.0)
    z = threshold / np.sqrt(q + tau * tau)
    closed = E._p2(z, q / (q + tau * tau) * c)
    assert closed == pytest.approx(quad, abs=1e-10)


@pytest.mark.parametrize("threshold,tau,q,_", CONFIGS)
def test_chi_closed_form_equals_quadrature_of_the_probit_surrogate(threshold, tau, q, _):
    sigma, fan_in = 0.3, 100
    second = _gauss_expectation(lambda u: probit(u - threshold, 1.0 / tau) ** 2, q)
    assert E.chi(sigma, fan_in, threshold, tau, q) == pytest.approx(fan_in * sigma**2 * second, rel=1e-9)


@pytest.mark.parametrize("threshold,tau,q,bias_var", CONFIGS)
@pytest.mark.parametrize("network", E.NETWORKS)
def test_slope_is_the_derivative_of_the_map(threshold, tau, q, bias_var, network):
    args = (0.25, 100, threshold, tau, q, bias_var, network)
    for c in (-0.5, 0.1, 0.6):
        h = 1e-6   # central difference: truncation ~ h^2 |c'''| ~ 1e-12, round-off ~ 1e-16 / h ~ 1e-10
        numeric = (E.correlation_map(c + h, *args) - E.correlation_map(c - h, *args)) / (2 * h)
        assert E.correlation_slope(c, *args) == pytest.approx(numeric, rel=1e-6)


def test_small_noise_recovers_the_heaviside_map():
    # tau -> 0: z -> theta/sqrt q and kappa -> 1; at tau = 1e-4 the change is O(tau^2 / q) ~ 1e-8
    sigma, fan_in, threshold, q, b = 0.27, 100, 1.0, 1.3, 0.05
    for c in (0.0, 0.3, 0.8):
        assert E.correlation_map(c, sigma, fan_in, threshold, 1e-4, q, b) == pytest.approx(
            heaviside_map(c, sigma, fan_in, threshold, q, b), abs=1e-6)
        assert E.correlation_slope(c, sigma, fan_in, threshold, 1e-4, q, b) == pytest.approx(
            heaviside_slope(c, sigma, fan_in, threshold, q, b), rel=1e-5)


@pytest.mark.parametrize("threshold,tau,_,bias_var", CONFIGS)
@pytest.mark.parametrize("gain", [2.0, 6.3, 30.0, 200.0])
def test_stochastic_network_is_always_ordered(threshold, tau, _, bias_var, gain):
    """One fixed point c* < 1, slope < 1, identical inputs decorrelate (c_same < 1), and the
    convexity bound slope <= 1 - (1 - c_same) / (1 - c*) (docs/theory.md §9 "Stochastic firing")."""
    point = E.escape_fixed_point(np.sqrt(gain / 100), 100, threshold, tau, bias_var)
    assert point.c_star < 1 and point.c_same < 1
    assert 0 < point.slope < 1
    assert point.slope <= 1 - (1 - point.c_same) / (1 - point.c_star) + 1e-12
    assert E.correlation_map(point.c_star, point.sigma_w, 100, threshold, tau, point.q, bias_var) == pytest.approx(
        point.c_star, abs=1e-12)


def test_expected_network_has_an_edge_of_chaos():
    """The rate network: slope at c = 1 equals chi (Poole et al.'s chi_1 = g E[f'^2]) and crosses 1
    (ordered at small gain with bias, chaotic at large gain)."""
    threshold, tau, bias_var = 1.0, 0.5, 0.2
    phases = []
    for gain in (1.0, 3.0, 10.0, 40.0, 150.0):
        point = E.escape_fixed_point(np.sqrt(gain / 100), 100, threshold, tau, bias_var, network="expected")
        slope_at_one = E.correlation_slope(1.0 - 1e-13, point.sigma_w, 100, threshold, tau, point.q, bias_var,
                                           network="expected")
        assert slope_at_one == pytest.approx(point.chi, rel=1e-5)
        phases.append(point.c_star < 1)
        if point.c_star == 1.0:
            assert point.chi <= 1 and point.slope == pytest.approx(point.chi)
    assert phases[0] is False and phases[-1] is True


@pytest.mark.parametrize("threshold,tau", [(1.0, 0.5), (1.0, 1.0), (0.5, 0.5), (2.0, 3.0)])
def test_critical_sigma_puts_chi_at_one_on_the_active_branch(threshold, tau):
    sigma = E.critical_sigma(100, threshold, tau)
    point = E.escape_fixed_point(sigma, 100, threshold, tau)
    assert point.chi == pytest.approx(1.0, abs=1e-9)
    assert point.rate > 0.05          # the active branch, not the jump to a silent fixed point
    # scale invariance (u -> u / theta): the critical gain is theta^2 G(tau / theta)
    assert 100 * sigma**2 == pytest.approx(threshold**2 * 100 * E.critical_sigma(100, 1.0, tau / threshold) ** 2,
                                           rel=1e-8)


def test_no_critical_init_for_a_sharp_escape_function():
    # at theta = 1, tau = 0.2 the active branch has chi >= 1.9 (docs/theory.md §9 "Stochastic firing")
    with pytest.raises(ValueError, match="not reached on the active branch"):
        E.critical_sigma(100, 1.0, 0.2)


def test_registry_entry():
    assert "escape_critical" in inits.names()
    std = inits.weight_std("escape_critical", 100, threshold=1.0, tau=0.7)
    assert std == pytest.approx(E.critical_sigma(100, 1.0, 0.7))
    with pytest.raises(ValueError, match="tau"):
        inits.weight_std("escape_critical", 100, threshold=1.0, tau=-1.0)


def test_noise_cannot_raise_xi_c_above_the_heaviside_scan():
    """The largest xi_c over the weight gain decreases with tau (theta = 1, no bias): the
    escape-noise route does not lengthen the correlation depth scale."""
    xi = [E.max_xi_sigma(100, 1.0, tau)[1].xi_c for tau in (0.05, 0.5, 2.0)]
    assert xi[0] > xi[1] > xi[2]
    assert xi[0] < 1.7


@pytest.mark.parametrize("bad,match", [
    (dict(tau=0.0), "tau"), (dict(tau=float("nan")), "tau"), (dict(threshold=float("inf")), "threshold"),
    (dict(bias_var=-1.0), "bias_var"), (dict(network="rate"), "network"), (dict(sigma_w=-0.1), "sigma_w"),
])
def test_bad_inputs(bad, match):
    kwargs = dict(sigma_w=0.25, fan_in=100, threshold=1.0, tau=0.5, bias_var=0.0, network="stochastic")
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        E.escape_fixed_point(**kwargs)


def test_slope_of_a_zero_variance_output_is_refused_not_infinite():
    """sigma_w = 0 and bias_var = 0: no output variance, so neither the map nor its slope exists."""
    from theory.regimes import escape
    for function in (escape.correlation_map, escape.correlation_slope):
        with pytest.raises(ValueError, match="output variance is 0"):
            function(0.5, 0.0, 100, 1.0, 0.5)
