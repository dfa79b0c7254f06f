"""Cauchy-weight ('stable' init) networks simulated against theory.regimes.heavy_tailed.

Slow test: width 2000, depth 20, one step, Bernoulli(0.2) input pairs with spike correlation
0.5, 10 independent networks (fresh weights and inputs), 8 pairs each. Per layer, the mean over
networks of the rate is compared with the exact finite-width count chain and the pair spike
correlation with the large-n pair map by a t statistic over the 10 networks (df 9). Family of
40 comparisons at false-positive rate 1e-3: per comparison two-sided 2.5e-5, |t| < t_crit.
(The pair map is the large-n limit; its finite-width bias at n = 2000 is O(1/n), far below the
Monte Carlo error here.) Two deliberately wrong theories must be rejected: the Gaussian
(alpha = 2) rate map at the same gain, and no decorrelation (c_l = c_0).
"""
import numpy as np
import pytest
from scipy import stats

from simulate.backprop import forward_backward
from simulate.network import run_network
from simulate.train import TrainConfig, build_network
from theory.regimes import heavy_tailed as ht
from theory import inits

WIDTH, DEPTH, DRAWS, PAIRS, RATE0, CORR0 = 2000, 20, 10, 8, 0.2, 0.5


def _simulate(gain):
    rates, corrs = np.empty((DRAWS, DEPTH + 1)), np.empty((DRAWS, DEPTH + 1))
    for d in range(DRAWS):
        rng = np.random.default_rng([11, d])
        weights = [inits.sample_weights("stable", WIDTH, WIDTH, rng, threshold=1.0, gain=gain) for _ in range(DEPTH)]
        a = rng.random((1, PAIRS, WIDTH)) < RATE0
        same = rng.random((1, PAIRS, WIDTH)) < CORR0
        b = np.where(same, a, rng.random((1, PAIRS, WIDTH)) < RATE0)
        spikes = run_network(weights, np.concatenate([a, b], axis=1).astype(np.float32), beta=0.0, threshold=1.0,
                             input_is_spikes=True, record_spikes=True).spikes
        for layer, s in enumerate(spikes):
            sa, sb = s[:, :PAIRS].astype(np.float64), s[:, PAIRS:].astype(np.float64)
            r = 0.5 * (sa.mean() + sb.mean())
            rates[d, layer] = r
            corrs[d, layer] = (np.mean(sa * sb) - r * r) / (r * (1 - r))
    return rates, corrs


def _t(values, expected):
    return (values.mean(axis=0) - expected) / (values.std(axis=0, ddof=1) / np.sqrt(len(values)))


@pytest.mark.slow
def test_rates_and_pair_correlation_per_layer():
    gain = ht.gain_for_rate(0.1587, 1.0)
    rates, corrs = _simulate(gain)
    assert np.all(rates[:, -1] > 0.05)          # no network fell silent: the correlation is defined
    chain = ht.count_chain(DEPTH, WIDTH, 1.0, gain, rate0=RATE0)
    _, corr_theory = ht.propagate_pair(DEPTH, 1.0, gain, rate0=RATE0, correlation0=CORR0)
    t_crit = stats.t.ppf(1 - 2.5e-5 / 2, DRAWS - 1)
    t_rate, t_corr = _t(rates[:, 1:], chain.rate[1:]), _t(corrs[:, 1:], corr_theory[1:])
    assert np.max(np.abs(t_rate)) < t_crit, t_rate
    assert np.max(np.abs(t_corr)) < t_crit, t_corr
    # the wrong theories are rejected
    gaussian = ht.propagate_rate(DEPTH, 2.0, gain, rate0=RATE0)
    assert np.max(np.abs(_t(rates[:, 1:], gaussian[1:]))) > t_crit
    assert np.max(np.abs(_t(corrs[:, 1:], np.full(DEPTH, CORR0)))) > t_crit


def test_training_network_with_cauchy_weights_stays_finite():
    """Heavy tails give large float32 currents: the forward/backward of a depth-20, T = 8
    training network with Cauchy weights must give a finite loss and finite gradients, and
    the simulator's finiteness checks must not misfire on the weights."""
    config = TrainConfig(init="stable", depth=20, width=100, steps=8, seed=3)
    weights, biases = build_network(config, 784, 10)
    assert max(float(np.abs(w).max()) for w in weights) > 10 * np.median(np.abs(weights[1]))  # heavy tails drawn
    rng = np.random.default_rng(0)
    x = np.broadcast_to(rng.random((16, 784), dtype=np.float32), (8, 16, 784)).copy()
    result = forward_backward(weights, biases, x, rng.integers(0, 10, 16), beta=0.5, threshold=1.0,
                              reset="subtract", surrogate="atan", surrogate_scale=2.0)
    assert np.isfinite(result.loss)
    assert all(np.all(np.isfinite(g)) for g in result.weight_grads)
    assert result.rates[-2] > 0          # activity reaches the last hidden layer


