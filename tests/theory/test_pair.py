"""Pair (two-input) mean field over depth and time, theory/meanfield/pair.py: exact limits, the
estimator against an independent simulation, and the fixed point / depth scale.

Statistical tests are seeded; each states where its tolerance comes from and its
false-positive rate.
"""
import numpy as np
import pytest
from scipy import stats

from theory import correlation_fixed_point, correlation_map, optimal_sigma, propagate, propagate_temporal
from theory.core.gaussian import orthant, tail
from theory.meanfield.pair import (
    GROUPS, bivariate_tail, pair_fixed_point, pair_input, pair_moments, propagate_pair,
)
from theory.meanfield.temporal import RESETS
from theory.chains.gram import lif_spikes

FAN_IN = 500


@pytest.mark.parametrize("h,k", [(0.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.5, -0.3), (-2.0, 1.5), (2.0, 2.0),
                                 (-3.0, -3.0), (4.0, 3.9), (1.2, 1.2), (-0.0, 1.0)])
@pytest.mark.parametrize("rho", [-0.999999, -0.95, -0.5, 0.0, 0.29, 0.31, 0.74, 0.76, 0.924, 0.93, 0.999, 0.999999])
def test_bivariate_tail_against_scipy(h, k, rho):
    """scipy's bivariate normal CDF (Genz's algorithm, double precision) at (-h, -k): both are
    accurate to ~1e-15; tolerance 1e-12 (the branches switch at |rho| = 0.3, 0.75, 0.925)."""
    expected = stats.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]]).cdf([-h, -k])
    assert abs(bivariate_tail(h, k, rho) - expected) < 1e-12


def test_bivariate_tail_limits_and_orthant():
    """rho = +-1 closed forms; at h = k it is theory.core.gaussian.orthant (to rounding)."""
    h = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(bivariate_tail(h, 0.4, 1.0), tail(np.maximum(h, 0.4)), rtol=0, atol=1e-16)
    np.testing.assert_allclose(bivariate_tail(h, 0.4, -1.0), np.maximum(tail(h) - tail(-0.4), 0), atol=1e-16)
    for rho in (-0.9, -0.3, 0.2, 0.6, 0.9, 0.97):
        np.testing.assert_allclose(bivariate_tail(h, h, rho), orthant(h, rho), rtol=0, atol=2e-15)
    with pytest.raises(ValueError, match="rho"):
        bivariate_tail(0.0, 0.0, 1.5)


@pytest.mark.parametrize("method", ["exact", "sample"])
@pytest.mark.parametrize("threshold,bias_var,c0,std", [(1.0, 0.0, 0.3, 1.0), (0.5, 0.2, -0.4, 1.5),
                                                      (1.5, 0.05, 0.9, 0.8), (0.0, 0.0, 0.6, 1.0)])
def test_one_step_equals_correlation_map(method, threshold, bias_var, c0, std):
    """At T = 1 the pair map is the correlation map of Poole et al.: iterate
    c_l = correlation_map(c_{l-1}, q = q_{l-1}) from c_0 = c0, q_0 = std^2 with q_l from
    theory.propagate. "exact" uses theory.core.gaussian.orthant (the same formula: rounding,
    1e-14); "sample" evaluates the bivariate orthant by bivariate_tail and has no sampling
    error at the first step (tolerance 1e-12 over 12 layers of a contracting map)."""
    sigma_w = optimal_sigma(max(threshold, 0.5), FAN_IN)
    result = propagate_pair(12, 1, sigma_w, FAN_IN, threshold, encoding="gaussian", input_correlation=c0,
                            input_std=std, bias_var=bias_var, method=method, samples=64)
    q = propagate(12, sigma_w, FAN_IN, threshold, q0=std ** 2, bias_var=bias_var).q
    expected = [c0]
    for layer in range(12):
        expected.append(correlation_map(expected[-1], sigma_w, FAN_IN, threshold, q=q[layer], bias_var=bias_var))
    tolerance = 1e-14 if method == "exact" else 1e-12
    np.testing.assert_allclose(result.current_correlation[:, 0], expected, rtol=0, atol=tolerance)
    rate = tail(threshold / np.sqrt(q))
    both = orthant(threshold / np.sqrt(q), np.array(expected))
    # the compiled kernel uses erfc, theory.tail scipy ndtr: they differ by ~1e-12 relative in the
    # far tail (rates ~1e-11 where the stack dies at threshold 1.5)
    np.testing.assert_allclose(result.rate[:, 0], rate, rtol=1e-11)
    # conditioning: an absolute error ~1e-16 in P2 becomes ~1e-16 / rate in the correlation
    np.testing.assert_allclose(result.spike_correlation[:, 0], (both - rate ** 2) / (rate * (1 - rate)),
                               rtol=0, atol=100 * tolerance + 1e-15 / rate.min())
    np.testing.assert_allclose(result.count_correlation, result.spike_correlation[:, 0], rtol=0, atol=1e-13)
    assert np.all(result.rate_se < 1e-15) and np.all(result.spike_correlation_se < 1e-12)


