"""Gradients of simulate.loss_and_grads against two independent references.

1. Smooth mode (step -> logistic with slope k, surrogate -> its exact derivative): the BPTT
   gradient IS the gradient of a smooth function, so it must equal central finite
   differences. Float64, eps = 1e-6: truncation error ~ eps^2 k^3 ~ 1e-10 and round-off
   ~ 1e-16 / eps ~ 1e-10 relative, so 1e-5 leaves a wide margin while any wrong term
   (a missing carry, a wrong reset factor) gives errors of order 1e-1.
2. Heaviside + surrogate in float32 against a plain NumPy float64 BPTT written from the
   equations in a different order (time outer, layers inner). Float32 rounding of sums
   over <= a few hundred terms gives ~1e-6 relative; 1e-4 is the issue's bound.
Neither check is statistical: each is deterministic for its seed.
"""
import numpy as np
import pytest

from simulate.backprop import forward_backward, loss_and_grads
from theory.core.surrogates import SURROGATES, smooth_step

from theory.core.lif import RESETS  # every reset of the one reset table


def _network(rng, widths, dtype, with_bias):
    weights = [(rng.standard_normal((a, b)) * 1.6 / np.sqrt(a)).astype(dtype)
               for a, b in zip(widths[:-1], widths[1:])]
    biases = [(0.3 * rng.standard_normal(b)).astype(dtype) for b in widths[1:]] if with_bias else None
    return weights, biases


def reference_bptt(weights, biases, currents, labels, beta, threshold, reset, grad_fn, step_fn):
    """Plain NumPy float64 BPTT, time-major: forward t = 0..T-1 over all layers, backward
    t = T-1..0 over layers top-down, carrying dL/du_l[t+1] per layer."""
    weights = [np.asarray(w, np.float64) for w in weights]
    biases = None if biases is None else [np.asarray(b, np.float64) for b in biases]
    currents = np.asarray(currents, np.float64)
    steps, batch, _ = currents.shape
    depth = len(weights)
    widths = [currents.shape[2]] + [w.shape[1] for w in weights]
    u = [np.zeros((steps, batch, n)) for n in widths]
    s = [np.zeros((steps, batch, n)) for n in widths]
    hard = [np.zeros((steps, batch, n)) for n in widths]
    for t in range(steps):
        for l in range(depth + 1):
            if l == 0:
                current = currents[t]
            else:
                current = s[l - 1][t] @ weights[l - 1] + (0 if biases is None else biases[l - 1])
            u_prev = u[l][t - 1] if t else np.zeros(widths[l])
            r_prev = hard[l][t - 1] if t else np.zeros(widths[l])
            if reset == "subtract":
                u[l][t] = beta * u_prev + current - threshold * r_prev
            elif reset == "zero":
                u[l][t] = beta * (1 - r_prev) * u_prev + current
            elif reset == "subtract_leaky":
                u[l][t] = beta * (u_prev - threshold * r_prev) + current
            else:
                u[l][t] = beta * u_prev + current
            hard[l][t] = (u[l][t] > threshold).astype(float)
            s[l][t] = step_fn(u[l][t] - threshold)
    counts = s[depth].sum(axis=0)
    p = np.exp(counts - counts.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(batch), labels]))
    grad_counts = p.copy()
    grad_counts[np.arange(batch), labels] -= 1
    grad_counts /= batch
    dW = [np.zeros_like(w) for w in weights]
    db = [np.zeros(w.shape[1]) for w in weights]
    grad_u_next = [np.zeros((batch, n)) for n in widths]
    for t in range(steps - 1, -1, -1):
        grad_s = grad_counts
        for l in range(depth, 0, -1):
            factor = beta * (1 - hard[l][t]) if reset == "zero" else beta
            grad_u = grad_s * grad_fn(u[l][t] - threshold) + grad_u_next[l] * factor
            grad_u_next[l] = grad_u
            dW[l - 1] += s[l - 1][t].T @ grad_u
            db[l - 1] += grad_u.sum(0)
            grad_s = grad_u @ weights[l - 1].T
    return loss, dW, db


