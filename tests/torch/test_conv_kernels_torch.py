"""simulate.conv_kernels against torch.nn.functional (float32) and an snnTorch CSNN.

Tolerances (u = 2^-24, gamma_n = n u / (1 - n u)):
- convolution: both sides sum n + 1 float32 terms (C_in k_h k_w products and the bias) in
  some order; any order, blocking or fused multiply-add is within gamma_{n+1} sum |terms| of the
  exact value (Higham, eq. (3.5)), so the two differ by at most twice that. (This assumes torch
  sums products; a transform algorithm such as Winograd would not be covered.)
- max pooling: exact, so equal bit for bit.
- average pooling: ours is the float64 window sum divided and rounded once (<= u |exact|);
  torch sums in float32 and divides (<= gamma_{k^2} sum |x| / k^2 + u |exact|).
- batch norm: ours is computed in float64 and rounded once (<= u |y|). torch (CPU, contiguous;
  aten/src/ATen/native/cpu/batch_norm_kernel.cpp) rounds the mean to float32, sums float32
  squares (x - mean)^2 in double, rounds var_sum and invstd to float32, then computes
  alpha = invstd w, beta = b - mean alpha and y = x alpha + beta in float32: relative error
  <= 4u on alpha, <= 7u |mean alpha| + u |b| on beta, so |y_torch - y| <= 5u |x alpha|
  + 7u |mean alpha| + u |b| + u |y|. The test allows 8u (|x alpha| + |mean alpha| + |b|) + 2u |y|.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import theory  # noqa: E402
from simulate import conv_kernels as ck  # noqa: E402

from .helpers import run_torch  # noqa: E402

U32 = 2.0 ** -24


def gamma(n, u=U32):
    return n * u / (1 - n * u)


def _flat(x):
    """(T, B, ...) numpy -> (T B, ...) float32 tensor (torch's batch = T B)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32).reshape((-1,) + x.shape[2:]))


# (T, B, C_in, C_out, H, W, kernel, stride, padding, rate)
CASES = [
    (2, 3, 3, 5, 9, 11, 3, 1, 1, 0.16),
    (3, 2, 4, 16, 7, 7, 5, 2, 2, 0.3),
    (1, 2, 5, 12, 10, 9, (3, 5), (2, 1), (1, 2), 0.25),
    (2, 2, 32, 32, 12, 12, 3, 1, 1, 0.05),
    (2, 2, 12, 64, 12, 12, 5, 1, 0, 0.5),
]


@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_torch(case):
    steps, batch, c_in, c_out, height, width, kernel, stride, padding, rate = case
    gen = torch.Generator().manual_seed(CASES.index(case))
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding)     # torch's default init
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) / np.sqrt(conv.weight[0].numel()))
        conv.bias.copy_(0.1 * torch.randn(c_out, generator=gen))
    weight, bias = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    spikes = (torch.rand((steps, batch, c_in, height, width), generator=gen) < rate).numpy().astype(np.uint8)
    x = torch.randn((steps, batch, c_in, height, width), generator=gen).numpy()
    n = c_in * weight.shape[2] * weight.shape[3] + 1
    for inputs, ours in [(spikes, ck.conv2d_spikes(spikes, weight, bias, stride, padding)),
                         (x, ck.conv2d_dense(x, weight, bias, stride, padding))]:
        with torch.no_grad():
            theirs = F.conv2d(_flat(inputs), conv.weight, conv.bias, stride, padding).numpy()
            mag = F.conv2d(_flat(inputs).abs().double(), conv.weight.abs().double(), conv.bias.abs().double(),
                           stride, padding).numpy()
        ours = ours.reshape(theirs.shape)
        assert np.all(np.abs(ours.astype(np.float64) - theirs) <= 2 * gamma(n) * mag)


