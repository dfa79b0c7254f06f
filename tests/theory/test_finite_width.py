"""Exact spike-count chain (theory.chains.spike_count) against enumeration, mean field and itself.

Deterministic checks; no sampling. Tolerances are float64 round-off unless stated.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from theory.chains import spike_count as fw
from theory import optimal_sigma, propagate, tail


def _enumerate_paths(widths, sigmas, threshold, q0, bias_var):
    """P(k_L = m) by summing over every spike pattern of every layer (2^(n_0 + ... + n_L) paths).

    Each neuron of layer l fires independently given the pattern below with probability
    Q(theta / sqrt(sigma_l^2 |pattern| + bias_var)): a per-pattern, per-neuron product with no
    binomial coefficients, matrices or pruning, so it checks the chain's algebra independently.
    """
    def fire_prob(q):
        if q <= 0:
            return 1.0 if threshold < 0 else 0.0
        return float(tail(threshold / np.sqrt(q)))

    def pattern_prob(pattern, p):
        return np.prod([p if s else 1.0 - p for s in pattern])

    layers = [list(itertools.product((0, 1), repeat=n)) for n in widths]
    p0 = fire_prob(q0)
    probs = {pat: pattern_prob(pat, p0) for pat in layers[0]}
    for l in range(1, len(widths)):
        new = dict.fromkeys(layers[l], 0.0)
        for below, mass in probs.items():
            p = fire_prob(sigmas[l - 1] ** 2 * sum(below) + bias_var)
            for pat in layers[l]:
                new[pat] += mass * pattern_prob(pat, p)
        probs = new
    out = np.zeros(widths[-1] + 1)
    for pat, mass in probs.items():
        out[sum(pat)] += mass
    return out


@pytest.mark.parametrize("widths, sigmas, threshold, q0, bias_var", [
    ([3, 3, 3, 3], [0.9, 0.9, 0.9], 1.0, 1.0, 0.0),
    ([2, 5, 4, 3], [1.3, 0.4, 0.8], 0.5, 2.0, 0.0),
    ([4, 3, 5, 2], [0.7, 1.1, 0.5], 1.5, 1.0, 0.3),      # biases: silence not absorbing
    ([3, 4, 2, 4], [0.6, 0.9, 1.2], -0.3, 0.5, 0.0),     # negative threshold: p(0) = 1
])
def test_chain_matches_brute_force_enumeration(widths, sigmas, threshold, q0, bias_var):
    """Distribution of the last layer's count equals the enumeration over all 2^(sum n) paths
    to 1e-12 (float64 round-off of sums of ~1e4 products)."""
    chain = fw.spike_count_chain(len(widths) - 1, widths, threshold, sigma_w=sigmas, q0=q0, bias_var=bias_var)
    expected = _enumerate_paths(widths, sigmas, threshold, q0, bias_var)
    np.testing.assert_allclose(chain.distribution[-1], expected, rtol=0, atol=1e-12)


def test_transition_matrix_rows_are_binomial_pmfs():
    """Rows are scipy's Binomial pmf (independent implementation) to 1e-12 relative; p(0) = 0."""
    sigma, n_in, n_out = 0.2, 40, 60
    matrix = fw.transition_matrix(n_in, n_out, sigma, threshold=1.0)
    k = np.arange(n_in + 1)
    p = tail(1.0 / (sigma * np.sqrt(np.maximum(k, 1))))
    p[0] = 0.0
    expected = stats.binom.pmf(np.arange(n_out + 1)[None, :], n_out, p[:, None])
    np.testing.assert_allclose(matrix, expected, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-12)


def test_tiny_probabilities_are_not_lost_in_log_space():
    """p = Q(30) ~ 5e-198: P(k = 1) = n p (1-p)^(n-1) must be accurate, not 0 (linear-space
    pmf would underflow p^k for k >= 2 but must still give this row)."""
    matrix = fw.transition_matrix(1, 10, sigma_w=1.0 / 30.0, threshold=1.0)
    p = tail(30.0)
    assert matrix[1, 1] == pytest.approx(10 * p * (1 - p) ** 9, rel=1e-10)
    assert matrix[1, 0] == pytest.approx(1.0, rel=1e-12)


