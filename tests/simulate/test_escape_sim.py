"""Stochastic firing (escape noise) in the simulator and the training kernels.

Deterministic checks: same seed -> same spikes (thread count, batch split), the training forward
equals run_network, gradients against central differences (expected-spike mode, float64) and
against an independent NumPy float64 BPTT that draws the same counter-based uniforms.

Statistical checks (seeded, so each run is reproducible; the false-positive rate is that of a
fresh seed): a binomial test of the firing probability, and the mean field of theory.regimes.escape
against width-2000 networks with a t-test over independent networks, Bonferroni-corrected so
that each test's family-wise false-positive rate is at most 1 %.
"""
import numba
import numpy as np
import pytest
from scipy import stats

from simulate.backprop import forward_backward
from simulate.kernels import layer_key
from simulate.network import run_network
from theory.regimes import escape as E
from theory import inits

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix(x):
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def reference_uniforms(seed, layer, t, samples, width):
    """The stream of docs/theory.md §9 "Stochastic firing" written with NumPy uint64 arrays: (len(samples), width)."""
    key = int(_mix(_mix(np.uint64(seed & MASK)) ^ np.uint64(layer + 1)))
    assert np.uint64(key) == layer_key(seed, layer)
    row = _mix(_mix(np.uint64(key) ^ np.uint64(t)) ^ np.asarray(samples, np.uint64))[:, None]
    with np.errstate(over="ignore"):
        x = _mix(row + (np.arange(width, dtype=np.uint64) + np.uint64(1)) * np.uint64(GOLDEN))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _weights(rng, widths, gain, dtype=np.float32):
    return [(rng.standard_normal((a, b)) * np.sqrt(gain / a)).astype(dtype) for a, b in zip(widths[:-1], widths[1:])]


def test_same_seed_same_spikes_any_threads_and_split():
    rng = np.random.default_rng(0)
    weights = _weights(rng, [300, 300, 300], 6.0)
    currents = (1.2 * rng.standard_normal((3, 10, 300))).astype(np.float32)
    kwargs = dict(beta=0.5, threshold=1.0, firing="escape", escape_noise=0.4, noise_seed=11, record_spikes=True)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_network(weights, currents, **kwargs)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run_network(weights, currents, **kwargs)
    finally:
        numba.set_num_threads(previous)
    head = run_network(weights, currents[:, :4], **kwargs)
    tail = run_network(weights, currents[:, 4:], sample_offset=4, **kwargs)
    other = run_network(weights, currents, **{**kwargs, "noise_seed": 12})
    for layer in range(3):
        assert np.array_equal(one.spikes[layer], two.spikes[layer])
        assert np.array_equal(one.spikes[layer], np.concatenate([head.spikes[layer], tail.spikes[layer]], axis=1))
    assert not np.array_equal(one.spikes[1], other.spikes[1])


def test_spikes_follow_the_documented_stream():
    """run_network's escape spikes are [U < Phi((u - theta)/tau)] with U from the stream of
    docs/theory.md §9 "Stochastic firing" (input layer, T = 1: u = the given current, exactly)."""
    rng = np.random.default_rng(1)
    currents = rng.standard_normal((1, 6, 500)).astype(np.float32)
    result = run_network([], currents, beta=0.0, threshold=0.8, firing="escape", escape_noise=0.3, noise_seed=5,
                         sample_offset=17, record_spikes=True)
    u = reference_uniforms(5, 0, 0, np.arange(17, 23), 500)
    p = stats.norm.cdf((currents[0].astype(np.float64) - np.float64(np.float32(0.8))) / np.float64(np.float32(0.3)))
    assert np.array_equal(result.spikes[0][0], (u < p).astype(np.uint8))


def test_firing_probability_is_the_escape_function():
    """Constant current u at every neuron: each spike is Bernoulli(Phi((u - theta)/tau)).
    Binomial two-sided test per current level, Bonferroni over 5 levels at 1 % family-wise."""
    levels = np.array([0.4, 0.8, 1.0, 1.15, 1.6], np.float32)
    n = 200_000
    currents = np.repeat(levels[None, :, None], n, axis=2)          # T = 1, B = 5, n neurons
    result = run_network([], currents, beta=0.0, threshold=1.0, firing="escape", escape_noise=0.25, noise_seed=3)
    counts = result.active[0, 0]
    p = stats.norm.cdf((levels.astype(np.float64) - 1.0) / 0.25)
    pvalues = [stats.binomtest(int(k), n, float(pi)).pvalue for k, pi in zip(counts, p)]
    assert min(pvalues) > 0.01 / len(levels), (counts / n, p)


