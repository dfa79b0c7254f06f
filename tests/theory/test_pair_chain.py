"""Exact finite-width pair chain (theory.chains.pair_chain): sharp identities and bad input.
Its law against simulated networks: tests/simulate/test_pair_chain_sim.py."""
import numpy as np
import pytest

from theory import optimal_sigma
from theory.chains.pair_chain import correlation_decay, pair_chain
from theory.chains.gram import temporal_chain


@pytest.mark.parametrize("encoding", ["gaussian", "static", "bernoulli"])
def test_identical_inputs_stay_identical(encoding):
    """c0 = 1: both inputs receive the same currents at every layer, so their count correlation
    is exactly 1 wherever defined and their rates are equal."""
    chain = pair_chain(6, 60, 3, optimal_sigma(1.0, 60), beta=0.5, encoding=encoding, input_correlation=1.0,
                       input_rate=0.2, chains=8, seed=4)
    defined = np.isfinite(chain.count_correlation)
    assert defined[:, :3].all()
    np.testing.assert_allclose(chain.count_correlation[defined], 1.0, atol=1e-12)
    np.testing.assert_array_equal(chain.rate[:, :, 0], chain.rate[:, :, 1])


def test_each_input_alone_has_the_law_of_the_temporal_chain():
    """Input a's rates are a sample of the one-input chain's law: compare means over chains
    (z test per layer and step, Bonferroni over the 4 x 3 cells at alpha = 0.01: a correct chain
    fails by chance with probability <= 1 %)."""
    depth, width, T, chains = 3, 80, 3, 400
    sigma = optimal_sigma(1.0, width)
    pair = pair_chain(depth, width, T, sigma, beta=0.5, encoding="gaussian", input_correlation=0.3,
                      chains=chains, seed=11).rate[:, :, 0]
    alone = temporal_chain(depth, width, T, sigma, beta=0.5, encoding="gaussian", chains=chains, seed=12).rate
    se = np.sqrt(pair.var(0, ddof=1) / chains + alone.var(0, ddof=1) / chains)
    z = np.abs(pair.mean(0) - alone.mean(0)) / se
    from scipy import stats
    assert z.max() < stats.norm.ppf(1 - 0.01 / (2 * z.size)), z


def test_reproducible_from_seed_and_seed_matters():
    args = (4, 50, 2, optimal_sigma(1.0, 50))
    one, two = pair_chain(*args, chains=3, seed=5), pair_chain(*args, chains=3, seed=5)
    np.testing.assert_array_equal(one.count_correlation, two.count_correlation)
    assert not np.array_equal(one.rate, pair_chain(*args, chains=3, seed=6).rate)


def test_correlation_decay_gap_shrinks_and_xi_is_positive():
    """Two starts converge to the same fixed point: the fitted scale is finite and positive."""
    result = correlation_decay(8, 200, 1, optimal_sigma(1.0, 200), chains=16, seed=3)
    assert 0.0 < result["xi"] < np.inf
    assert result["gap"][1] > result["gap"][6]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"input_correlation": 1.5}, "input_correlation must lie in [-1, 1]"),
    ({"input_correlation": -0.2, "encoding": "bernoulli", "input_rate": 0.2}, "input_correlation must lie in [0, 1]"),
    ({"input_correlation": float("nan")}, "input_correlation"),
    ({"chains": 0}, "chains"),
    ({"encoding": "poisson"}, "encoding"),
    ({"seed": -1}, "seed"),
])
def test_bad_input_is_named(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        pair_chain(2, 20, 2, 0.3, **kwargs)


def test_correlation_decay_needs_two_starts():
    with pytest.raises(ValueError, match="starts"):
        correlation_decay(2, 20, 1, 0.3, starts=(0.1, 0.5, 0.9))
