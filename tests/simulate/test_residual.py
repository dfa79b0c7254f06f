"""Residual spiking blocks (SEW ADD, simulate.residual; theory.regimes.residual).

Gradients are checked as simulate.loss_and_grads is (tests/simulate/test_backprop.py):
1. smooth mode (logistic step, exact derivative) against central differences, float64, eps 1e-6:
   truncation ~ eps^2 k^3 and round-off ~ 1e-16/eps, both ~1e-10 relative; 1e-5 leaves a wide
   margin while a missing shortcut term or a wrong branch multiplier gives errors of order 1e-1;
2. Heaviside + surrogate, float32 kernels against an independent NumPy float64 BPTT written
   time-major (t outer, layers inner), bound 1e-4 as the plain network's.
Both are deterministic for their seeds. The mean-field checks (width 2000) are statistical and
state their false-positive rates.
"""
import numpy as np
import pytest

import theory
from simulate import residual
from simulate.backprop import forward_backward as plain_forward_backward
from simulate.residual import forward_backward
from theory.regimes import residual as theory_residual
from theory.core.gaussian import orthant, tail
from theory.core.surrogates import SURROGATES, smooth_step


def _network(rng, widths, dtype, with_bias, gain=1.6):
    weights = [(rng.standard_normal((a, b)) * gain / np.sqrt(a)).astype(dtype)
               for a, b in zip(widths[:-1], widths[1:])]
    biases = [(0.3 * rng.standard_normal(b)).astype(dtype) for b in widths[1:]] if with_bias else None
    return weights, biases


def reference_residual(weights, biases, currents, labels, beta, threshold, reset, grad_fn, step_fn,
                       block_layers=1, branch_scale=1.0):
    """NumPy float64 BPTT of the SEW-ADD network, time-major: at each t the layers run bottom-up
    (stream updated after each block), and the backward runs t = T-1..0 with the layers top-down,
    the shortcut passing the stream gradient past each block."""
    W = [np.asarray(w, np.float64) for w in weights]
    b = [np.zeros(w.shape[1]) for w in W] if biases is None else [np.asarray(x, np.float64) for x in biases]
    x_in = np.asarray(currents, np.float64)
    steps, batch, _ = x_in.shape
    n_w = len(W)
    n_blocks = (n_w + 1 - 3) // block_layers
    widths = [x_in.shape[2]] + [w.shape[1] for w in W]
    L = n_w + 1
    u = [np.zeros((steps, batch, n)) for n in widths]
    s = [np.zeros((steps, batch, n)) for n in widths]
    hard = [np.zeros((steps, batch, n)) for n in widths]
    inp = [np.zeros((steps, batch, widths[l - 1] if l else 0)) for l in range(L)]   # what W[l-1] multiplies
    streams = np.zeros((n_blocks + 1, steps, batch, widths[1]))

    def step(l, t, current):
        u_prev = u[l][t - 1] if t else 0.0
        r_prev = hard[l][t - 1] if t else 0.0
        if reset == "subtract":
            u[l][t] = beta * u_prev + current - threshold * r_prev
        elif reset == "zero":
            u[l][t] = beta * (1 - r_prev) * u_prev + current
        else:
            u[l][t] = beta * u_prev + current
        hard[l][t] = (u[l][t] > threshold).astype(float)
        s[l][t] = step_fn(u[l][t] - threshold)

    for t in range(steps):
        step(0, t, x_in[t])
        inp[1][t] = s[0][t]
        step(1, t, s[0][t] @ W[0] + b[0])
        h = s[1][t].copy()
        streams[0, t] = h
        for j in range(n_blocks):
            y = h
            for i in range(block_layers):
                l = 2 + j * block_layers + i
                inp[l][t] = y
                step(l, t, y @ W[l - 1] + b[l - 1])
                y = s[l][t]
            h = h + branch_scale * y
            streams[j + 1, t] = h
        inp[L - 1][t] = h
        step(L - 1, t, h @ W[L - 2] + b[L - 2])
    counts = s[L - 1].sum(axis=0)
    p = np.exp(counts - counts.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(batch), labels]))
    grad_counts = p.copy()
    grad_counts[np.arange(batch), labels] -= 1
    grad_counts /= batch
    dW = [np.zeros_like(w) for w in W]
    db = [np.zeros(w.shape[1]) for w in W]
    carry = [np.zeros((batch, n)) for n in widths]

    def back(l, t, grad_s):
        factor = beta * (1 - hard[l][t]) if reset == "zero" else beta
        grad_u = grad_s * grad_fn(u[l][t] - threshold) + carry[l] * factor
        carry[l] = grad_u
        dW[l - 1] += inp[l][t].T @ grad_u
        db[l - 1] += grad_u.sum(0)
        return grad_u @ W[l - 1].T

    for t in range(steps - 1, -1, -1):
        grad_h = back(L - 1, t, grad_counts)
        for j in range(n_blocks - 1, -1, -1):
            grad_y = branch_scale * grad_h
            for i in range(block_layers - 1, -1, -1):
                grad_y = back(2 + j * block_layers + i, t, grad_y)
            grad_h = grad_h + grad_y
        back(1, t, grad_h)
    return loss, dW, db, streams


