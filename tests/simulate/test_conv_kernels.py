"""simulate.conv_kernels against independent float64 NumPy references.

Tolerances come from float32 rounding, u = 2^-24 (unit roundoff), gamma_n = n u / (1 - n u):
- a float32 sum of n products, each rounded, in any order, from +0 (Higham, Accuracy and
  Stability of Numerical Algorithms, 2nd ed., eq. (3.5)):  |fl(sum) - sum| <= gamma_n sum |x_i w_i|.
  A convolution output adds n = C_in k_h k_w products and the bias: n + 1 terms. The float64
  reference itself is off by at most gamma_{n+1} (u = 2^-53) of the same sum of magnitudes,
  added to the bound.
- a value computed in float64 and rounded once to float32 (average pooling, batch norm):
  |y - exact| <= u |exact| + (the float64 error, bounded by 1e-11 of the magnitudes involved
  at these sizes: at most ~10^4 terms of relative error 2^-53).
Max pooling and the LIF layer do the same float32 operations as their references: equality.
"""
import numpy as np
import numba
import pytest
import scipy.signal

from simulate import conv_kernels as ck
from simulate import run_network
from simulate.reference import lif_step

U32 = 2.0 ** -24
U64 = 2.0 ** -53


def gamma(n, u=U32):
    return n * u / (1 - n * u)


def reference_conv(x, weight, bias, stride, padding):
    """(out, magnitude) in float64: out[t,b,o,i,j] = sum_{c,ky,kx} W[o,c,ky,kx] xpad[t,b,c,i sh+ky,j sw+kx] + b[o],
    magnitude the same sum of |terms|; xpad = x with explicit zero borders."""
    x = np.asarray(x, np.float64)
    w = np.asarray(weight, np.float64)
    b = np.zeros(w.shape[0]) if bias is None else np.asarray(bias, np.float64)
    steps, batch, channels, height, width = x.shape
    c_out, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.zeros((steps, batch, channels, height + 2 * ph, width + 2 * pw))
    xp[..., ph:ph + height, pw:pw + width] = x
    h_out = (height + 2 * ph - kh) // sh + 1
    w_out = (width + 2 * pw - kw) // sw + 1
    out = np.zeros((steps, batch, c_out, h_out, w_out))
    mag = np.zeros_like(out)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[..., ky:ky + sh * (h_out - 1) + 1:sh, kx:kx + sw * (w_out - 1) + 1:sw]
            out += np.einsum("tbchw,oc->tbohw", patch, w[:, :, ky, kx])
            mag += np.einsum("tbchw,oc->tbohw", np.abs(patch), np.abs(w[:, :, ky, kx]))
    out += b[:, None, None]
    mag += np.abs(b)[:, None, None]
    return out, mag


def conv_bound(mag, channels, kernel):
    n = channels * kernel[0] * kernel[1] + 1
    return (gamma(n) + gamma(n, U64)) * mag


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


# (T, B, C_in, C_out, H, W, kernel, stride, padding, rate)
CASES = [
    (1, 1, 1, 1, 5, 5, 1, 1, 0, 0.5),
    (2, 3, 3, 5, 9, 11, 3, 1, 1, 0.16),
    (3, 2, 4, 16, 7, 7, 5, 2, 2, 0.3),
    (4, 1, 2, 33, 8, 13, 3, 2, 0, 0.05),          # C_out = 33: lanes 48 (a pair and a single)
    (1, 2, 5, 12, 10, 9, (3, 5), (2, 1), (1, 2), 0.25),
    (2, 2, 3, 48, 6, 5, (1, 3), (1, 3), (0, 1), 0.4),
    (1, 1, 17, 20, 5, 4, 5, 1, 2, 0.1),           # kernel wider than the image: padding makes room
    (2, 1, 2, 3, 4, 7, 2, 3, 1, 0.5),             # stride larger than the kernel
    (3, 2, 6, 64, 6, 6, 3, 1, 1, 0.2),            # two pairs of lanes
]