def test_conv1d_matches_torch():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn((3, 2, 6, 20), generator=gen)
    spikes = (torch.rand((3, 2, 6, 20), generator=gen) < 0.3).float()
    w = torch.randn((8, 6, 3), generator=gen)
    b = torch.randn(8, generator=gen)
    for inputs, conv in [(spikes, ck.conv1d_spikes), (x, ck.conv1d_dense)]:
        theirs = F.conv1d(inputs.reshape(6, 6, 20), w, b, 2, 1).numpy()
        mag = F.conv1d(inputs.reshape(6, 6, 20).abs().double(), w.abs().double(), b.abs().double(), 2, 1).numpy()
        ours = conv(inputs.numpy().astype(np.uint8) if conv is ck.conv1d_spikes else inputs.numpy(),
                    w.numpy(), b.numpy(), 2, 1).reshape(theirs.shape)
        assert np.all(np.abs(ours.astype(np.float64) - theirs) <= 2 * gamma(6 * 3 + 1) * mag)


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1)), (3, 3, 0)])
def test_pooling_matches_torch(kernel, stride, padding):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((3, 2, 4, 11, 9), generator=gen)
    spikes = (torch.rand((3, 2, 4, 11, 9), generator=gen) < 0.2)
    flat = x.reshape(6, 4, 11, 9)
    theirs = F.max_pool2d(flat, kernel, stride, padding).numpy()
    np.testing.assert_array_equal(ck.max_pool(x.numpy(), kernel, stride, padding).reshape(theirs.shape), theirs)
    theirs = F.max_pool2d(spikes.reshape(6, 4, 11, 9).float(), kernel, stride, padding).numpy()
    np.testing.assert_array_equal(ck.max_pool(spikes.numpy(), kernel, stride, padding).reshape(theirs.shape), theirs)
    theirs = F.avg_pool2d(flat, kernel, stride, padding).numpy().astype(np.float64)
    exact = F.avg_pool2d(flat.double(), kernel, stride, padding).numpy()
    mag = F.avg_pool2d(flat.double().abs(), kernel, stride, padding).numpy()
    k2 = np.prod(kernel if isinstance(kernel, tuple) else (kernel, kernel))
    ours = ck.avg_pool(x.numpy(), kernel, stride, padding).reshape(theirs.shape)
    assert np.all(np.abs(ours - theirs) <= 2 * U32 * np.abs(exact) + gamma(k2) * mag)
    # spike counts: both are the correctly rounded float32 of count / k^2
    theirs = F.avg_pool2d(spikes.reshape(6, 4, 11, 9).float(), kernel, stride, padding).numpy()
    np.testing.assert_array_equal(ck.avg_pool(spikes.numpy(), kernel, stride, padding).reshape(theirs.shape), theirs)


@pytest.mark.parametrize("per_step", [False, True])
def test_batch_norm_matches_torch(per_step):
    gen = torch.Generator().manual_seed(2)
    x = 2.0 + 3.0 * torch.randn((4, 8, 6, 7, 5), generator=gen)
    weight = torch.rand(6, generator=gen) + 0.5
    bias = torch.randn(6, generator=gen)
    eps = 1e-5
    y, mean, var = ck.batch_norm(x.numpy(), weight.numpy(), bias.numpy(), eps=eps, per_step=per_step)
    if per_step:
        theirs = torch.stack([F.batch_norm(x[t], None, None, weight, bias, training=True, eps=eps)
                              for t in range(4)]).numpy()
        x64 = x.double()
        m = x64.mean(dim=(1, 3, 4), keepdim=True)
        v = x64.var(dim=(1, 3, 4), unbiased=False, keepdim=True)
        np.testing.assert_allclose(mean, m.numpy()[:, 0, :, 0, 0], rtol=1e-12)
        np.testing.assert_allclose(var, v.numpy()[:, 0, :, 0, 0], rtol=1e-11)
    else:
        theirs = F.batch_norm(x.reshape(32, 6, 7, 5), None, None, weight, bias, training=True, eps=eps)
        theirs = theirs.numpy().reshape(x.shape)
        x64 = x.double()
        m = x64.mean(dim=(0, 1, 3, 4), keepdim=True)
        v = x64.var(dim=(0, 1, 3, 4), unbiased=False, keepdim=True)
        np.testing.assert_allclose(mean, m.numpy().ravel(), rtol=1e-12)
        np.testing.assert_allclose(var, v.numpy().ravel(), rtol=1e-11)
    alpha = (weight.double().reshape(1, 1, 6, 1, 1) / torch.sqrt(v + eps)).numpy()
    exact = (x64.numpy() - m.numpy()) * alpha + bias.double().numpy().reshape(1, 1, 6, 1, 1)
    shift = np.abs(bias.numpy()).reshape(1, 1, 6, 1, 1)
    bound = 8 * U32 * (np.abs(x64.numpy() * alpha) + np.abs(m.numpy() * alpha) + shift) + 2 * U32 * np.abs(exact)
    assert np.all(np.abs(y.astype(np.float64) - theirs) <= bound)


# ---------------------------------------------------------------------------------------------
# snnTorch's tutorial CSNN, end to end

def _membrane_error(mems, current_error, beta, threshold):
    """Bound on |u_ours - u_torch| per (t, b, neuron): the current bound propagated through the
    leak, E[t] = beta E[t-1] + E_I[t] + 6u (beta |u[t-1]| + |I[t]| + |theta|) (each of the two
    implementations rounds the three operations of the update; |I| <= |u| + beta |u[t-1]| + |theta|
    is used with torch's u)."""
    error = np.zeros_like(mems[0], dtype=np.float64)
    previous = np.zeros_like(mems[0], dtype=np.float64)
    out = []
    for t in range(mems.shape[0]):
        u = np.abs(mems[t].astype(np.float64))
        current = u + beta * previous + abs(threshold)
        error = beta * error + current_error[t] + 6 * U32 * (beta * previous + current + abs(threshold))
        out.append(error)
        previous = u
    return np.stack(out)


