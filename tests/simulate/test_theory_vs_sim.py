"""Theory against simulation at the first step (T = 1) with i.i.d. N(0, 1) input currents.

Two theories are compared with run_network through the Monte Carlo harness:
- mean field (theory.propagate via theory.inits.predict): infinite width;
- the exact finite-width spike-count chain (theory.chains.spike_count.spike_count_chain), exact in
  expectation for Gaussian weights at any width (docs/theory.md §4).

Finding (documented in the report): at finite width the mean field is biased by O(1/n). For the
paper's init at theta = 1 the chain's stationary rate is 0.1569 at width 2000 and 0.156 at
width 1000 instead of Q(1) = 0.1587 (the rate map is concave there, so fluctuations of the
spike count lower the mean; mem_var inherits the bias, 0.989 at width 2000). Per layer this is
below one standard error of 10 draws, so mean field passes the per-layer test, but a pooled
statistic over layers sees it; the chain passes the pooled test. Near silence the bias is
large and of the other sign (Kaiming, layer 2, width 1000: chain rate 2.6e-4 against mean-field
1.4e-4, the map being convex there), and at width 100 mean field fails completely: it predicts
a rate of 0.159 at depth 100 where 98 % of samples are silent, which the chain predicts.
"""
import numpy as np
import pytest
from scipy import stats

from simulate.montecarlo import monte_carlo
from theory import inits
from theory.chains.spike_count import spike_count_chain

ALPHA = 0.01


def _family_critical(cells, draws):
    """Bonferroni critical |t| for `cells` simultaneous Student-t comparisons at level ALPHA."""
    return stats.t.ppf(1.0 - ALPHA / (2 * cells), draws - 1)


def _pooled_t(per_draw, expected):
    """t statistic of the per-draw values against an expected mean."""
    return (per_draw.mean() - expected) / (per_draw.std(ddof=1) / np.sqrt(per_draw.size))


def _check_micheli(width, depth, draws, batch, seed):
    mc = monte_carlo("micheli", depth, width, threshold=1.0, steps=1, batch=batch, draws=draws, seed=seed)
    theory = inits.predict("micheli", depth, width, threshold=1.0)
    # per layer, mean field: all 2 (depth + 1) cells jointly, family-wise false-positive rate <= 1 %
    # (the finite-width bias is < 0.5 se per layer at these sizes, so it barely moves this rate)
    critical = _family_critical(2 * (depth + 1), draws)
    z_rate = (mc.rate[:, 0] - theory.rate) / mc.rate_se[:, 0]
    z_var = (mc.mem_var[:, 0] - theory.q) / mc.mem_var_se[:, 0]
    assert np.all(np.abs(z_rate) < critical), z_rate
    assert np.all(np.abs(z_var) < critical), z_var
    # pooled over layers 1..L, against the exact chain (E[u_l^2] = sigma^2 E[k_{l-1}]):
    # one two-sided t-test each at 1 % (false-positive rate ~2 % for the pair)
    chain = spike_count_chain(depth, width, 1.0, init="micheli")
    gain = width * inits.weight_std("micheli", width, width, 1.0) ** 2
    pooled_rate = mc.rate_draws[:, 1:, 0].mean(axis=1)
    pooled_var = mc.mem_var_draws[:, 1:, 0].mean(axis=1)
    critical_one = stats.t.ppf(1.0 - ALPHA / 2, draws - 1)
    assert abs(_pooled_t(pooled_rate, chain.rate_mean[1:].mean())) < critical_one
    assert abs(_pooled_t(pooled_var, gain * chain.rate_mean[:-1].mean())) < critical_one
    return mc


def test_micheli_keeps_rate_and_variance_of_mean_field_width_1000_depth_30():
    """Reduced size for the default suite (the issue's size is the slow test below)."""
    _check_micheli(width=1000, depth=30, draws=8, batch=32, seed=11)


@pytest.mark.slow
def test_micheli_keeps_rate_and_variance_of_mean_field_width_2000_depth_50():
    """The issue's configuration: width 2000, depth 50, T = 1, N(0, 1) input."""
    _check_micheli(width=2000, depth=50, draws=12, batch=64, seed=12)


