"""``loss_and_grads``: softmax cross-entropy on output spike counts and its BPTT gradients.

Network (docs/theory.md §1): layer 0 is a LIF layer driven by ``currents`` (T, B, n_0); layer
l = 1..L gets I_l[t] = s_{l-1}[t] @ W_l (+ b_l). The readout is snnTorch's ``ce_count_loss``:

    c_b     = sum_t s_L[t, b]                               (spike counts, B x n_L)
    loss    = -(1/B) sum_b log softmax(c_b)[y_b]
    dL/ds_L[t, b] = (softmax(c_b) - onehot(y_b)) / B        for every t

and the gradients are exact BPTT through the LIF recursion with the surrogate derivative
g(u - theta) in place of the step's, the reset detached (simulate/bptt_kernels.py):

    dW_l = sum_{t,b} s_{l-1}[t, b]^T dI_l[t, b],   db_l = sum_{t,b} dI_l[t, b],
    dL/ds_{l-1}[t] = dI_l[t] @ W_l^T

The layers are processed one at a time over all T steps, because within a layer the only
recursion is the membrane's: every product covers T*B rows at once. The forward records,
per (t, b), the list of spiking neurons, and the currents are row gathers over these lists
(the float32 sums of simulate.run_network, bit for bit). The two backward products,
S^T dI and dI W^T, are dense BLAS calls run single-threaded (see BlasThreads): an
index-list gather for S^T dI was slower than sgemm (benchmarks/RESULTS.md). dtype: float32
weights -> float32 simulation (the default); float64 weights -> float64 throughout (tests).
Deterministic, and independent of the Numba thread count (tested with 1 and 2 threads).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

import snn_validation as validation
from theory.core.lif import RESETS, reset_code
from theory.core.surrogates import SURROGATES, surrogate_code

from . import bptt_kernels as K
from .kernels import layer_key

__all__ = ["RESETS", "loss_and_grads", "forward_backward", "forward", "BatchResult"]



@dataclass
class BatchResult:
    """What one forward (+ backward) pass of a batch yields.

    loss          mean cross-entropy on spike counts (float)
    counts        (B, n_L) float64 output spike counts
    rates         (L+1,) float64 mean spike per neuron per step of every layer
    weight_grads  list of (fan_in, fan_out) arrays or None (forward only)
    bias_grads    list of (fan_out,) arrays, or None
    spikes        list of L+1 (T, B, n_l) arrays: every layer's spikes (or smooth steps)
    """
    loss: float
    counts: np.ndarray
    rates: np.ndarray
    weight_grads: list | None = None
    bias_grads: list | None = None
    spikes: list | None = None


def validate_batch(weights, biases, currents, labels, beta, threshold, reset, surrogate, surrogate_scale):
    if not isinstance(weights, (list, tuple)) or len(weights) < 1:
        raise ValueError("weights must be a non-empty list of (fan_in, fan_out) arrays")
    dtype = np.dtype(np.asarray(weights[0]).dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"weights must be float32 (training) or float64 (tests), got {dtype}")
    currents = _real_array(currents, "currents", dtype)
    if currents.ndim != 3 or min(currents.shape) < 1:
        raise ValueError(f"currents must have shape (T, B, n_0), got {currents.shape}")
    width = currents.shape[2]
    checked = []
    for index, weight in enumerate(weights):
        weight = _real_array(weight, f"weights[{index}]", dtype)
        if weight.ndim != 2 or weight.shape[0] != width:
            raise ValueError(f"weights[{index}] must have shape ({width}, fan_out), got {weight.shape}")
        width = weight.shape[1]
        checked.append(weight)
    if biases is not None:
        if not isinstance(biases, (list, tuple)) or len(biases) != len(checked):
            raise ValueError(f"biases must be None or a list of {len(checked)} arrays")
        biases = [_real_array(b, f"biases[{index}]", dtype) for index, b in enumerate(biases)]
        for index, (bias, weight) in enumerate(zip(biases, checked)):
            if bias.shape != (weight.shape[1],):
                raise ValueError(f"biases[{index}] must have shape ({weight.shape[1]},), got {bias.shape}")
    labels = np.asarray(labels)
    if labels.shape != (currents.shape[1],) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer array of shape ({currents.shape[1]},), got {labels.shape} {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= width):
        raise ValueError(f"labels must lie in [0, {width - 1}] (output width), got range "
                         f"[{labels.min()}, {labels.max()}]")
    beta = float(validation.unit_interval(beta, "beta"))
    threshold = float(validation.finite(threshold, "threshold"))
    if abs(threshold) > float(np.finfo(dtype).max):
        raise ValueError(f"threshold must be finite in the simulation's {dtype} (|threshold| <= "
                         f"{float(np.finfo(dtype).max):.4g}), got {threshold!r}")
    validation.choice(reset, "reset", RESETS)
    code = surrogate_code(surrogate)
    scale = SURROGATES[surrogate][1] if surrogate_scale is None else float(validation.positive(surrogate_scale, "surrogate_scale"))
    return checked, biases, currents, labels.astype(np.int64), beta, threshold, code, scale


def _real_array(value, name, dtype):
    """``value`` as a C-contiguous ``dtype`` array with only finite entries; ValueError naming
    ``name`` (and, for a list entry, the layer) otherwise: a NaN or infinity in a weight, bias
    or current would turn into a finite loss with NaN or all-zero gradients."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise ValueError(f"{name} must be a real numeric array (not ragged), got {type(value).__name__}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=dtype)
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} must be finite in {np.dtype(dtype)} (no NaN or infinity), got "
                         f"{array[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return array