def _rel_err(a, b):
    a, b = np.concatenate([np.ravel(x) for x in a]), np.concatenate([np.ravel(x) for x in b])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("block_layers,branch_scale,with_bias,reset",
                         [(1, 1.0, False, "subtract"), (1, 0.4, True, "zero"), (2, 0.7, True, "none"),
                          (2, 1.0, False, "subtract")])
def test_smooth_mode_matches_finite_differences(block_layers, branch_scale, with_bias, reset):
    rng = np.random.default_rng([17, block_layers, int(with_bias)])
    depth = 3 + 2 * block_layers                     # two blocks
    widths = [6] + [5] * (depth - 2) + [3]
    weights, biases = _network(rng, widths, np.float64, with_bias)
    currents = rng.uniform(0.0, 2.5, (3, 3, widths[0]))
    labels = rng.integers(0, widths[-1], 3)
    kw = dict(beta=0.6, threshold=1.0, reset=reset, smooth_slope=4.0, block_layers=block_layers,
              branch_scale=branch_scale)

    def loss():
        return forward_backward(weights, biases, currents, labels, backward=False, **kw).loss

    result = forward_backward(weights, biases, currents, labels, **kw)
    params = weights + (biases or [])
    analytic = result.weight_grads + (result.bias_grads or [])
    eps = 1e-6
    numeric = []
    for p in params:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = loss()
            p[idx] = old - eps
            down = loss()
            p[idx] = old
            g[idx] = (up - down) / (2 * eps)
        numeric.append(g)
    assert all(np.linalg.norm(g) > 1e-6 for g in numeric)       # every layer has a gradient
    assert _rel_err(analytic, numeric) < 1e-5


@pytest.mark.parametrize("block_layers,branch_scale,surrogate,reset",
                         [(1, 1.0, "atan", "subtract"), (1, 0.25, "fast_sigmoid", "zero"),
                          (2, 0.5, "atan", "subtract"), (2, 1.0, "triangular", "none")])
def test_heaviside_float32_matches_numpy_reference(block_layers, branch_scale, surrogate, reset):
    rng = np.random.default_rng([23, block_layers, list(SURROGATES).index(surrogate)])
    depth = 3 + 3 * block_layers
    widths = [30] + [20] * (depth - 2) + [10]
    with_bias = surrogate == "atan"
    weights, biases = _network(rng, widths, np.float32, with_bias, gain=1.2)
    steps, batch = 6, 8
    currents = rng.uniform(0.0, 1.5, (steps, batch, widths[0])).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    func, scale = SURROGATES[surrogate]
    result = forward_backward(weights, biases, currents, labels, beta=0.5, threshold=1.0, reset=reset,
                              surrogate=surrogate, block_layers=block_layers, branch_scale=branch_scale)
    ref_loss, ref_w, ref_b, streams = reference_residual(
        weights, biases, currents, labels, 0.5, 1.0, reset, lambda x: func(x, scale),
        lambda x: (x > 0).astype(float), block_layers, branch_scale)
    # identical spikes needed (as in test_backprop): a flipped spike changes the loss by O(1/batch)
    assert abs(result.loss - ref_loss) <= 1e-4 * abs(ref_loss)
    assert np.max(streams) > 1.0 or branch_scale < 1.0        # the ADD made counts above 1
    np.testing.assert_allclose(result.stream_mean, streams.mean(axis=(1, 2, 3)), rtol=1e-6)
    assert all(np.linalg.norm(g) > 0 for g in ref_w)
    assert _rel_err(result.weight_grads, ref_w) < 1e-4
    if with_bias:
        assert _rel_err(result.bias_grads, ref_b) < 1e-4