def _rel_err(a, b):
    a, b = np.concatenate([np.ravel(x) for x in a]), np.concatenate([np.ravel(x) for x in b])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("steps", [1, 4])
def test_smooth_mode_matches_finite_differences(reset, with_bias, steps):
    rng = np.random.default_rng([11, steps, int(with_bias), RESETS.index(reset)])
    widths = [6, 5, 4, 3]     # depth 3: three weight layers after the input LIF layer
    weights, biases = _network(rng, widths, np.float64, with_bias)
    currents = rng.uniform(0.0, 2.5, (steps, 3, widths[0]))
    labels = rng.integers(0, widths[-1], 3)
    kw = dict(beta=0.6, threshold=1.0, reset=reset, smooth_slope=4.0)
    loss, grads, bias_grads = loss_and_grads(weights, biases, currents, labels, **kw)
    assert np.isfinite(loss)
    params = weights + (biases or [])
    analytic = grads + (bias_grads or [])
    eps = 1e-6
    numeric = []
    for p in params:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = loss_and_grads(weights, biases, currents, labels, **kw)[0]
            p[idx] = old - eps
            down = loss_and_grads(weights, biases, currents, labels, **kw)[0]
            p[idx] = old
            g[idx] = (up - down) / (2 * eps)
        numeric.append(g)
    assert np.linalg.norm(np.concatenate([g.ravel() for g in numeric])) > 1e-3   # not a dead net
    assert _rel_err(analytic, numeric) < 1e-5


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("surrogate", list(SURROGATES))
def test_heaviside_float32_matches_numpy_reference(reset, surrogate):
    rng = np.random.default_rng([5, RESETS.index(reset), list(SURROGATES).index(surrogate)])
    widths = [30, 25, 20, 10]
    with_bias = surrogate in ("atan", "sigmoid")
    weights, biases = _network(rng, widths, np.float32, with_bias)
    steps, batch = 6, 8
    currents = rng.uniform(0.0, 1.5, (steps, batch, widths[0])).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    func, scale = SURROGATES[surrogate]
    loss, grads, bias_grads = loss_and_grads(weights, biases, currents, labels, beta=0.5,
                                             threshold=1.0, reset=reset, surrogate=surrogate,
                                             surrogate_scale=scale)
    ref_loss, ref_w, ref_b = reference_bptt(weights, biases, currents, labels, 0.5, 1.0, reset,
                                            lambda x: func(x, scale), lambda x: (x > 0).astype(float))
    # Near-ties: a spike differing between the float32 kernels and the float64 reference would
    # change the loss by O(1/batch), far beyond 1e-4, so this test needs identical spikes. The
    # float32 forward is the same bits on every x86-64 CPU (Numba kernels without FMA
    # contraction or reassociation, no transcendental in the forward); the float64 reference
    # moves by ~1e-15 with the BLAS kernel. So the outcome is fixed by the seed: a membrane
    # within float32 rounding (~1e-6) of theta would fail here on every machine alike.
    assert abs(loss - ref_loss) <= 1e-4 * abs(ref_loss)
    assert all(np.linalg.norm(g) > 0 for g in ref_w)            # every layer gets a signal
    assert _rel_err(grads, ref_w) < 1e-4
    if with_bias:
        assert _rel_err(bias_grads, ref_b) < 1e-4
    else:
        assert bias_grads is None