def test_one_step_fixed_point_equals_correlation_fixed_point():
    """pair_fixed_point at T = 1 is correlation_fixed_point at the length map's q* (exact),
    and the sampled version (central differences on the exact first step, step 0.01 x rate)
    has the analytic slope up to the O(h^2) truncation error (< 1e-4)."""
    for threshold, bias_var in ((1.0, 0.0), (0.7, 0.3)):
        sigma_w = optimal_sigma(threshold, FAN_IN)
        c_star, slope = correlation_fixed_point(sigma_w, FAN_IN, threshold, q=1.0 if bias_var == 0 else
                                                propagate(200, sigma_w, FAN_IN, threshold, bias_var=bias_var).q[-1],
                                                bias_var=bias_var)
        exact = pair_fixed_point(1, sigma_w, FAN_IN, threshold, bias_var=bias_var)
        assert exact.c_star == pytest.approx(c_star, abs=1e-12) and exact.slope == pytest.approx(slope, abs=1e-12)
        assert exact.xi_c == pytest.approx(-1.0 / np.log(slope), rel=1e-12)
        sampled = pair_fixed_point(1, sigma_w, FAN_IN, threshold, bias_var=bias_var, method="sample", samples=64,
                                   depth=100, average=20, step=0.01)
        assert sampled.c_star == pytest.approx(c_star, abs=1e-9)
        assert abs(sampled.slope - slope) < 1e-4


@pytest.mark.parametrize("encoding", ["gaussian", "static", "bernoulli"])
@pytest.mark.parametrize("beta,reset", [(0.5, "subtract"), (0.9, "zero"), (0.0, "none")])
def test_identical_inputs_follow_propagate_temporal(encoding, beta, reset):
    """Two identical inputs (input correlation 1): each input's rates are those of
    propagate_temporal with the same seed (a's paths use its stream: common random numbers,
    equal up to rounding, rtol 1e-9), and the correlation is 1 at every layer and step (to
    rounding; c = 1 is an unstable fixed point, so an estimator that did not keep the two
    paths identical would drift away from it within a few layers). Cells with rate below
    1e-6 (dead steps) are skipped: there the correlation is 0/0 up to rounding."""
    sigma_w = optimal_sigma(1.0, FAN_IN)
    kwargs = dict(encoding=encoding, input_rate=0.2, samples=3000, seed=5)
    pair = propagate_pair(15, 4, sigma_w, FAN_IN, 1.0, beta, reset, input_correlation=1.0, **kwargs)
    single = propagate_temporal(15, 4, sigma_w, FAN_IN, 1.0, beta, reset, **kwargs)
    np.testing.assert_allclose(pair.rate, single.rate, rtol=1e-9, atol=1e-15)
    alive = (pair.rate > 1e-6) & (pair.rate < 1 - 1e-6)
    np.testing.assert_allclose(pair.spike_correlation[alive], 1.0, atol=1e-9)
    np.testing.assert_allclose(pair.current_correlation[1:][alive[:-1]], 1.0, atol=1e-9)
    np.testing.assert_allclose(pair.count_correlation[alive.any(axis=1)], 1.0, atol=1e-9)