def test_smooth_reference_agrees_with_kernels_in_float64():
    """The reference itself, in smooth mode, equals the kernels to float64 round-off."""
    rng = np.random.default_rng(4)
    weights, biases = _network(rng, [8, 6, 6, 6, 6, 5], np.float64, True)
    currents = rng.uniform(0, 2, (5, 4, 8))
    labels = rng.integers(0, 5, 4)
    result = forward_backward(weights, biases, currents, labels, beta=0.7, threshold=1.0, reset="zero",
                              smooth_slope=3.0, block_layers=1, branch_scale=0.6)
    ref = reference_residual(weights, biases, currents, labels, 0.7, 1.0, "zero",
                             lambda x: SURROGATES["sigmoid"][0](x, 3.0), lambda x: smooth_step(x, 3.0), 1, 0.6)
    assert abs(result.loss - ref[0]) < 1e-12
    assert _rel_err(result.weight_grads, ref[1]) < 1e-12 and _rel_err(result.bias_grads, ref[2]) < 1e-12


def test_silent_blocks_are_the_identity():
    """Zero branch weights: no block fires, the stream is the stem's spikes, and loss and the
    stem/output gradients are those of the plain 3-layer network (float64: same numbers up to
    summation order)."""
    rng = np.random.default_rng(8)
    w0 = rng.standard_normal((20, 12)) * 0.8
    w_out = rng.standard_normal((12, 5)) * 0.8
    currents = rng.uniform(0, 2, (4, 6, 20))
    labels = rng.integers(0, 5, 6)
    blocks = [np.zeros((12, 12)) for _ in range(4)]
    res = forward_backward([w0] + blocks + [w_out], None, currents, labels, beta=0.5, threshold=1.0)
    plain = plain_forward_backward([w0, w_out], None, currents, labels, beta=0.5, threshold=1.0)
    assert abs(res.loss - plain.loss) < 1e-12
    assert np.all(res.rates[2:-1] == 0.0)
    assert _rel_err([res.weight_grads[0], res.weight_grads[-1]], plain.weight_grads) < 1e-12
    assert all(np.linalg.norm(g) > 0 for g in res.weight_grads[1:-1])   # silent blocks still learn


def test_bad_inputs_raise_named_errors():
    rng = np.random.default_rng(0)
    weights, _ = _network(rng, [6, 5, 5, 5, 3], np.float64, False)
    currents = rng.uniform(0, 2, (2, 2, 6))
    labels = np.array([0, 1])
    with pytest.raises(ValueError, match="block_layers"):
        forward_backward(weights, None, currents, labels, beta=0.5, threshold=1.0, block_layers=3)
    with pytest.raises(ValueError, match="branch_scale"):
        forward_backward(weights, None, currents, labels, beta=0.5, threshold=1.0, branch_scale=0.0)
    with pytest.raises(ValueError, match="depth"):
        forward_backward(weights[:1], None, currents, labels, beta=0.5, threshold=1.0)
    bad = [weights[0], np.zeros((5, 4)), np.zeros((4, 5)), weights[3]]
    with pytest.raises(ValueError, match="weights\\[1\\]"):
        forward_backward(bad, None, currents, labels, beta=0.5, threshold=1.0)
    with pytest.raises(ValueError, match="branch_scaling"):
        residual.branch_scale("half", 4)
    with pytest.raises(ValueError, match="budget"):
        theory_residual.block_rate(4, 1.0, budget=20.0)
    with pytest.raises(ValueError, match="threshold"):
        theory_residual.block_rate(4, -1.0)


def test_branch_scale_rules_and_one_step_design():
    assert residual.branch_scale("depth_sqrt", 16) == 0.25
    assert residual.branch_scale("depth", 16) == 1 / 16
    assert residual.branch_scale("none", 16) == 1.0
    # one-step design: every block fires at p_b and the closed-form M_j is the recursion's
    n, a, budget = 9, 1 / 3, 1.5
    p0 = float(tail(1.0))
    p_b = theory_residual.block_rate(n, 1.0, budget, a)
    assert abs(p_b - budget * p0 / (n * a)) < 1e-15
    stds = theory_residual.sew_stds(3 + n, 50, 1, 1.0, budget, 40, 10, branch_scale=a)
    mean, second = p0, p0
    for j in range(1, n + 1):
        assert abs(theory_residual.stream_second_moment(j, n, 1.0, budget, a) - second) < 1e-14
        q = 50 * stds[j] ** 2 * second
        assert abs(float(tail(1.0 / np.sqrt(q))) - p_b) < 1e-12
        mean, second = mean + a * p_b, second + 2 * a * mean * p_b + a * a * p_b
    assert abs(50 * stds[-1] ** 2 * second - 1.0) < 1e-12     # output layer: q = 1 for M_{N+1}


