"""Convolution, pooling, batch norm and residual blocks: the mean field of the description
(theory.mean_field, docs/theory.md §11) against its simulation twin (simulate.monte_carlo: the
Numba kernels of simulate.conv_kernels on the same description), at depth 1-3 for every layer
kind and at depth 20 (slow), with the regimes where the infinite-channel theory does not hold.

Criterion: per row, the time-averaged rate and (where predicted) membrane variance, z = (sim -
theory) / sqrt(se_sim^2 + se_theory^2), the simulation's se over D = 10 independent draws (a
Student t with 9 degrees of freedom if the theory is right): |z| <= 6 has a false-positive rate
of 2e-4 per value, about 2e-3 per test (at most 8 values) and 3 % for the whole file. Finite
channel counts bias the simulation by O(1/channels) per layer (the per-channel offsets, and the
receptive field's random number of active inputs): the configurations below keep it below the
criterion at their depth, and the tests that say where the theory stops holding show the bias.
"""
import numpy as np
import pytest

import simulate
import theory
from theory import (LIF, SEW, AvgPool, BatchNorm, Conv, Flatten, Gaussian, MaxPool, MS, Network, Repeat,
                    mean_field, serial)

NEURON = LIF(1.0, 0.5)
LIMIT = 6.0


def _z(theory_value, theory_se, sim_value, sim_se):
    return (sim_value - theory_value) / np.hypot(sim_se, theory_se)


def _compare(net, draws=10, batch=16, samples=40000, seed=1, rows=None):
    """|z| per row of the time-averaged rate and membrane variance (NaN where not predicted)."""
    predicted = mean_field(net, samples=samples)
    measured = simulate.monte_carlo(net, draws=draws, batch=batch, seed=seed)
    rows = range(predicted.rate.shape[0]) if rows is None else rows
    z = []
    for quantity in ("rate", "mem_var"):
        theory_value = getattr(predicted, quantity).mean(axis=1)
        if np.all(np.isnan(theory_value)):
            continue
        theory_se = np.sqrt(np.mean(getattr(predicted, f"{quantity}_se") ** 2, axis=1))
        draws_mean = getattr(measured, f"{quantity}_draws").mean(axis=2)           # (D, rows)
        sim_se = draws_mean.std(axis=0, ddof=1) / np.sqrt(draws_mean.shape[0])
        z += [abs(_z(theory_value[r], theory_se[r], draws_mean[:, r].mean(), sim_se[r])) for r in rows
              if np.isfinite(theory_value[r])]
    return np.array(z), predicted, measured