def _check_layer(ours, theirs, mems, error, threshold):
    """Every mismatching spike lies on a (b, neuron) trace that came within ``error`` of the
    threshold at that step or before (after a near-tie the two traces may part). Returns the
    number of such traces and of mismatches."""
    near = np.abs(mems.astype(np.float64) - threshold) <= error
    near_so_far = np.logical_or.accumulate(near, axis=0)
    mismatch = ours != theirs
    assert not np.any(mismatch & ~near_so_far), f"{int((mismatch & ~near_so_far).sum())} spikes differ off near-ties"
    return int(near.any(axis=0).sum()), int(mismatch.sum())


def test_tutorial_csnn_gives_snntorch_spikes():
    """Conv2d(1,12,5) -> MaxPool2d(2) -> Leaky -> Conv2d(12,64,5) -> MaxPool2d(2) -> Leaky, beta
    0.5, threshold 1, T 4, batch 8, the same N(0,1) image at every step, conv weights with the
    paper's init (std theory.optimal_sigma(1, fan_in): both layers spike at useful rates): the
    toolkit's pieces (conv2d_dense, max_pool, lif_layer, conv2d_spikes) give snnTorch's spikes
    except on near-ties.

    Current bound per neuron: 2 gamma_{n+1} sum |terms| of its pre-pool input (both sides'
    float32 rounding), max-pooled (max is 1-Lipschitz); membrane bound from it by
    :func:`_membrane_error`. Layer 2 is checked twice: fed our own layer-1 spikes (end to end)
    and fed snnTorch's (so that a layer-1 near-tie cannot hide a layer-2 error).
    """
    torch.manual_seed(0)
    beta, threshold = 0.5, 1.0
    def leaky():
        return snn.Leaky(beta=beta, threshold=threshold, init_hidden=True)
    model = nn.Sequential(nn.Conv2d(1, 12, 5), nn.MaxPool2d(2), leaky(), nn.Conv2d(12, 64, 5), nn.MaxPool2d(2), leaky())
    with torch.no_grad():
        for conv in (model[0], model[3]):
            conv.weight.normal_(0.0, float(theory.optimal_sigma(threshold, conv.weight[0].numel())))
    images = torch.randn(8, 1, 28, 28)
    inputs = images.unsqueeze(0).repeat(4, 1, 1, 1, 1)                  # (T, B, 1, 28, 28)
    spikes, mems = run_torch(model, inputs)
    w1, b1 = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    w2, b2 = model[3].weight.detach().numpy(), model[3].bias.detach().numpy()

    x = inputs.numpy()
    layer1 = ck.lif_layer(ck.max_pool(ck.conv2d_dense(x, w1, b1), 2), beta=beta, threshold=threshold)
    with torch.no_grad():
        mag1 = F.conv2d(_flat(np.abs(x)).double(), model[0].weight.abs().double(), model[0].bias.abs().double())
    error1 = ck.max_pool((2 * gamma(25 + 1) * mag1.numpy()).reshape(4, 8, 12, 24, 24), 2)
    error1 = _membrane_error(mems[0], error1, beta, threshold)
    ties1, mismatches1 = _check_layer(layer1.spikes, spikes[0].astype(np.uint8), mems[0], error1, threshold)

    results = []
    for source in (layer1.spikes, spikes[0].astype(np.uint8)):      # end to end, then snnTorch's inputs
        layer2 = ck.lif_layer(ck.max_pool(ck.conv2d_spikes(source, w2, b2), 2), beta=beta, threshold=threshold)
        with torch.no_grad():
            mag2 = F.conv2d(_flat(source).double(), model[3].weight.abs().double(), model[3].bias.abs().double())
        error2 = ck.max_pool((2 * gamma(12 * 25 + 1) * mag2.numpy()).reshape(4, 8, 64, 8, 8), 2)
        error2 = _membrane_error(mems[1], error2, beta, threshold)
        if source is layer1.spikes and mismatches1:
            continue            # a layer-1 near-tie changed layer 2's input: only the fed check applies
        results.append(_check_layer(layer2.spikes, spikes[1].astype(np.uint8), mems[1], error2, threshold))
    # the comparison means something: both layers spike, and not always
    assert 0.05 < spikes[0].mean() < 0.95 and 0.05 < spikes[1].mean() < 0.95
    assert layer1.rate.mean() == pytest.approx(float(spikes[0].mean()), abs=1e-3)
    print(f"rates {spikes[0].mean():.3f} {spikes[1].mean():.3f}; near-tie traces (mismatching spikes): "
          f"layer 1 {ties1} ({mismatches1}); layer 2 end to end / fed {results}")