def _block_cov(T, seed):
    # an exchangeable pair covariance [[A, B], [B, A]] taken from a real pair mean field (layer 3)
    sigma_w = optimal_sigma(1.0, FAN_IN)
    result = propagate_pair(3, T, sigma_w, FAN_IN, 1.0, 0.5, "subtract", input_correlation=0.6, samples=4000,
                            seed=seed)
    return result.current_cov[3]


@pytest.mark.parametrize("reset", RESETS)
def test_independent_currents_factorise(reset):
    """Independent current processes (cross covariance 0, no bias): the cross second moment
    M_ab[t, t'] = E[s^a[t]] E[s^b[t']] = r[t] r[t'] (T = 3, beta 0.5). 40 000 paths; each of
    the 9 entries inside 4.0 group standard errors (Student t, 15 dof, two-sided p = 1.1e-3
    each, <= 1 % for the 9) of its estimate minus r r^T computed group by group."""
    T = 3
    cov = _block_cov(T, 1)
    cov[:T, T:] = cov[T:, :T] = 0.0
    rng = np.random.default_rng(2)
    moment, groups = pair_moments(cov, 1.0, 0.5, reset, rng.standard_normal((40000, T)),
                                  rng.standard_normal((40000, T)))
    rate = np.diag(moment[:T, :T])
    gap = moment[:T, T:] - np.outer(rate, rate)
    group_rate = np.diagonal(groups[:, :T, :T], axis1=1, axis2=2)
    group_gap = groups[:, :T, T:] - np.einsum("gi,gj->gij", group_rate, group_rate)
    se = group_gap.std(axis=0, ddof=1) / np.sqrt(GROUPS)
    # + 1e-14: the first step's entry is exact (se 0) up to rounding
    assert np.all(np.abs(gap) <= stats.t.isf(0.5 * 1.1e-3, GROUPS - 1) * se + 1e-14)
    assert np.all(rate > 0.05)


def test_independent_inputs_factorise_at_the_input_and_not_above():
    """c0 = 0 with Bernoulli spikes: the input layer's cross moment is r r^T exactly, but layer
    1's currents are correlated through the shared weights: C_ab = fan_in sigma^2 r r^T > 0, so
    the layers above are not independent (spike trains have a non-zero mean). (Independent
    Gaussian currents factorise within Monte Carlo error: test_independent_currents_factorise.)"""
    sigma_w = optimal_sigma(1.0, FAN_IN)
    spikes = propagate_pair(2, 3, sigma_w, FAN_IN, encoding="bernoulli", input_rate=0.3, samples=2000)
    np.testing.assert_allclose(spikes.cross_moment[0], 0.09 * np.ones((3, 3)), rtol=1e-14)
    np.testing.assert_allclose(spikes.current_cov[1][:3, 3:], FAN_IN * sigma_w ** 2 * 0.09, rtol=1e-12)
    assert np.all(spikes.current_correlation[1] > 0.1)


@pytest.mark.parametrize("reset", RESETS)
def test_pair_moments_match_plain_simulation(reset):
    """An estimator that shares nothing with the conditional one: 400 000 draws of the 2T = 6
    dimensional Gaussian current (numpy multivariate_normal), LIF by theory.chains.gram.lif_spikes
    with 0/1 spikes, plain means of s_i s_j. All 21 distinct entries of M (the estimator
    symmetrises a <-> b, so the plain estimate is symmetrised the same way) inside 4.6
    standard errors of the difference (binomial se of the plain mean, group se of the
    conditional one; two-sided normal p = 4.2e-6 each, < 0.01 % for 21 x 3 comparisons)."""
    T = 3
    cov = _block_cov(T, 7)
    beta = 0.5
    rng = np.random.default_rng(8)
    moment, groups = pair_moments(cov, 1.0, beta, reset, rng.standard_normal((100000, T)),
                                  rng.standard_normal((100000, T)))
    currents = rng.multivariate_normal(np.zeros(2 * T), cov, size=400000, method="eigh")
    spikes = np.concatenate([lif_spikes(currents[:, :T], 1.0, beta, reset),
                             lif_spikes(currents[:, T:], 1.0, beta, reset)], axis=1)
    plain = spikes.T @ spikes / spikes.shape[0]
    swap = np.r_[np.arange(T, 2 * T), np.arange(T)]
    plain = 0.5 * (plain + plain[np.ix_(swap, swap)])
    plain = 0.5 * (plain + plain.T)
    se = np.sqrt(plain * (1 - plain) / spikes.shape[0] + groups.var(axis=0, ddof=1) / GROUPS)
    upper = np.triu_indices(2 * T)
    z = np.abs(moment - plain)[upper] / se[upper]
    assert np.max(z) < stats.norm.isf(0.5 * 4.2e-6), np.max(z)
    assert np.all(np.diag(plain) > 0.05)


