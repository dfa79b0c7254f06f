"""The exact finite-width temporal (Gram) chain, theory/chains/gram.py.

Compared with:
- the exact spike-count chain of theory/chains/spike_count.py at T = 1 (a different exact
  computation of the same law: a pmf, no sampling) by a chi-square goodness-of-fit test;
- simulate.run_network (through simulate.monte_carlo with batch 1, so every draw is one
  independent network on one input, the chain's unit) by a two-sample Kolmogorov-Smirnov test
  of the time-averaged rate at the last layer and per (layer, step) Welch z-scores at a
  Bonferroni level.
Every test is seeded (deterministic); the levels below are the probabilities that a correct
chain would fail with other seeds (false positives), stated per test. Power: the same tests
reject a chain run with a 5 % wrong weight std.
"""
import numpy as np
import pytest
from scipy import stats

from simulate import monte_carlo
from theory import optimal_sigma, spike_count_chain
from theory import inits
from theory.chains.gram import rates_at_depth, lif_spikes, temporal_chain

ALPHA = 1e-3


def _pooled_chisquare(observed, expected):
    # pool the cells with expected count < 5 into one (the chi-square approximation needs them)
    keep = expected >= 5
    return stats.chisquare(np.append(observed[keep], observed[~keep].sum()),
                           np.append(expected[keep], expected[~keep].sum()))


def test_t1_is_the_spike_count_chain():
    """T = 1, width 30, depth 6, paper's sigma: the chain's distribution of k_6 over 20000 runs
    fits the exact pmf (chi-square, level 1e-3), and so does the silent fraction (binomial
    z < 3.3, two-sided level 1e-3)."""
    n, depth = 30, 6
    sigma = optimal_sigma(1.0, n)
    chain = temporal_chain(depth, n, 1, sigma, 1.0, 0.0, chains=20000, seed=1)
    exact = spike_count_chain(depth, n, 1.0, sigma_w=sigma)
    counts = np.rint(chain.rate[:, depth, 0] * n).astype(int)
    observed = np.bincount(counts, minlength=n + 1).astype(float)
    assert _pooled_chisquare(observed, exact.distribution[depth] * counts.size).pvalue > ALPHA
    p = exact.silent[depth]
    assert abs(chain.silent[depth] - p) < 3.3 * np.sqrt(p * (1 - p) / counts.size)


def test_t1_power_wrong_sigma_is_rejected():
    """The same chi-square test rejects the chain when its sigma is 5 % too large."""
    n, depth = 30, 6
    sigma = optimal_sigma(1.0, n)
    chain = temporal_chain(depth, n, 1, 1.05 * sigma, 1.0, 0.0, chains=20000, seed=1)
    exact = spike_count_chain(depth, n, 1.0, sigma_w=sigma)
    counts = np.rint(chain.rate[:, depth, 0] * n).astype(int)
    observed = np.bincount(counts, minlength=n + 1).astype(float)
    assert _pooled_chisquare(observed, exact.distribution[depth] * counts.size).pvalue < ALPHA


# (beta, reset, encoding, bias std): each reset and encoding once, and biases (constant in time)
CASES = [(0.5, "subtract", "gaussian", 0.0), (0.9, "zero", "static", 0.0), (0.0, "none", "bernoulli", 0.0),
         (0.5, "subtract", "gaussian", 0.4)]


def _simulated(beta, reset, encoding, bias_std=0.0, width=40, depth=8, T=5, draws=1500):
    return monte_carlo("micheli", depth, width, threshold=1.0, beta=beta, reset=reset, steps=T, batch=1,
                       draws=draws, seed=3, encoding=encoding, bias_std=bias_std,
                       input_rate=0.2 if encoding == "bernoulli" else None)


@pytest.mark.parametrize("beta,reset,encoding,bias_std", CASES)
def test_chain_has_the_law_of_the_network(beta, reset, encoding, bias_std):
    """Width 40, depth 8, T = 5 (narrow: far from mean field, some networks fall silent in
    the first case), each reset and encoding once, and once with N(0, 0.4^2) biases
    (bias_var = 0.16 in the chain). 1500 simulated networks vs 3000 chains:
    KS test of the last layer's time-averaged rate (level 1e-3; the rates are discrete, which
    makes the KS test conservative) and |Welch z| per (layer >= 1, step) below the Bonferroni
    critical value for 40 cells at two-sided level 1e-3 (normal approximation of the means)."""
    width, depth, T = 40, 8, 5
    sim = _simulated(beta, reset, encoding, bias_std)
    sigma = inits.weight_std("micheli", width, width, 1.0, beta)
    chain = temporal_chain(depth, width, T, sigma, 1.0, beta, reset, encoding=encoding, input_rate=0.2,
                           bias_var=bias_std ** 2, chains=3000, seed=4)
    simulated, predicted = sim.rate_draws.mean(axis=2)[:, depth], chain.time_averaged_rate[:, depth]
    assert stats.ks_2samp(simulated, predicted).pvalue > ALPHA
    draws = sim.rate_draws[:, 1:]
    se = np.sqrt(draws.var(axis=0, ddof=1) / len(draws) + chain.rate[:, 1:].var(axis=0, ddof=1) / chain.chains)
    gap = np.abs(draws.mean(axis=0) - chain.rate_mean[1:])
    z = np.where(se > 0, gap / np.where(se > 0, se, 1.0), np.where(gap == 0, 0.0, np.inf))
    assert np.max(z) < stats.norm.isf(ALPHA / (2 * z.size))