def test_rate_of_gaussian_currents_is_the_gaussian_integral():
    """u ~ N(0, q) per neuron: rate = Q(theta / sqrt(q + tau^2)) (theory.regimes.escape.escape_rate).
    2e6 spikes, binomial sd 2.8e-4; 4.4 sd (two-sided 1e-5) leaves the test essentially free of
    false positives while a Heaviside rate (off by 0.02 here) fails by 70 sd."""
    rng = np.random.default_rng(2)
    q, tau = 1.7, 0.6
    currents = (np.sqrt(q) * rng.standard_normal((1, 10, 200_000))).astype(np.float32)
    result = run_network([], currents, beta=0.0, threshold=1.0, firing="escape", escape_noise=tau, noise_seed=9)
    expected = E.escape_rate(q, 1.0, tau)
    sd = np.sqrt(expected * (1 - expected) / currents.size)
    assert abs(result.rate[0, 0] - expected) < 4.4 * sd


def test_training_forward_equals_run_network():
    rng = np.random.default_rng(3)
    weights = _weights(rng, [40, 60, 10], 7.0)
    currents = (1.5 * rng.random((5, 7, 40))).astype(np.float32)
    labels = rng.integers(0, 10, 7)
    trained = forward_backward(weights, None, currents, labels, beta=0.5, threshold=1.0, firing="escape",
                               escape_noise=0.5, noise_seed=21, sample_offset=3, backward=False)
    simulated = run_network(weights, currents, beta=0.5, threshold=1.0, firing="escape", escape_noise=0.5,
                            noise_seed=21, sample_offset=3, record_spikes=True)
    for a, b in zip(trained.spikes, simulated.spikes):
        assert np.array_equal(a.astype(np.uint8), b)


def _expected_loss(weights, currents, labels, **kwargs):
    return forward_backward(weights, None, currents, labels, backward=False, firing="expected", **kwargs).loss


@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_expected_mode_gradient_equals_central_differences(reset):
    """Expected-spike forward + probit backward (scale 1/tau) is the exact gradient: float64,
    eps 1e-6, truncation ~ eps^2 / tau^3 ~ 1e-11, round-off ~ 1e-10 relative: rtol 1e-5."""
    rng = np.random.default_rng(4)
    weights = _weights(rng, [12, 15, 10], 6.0, np.float64)
    currents = 1.5 * rng.random((4, 5, 12))
    labels = rng.integers(0, 10, 5)
    kwargs = dict(beta=0.5, threshold=1.0, reset=reset, escape_noise=0.4, noise_seed=8)
    result = forward_backward(weights, None, currents, labels, firing="expected", **kwargs)
    eps = 1e-6
    for layer in range(2):
        for index in [(0, 0), (3, 7), (11, 9)]:
            plus = [w.copy() for w in weights]
            minus = [w.copy() for w in weights]
            plus[layer][index] += eps
            minus[layer][index] -= eps
            numeric = (_expected_loss(plus, currents, labels, **kwargs)
                       - _expected_loss(minus, currents, labels, **kwargs)) / (2 * eps)
            assert result.weight_grads[layer][index] == pytest.approx(numeric, rel=1e-5, abs=1e-10)


def reference_escape_bptt(weights, currents, labels, beta, threshold, tau, seed, reset):
    """NumPy float64 BPTT of the escape network, time-major (t outer, layers inner), the spikes
    drawn from reference_uniforms; backward with the probit derivative phi((u - theta)/tau)/tau."""
    steps, batch, _ = currents.shape
    widths = [currents.shape[2]] + [w.shape[1] for w in weights]
    u = [np.zeros((steps, batch, n)) for n in widths]
    s = [np.zeros((steps, batch, n)) for n in widths]
    for t in range(steps):
        for layer, n in enumerate(widths):
            current = currents[t] if layer == 0 else s[layer - 1][t] @ weights[layer - 1]
            previous = u[layer][t - 1] if t else 0.0
            spiked = s[layer][t - 1] if t else 0.0
            u[layer][t] = beta * previous + current - (threshold * spiked if reset == "subtract" else 0.0)
            draw = reference_uniforms(seed, layer, t, np.arange(batch), n)
            s[layer][t] = (draw < stats.norm.cdf((u[layer][t] - threshold) / tau)).astype(float)
    counts = s[-1].sum(axis=0)
    p = np.exp(counts - counts.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(batch), labels]))
    grad_s = (p - np.eye(widths[-1])[labels]) / batch
    grads = [None] * len(weights)
    delta_s = np.broadcast_to(grad_s, (steps,) + grad_s.shape)
    for layer in range(len(weights), 0, -1):
        grad_u = np.zeros((steps, batch, widths[layer]))
        carry = 0.0
        for t in range(steps - 1, -1, -1):
            grad_u[t] = delta_s[t] * stats.norm.pdf((u[layer][t] - threshold) / tau) / tau + carry
            carry = beta * grad_u[t]
        grads[layer - 1] = np.einsum("tbi,tbj->ij", s[layer - 1], grad_u)
        delta_s = grad_u @ weights[layer - 1].T
    return loss, grads