def test_standard_errors_are_honest():
    """The group standard error of the spike correlation (one layer, fixed input covariance)
    against the spread over 24 independent seeds: the ratio of the variances is F(23, 15)
    distributed for a correct se (steps 2 and 3 of T = 3; the first step is exact; two-sided
    1 % each, 2 % overall)."""
    T = 3
    cov = _block_cov(T, 3)
    values, errors = [], []
    for seed in range(24):
        rng = np.random.default_rng(100 + seed)
        _, groups = pair_moments(cov, 1.0, 0.5, "subtract", rng.standard_normal((4000, T)),
                                 rng.standard_normal((4000, T)))
        rate = np.diagonal(groups[:, :T, :T], axis1=1, axis2=2)
        corr = (np.diagonal(groups[:, :T, T:], axis1=1, axis2=2) - rate ** 2) / (rate * (1 - rate))
        full = groups.mean(axis=0)
        r = np.diag(full[:T, :T])
        values.append((np.diag(full[:T, T:]) - r * r) / (r * (1 - r)))
        errors.append(corr.std(axis=0, ddof=1) / np.sqrt(GROUPS))
    # step 1 is exact (se 0): compare steps 2 and 3
    ratio = np.var(values, axis=0, ddof=1)[1:] / np.mean(np.square(errors), axis=0)[1:]
    assert np.all(ratio > stats.f.ppf(0.005, 23, 15 * 24)) and np.all(ratio < stats.f.isf(0.005, 23, 15 * 24)), ratio


def test_first_step_mode_is_the_one_step_slope():
    """The map is causal in time, so its Jacobian is block-triangular and the first step's
    block is the T = 1 correlation map's slope at c* (paper's init: 0.4758); the reported slope
    is the largest of the per-step slopes and xi_c = -1/ln(slope). Tolerance: the O(h^2)
    truncation error of the central difference at step 0.02 (< 2e-4; no sampling error enters
    the first step)."""
    sigma_w = optimal_sigma(1.0, FAN_IN)
    _, one_step = correlation_fixed_point(sigma_w, FAN_IN, 1.0)
    result = pair_fixed_point(3, sigma_w, FAN_IN, 1.0, beta=0.5, samples=4000, depth=30, average=10, step=0.02)
    assert abs(result.step_slopes[0] - one_step) < 2e-4
    assert result.slope == pytest.approx(np.nanmax(result.step_slopes), rel=1e-12)      # NaN: dead step
    assert result.slope == pytest.approx(np.max(np.abs(result.spectrum)), rel=1e-12)
    assert result.xi_c == pytest.approx(-1.0 / np.log(result.slope), rel=1e-12)
    assert 0.0 < result.c_star < 1.0 and result.rate.shape == (3,)


def test_silent_stack_has_no_correlation():
    """A gain below the one-step saddle-node kills the stack (q* = 0): c*, slope, xi_c are NaN."""
    result = pair_fixed_point(1, 0.5 * optimal_sigma(1.0, FAN_IN), FAN_IN, 1.0)
    assert np.isnan(result.c_star) and np.isnan(result.slope) and np.isnan(result.xi_c)