def test_train_config_validates_the_stable_options():
    with pytest.raises(ValueError, match="stable"):
        TrainConfig(init="micheli", weight_gain=3.0).validate()
    with pytest.raises(ValueError, match="rate"):
        TrainConfig(init="stable", weight_rate=0.6).validate()
    with pytest.raises(ValueError, match="alpha"):
        TrainConfig(init="stable", weight_alpha=3.0).validate()
    config = TrainConfig(init="stable", weight_gain=3.3, weight_alpha=1.0, seed=5, depth=4, width=30)
    weights, _ = build_network(config.validate(), 784, 10)
    rng = np.random.default_rng(5)
    want = inits.sample_weights("stable", 784, 30, rng, threshold=1.0, beta=0.5, gain=3.3)
    np.testing.assert_array_equal(weights[0], want)


@pytest.mark.slow
def test_typical_chi_against_bptt_gradients():
    """theory.regimes.heavy_tailed.typical_chi (NumPy network + backward chain) against the BPTT kernels'
    per-layer ||delta_l||^2 (simulate.experiments.gradient_norm_draws, one step, width 100,
    N(0, 1) input currents: an input LIF layer firing at Q(1) = r*). Typical gain = exp(mean
    over networks of the mean log-ratio over hidden layers 5..25); two-sample z-test on the log
    scale at |z| < 4 (two-sided 6e-5)."""
    from simulate.experiments import gradient_norm_draws

    out = gradient_norm_draws("stable", [100] * 31, 1.0, 0.0, ["atan"], 40, 0, 10)
    log_ratio = np.log(out["delta_sq_atan"][:, :-1]) - np.log(out["delta_sq_atan"][:, 1:])
    per_network = log_ratio[:, 5:25].mean(axis=1)
    chi, se, per_chain = ht.typical_chi(1.0, ht.gain_for_rate(float(stats.norm.sf(1.0)), 1.0), width=100,
                                        depth=40, burn_in=10, chains=20, seed=2)
    theory_logs = np.log(per_chain)
    z = (per_network.mean() - theory_logs.mean()) / np.sqrt(per_network.var(ddof=1) / len(per_network)
                                                          + theory_logs.var(ddof=1) / len(theory_logs))
    assert abs(z) < 4.0, (np.exp(per_network.mean()), chi, z)
    assert chi > 1.5          # the typical backward gain explodes (Gaussian paper's init: chi = 0.76)


def _cauchy_network(rng, widths, dtype):
    return [inits.sample_weights("stable", a, b, rng, threshold=1.0, gain=3.43).astype(dtype)
            for a, b in zip(widths[:-1], widths[1:])]


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_gradients_with_cauchy_weights(reset):
    """The BPTT gradients with heavy-tailed weights, as tests/simulate/test_backprop.py checks them
    for Gaussian ones: (1) smooth mode (logistic step, slope k = 4, float64) against central
    differences, eps = 1e-6: bound 1e-5 as there (the truncation eps^2 f'''/6 grows with the
    weights only through units near threshold: a unit pushed far past it by a huge weight is
    saturated and its derivatives vanish, so the Cauchy tail does not inflate it; round-off
    ~ 1e-10); (2) Heaviside + ATan in float32
    against the plain NumPy float64 reference: relative error 1e-4 (float32 sums of <= 30 terms;
    the Cauchy weights' largest term bounds the rounding at ~1e-6 of the gradient norm)."""
    from simulate.backprop import loss_and_grads
    from theory.core.surrogates import SURROGATES
    from tests.simulate.test_backprop import _rel_err, reference_bptt

    rng = np.random.default_rng([29, ["subtract", "zero", "none"].index(reset)])
    widths = [6, 5, 4, 3]
    weights = _cauchy_network(rng, widths, np.float64)
    currents = rng.uniform(0.0, 2.5, (4, 3, widths[0]))
    labels = rng.integers(0, widths[-1], 3)
    kw = dict(beta=0.6, threshold=1.0, reset=reset, smooth_slope=4.0)
    _, grads, _ = loss_and_grads(weights, None, currents, labels, **kw)
    eps, numeric = 1e-6, []
    for w in weights:
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + eps
            up = loss_and_grads(weights, None, currents, labels, **kw)[0]
            w[idx] = old - eps
            down = loss_and_grads(weights, None, currents, labels, **kw)[0]
            w[idx] = old
            g[idx] = (up - down) / (2 * eps)
        numeric.append(g)
    assert np.linalg.norm(np.concatenate([g.ravel() for g in numeric])) > 1e-3
    assert _rel_err(grads, numeric) < 1e-5

    widths = [30, 25, 20, 10]
    weights = _cauchy_network(rng, widths, np.float32)
    currents = rng.uniform(0.0, 1.5, (6, 8, 30)).astype(np.float32)
    labels = rng.integers(0, 10, 8)
    loss, grads, _ = loss_and_grads(weights, None, currents, labels, beta=0.5, threshold=1.0, reset=reset,
                                    surrogate="atan", surrogate_scale=2.0)
    ref_loss, ref_w, _ = reference_bptt(weights, None, currents, labels, 0.5, 1.0, reset,
                                        lambda x: SURROGATES["atan"][0](x, 2.0), lambda x: (x > 0).astype(float))
    assert abs(loss - ref_loss) <= 1e-4 * abs(ref_loss)
    assert all(np.linalg.norm(g) > 0 for g in ref_w)
    assert _rel_err(grads, ref_w) < 1e-4
