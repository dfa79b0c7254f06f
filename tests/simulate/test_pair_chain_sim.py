"""Exact finite-width pair chain (theory.chains.pair_chain) against simulated networks.

One chain is one pair of inputs (a, b) through one network draw, so each simulated network gets
a batch of exactly one pair (drawn as the chain draws it) and fresh float32 weights
N(0, sigma^2). Measured per network and layer: each input's time-averaged rate and the
across-neuron Pearson correlation of the two inputs' spike counts (per-input means), the
chain's definition. Interval per cell (layer x quantity):

    |mean_sim - mean_chain| <= t_{1 - alpha/(2 m), D - 1} sqrt(se_sim^2 + se_chain^2)

with alpha = 0.01 and m the number of cells (Bonferroni): a correct chain fails a configuration
by chance with probability <= 1 % (2 configurations: <= 2 %). Layers whose mean rate is below
0.01 are skipped (the correlation of nearly silent layers is mostly undefined).
The chain is exact in law, so this holds at any width; the infinite-width pair mean field is not,
and at the authors' width 100 the same interval rejects it (second test): finite width lowers the
correlation of the two inputs' counts in the deeper layers.
"""
import numpy as np
import pytest
from scipy import stats

from simulate import run_network
from theory import optimal_sigma
from theory.meanfield.pair import propagate_pair
from theory.chains.pair_chain import pair_chain

C0, BETA, DEPTH, T = 0.5, 0.5, 8, 4
ALPHA = 0.01


def _simulate(width, encoding, draws, seed):
    """(draws, DEPTH + 1) count correlations and time-averaged rates of input a."""
    rng = np.random.default_rng(seed)
    sigma = np.float32(optimal_sigma(1.0, width))
    corr, rate = np.full((draws, DEPTH + 1), np.nan), np.empty((draws, DEPTH + 1))
    steps = T if encoding == "gaussian" else 1
    for d in range(draws):
        a = rng.standard_normal((steps, 1, width))
        b = C0 * a + np.sqrt(1 - C0 * C0) * rng.standard_normal((steps, 1, width))
        currents = np.broadcast_to(np.concatenate([a, b], axis=1), (T, 2, width)).astype(np.float32)
        weights = [rng.standard_normal((width, width), dtype=np.float32) * sigma for _ in range(DEPTH)]
        result = run_network(weights, currents, beta=BETA, threshold=1.0, record_spikes=True)
        for l, spikes in enumerate(result.spikes):
            counts = spikes.sum(axis=0).astype(np.float64)     # (2, width)
            rate[d, l] = counts[0].mean() / T
            with np.errstate(invalid="ignore", divide="ignore"):
                corr[d, l] = np.corrcoef(counts)[0, 1] if counts.std(axis=1).min() > 0 else np.nan
    return corr, rate


def _check(simulated, predicted_mean, predicted_se, mask):
    cells = int(mask.sum())
    mean = np.array([np.nanmean(column) for column in simulated.T])
    counts = np.array([np.isfinite(column).sum() for column in simulated.T])
    se = np.array([np.nanstd(column, ddof=1) for column in simulated.T]) / np.sqrt(counts)
    bound = stats.t.ppf(1 - ALPHA / (2 * cells), counts.min() - 1) * np.hypot(se, predicted_se)
    return np.abs(mean - predicted_mean)[mask], bound[mask]


@pytest.mark.parametrize("encoding", ["gaussian", "static"])
def test_chain_has_the_law_of_simulated_pairs(encoding):
    width, draws, chains = 100, 300, 600
    corr, rate = _simulate(width, encoding, draws, seed=21)
    chain = pair_chain(DEPTH, width, T, optimal_sigma(1.0, width), beta=BETA, encoding=encoding,
                       input_correlation=C0, chains=chains, seed=22)
    chain_rate = chain.rate[:, :, 0].mean(axis=2)
    live = chain_rate.mean(0) >= 0.01
    mask = np.concatenate([live, live])
    simulated = np.concatenate([corr, rate], axis=1)
    predicted = np.concatenate([chain.correlation_mean, chain_rate.mean(0)])
    predicted_se = np.concatenate([chain.correlation_se, chain_rate.std(0, ddof=1) / np.sqrt(chains)])
    gap, bound = _check(simulated, predicted, predicted_se, mask)
    assert np.all(gap <= bound), (gap, bound)


def test_mean_field_is_rejected_where_width_matters():
    """Width 100: the infinite-width pair mean field's count correlation lies outside the
    simulated interval in some layer (the chain's does not, above)."""
    width, draws = 100, 300
    corr, _ = _simulate(width, "gaussian", draws, seed=23)
    field = propagate_pair(DEPTH, T, optimal_sigma(1.0, width), width, beta=BETA, encoding="gaussian",
                           input_correlation=C0, samples=40000, seed=24)
    mask = np.isfinite(field.count_correlation) & (field.rate.mean(1) >= 0.01)
    gap, bound = _check(corr, field.count_correlation, np.nan_to_num(field.count_correlation_se), mask)
    assert np.any(gap > bound), (gap, bound)