def _check_ann_init_dies(name, width, depth, draws, batch, seed):
    """Kaiming/Xavier: where mean field expects many spikes the simulation matches it; where
    both mean field and the chain expect fewer than 1e-3 spikes over all draws, the simulated
    layers are exactly silent (false-positive rate <= 1e-3 per layer by Markov's inequality)."""
    mc = monte_carlo(name, depth, width, threshold=1.0, steps=1, batch=batch, draws=draws, seed=seed,
                     keep_active=True)
    theory = inits.predict(name, depth, width, threshold=1.0)
    chain = spike_count_chain(depth, width, 1.0, init=name)
    spikes_expected = draws * batch * width * np.maximum(theory.rate, chain.rate_mean)
    busy = np.nonzero(spikes_expected >= 1000)[0]
    dead = np.nonzero(spikes_expected < 1e-3)[0]
    assert busy.size >= 2 and dead.size >= depth - 3     # the theory says they die within ~3 layers
    z = (mc.rate[busy, 0] - theory.rate[busy]) / mc.rate_se[busy, 0]
    assert np.all(np.abs(z) < _family_critical(busy.size, draws)), z
    assert np.all(mc.active[:, dead] == 0)
    assert np.all(mc.silent[dead, 0] == 1.0)
    return mc, theory, chain


@pytest.mark.parametrize("name", ["kaiming", "xavier"])
def test_ann_inits_go_silent_where_theory_says_width_1000(name):
    _check_ann_init_dies(name, width=1000, depth=10, draws=6, batch=32, seed=21)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kaiming", "xavier"])
def test_ann_inits_go_silent_where_theory_says_width_2000_depth_50(name):
    _check_ann_init_dies(name, width=2000, depth=50, draws=6, batch=64, seed=22)


def test_near_silence_the_chain_is_right_and_mean_field_too_low():
    """Kaiming, width 1000, layer 2: the rate map is convex near silence, so spike-count
    fluctuations RAISE the mean rate: chain 2.6e-4 versus mean field 1.4e-4. The chain's value
    lies inside the 99 % t-interval over 30 draws (false-positive rate ~1 %); mean field lies
    outside it (this is the finding, asserted so that a change is noticed)."""
    mc = monte_carlo("kaiming", 2, 1000, threshold=1.0, steps=1, batch=32, draws=30, seed=31)
    chain = spike_count_chain(2, 1000, 1.0, init="kaiming")
    meanfield = inits.predict("kaiming", 2, 1000, threshold=1.0)
    assert mc.rate_low[2, 0] <= chain.rate_mean[2] <= mc.rate_high[2, 0]
    assert not mc.rate_low[2, 0] <= meanfield.rate[2] <= mc.rate_high[2, 0]


def test_narrow_network_dies_as_the_chain_predicts_not_as_mean_field():
    """Width 100, depth 100, paper's init: mean field predicts rate Q(1) = 0.159 at every layer,
    the exact chain predicts P(silent at layer 100) = 0.98 per sample. Per draw, the fraction of
    silent samples at layer 100; its 99 % t-interval over 40 draws must contain the chain's
    value (false-positive rate ~1 %), and the mean-field rate must lie far above the simulated
    rate interval."""
    depth = 100
    mc = monte_carlo("micheli", depth, 100, threshold=1.0, steps=1, batch=16, draws=40, seed=41,
                     keep_active=True)
    chain = spike_count_chain(depth, 100, 1.0, init="micheli")
    silent_fraction = (mc.active[:, depth, 0, :] == 0).mean(axis=1)
    mean = silent_fraction.mean()
    half = stats.t.ppf(1 - ALPHA / 2, mc.draws - 1) * silent_fraction.std(ddof=1) / np.sqrt(mc.draws)
    assert abs(mean - chain.silent[depth]) <= half + 1e-12 or (half == 0 and abs(mean - chain.silent[depth]) < 0.03)
    meanfield = inits.predict("micheli", depth, 100, threshold=1.0)
    assert meanfield.rate[depth] > mc.rate_high[depth, 0] + 0.1