def _case(case, seed):
    steps, batch, c_in, c_out, height, width, kernel, stride, padding, rate = case
    rng = np.random.default_rng(seed)
    kh, kw = _pair(kernel)
    spikes = (rng.random((steps, batch, c_in, height, width)) < rate).astype(np.uint8)
    x = rng.standard_normal((steps, batch, c_in, height, width)).astype(np.float32)
    weight = (rng.standard_normal((c_out, c_in, kh, kw)) / np.sqrt(c_in * kh * kw)).astype(np.float32)
    bias = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
    return spikes, x, weight, bias, _pair(stride), _pair(padding)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_spikes_and_dense_match_float64_reference(case):
    spikes, x, weight, bias, stride, padding = _case(case, seed=CASES.index(case))
    kernel = weight.shape[2:]
    got = ck.conv2d_spikes(spikes, weight, bias, stride, padding)
    ref, mag = reference_conv(spikes, weight, bias, stride, padding)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.all(np.abs(got - ref) <= conv_bound(mag, weight.shape[1], kernel))
    dense = ck.conv2d_dense(x, weight, bias, stride, padding)
    ref, mag = reference_conv(x, weight, bias, stride, padding)
    assert dense.dtype == np.float32 and dense.shape == ref.shape
    assert np.all(np.abs(dense - ref) <= conv_bound(mag, weight.shape[1], kernel))
    # the same summation order: the direct convolution of the same 0/1 values, bit for bit
    same = ck.conv2d_dense(spikes.astype(np.float32), weight, bias, stride, padding)
    np.testing.assert_array_equal(same.view(np.uint32), ck.conv2d_spikes(spikes, weight, bias, stride, padding)
                                  .view(np.uint32))