def test_smooth_reference_agrees_with_kernels_in_float64():
    """The NumPy reference in smooth mode equals the kernels (a check of the reference itself)."""
    rng = np.random.default_rng(3)
    weights, biases = _network(rng, [8, 6, 5], np.float64, True)
    currents = rng.uniform(0, 2, (5, 4, 8))
    labels = rng.integers(0, 5, 4)
    loss, grads, bias_grads = loss_and_grads(weights, biases, currents, labels, beta=0.7, threshold=1.0,
                                             reset="zero", smooth_slope=3.0)
    ref = reference_bptt(weights, biases, currents, labels, 0.7, 1.0, "zero",
                         lambda x: SURROGATES["sigmoid"][0](x, 3.0), lambda x: smooth_step(x, 3.0))
    # float64, two summation orders and two exp implementations (Numba's libm vs numpy's,
    # SIMD on some CPUs, <= 4 ulp): differences of a few 1e-16 through 5 steps x 2 layers of
    # well-conditioned sums; 1e-12 leaves > 100x margin on any CPU
    assert abs(loss - ref[0]) < 1e-12
    assert _rel_err(grads, ref[1]) < 1e-12 and _rel_err(bias_grads, ref[2]) < 1e-12


def test_forward_spikes_equal_run_network():
    """The training forward and simulate.run_network give bit-identical spikes (same float32
    operation order) on random configurations, every reset, with and without biases.

    Exact on any CPU: both are Numba kernels summing the active weight rows in increasing row
    order and applying theory.core.lif.membrane; none has fastmath (no FMA contraction, no
    reassociation), so vector width (generic SSE2 vs AVX2 vs AVX-512) changes no value
    (tests/simulate/test_reproducible.py)."""
    network = pytest.importorskip("simulate.network")
    rng = np.random.default_rng(17)
    for trial in range(6):
        reset = RESETS[trial % 3]
        widths = list(rng.integers(5, 60, size=rng.integers(2, 6)))
        weights, biases = _network(rng, widths, np.float32, trial % 2 == 1)
        currents = rng.uniform(0, 2, (int(rng.integers(1, 8)), 5, widths[0])).astype(np.float32)
        labels = rng.integers(0, widths[-1], 5)
        ours = forward_backward(weights, biases, currents, labels, beta=0.5, threshold=1.0,
                                reset=reset, backward=False)
        theirs = network.run_network(weights, currents, beta=0.5, threshold=1.0, reset=reset,
                                     biases=biases, record_spikes=True)
        for mine, other in zip(ours.spikes, theirs.spikes):
            np.testing.assert_array_equal(mine, other.astype(np.float32))


def test_bad_input_raises_named_errors():
    w = [np.zeros((4, 3), np.float32)]
    cur = np.zeros((2, 2, 4), np.float32)
    with pytest.raises(ValueError, match="reset"):
        loss_and_grads(w, None, cur, np.array([0, 1]), beta=0.5, threshold=1.0, reset="soft")
    with pytest.raises(ValueError, match="surrogate"):
        loss_and_grads(w, None, cur, np.array([0, 1]), beta=0.5, threshold=1.0, reset="zero", surrogate="x")
    with pytest.raises(ValueError, match="labels"):
        loss_and_grads(w, None, cur, np.array([0, 3]), beta=0.5, threshold=1.0, reset="zero")
    with pytest.raises(ValueError, match="beta"):
        loss_and_grads(w, None, cur, np.array([0, 1]), beta=1.5, threshold=1.0, reset="zero")
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        loss_and_grads([np.zeros((5, 3), np.float32)], None, cur, np.array([0, 1]), beta=0.5,
                       threshold=1.0, reset="zero")