CASES = {
    "conv 3x3 padding 1, T 4": Network(serial(NEURON, Conv(64, 3, padding=1), NEURON), input=(32, 12, 12), T=4),
    "conv 5x5 stride 2, threshold 0.8, T 2": Network(serial(LIF(0.8, 0.5), Conv(64, 5, stride=2), LIF(0.8, 0.5)),
                                                      input=(16, 16, 16), T=2),
    "conv1d 7 padding 3, zero reset, T 3": Network(serial(LIF(1.0, 0.5, "zero"), Conv(48, 7, padding=3),
                                                          LIF(1.0, 0.5, "zero")), input=(24, 40), T=3),
    "max pool of currents, T 1": Network(serial(NEURON, Conv(64, 3), MaxPool(2), NEURON), input=(32, 12, 12), T=1),
    "max pool of currents, T 3": Network(serial(NEURON, Conv(64, 3), MaxPool(2), NEURON), input=(32, 12, 12), T=3),
    # snnTorch's tutorial order with 'same' padding: every pooling window at a border has its own
    # law (fewer taps, less overlap with its neighbours); one law for the whole map put the second
    # pooled layer at 0.38 at step 1 where the simulation gives 0.51
    "padded conv, max pool of currents, twice, T 3": Network(serial(Conv(64, 3, padding=1), MaxPool(2), NEURON,
                                                                    Conv(64, 3, padding=1), MaxPool(2), NEURON),
                                                             input=(16, 16, 16), T=3),
    # a residual sum of two padded fields carries no tap structure: the pooled windows' cross-
    # covariances are the interior one scaled by each position's standard deviation
    "MS stream max-pooled on a padded map, T 2": Network(serial(Conv(64, 3, padding=1),
                                                                MS(serial(NEURON, Conv(64, 3, padding=1))),
                                                                MaxPool(2), NEURON), input=(16, 8, 8), T=2),
    "max pool of spikes (OR), T 3": Network(serial(NEURON, Conv(64, 3, padding=1), NEURON, MaxPool(2), Conv(64, 3),
                                                   NEURON), input=(32, 12, 12), T=3),
    "average pool of spikes, T 3": Network(serial(NEURON, Conv(64, 3, padding=1), NEURON, AvgPool(2), Conv(64, 3),
                                                  NEURON), input=(32, 12, 12), T=3),
    "average pool of currents, T 3": Network(serial(NEURON, Conv(64, 3), AvgPool(2), NEURON), input=(32, 12, 12),
                                             T=3),
    "batch norm over time, T 3": Network(serial(NEURON, Conv(64, 3), BatchNorm(), NEURON), input=(32, 12, 12), T=3),
    "batch norm per step, w 0.7 b 0.2, T 3": Network(serial(NEURON, Conv(64, 3), BatchNorm(0.7, 0.2, over="step"),
                                                             NEURON), input=(32, 12, 12), T=3),
    "two SEW ADD blocks, T 3": Network(serial(NEURON, Conv(64, 3, padding=1), NEURON,
                                              SEW(serial(Conv(64, 3, padding=1), NEURON)),
                                              SEW(serial(Conv(64, 3, padding=1), NEURON))), input=(32, 10, 10), T=3),
    "SEW IAND block, T 3": Network(serial(NEURON, Conv(64, 3, padding=1), NEURON,
                                          SEW(serial(Conv(64, 3, padding=1), NEURON), "iand")),
                                   input=(32, 10, 10), T=3),
    "two MS blocks with batch norm, T 3": Network(serial(NEURON, Conv(64, 3, padding=1),
                                                         MS(serial(NEURON, Conv(64, 3, padding=1), BatchNorm(0.5))),
                                                         MS(serial(NEURON, Conv(64, 3, padding=1), BatchNorm(0.5))),
                                                         NEURON), input=(32, 10, 10), T=3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_theory_agrees_with_simulation_at_shallow_depth(name):
    z, _, _ = _compare(CASES[name])
    assert z.size and np.all(z <= LIMIT), (name, z.round(2))


def test_max_pooling_without_the_spatial_correlation_is_rejected():
    """Pooled currents of one channel are correlated (shared kernel, spikes with a mean): rho =
    X / C = the input rate, 1/2 here (input threshold 0; weights for unit current variance). The
    theory with that correlation agrees with the simulation (the orthant probability with
    rho = 1/2: 0.375); the same rule with independent positions (1 - Phi(1)^4 = 0.499) is
    rejected: its |z| is more than twice the criterion (the power of the test)."""
    from scipy import stats
    net = Network(serial(LIF(0.0, 0.5), Conv(64, 3, weights=Gaussian(1 / np.sqrt(288 * 0.5))), MaxPool(2),
                         LIF(1.0, 0.5)), input=(32, 12, 12), T=1)
    z, predicted, measured = _compare(net)
    assert np.all(z <= LIMIT)
    independent = 1.0 - stats.norm.cdf(1.0) ** 4
    correlated, sim, se = predicted.rate[1, 0], measured.rate[1, 0], measured.rate_se[1, 0]
    assert correlated == pytest.approx(0.3736, abs=0.004)          # exchangeable orthant, rho = 1/2
    z_independent = (independent - sim) / se
    assert z_independent > 2 * LIMIT, (independent, sim, se)


@pytest.mark.parametrize("over", ["time", "step"])
def test_batch_norm_rate_does_not_depend_on_the_weight_scale(over):
    """Batch statistics remove the weight scale (eps = 1e-12 here, so to 1e-9): the rates do not
    depend on the gain of the convolution before the norm, in theory (to 1e-9) and simulation;
    at one step the neuron fires at Q((theta - b) / w)."""
    rates = []
    for gain in (0.25, 1.0, 4.0):
        net = Network(serial(NEURON, Conv(64, 3, gain=gain), BatchNorm(0.8, 0.1, eps=1e-12, over=over), NEURON),
                      input=(32, 12, 12), T=2)
        z, predicted, measured = _compare(net)
        assert np.all(z <= LIMIT)
        rates.append(predicted.rate[1])
    for rate in rates[1:]:
        np.testing.assert_allclose(rate, rates[0], rtol=1e-9)
    one_step = Network(serial(NEURON, Conv(64, 3), BatchNorm(0.8, 0.1, eps=1e-12, over=over), NEURON),
                       input=(32, 12, 12), T=1)
    assert mean_field(one_step).rate[1, 0] == pytest.approx(float(theory.tail((1.0 - 0.1) / 0.8)), rel=1e-12)


def test_border_units_fire_less_and_the_theory_follows_them():
    """'Same' padding: a border unit has fewer inputs. The per-position theory follows the
    simulation where averaging the borders into one law would not (its rate is off by more
    than the criterion at the third layer of a 6 x 6 map)."""
    net = Network(serial(NEURON, Repeat(serial(Conv(128, 3, padding=1), NEURON), 3)), input=(128, 6, 6), T=2)
    z, predicted, measured = _compare(net, draws=10, batch=8)
    assert np.all(z <= LIMIT)
    assert predicted.rate[3].mean() < 0.8 * predicted.rate[1].mean()       # the borders drain the map


# ------------------------------------------------------------------------------------ depth 20
@pytest.mark.slow
def test_twenty_padded_convolutions_of_256_channels_follow_the_theory():
    net = Network(serial(NEURON, Repeat(serial(Conv(256, 3, padding=1), NEURON), 20)), input=(256, 8, 8), T=2)
    z, _, _ = _compare(net, draws=10, batch=8, rows=range(0, 21, 4))
    assert np.all(z <= LIMIT), z.round(2)


def test_a_one_channel_first_layer_pools_below_the_theory():
    """Where the infinite-channel theory does not hold: snnTorch's tutorial CSNN starts with
    Conv2d(1, 12, 5) on an image, 25 inputs per unit, so each kernel's own correlation between
    neighbouring positions, sum_k w_k w_(k+d) / sum_k w_k^2, fluctuates by about 1/5 around the
    infinite-channel value 0, and max pooling turns those correlations into a lower rate than
    four independent currents give (the theory: 1 - Phi(1)^4). With 16 input channels (400
    inputs per unit) the same layer agrees with the theory."""
    def first_layer(channels):
        return Network(serial(Conv(12, 5, weights=Gaussian(1 / np.sqrt(25 * channels))), MaxPool(2), NEURON),
                       input=(channels, 28, 28), T=1)
    predicted = mean_field(first_layer(1), samples=100000)
    measured = simulate.monte_carlo(first_layer(1), draws=60, batch=32, seed=2)
    gap = (predicted.rate[0, 0] - measured.rate[0, 0]) / np.hypot(measured.rate_se[0, 0], predicted.rate_se[0, 0])
    assert gap > LIMIT, gap
    z, _, _ = _compare(first_layer(16), draws=20, batch=8, samples=100000)
    assert np.all(z <= LIMIT), z


@pytest.mark.slow
@pytest.mark.parametrize("blocks", [20])
def test_twenty_residual_blocks_keep_the_stream_where_the_theory_says(blocks):
    sew = Network(serial(NEURON, Conv(128, 3, padding=1), NEURON,
                         Repeat(SEW(serial(Conv(128, 3, padding=1, gain=0.5), NEURON), "add", 1 / np.sqrt(blocks)),
                                blocks)), input=(64, 8, 8), T=2)
    z, predicted, measured = _compare(sew, draws=10, batch=8, rows=range(0, blocks + 2, 5))
    assert np.all(z <= LIMIT), z.round(2)
    np.testing.assert_allclose(measured.stream.mean(axis=1), predicted.stream.mean(axis=1), rtol=0.05)
    ms = Network(serial(NEURON, Conv(128, 3, padding=1),
                        Repeat(MS(serial(NEURON, Conv(128, 3, padding=1), BatchNorm(1 / np.sqrt(blocks)))), blocks),
                        NEURON), input=(64, 8, 8), T=2)
    z, _, _ = _compare(ms, draws=10, batch=8, rows=range(0, blocks + 2, 5))
    assert np.all(z <= LIMIT), z.round(2)


@pytest.mark.slow
def test_twenty_batch_normalised_convolutions_keep_the_rate_the_theory_says():
    net = Network(serial(NEURON, Repeat(serial(Conv(128, 3), BatchNorm(), NEURON), 20)), input=(128, 42, 42), T=2)
    z, _, _ = _compare(net, draws=10, batch=4, rows=range(0, 21, 4))
    assert np.all(z <= LIMIT), z.round(2)