def test_probability_is_conserved_and_silence_is_absorbing():
    chain = fw.spike_count_chain(60, 150, 1.0)
    for d in chain.distribution:
        assert d.sum() == pytest.approx(1.0, abs=1e-10)
    assert np.all(np.diff(chain.silent) >= -1e-15)
    assert chain.truncated_mass < 1e-290


def test_input_options_agree():
    """q0, the equivalent input_rate, and the equivalent input pmf give the same chain."""
    n, q0, theta = 80, 1.7, 1.0
    rate = tail(theta / np.sqrt(q0))
    a = fw.spike_count_chain(5, n, theta, q0=q0)
    b = fw.spike_count_chain(5, n, theta, input_rate=rate)
    c = fw.spike_count_chain(5, n, theta, input_distribution=stats.binom.pmf(np.arange(n + 1), n, rate))
    # a, b: the same rate (theta / sqrt(q0): correctly rounded ops, one ndtr) -> the same chain
    # up to BLAS blocking, <= depth (n + 1) u = 5 * 81 * 1.1e-16 = 4.5e-14 (see the test below).
    np.testing.assert_allclose(a.distribution[-1], b.distribution[-1], atol=1e-13)
    # c: scipy's binomial pmf vs the chain's log-space one (log C(80, k) from lgamma(81) = 272,
    # ulp 5.7e-14: a few 1e-13 relative on entries <= 0.1); 1e-12 absolute covers it.
    np.testing.assert_allclose(a.distribution[-1], c.distribution[-1], atol=1e-12)


def test_uncached_wide_layers_give_the_same_answer(monkeypatch):
    """The row-on-demand path (layers too big to cache) equals the cached-matrix path."""
    cached = fw.spike_count_chain(8, 300, 1.0)
    monkeypatch.setattr(fw, "_CACHE_ENTRIES", 10)
    uncached = fw.spike_count_chain(8, 300, 1.0)
    # Same rows, same vector-matrix product; only the BLAS kernel's blocking (alignment, CPU
    # kind) may differ. A product of non-negative terms in any order errs by <= (n + 1) u of
    # the exact entry (<= 1), and a stochastic matrix does not amplify earlier errors, so the
    # two pmfs differ by at most depth (n + 1) u = 8 * 301 * 1.1e-16 = 2.7e-13 on any machine.
    np.testing.assert_allclose(uncached.distribution[-1], cached.distribution[-1], rtol=0, atol=3e-13)


def test_init_name_and_explicit_sigma_agree():
    n = 200
    by_name = fw.spike_count_chain(10, n, 1.0, init="micheli")
    by_sigma = fw.spike_count_chain(10, n, 1.0, sigma_w=optimal_sigma(1.0, n))
    np.testing.assert_allclose(by_name.rate_mean, by_sigma.rate_mean, rtol=1e-13)
    assert by_name.gaussian_weights
    assert not fw.spike_count_chain(3, n, 1.0, init="pytorch_default").gaussian_weights


def test_meanfield_is_the_infinite_width_limit_at_rate_one_over_n():
    """n (E[k_L/n] - p_L^MF) converges to the delta-method coefficient c_L, and the remainder
    is O(1/n): |n diff - c_L| roughly halves when n doubles. The halving ratio is itself
    2 + O(1/n), so we require it to approach 2 (|ratio - 2| shrinking by > 1.5x per doubling;
    measured 2.31, 2.12, 2.06 at 1000/2000/4000/8000). Depth 10, theta 1, paper's init
    (mean-field rate constant at Q(1))."""
    depth, theta = 10, 1.0
    widths = [1000, 2000, 4000]
    remainders = []
    for n in widths:
        chain = fw.spike_count_chain(depth, n, theta)
        expansion = fw.finite_width_expansion(depth, n, theta)
        mf = propagate(depth, optimal_sigma(theta, n), n, theta).rate
        np.testing.assert_allclose(expansion.rate_meanfield, mf, rtol=1e-13)
        remainders.append(n * (chain.rate_mean[-1] - mf[-1]) - expansion.bias[-1])
        # the spread is O(1/sqrt n), to first order the expansion's
        assert chain.rate_std[-1] == pytest.approx(expansion.rate_std[-1], rel=10.0 / n ** 0.5)
    assert expansion.bias[-1] < 0  # finite width lowers the mean rate (Q is concave here)
    ratios = np.array(remainders[:-1]) / np.array(remainders[1:])
    np.testing.assert_allclose(ratios, 2.0, atol=0.35)
    assert abs(ratios[1] - 2.0) < abs(ratios[0] - 2.0) / 1.5
    assert abs(remainders[-1]) < 0.05 * abs(expansion.bias[-1])