def _simulate_streams(stds, widths, currents, block_layers, branch_scale, seed, T=1, beta=0.0):
    """Float64 simulation of a SEW-ADD network with Gaussian weights; returns the per-layer
    rates and the list of streams h_1 .. h_{N+1} (T, B, n)."""
    rng = np.random.default_rng(seed)
    weights = [std * rng.standard_normal((a, b)) for std, a, b in zip(stds, widths[:-1], widths[1:])]
    labels = np.zeros(currents.shape[1], np.int64)
    result = forward_backward(weights, None, currents, labels, beta=beta, threshold=1.0, block_layers=block_layers,
                              branch_scale=branch_scale, backward=False)
    streams = [result.spikes[1]]
    for j in range((len(widths) - 3) // block_layers):
        streams.append(streams[-1] + branch_scale * result.spikes[1 + (j + 1) * block_layers])
    return result.rates, streams


@pytest.mark.slow
def test_stream_correlation_map_matches_simulation_width_2000():
    """One step, two inputs per pair with input-current correlation c0: the cosine of the stream
    after every block (mean over neurons and pairs) against the exact block map F_j of
    theory.regimes.residual.sew_correlation, started from the plain map of the input and stem layers.
    8 independent networks of width 2000 with 32 pairs each; the error of the mean over networks
    is taken from their spread (t with 7 degrees of freedom): |mean - theory| < 5.4 se fails by
    chance with probability 1e-3 per comparison, so about 1 % for the 10 blocks together; the
    infinite-width bias is O(1/n) = 5e-4, below the sampling error."""
    n, n_blocks, a, c0 = 2000, 10, 0.3, 0.6
    depth = 3 + n_blocks
    widths = [n] * (depth - 1) + [10]
    stds = theory_residual.sew_stds(depth, n, 1, 1.0, 3.0, n, 10, branch_scale=a)   # p_b = 0.16
    p0 = float(tail(1.0))
    # input layer: spikes of N(0,1) currents; stem gain n sigma^2 on binary input at rate p0
    c_stem_current = float(orthant(1.0, c0)) / p0
    q_stem = n * stds[0] ** 2 * p0
    z = 1.0 / np.sqrt(q_stem)
    stem_rate = float(tail(z))
    c_stream = float(orthant(z, c_stem_current)) / stem_rate
    # theory trajectory of the stream cosine
    gains = [n * s * s for s in stds]
    predicted, mean, second, c = [c_stream], stem_rate, stem_rate, c_stream
    for j in range(n_blocks):
        zj = 1.0 / np.sqrt(gains[1 + j] * second)
        p = float(tail(zj))
        cross = c * second + 2 * a * mean * p + a * a * float(orthant(zj, c))
        mean, second = mean + a * p, second + 2 * a * mean * p + a * a * p
        c = cross / second
        predicted.append(c)
    # the library's map has the same fixed point structure: F_j(c*) = c*
    corr = theory_residual.sew_correlation(stds, widths, 1, 1.0, stem_rate=stem_rate, branch_scale=a)
    assert np.all(corr.slope < 1.0) and np.all(corr.slope > 0.5)
    measured = []
    for seed in range(8):
        rng = np.random.default_rng([99, seed])
        za, zb = rng.standard_normal((2, 32, n))
        xa = za
        xb = c0 * za + np.sqrt(1 - c0 * c0) * zb
        currents = np.concatenate([xa, xb])[None]                # (1, 64, n): pairs (i, 32 + i)
        _, streams = _simulate_streams(stds, widths, currents, 1, a, [7, seed])
        measured.append([np.mean(h[0, :32] * h[0, 32:]) / np.sqrt(np.mean(h[0, :32] ** 2) * np.mean(h[0, 32:] ** 2))
                         for h in streams])
    measured = np.array(measured)
    mean_m = measured.mean(axis=0)
    se = measured.std(axis=0, ddof=1) / np.sqrt(len(measured))
    assert np.all(np.abs(mean_m - np.array(predicted)) < 5.4 * se + 1e-9), (mean_m, predicted, se)
    assert predicted[-1] > predicted[0] + 0.05      # the map moves the correlation: the test can fail


@pytest.mark.slow
def test_temporal_rates_of_the_init_match_simulation_width_2000():
    """T = 4, beta = 0.5, static Gaussian input: the per-layer time-averaged rates of a SEW-ADD
    network under the ``sew_add`` init (designed by the temporal mean field) against simulation.
    6 networks of width 2000, 64 inputs each; t-test with 5 degrees of freedom at 6.9 se (two-sided
    p = 1e-3 per layer, about 1 % for the 11 layers together), plus the mean field's own Monte Carlo
    error (3 of its standard errors). The designed block rate p_b is checked the same way."""
    n, n_blocks, T, beta, a, budget = 2000, 8, 4, 0.5, 0.5, 2.0
    depth = 3 + n_blocks
    widths = [n] * (depth - 1) + [10]
    stds = theory_residual.sew_stds(depth, n, 1, 1.0, budget, n, 10, beta, T=T, samples=20000, branch_scale=a)
    mf = theory_residual.propagate_sew(stds, widths, T, 1, 1.0, beta, "subtract", "static", 1.0,
                                       samples=40000, seed=5, branch_scale=a)
    predicted = mf.rate.mean(axis=1)
    predicted_se = np.sqrt((mf.rate_se ** 2).mean(axis=1) / T)   # conservative per-layer error
    rates = []
    for seed in range(6):
        x = np.random.default_rng([31, seed]).standard_normal((64, n))
        currents = np.broadcast_to(x, (T,) + x.shape).copy()
        r, _ = _simulate_streams(stds, widths, currents, 1, a, [13, seed], beta=beta)
        rates.append(r)
    rates = np.array(rates)
    se = rates.std(axis=0, ddof=1) / np.sqrt(len(rates))
    assert np.all(np.abs(rates.mean(axis=0) - predicted) < 6.9 * se + 3 * predicted_se + 1e-9), \
        (rates.mean(axis=0), predicted, se)
    # the design's target: the mean field's block rates are p_b up to the two path samples' errors
    # (design and check use independent normals: sqrt(2) x, at 6 se)
    p_b = theory_residual.block_rate(n_blocks, 1.0, budget, a)
    assert np.all(np.abs(predicted[2:-1] - p_b) < 6 * np.sqrt(2) * predicted_se[2:-1]), (predicted, p_b)


def test_training_config_builds_trains_saves_and_reloads_the_residual_network(tmp_path):
    """sew_add through simulate.train: the init's stds, a 2-epoch run that learns on a tiny MNIST
    subset, the saved network keeps its architecture (its evaluation equals the run's last test
    numbers), and a resumed checkpoint gives the same history."""
    from simulate.data import load_mnist
    from simulate.train import TrainConfig, build_network, load_network, train

    data = load_mnist(train_size=256, test_size=128)
    config = dict(depth=7, width=32, steps=4, batch_size=32, epochs=2, progress=False, seed=3, train_size=256,
                  test_size=128, architecture="sew_add", init="sew_add", branch_scaling="depth_sqrt", lr=3e-3)
    weights, _ = build_network(TrainConfig(**config), 784, 10)
    stds = theory_residual.sew_stds(7, 32, 1, 1.0, 1.0, 784, 10, 0.5, T=4, branch_scale=0.5)
    assert [w.shape for w in weights] == [(784, 32)] + [(32, 32)] * 4 + [(32, 10)]
    # sample stds within 6 standard errors of a normal std estimate (sd of s ~ s / sqrt(2 m))
    assert all(abs(w.std() - s) < 6 * s / np.sqrt(2 * w.size) for w, s in zip(weights, stds))
    path = tmp_path / "net.npz"
    result = train(dict(config, network_path=str(path), checkpoint_path=str(tmp_path / "ck.npz")))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    loaded = load_network(path)
    assert loaded.config.architecture == "sew_add" and loaded.config.branch_scaling == "depth_sqrt"
    again = loaded.evaluate(data.x_test, data.y_test)
    assert again["accuracy"] == result.history[-1]["test_accuracy"]
    assert abs(again["loss"] - result.history[-1]["test_loss"]) < 1e-9
    resumed = train(dict(config, epochs=2, checkpoint_path=str(tmp_path / "ck.npz")))
    assert resumed.history[-1]["test_loss"] == result.history[-1]["test_loss"]


def test_bad_residual_options_are_named(capsys):
    from simulate.train import TrainConfig, main

    with pytest.raises(ValueError, match="block_layers"):
        TrainConfig(depth=10, architecture="sew_add", block_layers=2).validate()
    with pytest.raises(ValueError, match="architecture"):
        TrainConfig(init="sew_add").validate()
    with pytest.raises(ValueError, match="residual_budget"):
        TrainConfig(architecture="sew_add", residual_budget=-1.0).validate()
    assert main(["--architecture", "sew_add", "--depth", "10", "--block-layers", "2", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "block_layers" in err[0]
    with pytest.raises(SystemExit) as stop:
        main(["--branch-scaling", "half"])
    assert stop.value.code == 2