@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_escape_gradients_equal_numpy_reference(reset):
    """Sampled spikes + probit surrogate, float64 kernels against the NumPy reference with the same
    uniforms. Float64 membranes agree to ~1e-15, so a spike could differ only if a uniform lay
    within ~1e-14 of its probability (chance ~1e-11 here); gradients agree to summation order
    (rtol 1e-9)."""
    rng = np.random.default_rng(6)
    weights = _weights(rng, [20, 30, 30, 10], 7.0, np.float64)
    currents = 1.5 * rng.random((6, 8, 20))
    labels = rng.integers(0, 10, 8)
    loss, grads, _ = (lambda r: (r.loss, r.weight_grads, None))(forward_backward(
        weights, None, currents, labels, beta=0.5, threshold=1.0, reset=reset, firing="escape", escape_noise=0.5,
        noise_seed=77))
    ref_loss, ref_grads = reference_escape_bptt(weights, currents, labels, 0.5, 1.0, 0.5, 77, reset)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for mine, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-12)


def test_zero_reset_and_bad_noise_rejected():
    rng = np.random.default_rng(0)
    w = _weights(rng, [4, 10], 6.0)
    x = np.ones((2, 3, 4), np.float32)
    y = np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="reset"):
        forward_backward(w, None, x, y, beta=0.5, threshold=1.0, reset="zero", firing="escape", escape_noise=0.5)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="escape_noise"):
            run_network(w, x, beta=0.5, threshold=1.0, firing="escape", escape_noise=bad)
    with pytest.raises(ValueError, match="escape_noise"):
        run_network(w, x, beta=0.5, threshold=1.0, firing="escape")
    with pytest.raises(ValueError, match="firing"):
        run_network(w, x, beta=0.5, threshold=1.0, firing="poisson", escape_noise=0.5)


def _pair_moments(sigma_w, tau, c0, depth, width, pairs, networks, seed, threshold=1.0):
    """Per network: the mean over neurons and input pairs of s^a s^b and of s (per layer), T = 1,
    Gaussian input currents of variance 1 and correlation c0 within a pair."""
    rng = np.random.default_rng(seed)
    moments, rates = [], []
    for net in range(networks):
        weights = [(sigma_w * rng.standard_normal((width, width))).astype(np.float32) for _ in range(depth)]
        za, zb = rng.standard_normal((2, pairs, width))
        a = za
        b = c0 * za + np.sqrt(1 - c0 * c0) * zb
        currents = np.concatenate([a, b])[None].astype(np.float32)
        result = run_network(weights, currents, beta=0.0, threshold=threshold, firing="escape", escape_noise=tau,
                             noise_seed=1000 * seed + net, record_spikes=True)
        spikes = [s[0].astype(np.float64) for s in result.spikes]
        moments.append([np.mean(s[:pairs] * s[pairs:]) for s in spikes])
        rates.append(result.rate[:, 0])
    return np.array(moments), np.array(rates)


def _t_statistics(samples, predicted):
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
    return (mean - predicted) / se


@pytest.mark.slow
def test_pair_mean_field_against_width_2000():
    """Width 2000, T = 1, depth 6, the escape_critical init (tau 0.5) and the paper's init (tau 0.3),
    inputs with correlation 0.2 and 1 (identical inputs decorrelate through the noise): the per-layer
    rate and pair moment E[s^a s^b] lie in the t-interval over 10 networks (8 input pairs each), with
    the critical value for a 1 % family-wise rate over the 2 x 7 x 4 = 56 comparisons. The Heaviside
    theory (tau -> 0) applied to the same runs is rejected. Finite-width corrections are O(1/n)
    ~ 5e-4, well below the standard errors (~3e-3)."""
    width, depth, networks = 2000, 6, 10
    critical = stats.t.ppf(1 - 0.01 / (2 * 56), networks - 1)
    worst_wrong = 0.0
    for init, tau in (("escape_critical", 0.5), ("micheli", 0.3)):
        sigma = inits.weight_std(init, width, threshold=1.0, **({"tau": tau} if init == "escape_critical" else {}))
        for c0 in (0.2, 1.0):
            moments, rates = _pair_moments(sigma, tau, c0, depth, width, 8, networks, seed=int(10 * tau + 3 * c0))
            theory = E.propagate_pair(depth, sigma, width, 1.0, tau, q0=1.0, c0=c0)
            assert np.max(np.abs(_t_statistics(rates, theory["rate"]))) < critical
            assert np.max(np.abs(_t_statistics(moments, theory["spike_moment"]))) < critical
            wrong = E.propagate_pair(depth, sigma, width, 1.0, 1e-6, q0=1.0, c0=c0)
            worst_wrong = max(worst_wrong, np.max(np.abs(_t_statistics(moments, wrong["spike_moment"]))))
    assert worst_wrong > 2 * critical