def test_meanfield_fails_where_silence_is_likely():
    """theta = 1, paper's init, depth 100: width 100 is silent in most draws (mean field says
    rate Q(1) = 0.159 at every depth); width 1000 survives in > 95 % of draws."""
    narrow = fw.spike_count_chain(100, 100, 1.0)
    wide = fw.spike_count_chain(100, 1000, 1.0)
    assert narrow.silent[-1] > 0.9
    assert narrow.rate_mean[-1] < 0.1 * tail(1.0)
    assert wide.survival[-1] > 0.95
    assert wide.rate_mean[-1] == pytest.approx(tail(1.0), rel=0.1)


def test_min_width_is_the_first_width_reaching_the_target():
    """Bisection assumes survival grows with width; a full scan of widths 1..answer confirms
    that the answer is the first width reaching 99 % (depth 10, theta 1, paper's init)."""
    answer = fw.min_width(10, 1.0, survival=0.99)
    scan = np.array([fw.survival_probability(10, n, 1.0) for n in range(1, answer + 1)])
    assert scan[-1] >= 0.99
    assert np.all(scan[:-1] < 0.99)


def test_survival_depth_brackets_the_target():
    n, theta = 300, 1.0
    depth = fw.survival_depth(200, n, theta, survival=0.9)
    alive = fw.spike_count_chain(200, n, theta).survival
    assert alive[depth] >= 0.9 > alive[depth + 1]


@pytest.mark.parametrize("criterion", ["rate", "survival"])
def test_finite_width_sigma_hits_its_target(criterion):
    n, depth, theta = 200, 30, 1.0
    sigma = fw.finite_width_sigma(n, depth, theta, criterion=criterion, survival=0.9)
    chain = fw.spike_count_chain(depth, n, theta, sigma_w=sigma)
    if criterion == "rate":
        assert chain.rate_mean[-1] == pytest.approx(tail(theta), rel=1e-6)
        assert sigma > optimal_sigma(theta, n)  # dying networks must be compensated
    else:
        assert chain.survival[-1] == pytest.approx(0.9, abs=1e-6)


def test_finite_width_sigma_tends_to_the_paper_sigma():
    """At large width the rate-keeping sigma approaches the paper's: the relative excess
    shrinks at least 3-fold from n = 250 to n = 2000 (it is O(1/n) by the expansion)."""
    excess = [fw.finite_width_sigma(n, 10, 1.0) / optimal_sigma(1.0, n) - 1.0 for n in (250, 2000)]
    assert 0 < excess[1] < excess[0] / 3


@pytest.mark.parametrize("kwargs, name", [
    ({"depth": -1, "width": 10}, "depth"),
    ({"depth": 3, "width": 0}, "width"),
    ({"depth": 3, "width": [10, 10]}, "width"),
    ({"depth": 3, "width": 10, "threshold": np.nan}, "threshold"),
    ({"depth": 3, "width": 10, "sigma_w": -1.0}, "sigma_w"),
    ({"depth": 3, "width": 10, "sigma_w": [1.0, 1.0]}, "sigma_w"),
    ({"depth": 3, "width": 10, "sigma_w": 1.0, "init": "kaiming"}, "sigma_w"),
    ({"depth": 3, "width": 10, "init": "nope"}, "name"),
    ({"depth": 3, "width": 10, "input_rate": 1.5}, "input_rate"),
    ({"depth": 3, "width": 10, "input_distribution": [0.5, 0.5]}, "input_distribution"),
    ({"depth": 3, "width": 10, "bias_var": -0.1}, "bias_var"),
])
def test_bad_input_raises_value_error_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        fw.spike_count_chain(**kwargs)


def test_min_width_reports_unreachable_targets():
    with pytest.raises(ValueError, match="max_width"):
        fw.min_width(100, 1.0, survival=0.999, max_width=50)


def test_min_width_for_several_depths_equals_separate_searches():
    both = fw.min_width([5, 20], 1.0, survival=0.9)
    assert list(both) == [fw.min_width(5, 1.0, survival=0.9), fw.min_width(20, 1.0, survival=0.9)]
    assert both[0] <= both[1]