def test_pair_input_encodings():
    """Layer 0 as documented: gaussian / static covariance blocks, Bernoulli M_0 with
    P(both spike) = r^2 + c0 r (1 - r) at the same step and r^2 across steps."""
    kind, cov = pair_input(3, "gaussian", 0.4, 2.0)
    assert kind == "current"
    np.testing.assert_allclose(cov, 4.0 * np.kron([[1.0, 0.4], [0.4, 1.0]], np.eye(3)))
    kind, cov = pair_input(3, "static", -0.5, 1.0)
    np.testing.assert_allclose(cov, np.kron([[1.0, -0.5], [-0.5, 1.0]], np.ones((3, 3))))
    kind, moment = pair_input(2, "bernoulli", 0.5, input_rate=0.2)
    assert kind == "spikes"
    np.testing.assert_allclose(moment[:2, 2:], [[0.04 + 0.5 * 0.16, 0.04], [0.04, 0.04 + 0.5 * 0.16]])
    np.testing.assert_allclose(moment[:2, :2], [[0.2, 0.04], [0.04, 0.2]])


def test_same_seed_same_result_and_seed_matters():
    args = (5, 3, optimal_sigma(1.0, 300), 300, 1.0, 0.5, "zero")
    a = propagate_pair(*args, input_correlation=0.3, seed=3, samples=2000)
    b = propagate_pair(*args, input_correlation=0.3, seed=3, samples=2000)
    c = propagate_pair(*args, input_correlation=0.3, seed=4, samples=2000)
    np.testing.assert_array_equal(a.second_moment, b.second_moment)
    assert not np.array_equal(a.second_moment, c.second_moment)


@pytest.mark.parametrize("kwargs,name", [
    ({"input_correlation": 1.5}, "input_correlation"), ({"input_correlation": np.nan}, "input_correlation"),
    ({"encoding": "bernoulli", "input_rate": 0.2, "input_correlation": -0.2}, "input_correlation"),
    ({"encoding": "bernoulli"}, "input_rate"), ({"T": 0}, "T"), ({"method": "exact"}, "T"),
    ({"samples": 10}, "samples"), ({"encoding": "poisson"}, "encoding"), ({"reset": "hard"}, "reset"),
    ({"beta": 1.5}, "beta"), ({"sigma_w": -1.0}, "sigma_w"), ({"fan_in": 0}, "fan_in"),
    ({"bias_var": -0.1}, "bias_var"), ({"threshold": np.inf}, "threshold"), ({"method": "fast"}, "method"),
    ({"sigma_w": [0.1, 0.1]}, "sigma_w"), ({"seed": -3}, "seed"), ({"seed": 1.5}, "seed"),
])
def test_bad_input_names_the_argument(kwargs, name):
    args = {"depth": 3, "T": 4, "sigma_w": 0.1, "fan_in": 100, **kwargs}
    with pytest.raises(ValueError, match=name):
        propagate_pair(**args)


@pytest.mark.parametrize("kwargs,name", [
    ({"average": 0}, "average"), ({"average": 120}, "average"), ({"step": 0.7}, "step"), ({"step": 0.0}, "step"),
    ({"sigma_w": [0.1, 0.2]}, "sigma_w"), ({"depth": -1}, "depth"),
])
def test_fixed_point_bad_input_names_the_argument(kwargs, name):
    args = {"T": 2, "sigma_w": 0.1, "fan_in": 100, "samples": 64, **kwargs}
    with pytest.raises(ValueError, match=name):
        pair_fixed_point(**args)


def test_a_defective_leading_mode_has_an_undefined_error_not_a_warning():
    import warnings

    from theory.meanfield.pair import _leading_mode
    # a nilpotent Jacobian (what a silent block of steps gives): left and right eigenvectors of the
    # leading eigenvalue are orthogonal, so the delta-method error is undefined
    jacobian = np.array([[0.0, 1.0], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        slope, se = _leading_mode(jacobian, np.stack([jacobian] * 4))
    assert slope == 0.0 and np.isnan(se)
    diagonal = np.diag([0.5, 0.2])
    groups = diagonal + np.array([[[0.01, 0], [0, 0]], [[-0.01, 0], [0, 0]]] * 2)
    slope, se = _leading_mode(diagonal, groups)
    assert slope == 0.5 and se == pytest.approx(np.std([0.51, 0.49] * 2, ddof=1) / 2)