def test_products_sum_in_the_documented_order():
    """bptt_kernels' products are sequential sums in increasing index order without FMA: equal,
    bit for bit, to NumPy float32 elementwise steps out = out + x[:, k] * M[k] (each product
    rounded, then added). The sparse forms (row gathers over index lists, the transposed lists
    for s^T dI) and the fused backward give the same bits as the dense ones."""
    from simulate import bptt_kernels as K
    rng = np.random.default_rng(23)
    for rows, depth, width in [(7, 5, 3), (13, 70, 37), (64, 100, 100)]:
        x = rng.standard_normal((rows, depth)).astype(np.float32)
        x[rng.random(x.shape) < 0.3] = 0.0
        m = rng.standard_normal((depth, width)).astype(np.float32)
        expected = np.zeros((rows, width), np.float32)
        for k in range(depth):
            expected = expected + x[:, k:k + 1] * m[k]
        out = np.empty((rows, width), np.float32)
        K.rows_times_matrix(x, m, out)
        np.testing.assert_array_equal(out, expected)
    # binary inputs: gathers and the transposed lists against the dense product
    steps, batch, n_in, n_out = 4, 7, 50, 30
    spikes = (rng.random((steps, batch, n_in)) < 0.2).astype(np.float32)
    index = np.zeros((steps, batch, n_in), np.int32)
    count = np.zeros((steps, batch), np.int32)
    for t in range(steps):
        for b in range(batch):
            active = np.flatnonzero(spikes[t, b])
            index[t, b, :len(active)] = active
            count[t, b] = len(active)
    weight = rng.standard_normal((n_in, n_out)).astype(np.float32)
    dense = np.empty((steps * batch, n_out), np.float32)
    K.rows_times_matrix(spikes.reshape(-1, n_in), weight, dense)
    gathered = np.empty_like(dense)
    K.gather_currents(index.reshape(-1, n_in), count.reshape(-1), weight, weight[0, :0], False, gathered)
    np.testing.assert_array_equal(gathered, dense)
    grad = rng.standard_normal((steps, batch, n_out)).astype(np.float32)
    dense_dw = np.empty((n_in, n_out), np.float32)
    K.rows_times_matrix(np.ascontiguousarray(spikes.reshape(-1, n_in).T), grad.reshape(-1, n_out), dense_dw)
    sparse_dw = np.empty_like(dense_dw)
    K.binary_weight_grad(index, count, grad, sparse_dw)
    np.testing.assert_array_equal(sparse_dw, dense_dw)
    # fused dI W^T + LIF backward against the two steps
    mem = rng.uniform(0, 2, (steps, batch, n_in)).astype(np.float32)
    weight_above = rng.standard_normal((n_in, n_out)).astype(np.float32)
    grad_spikes = np.empty((steps * batch, n_in), np.float32)
    K.rows_times_matrix(grad.reshape(-1, n_out), np.ascontiguousarray(weight_above.T), grad_spikes)
    args = (np.float32(0.5), np.float32(1.0))
    for reset in (0, 1):
        two_step = np.empty((steps, batch, n_in), np.float32)
        K.lif_backward(grad_spikes.reshape(steps, batch, n_in), mem, *args, reset, 0, np.float32(2.0), two_step)
        fused = np.empty_like(two_step)
        K.backward_through(grad, weight_above, mem, *args, reset, 0, np.float32(2.0), fused)
        np.testing.assert_array_equal(fused, two_step)


def test_forward_leaves_its_inputs_alone_and_any_thread_count_gives_the_same_bits():
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(31)
    weights, biases = _network(rng, [60, 40, 40, 10], np.float32, True)
    currents = rng.uniform(0, 2, (5, 9, 60)).astype(np.float32)
    labels = rng.integers(0, 10, 9)
    kept = [w.copy() for w in weights] + [b.copy() for b in biases] + [currents.copy()]
    before = numba.get_num_threads()
    runs = []
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            runs.append(forward_backward(weights, biases, currents, labels, beta=0.5, threshold=1.0))
    finally:
        numba.set_num_threads(before)
    for array, copy in zip(weights + biases + [currents], kept):
        np.testing.assert_array_equal(array, copy)
    for other in runs[1:]:
        assert other.loss == runs[0].loss
        for a, b in zip(other.weight_grads + other.bias_grads, runs[0].weight_grads + runs[0].bias_grads):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(other.spikes, runs[0].spikes):
            np.testing.assert_array_equal(a, b)