@pytest.mark.slow
def test_critical_init_rate_and_decorrelation_rate_against_width_2000():
    """escape_critical (tau 0.5, theta 1) at width 2000: the fixed-point rate predicted by
    theory.regimes.escape matches the deep layers (t-test, 10 networks, 1 % family-wise over 3 layers), and
    the measured per-layer contraction of the difference between two trajectories (identical
    inputs vs inputs of correlation 0), (D_4 / D_1)^(1/3), D_l the difference of their pair moments,
    lies within 3 standard errors (over networks) of the mean-field value, which itself is within
    0.05 of the slope at c* that sets xi_c."""
    width, depth, networks, tau = 2000, 7, 10, 0.5
    sigma = inits.weight_std("escape_critical", width, threshold=1.0, tau=tau)
    point = E.escape_fixed_point(sigma, width, 1.0, tau)
    same, rates = _pair_moments(sigma, tau, 1.0, depth, width, 8, networks, seed=41)
    different, _ = _pair_moments(sigma, tau, 0.0, depth, width, 8, networks, seed=42)
    critical = stats.t.ppf(1 - 0.01 / (2 * 3), networks - 1)
    assert np.max(np.abs(_t_statistics(rates[:, -3:], np.full(3, point.rate)))) < critical
    theory_same = E.propagate_pair(depth, sigma, width, 1.0, tau, c0=1.0)["spike_moment"]
    theory_diff = E.propagate_pair(depth, sigma, width, 1.0, tau, c0=0.0)["spike_moment"]
    predicted = ((theory_same[4] - theory_diff[4]) / (theory_same[1] - theory_diff[1])) ** (1 / 3)
    assert abs(predicted - point.slope) < 0.05
    d1 = same[:, 1] - different[:, 1]
    d4 = same[:, 4] - different[:, 4]
    # delta method over independent networks for the ratio of means
    m1, m4 = d1.mean(), d4.mean()
    ratio = m4 / m1
    var_ratio = (np.var(d4, ddof=1) / m1**2 + m4**2 * np.var(d1, ddof=1) / m1**4
                 - 2 * m4 * np.cov(d4, d1)[0, 1] / m1**3) / networks
    measured = ratio ** (1 / 3)
    se = np.sqrt(var_ratio) * ratio ** (-2 / 3) / 3
    assert abs(measured - predicted) < 3 * se, (measured, predicted, se)


def _tiny_data():
    from simulate.data import Dataset
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    y = rng.integers(0, 10, 40).astype(np.uint8)
    return Dataset("tiny", x[:30], y[:30], x[30:], y[30:])


def test_training_with_escape_is_reproducible_and_eval_batch_free():
    """Two runs of the same config give the same history (the noise is seeded per epoch and
    batch); the test metrics do not depend on eval_batch_size (image i is sample i); another
    seed gives other spikes."""
    from simulate.train import TrainConfig, train
    base = dict(depth=4, width=20, steps=3, epochs=2, batch_size=8, firing="escape", escape_noise=0.5,
                init="escape_critical", progress=False, eval_batch_size=10)
    keys = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "train_rates", "grad_norms")
    first = train(TrainConfig(**base), _tiny_data()).history
    same = train(TrainConfig(**base), _tiny_data()).history
    split = train(TrainConfig(**{**base, "eval_batch_size": 3}), _tiny_data()).history
    other = train(TrainConfig(**{**base, "seed": 43}), _tiny_data()).history
    for a, b, c in zip(first, same, split):
        assert all(a[k] == b[k] for k in keys)
        # same spikes per test image; only the float64 sum over eval batches is grouped differently
        assert a["test_accuracy"] == c["test_accuracy"]
        assert a["test_loss"] == pytest.approx(c["test_loss"], rel=1e-12)
        assert a["test_rates"] == pytest.approx(c["test_rates"], rel=1e-12)
    assert first[-1]["train_loss"] != other[-1]["train_loss"]


@pytest.mark.parametrize("fields,match", [
    (dict(firing="escape"), "escape_noise"),
    (dict(firing="escape", escape_noise=-0.5), "escape_noise"),
    (dict(escape_noise=0.5), "escape_noise"),
    (dict(firing="escape", escape_noise=0.5, reset="zero"), "reset"),
    (dict(firing="escape", escape_noise=0.5, surrogate_scale=3.0), "surrogate_scale"),
])
def test_train_config_rejects_bad_escape_settings(fields, match):
    from simulate.train import TrainConfig
    with pytest.raises(ValueError, match=match):
        TrainConfig(**fields).validate()


def test_command_line_without_noise_level_is_one_line_exit_2(capsys):
    from simulate.train import main
    assert main(["--firing", "escape", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "escape_noise" in err[0]