class BlasThreads:
    """Run the BLAS single-threaded inside a block, restoring its thread count afterwards.

    The products here are small (T*B x 100 x 100); a multi-threaded BLAS busy-waits between
    them, and on a shared 2-core machine that made a depth-50 batch several times slower
    (benchmarks/RESULTS.md). ``threadpoolctl.threadpool_limits`` finds the BLAS numpy loaded
    (OpenBLAS, MKL, BLIS, Accelerate) portably. The controller is built once (it inspects the
    loaded libraries) and reused: entering a block only sets the thread count.
    """
    _controller = None

    @classmethod
    def _get(cls):
        if cls._controller is None:
            cls._controller = ThreadpoolController()
        return cls._controller

    def __enter__(self):
        self._limit = self._get().limit(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        self._limit.restore_original_limits()


def cross_entropy(counts, labels):
    """Mean CE of softmax(counts) and its gradient w.r.t. counts (float64, max-shifted)."""
    shifted = counts - counts.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(len(labels))
    loss = float(np.mean(log_z - shifted[rows, labels]))
    grad = np.exp(shifted - log_z[:, None])
    grad[rows, labels] -= 1.0
    return loss, grad / len(labels)


def layer_currents(spikes, active, weight, bias, binary):
    """I = s @ W (+ b) for (T, B, n_in) spikes -> (T, B, n_out); row gathers when binary."""
    steps, batch, n_in = spikes.shape
    if binary:
        index, count = active
        out = np.empty((steps * batch, weight.shape[1]), weight.dtype)
        has_bias = bias is not None
        K.gather_currents(index.reshape(steps * batch, n_in), count.reshape(-1), weight,
                          bias if has_bias else weight[0, :0], has_bias, out)
    else:
        with BlasThreads():
            out = spikes.reshape(steps * batch, n_in) @ weight
        if bias is not None:
            out += bias
    return out.reshape(steps, batch, weight.shape[1])


def _weight_grad(spikes, grad_currents):
    """dW = S^T dI over all T*B rows (BLAS sgemm/dgemm)."""
    steps, batch, n_in = spikes.shape
    grad_flat = grad_currents.reshape(steps * batch, -1)
    return spikes.reshape(steps * batch, n_in).T @ grad_flat


def forward_backward(weights, biases, currents, labels, *, beta, threshold, reset="subtract",
                     surrogate="atan", surrogate_scale=None, smooth_slope=None,
                     backward=True, firing="deterministic", escape_noise=None, noise_seed=0,
                     sample_offset=0) -> BatchResult:
    """Forward pass recording membranes, loss on output spike counts, and (if ``backward``)
    the BPTT gradients; see the module docstring. ``smooth_slope`` = k > 0 replaces the step
    by the logistic 1/(1+e^{-k(u-theta)}) and the surrogate by its exact derivative (the
    finite-difference test mode; ``surrogate`` is then ignored).

    ``firing="escape"`` (with ``escape_noise`` tau > 0): stochastic firing, P(s = 1 | u) =
    Phi((u - theta)/tau), the spikes of ``simulate.run_network(firing="escape")`` for the same
    ``noise_seed`` and ``sample_offset`` (docs/theory.md §9 "Stochastic firing"); the backward uses the escape
    function's derivative, the probit surrogate (1/tau) phi((u - theta)/tau) (``surrogate`` and
    ``surrogate_scale`` are then ignored). ``firing="expected"``: its smooth test mode, the
    expected spike Phi((u - theta)/tau) sent forward (reset flag = the sampled spike, detached),
    so the gradient is exact. Both need reset "subtract" or "none" (the backward of the zero
    reset reads the reset flag off the membrane, which escape firing does not determine)."""
    weights, biases, currents, labels, beta, threshold, code, scale = validate_batch(
        weights, biases, currents, labels, beta, threshold, reset, surrogate, surrogate_scale)
    dtype = weights[0].dtype.type
    validation.choice(firing, "firing", ("deterministic", "escape", "expected"))
    escape = firing != "deterministic"
    if escape:
        if smooth_slope is not None:
            raise ValueError("smooth_slope must be None with firing='escape'/'expected' (use firing='expected')")
        if reset == "zero":
            raise ValueError("reset must be 'subtract' or 'none' with escape-noise firing, got 'zero'")
        if escape_noise is None:
            raise ValueError(f"escape_noise must be given (a float tau > 0) with firing={firing!r}")
        escape_noise = float(validation.positive(escape_noise, "escape_noise"))
        noise_seed = validation.non_negative_int(noise_seed, "noise_seed")
        sample_offset = validation.non_negative_int(sample_offset, "sample_offset")
        code, scale = K.PROBIT_CODE, 1.0 / escape_noise
    elif escape_noise is not None:
        raise ValueError("escape_noise must be None with firing='deterministic'")
    smooth = smooth_slope is not None or firing == "expected"
    if smooth_slope is not None:
        smooth_slope = float(validation.positive(smooth_slope, "smooth_slope"))
        code, scale = surrogate_code("sigmoid"), smooth_slope
    reset_index = reset_code(reset)
    beta_d, threshold_d = dtype(beta), dtype(threshold)
    slope_d = dtype(smooth_slope if smooth_slope is not None else 0.0)

    steps, batch, _ = currents.shape
    spikes, mems, actives = [], [], []
    layer_input = currents
    for layer in range(len(weights) + 1):
        if layer > 0:
            bias = None if biases is None else biases[layer - 1]
            layer_input = layer_currents(spikes[-1], actives[-1], weights[layer - 1], bias, binary=not smooth)
        # layer 0's membranes never enter the backward pass: do not store them
        mem = np.empty_like(layer_input) if layer > 0 else np.empty((0,) + layer_input.shape[1:], dtype)
        out = np.empty_like(layer_input)
        index = np.empty(layer_input.shape, np.int32)
        count = np.empty(layer_input.shape[:2], np.int32)
        K.lif_forward(layer_input, beta_d, threshold_d, reset_index, slope_d, int(escape),
                      dtype(escape_noise if escape else 0.0), layer_key(noise_seed, layer) if escape else np.uint64(0),
                      sample_offset, firing == "expected", mem, out, index, count)
        spikes.append(out)
        mems.append(mem)
        actives.append((index, count))
    if smooth:
        rates = np.array([float(s.mean(dtype=np.float64)) for s in spikes])
    else:
        rates = np.array([count.sum(dtype=np.int64) / s.size for s, (_, count) in zip(spikes, actives)])
    counts = spikes[-1].sum(axis=0, dtype=np.float64)
    loss, grad_counts = cross_entropy(counts, labels)
    result = BatchResult(loss=loss, counts=counts, rates=rates, spikes=spikes)
    if not backward:
        return result

    grad_spikes = np.ascontiguousarray(np.broadcast_to(grad_counts.astype(dtype), spikes[-1].shape))
    weight_grads = [None] * len(weights)
    bias_grads = None if biases is None else [None] * len(weights)
    with BlasThreads():
        for layer in range(len(weights), 0, -1):
            grad_currents = np.empty_like(grad_spikes)
            K.lif_backward(grad_spikes, mems[layer], beta_d, threshold_d, reset_index, code, dtype(scale),
                           grad_currents)
            weight_grads[layer - 1] = _weight_grad(spikes[layer - 1], grad_currents)
            if bias_grads is not None:
                bias_grads[layer - 1] = grad_currents.sum(axis=(0, 1))
            if layer > 1:   # no weights feed layer 0: its spike gradient is never needed
                flat = grad_currents.reshape(steps * batch, -1) @ weights[layer - 1].T
                grad_spikes = flat.reshape(steps, batch, -1)
    result.weight_grads = weight_grads
    result.bias_grads = bias_grads
    return result


def forward(weights, biases, currents, labels, *, beta, threshold, reset="subtract") -> BatchResult:
    """Loss, output counts and layer rates without the backward pass (evaluation)."""
    return forward_backward(weights, biases, currents, labels, beta=beta, threshold=threshold,
                            reset=reset, backward=False)


def loss_and_grads(weights, biases, currents, labels, *, beta, threshold, reset,
                   surrogate="atan", surrogate_scale=None, smooth_slope=None):
    """(loss, weight_grads, bias_grads) of the mean softmax cross-entropy on output spike counts.

    weights: list of L (fan_in, fan_out) float32 arrays (float64 for tests); biases: None or
    a list of L (fan_out,) arrays; currents (T, B, n_0) drive the input LIF layer; labels (B,)
    ints. ``surrogate_scale=None`` (the default) takes the surrogate's own default scale,
    ``theory.core.surrogates.SURROGATES[surrogate][1]`` (ATan alpha 2, fast sigmoid slope 25, ...,
    the snnTorch defaults). Weights, biases and currents must be finite in their dtype, and
    ``threshold`` representable in it. Gradients as
    snnTorch autograd would give through ``Leaky`` (reset_delay=True, reset detached);
    bias_grads is None when biases is None. ValueError on bad input.
    """
    result = forward_backward(weights, biases, currents, labels, beta=beta, threshold=threshold,
                              reset=reset, surrogate=surrogate, surrogate_scale=surrogate_scale,
                              smooth_slope=smooth_slope)
    return result.loss, result.weight_grads, result.bias_grads