def test_reference_conv_agrees_with_scipy():
    """The test's reference is itself checked against scipy.signal.correlate (valid mode)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 3, 9, 8))
    w = rng.standard_normal((2, 3, 3, 4))
    ref, _ = reference_conv(x, w, None, (1, 1), (0, 0))
    for o in range(2):
        expected = scipy.signal.correlate(x[0, 0], w[o], mode="valid")[0]
        np.testing.assert_allclose(ref[0, 0, o], expected, rtol=1e-12, atol=1e-12)


def test_conv_sums_each_output_in_the_documented_order():
    """Weights for which float32 addition depends on the order: increasing (ky, kx, c) gives
    ((1e8 + 1) - 1e8) + 1 = 1 (1e8 + 1 rounds to 1e8), increasing (c, ky, kx) would give
    ((1e8 - 1e8) + 1) + 1 = 2; then + bias."""
    weight = np.zeros((1, 2, 1, 2), np.float32)
    weight[0, 0, 0] = [1e8, -1e8]        # channel 0: kx = 0, 1
    weight[0, 1, 0] = [1.0, 1.0]         # channel 1
    spikes = np.ones((1, 1, 2, 1, 2), np.uint8)
    bias = np.array([0.25], np.float32)
    assert ck.conv2d_spikes(spikes, weight, bias)[0, 0, 0, 0, 0] == np.float32(1.25)
    assert ck.conv2d_dense(spikes.astype(np.float32), weight, bias)[0, 0, 0, 0, 0] == np.float32(1.25)
    assert ck.conv2d_spikes(spikes, weight)[0, 0, 0, 0, 0] == np.float32(1.0)


def test_conv_all_zero_spikes_and_empty_inputs():
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((7, 4, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(7).astype(np.float32)
    out = ck.conv2d_spikes(np.zeros((2, 3, 4, 6, 5), np.uint8), weight, bias, 1, 1)
    np.testing.assert_array_equal(out, np.broadcast_to(bias[:, None, None], out.shape))
    for shape in [(0, 3, 4, 6, 5), (2, 0, 4, 6, 5)]:
        assert ck.conv2d_spikes(np.zeros(shape, np.uint8), weight, bias, 2, 1).shape == shape[:2] + (7, 3, 3)
        assert ck.conv2d_dense(np.zeros(shape, np.float32), weight, None, 2, 1).shape == shape[:2] + (7, 3, 3)


@pytest.mark.parametrize("kernel,stride,padding", [(1, 1, 0), (3, 2, 1), (5, 1, 2), (4, 3, 0)])
def test_conv1d_matches_reference(kernel, stride, padding):
    rng = np.random.default_rng(kernel * 10 + stride)
    spikes = (rng.random((3, 2, 4, 17)) < 0.3).astype(np.uint8)
    x = rng.standard_normal((3, 2, 4, 17)).astype(np.float32)
    weight = rng.standard_normal((6, 4, kernel)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    for inputs, conv in [(spikes, ck.conv1d_spikes), (x, ck.conv1d_dense)]:
        got = conv(inputs, weight, bias, stride, padding)
        ref, mag = reference_conv(inputs[:, :, :, None, :], weight[:, :, None, :], bias, (1, stride), (0, padding))
        assert got.shape == ref.shape[:3] + ref.shape[4:]
        assert np.all(np.abs(got - ref[:, :, :, 0, :]) <= conv_bound(mag[:, :, :, 0, :], 4, (1, kernel)))


# ---------------------------------------------------------------------------------------------
# pooling

def reference_pool(x, kernel, stride, padding, mode):
    """float64 windows of x (T,B,C,H,W) padded with -inf (max) or 0 (avg, divisor kh kw)."""
    x = np.asarray(x, np.float64)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    fill = -np.inf if mode == "max" else 0.0
    height, width = x.shape[3:]
    xp = np.full(x.shape[:3] + (height + 2 * ph, width + 2 * pw), fill)
    xp[..., ph:ph + height, pw:pw + width] = x
    h_out = (height + 2 * ph - kh) // sh + 1
    w_out = (width + 2 * pw - kw) // sw + 1
    windows = np.stack([xp[..., ky:ky + sh * (h_out - 1) + 1:sh, kx:kx + sw * (w_out - 1) + 1:sw]
                        for ky in range(kh) for kx in range(kw)])
    if mode == "max":
        return windows.max(axis=0)
    return windows.sum(axis=0) / (kh * kw), np.abs(windows).sum(axis=0) / (kh * kw)


POOLS = [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1)), (3, 3, 0), (1, 1, 0)]


@pytest.mark.parametrize("kernel,stride,padding", POOLS)
def test_pooling_matches_reference(kernel, stride, padding):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 2, 4, 9, 7)).astype(np.float32)
    spikes = (rng.random((3, 2, 4, 9, 7)) < 0.2).astype(np.uint8)
    k, p = _pair(kernel), _pair(padding)
    s = k if stride is None else _pair(stride)
    got = ck.max_pool(x, kernel, stride, padding)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, reference_pool(x, k, s, p, "max"))     # max is exact
    got = ck.max_pool(spikes, kernel, stride, padding)
    assert got.dtype == np.uint8                                               # OR of the window
    np.testing.assert_array_equal(got, reference_pool(spikes, k, s, p, "max").astype(np.uint8))
    mean, mag = reference_pool(x, k, s, p, "avg")
    got = ck.avg_pool(x, kernel, stride, padding)
    assert got.dtype == np.float32
    assert np.all(np.abs(got - mean) <= U32 * np.abs(mean) + 1e-11 * mag)
    fraction, _ = reference_pool(spikes, k, s, p, "avg")      # count / (kh kw), exact in float64
    np.testing.assert_array_equal(ck.avg_pool(spikes, kernel, stride, padding), fraction.astype(np.float32))


def test_pooling_1d_and_bool_spikes():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 11)).astype(np.float32)
    got = ck.max_pool(x, 3, 2, 1)
    np.testing.assert_array_equal(got, reference_pool(x[:, :, :, None, :], (1, 3), (1, 2), (0, 1), "max")[:, :, :, 0])
    mean, mag = reference_pool(x[:, :, :, None, :], (1, 2), (1, 2), (0, 0), "avg")
    mean, mag = mean[:, :, :, 0], mag[:, :, :, 0]
    assert np.all(np.abs(ck.avg_pool(x, 2) - mean) <= U32 * np.abs(mean) + 1e-11 * mag)
    spikes = rng.random((2, 3, 4, 6, 6)) < 0.3
    np.testing.assert_array_equal(ck.max_pool(spikes, 2), ck.max_pool(spikes.astype(np.uint8), 2))


# ---------------------------------------------------------------------------------------------
# batch norm

@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 5, 6, 7), (2, 3, 4, 9), (4, 2, 3)])
def test_batch_norm_matches_reference(shape, per_step):
    rng = np.random.default_rng(len(shape) + 10 * per_step)
    x = (3.0 + 2.0 * rng.standard_normal(shape)).astype(np.float32)
    weight = rng.uniform(0.5, 2.0, shape[2]).astype(np.float32)
    bias = rng.standard_normal(shape[2]).astype(np.float32)
    eps = 1e-5
    y, mean, var = ck.batch_norm(x, weight, bias, eps=eps, per_step=per_step)
    x64 = x.astype(np.float64)
    axes = (1,) + tuple(range(3, x.ndim)) if per_step else (0, 1) + tuple(range(3, x.ndim))
    ref_mean = x64.mean(axis=axes, keepdims=True)
    ref_var = x64.var(axis=axes, keepdims=True)            # biased
    assert mean.shape == var.shape == ((shape[0], shape[2]) if per_step else (shape[2],))
    np.testing.assert_allclose(mean.reshape(ref_mean.shape), ref_mean, rtol=1e-12)
    np.testing.assert_allclose(var.reshape(ref_var.shape), ref_var, rtol=1e-11)
    per_channel = (1, 1, shape[2]) + (1,) * (x.ndim - 3)
    scale = weight.astype(np.float64).reshape(per_channel) / np.sqrt(ref_var + eps)
    shift = bias.astype(np.float64).reshape(per_channel)
    ref = (x64 - ref_mean) * scale + shift
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.all(np.abs(y - ref) <= U32 * np.abs(ref) + 1e-11 * (np.abs(x64 - ref_mean) * scale + np.abs(shift)))


def test_batch_norm_default_affine_normalises():
    x = np.random.default_rng(2).standard_normal((4, 8, 3, 5, 5)).astype(np.float32) * 5 + 1
    y, _, _ = ck.batch_norm(x)
    y64 = y.astype(np.float64)
    np.testing.assert_allclose(y64.mean(axis=(0, 1, 3, 4)), 0.0, atol=1e-6)
    np.testing.assert_allclose(y64.var(axis=(0, 1, 3, 4)), 1.0, rtol=1e-4)    # var / (var + eps), eps = 1e-5


# ---------------------------------------------------------------------------------------------
# LIF layer

@pytest.mark.parametrize("reset", ["subtract", "zero", "none", "subtract_leaky"])
@pytest.mark.parametrize("beta,threshold", [(0.5, 1.0), (0.9, 0.7), (0.0, -0.2)])
def test_lif_layer_matches_reference(reset, beta, threshold):
    rng = np.random.default_rng(4)
    currents = (1.2 * rng.standard_normal((4, 3, 5, 6, 7))).astype(np.float32)
    result = ck.lif_layer(currents, beta=beta, threshold=threshold, reset=reset)
    u = np.zeros(currents.shape[1:], np.float32)
    s = np.zeros(currents.shape[1:], np.float32)
    us, ss = [], []
    for t in range(currents.shape[0]):
        u, s = lif_step(u, s, currents[t], np.float32(beta), np.float32(threshold), reset)
        us.append(u)
        ss.append(s)
    u_ref = np.stack(us).astype(np.float64).reshape(4, 3, -1)
    s_ref = np.stack(ss).astype(np.uint8)
    assert result.spikes.dtype == np.uint8 and result.spikes.shape == currents.shape
    np.testing.assert_array_equal(result.spikes, s_ref)            # the same float32 operations
    np.testing.assert_array_equal(result.active, s_ref.reshape(4, 3, -1).sum(axis=2))
    np.testing.assert_allclose(result.mem_sum, u_ref.sum(axis=2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.mem_sumsq, (u_ref ** 2).sum(axis=2), rtol=1e-12)
    np.testing.assert_allclose(result.rate, s_ref.reshape(4, -1).mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose(result.mem_mean, u_ref.reshape(4, -1).mean(axis=1), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(result.mem_var, u_ref.reshape(4, -1).var(axis=1), rtol=1e-10, atol=1e-14)


def test_lif_layer_gives_run_network_layer_zero_statistics():
    """On (T, B, n) currents the spikes, counts and rates of simulate.run_network's layer 0 bit
    for bit; mem_mean and mem_var up to float64 rounding (both sum the same n_v = B n float32
    values in float64, in different orders: |error| <= gamma_{n_v} (2^-53) sum |u| for a sum, so
    the moments agree within 2 gamma_{n_v} E|u| and 2 gamma_{n_v} (E[u^2] + 2 |E u| E|u|))."""
    currents = np.random.default_rng(8).standard_normal((5, 4, 300)).astype(np.float32)
    result = ck.lif_layer(currents, beta=0.5, threshold=1.0)
    network = run_network([], currents, beta=0.5, threshold=1.0, record_spikes=True)
    np.testing.assert_array_equal(result.spikes, network.spikes[0])
    np.testing.assert_array_equal(result.active, network.active[0])
    np.testing.assert_array_equal(result.rate, network.rate[0])
    u = np.empty(currents.shape, np.float32)
    state = np.zeros(currents.shape[1:], np.float32)
    spikes = np.zeros(currents.shape[1:], np.float32)
    for t in range(currents.shape[0]):
        state, spikes = lif_step(state, spikes, currents[t], np.float32(0.5), np.float32(1.0), "subtract")
        u[t] = state
    u = u.astype(np.float64).reshape(5, -1)
    g = gamma(u.shape[1], U64)
    abs_mean = np.abs(u).mean(axis=1)
    assert np.all(np.abs(result.mem_mean - network.mem_mean[0]) <= 2 * g * abs_mean)
    assert np.all(np.abs(result.mem_var - network.mem_var[0])
                  <= 2 * g * ((u ** 2).mean(axis=1) + 2 * np.abs(u.mean(axis=1)) * abs_mean))


@pytest.mark.parametrize("reset,threshold", [("subtract", 1.0), ("zero", 0.5), ("none", -0.3),
                                             ("subtract_leaky", 0.7)])
def test_fused_conv_lif_equals_unfused(reset, threshold):
    """conv2d_spikes_lif: the spikes of lif_layer(conv2d_spikes(...)) bit for bit; C_out = 20
    leaves 12 padding lanes, which must neither spike nor count (threshold < 0 would fire them)."""
    rng = np.random.default_rng(9)
    spikes = (rng.random((4, 3, 5, 9, 8)) < 0.3).astype(np.uint8)
    weight = (rng.standard_normal((20, 5, 3, 3)) / np.sqrt(45)).astype(np.float32) * 2
    bias = (0.1 * rng.standard_normal(20)).astype(np.float32)
    fused = ck.conv2d_spikes_lif(spikes, weight, bias, (2, 1), 1, beta=0.8, threshold=threshold, reset=reset)
    unfused = ck.lif_layer(ck.conv2d_spikes(spikes, weight, bias, (2, 1), 1), beta=0.8, threshold=threshold,
                           reset=reset)
    assert fused.width == unfused.width == 20 * 5 * 8
    np.testing.assert_array_equal(fused.spikes, unfused.spikes)
    np.testing.assert_array_equal(fused.active, unfused.active)
    assert 0 < fused.rate.mean() < 1
    np.testing.assert_allclose(fused.mem_sum, unfused.mem_sum, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.mem_sumsq, unfused.mem_sumsq, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# determinism and the parallel path

needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")


@needs_two_threads
def test_same_bits_on_one_and_two_threads():
    rng = np.random.default_rng(12)
    spikes = (rng.random((2, 4, 16, 16, 16)) < 0.2).astype(np.uint8)
    x = rng.standard_normal((2, 4, 16, 16, 16)).astype(np.float32)
    weight = (rng.standard_normal((24, 16, 3, 3)) / 12).astype(np.float32)
    plan = ck._plan(spikes.shape, weight, None, (1, 1), (1, 1))
    assert ck._big(spikes.shape, plan)       # large enough for the parallel kernels

    def run():
        out = [ck.conv2d_spikes(spikes, weight, None, 1, 1), ck.conv2d_dense(x, weight, None, 1, 1)]
        fused = ck.conv2d_spikes_lif(spikes, weight, None, 1, 1, beta=0.5, threshold=0.5)
        lif = ck.lif_layer(out[0], beta=0.5, threshold=0.5)
        y, mean, var = ck.batch_norm(x)
        z, mean_t, var_t = ck.batch_norm(x, per_step=True)
        out += [fused.spikes, fused.mem_sum, fused.mem_sumsq, lif.spikes, lif.mem_sum, lif.mem_sumsq,
                y, mean, var, z, mean_t, var_t, ck.max_pool(x, 2), ck.avg_pool(x, 3, 2, 1)]
        return out

    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(2)
        two = run()
    finally:
        numba.set_num_threads(previous)
    for a, b in zip(one, two):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def test_serial_and_parallel_kernels_agree_bit_for_bit():
    """The small-call (serial) kernels give the bits of the parallel ones."""
    rng = np.random.default_rng(13)
    spikes = (rng.random((2, 3, 4, 7, 6)) < 0.3).astype(np.uint8)
    weight = rng.standard_normal((18, 4, 3, 3)).astype(np.float32)
    plan = ck._plan(spikes.shape, weight, None, (1, 2), (1, 0))
    outs = []
    for kernel in (ck._conv_serial, ck._conv_parallel):
        out = np.empty((6,) + plan.out_shape, np.float32)
        kernel(True, spikes.reshape((6, 4, 7, 6)), *plan.args(), plan.bias, out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0].view(np.uint32), outs[1].view(np.uint32))
    fused = []
    for kernel in (ck._conv_lif_serial, ck._conv_lif_parallel):
        out = (np.empty((2, 3) + plan.out_shape, np.uint8), np.empty((2, 3), np.int64), np.empty((2, 3)),
               np.empty((2, 3)))
        kernel(spikes, *plan.args(), plan.bias, np.float32(0.5), np.float32(0.2), 0, *out)
        fused.append(out)
    for a, b in zip(*fused):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


# ---------------------------------------------------------------------------------------------
# validation

W3 = np.ones((2, 3, 3, 3), np.float32)
S = np.zeros((1, 1, 3, 5, 5), np.uint8)


@pytest.mark.parametrize("call,match", [
    (lambda: ck.conv2d_spikes(S + 2, W3), "spikes"),
    (lambda: ck.conv2d_spikes(S[0], W3), "spikes"),
    (lambda: ck.conv2d_spikes(S.astype(np.float32) + 0.5, W3), "spikes"),
    (lambda: ck.conv2d_spikes(S, W3[:, :2]), "weight"),
    (lambda: ck.conv2d_spikes(S, W3[0]), "weight"),
    (lambda: ck.conv2d_spikes(S, W3 * np.nan), "weight"),
    (lambda: ck.conv2d_spikes(S, W3, np.ones(3)), "bias"),
    (lambda: ck.conv2d_spikes(S, W3, stride=0), "stride"),
    (lambda: ck.conv2d_spikes(S, W3, padding=-1), "padding"),
    (lambda: ck.conv2d_spikes(S, W3, padding=(1, 2, 3)), "padding"),
    (lambda: ck.conv2d_spikes(S[..., :2, :], W3), "kernel"),
    (lambda: ck.conv2d_dense(np.full(S.shape, np.inf), W3), "x"),
    (lambda: ck.conv1d_dense(np.zeros((1, 1, 3, 5)), np.ones((2, 3, 2)), stride=1.5), "stride"),
    (lambda: ck.max_pool(np.zeros((1, 1, 2, 4, 4)), 2, padding=2), "padding"),
    (lambda: ck.max_pool(np.zeros((1, 1, 2, 4, 4)), 0), "kernel"),
    (lambda: ck.avg_pool(np.zeros((1, 2, 4)), 2), "x"),
    (lambda: ck.avg_pool(np.zeros((1, 1, 2, 4, 4)), 6), "kernel"),
    (lambda: ck.batch_norm(np.zeros((1, 1, 2, 3)), eps=0.0), "eps"),
    (lambda: ck.batch_norm(np.zeros((1, 1, 2, 3)), np.ones(3)), "weight"),
    (lambda: ck.batch_norm(np.zeros((0, 1, 2, 3))), "x"),
    (lambda: ck.lif_layer(np.zeros((2, 2, 3)), beta=1.5, threshold=1.0), "beta"),
    (lambda: ck.lif_layer(np.zeros((2, 2, 3)), beta=0.5, threshold=np.inf), "threshold"),
    (lambda: ck.lif_layer(np.zeros((2, 2, 3)), beta=0.5, threshold=1.0, reset="soft"), "reset"),
    (lambda: ck.lif_layer(np.full((2, 2, 3), np.nan), beta=0.5, threshold=1.0), "currents"),
    (lambda: ck.conv2d_spikes_lif(S, W3, beta=-0.1, threshold=1.0), "beta"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