def test_chain_power_wrong_sigma_is_rejected():
    """Power of the KS comparison above: a chain with a 5 % larger weight std is rejected."""
    width, depth, T = 40, 8, 5
    sim = _simulated(0.5, "subtract", "gaussian")
    sigma = inits.weight_std("micheli", width, width, 1.0, 0.5)
    wrong = temporal_chain(depth, width, T, 1.05 * sigma, 1.0, 0.5, "subtract", chains=3000, seed=4)
    assert stats.ks_2samp(sim.rate_draws.mean(axis=2)[:, depth], wrong.time_averaged_rate[:, depth]).pvalue < ALPHA


def test_lif_spikes_matches_hand_computed_trajectories():
    """Hand-computed: I = (0.6, 0.6, 0.6, 1.5), theta = 1, beta = 0.9.
    subtract: u = 0.6, 1.14 (spike), 0.6 + 1.026 - 1 = 0.626, 1.5 + 0.5634 = 2.0634 (spike)
    zero:     u = 0.6, 1.14 (spike), 0.6, 1.5 + 0.54 = 2.04 (spike)
    none:     u = 0.6, 1.14, 1.626, 2.9634 (spikes from step 2 on)."""
    currents = np.array([0.6, 0.6, 0.6, 1.5])
    assert lif_spikes(currents, 1.0, 0.9, "subtract").tolist() == [0, 1, 0, 1]
    assert lif_spikes(currents, 1.0, 0.9, "zero").tolist() == [0, 1, 0, 1]
    assert lif_spikes(currents, 1.0, 0.9, "none").tolist() == [0, 1, 1, 1]


def test_static_input_and_silence_are_handled():
    """Singular Gram matrices (static input: rank 1; a silent layer: zero) give finite rates and
    a silent layer stays silent (no bias: k = 0 is absorbing)."""
    chain = temporal_chain(5, 20, 4, 0.05, 1.0, 0.5, "subtract", encoding="static", chains=50, seed=0)
    assert np.all(np.isfinite(chain.rate))
    assert np.all(chain.rate[:, 1:] == 0.0)                # sigma too small: silent from layer 1
    assert np.all(chain.silent[1:] == 1.0)


def test_reproducible_from_seed():
    a = temporal_chain(5, 50, 3, 0.3, 1.0, 0.5, chains=8, seed=7)
    b = temporal_chain(5, 50, 3, 0.3, 1.0, 0.5, chains=8, seed=7)
    c = temporal_chain(5, 50, 3, 0.3, 1.0, 0.5, chains=8, seed=8)
    assert np.array_equal(a.rate, b.rate)
    assert not np.array_equal(a.rate, c.rate)


def test_per_layer_widths_and_sigmas():
    """Varying widths: the rates are multiples of 1/n_l per layer."""
    widths = [10, 20, 30, 40]
    chain = temporal_chain(3, widths, 2, [0.4, 0.3, 0.25], 1.0, 0.5, chains=5, seed=0)
    for layer, n in enumerate(widths):
        assert np.allclose(chain.rate[:, layer] * n, np.rint(chain.rate[:, layer] * n))


@pytest.mark.parametrize("kwargs,name", [
    ({"width": 0}, "width"), ({"width": [10, 10]}, "width"), ({"sigma_w": -1.0}, "sigma_w"),
    ({"sigma_w": [0.1, 0.2]}, "sigma_w"), ({"chains": 0}, "chains"), ({"T": 0}, "T"),
    ({"beta": 1.5}, "beta"), ({"reset": "soft"}, "reset"), ({"encoding": "bernoulli"}, "input_rate"),
    ({"bias_var": -0.1}, "bias_var"), ({"depth": -1}, "depth"),
])
def test_bad_input_names_the_argument(kwargs, name):
    args = {"depth": 3, "width": 10, "T": 2, "sigma_w": 0.3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        temporal_chain(**args)


@pytest.mark.parametrize("beta,reset", [(0.5, "subtract"), (0.9, "zero"), (0.0, "none")])
def test_runs_to_depth_have_the_chains_law(beta, reset):
    """The per-run chain the temporal init searches on (rates_at_depth: one stream per run, a
    silent run stopped early) has the law of temporal_chain with Bernoulli input: width 40,
    depth 8, T 5, 3000 runs each, two-sample KS test of the time-averaged rate at depth 8 at
    level 1e-3 (discrete rates make it conservative); runs 0..c-1 do not depend on the number
    of runs (common random numbers for the search's stages)."""
    gain, width, depth, T = 6.5, 40, 8, 5
    runs = rates_at_depth(gain, depth, width, T, 1.0, beta, reset, 0.2, 3000, 11)
    chain = temporal_chain(depth, width, T, np.sqrt(gain / width), 1.0, beta, reset, encoding="bernoulli",
                           input_rate=0.2, chains=3000, seed=12).time_averaged_rate[:, depth]
    assert stats.ks_2samp(runs, chain).pvalue > ALPHA
    assert np.mean(runs == 0.0) > 0.0                      # the early stop was exercised
    assert np.array_equal(rates_at_depth(gain, depth, width, T, 1.0, beta, reset, 0.2, 16, 11), runs[:16])
