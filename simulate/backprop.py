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
per (t, b), the list of spiking neurons (and the membranes, when there is a backward pass);
the currents are row gathers over these lists, fused with the LIF update (the float32 sums of
simulate.run_network, bit for bit). The backward uses the spikes' sparsity too: S^T dI gathers,
for each input neuron, the dI rows of the steps where it fired (the lists transposed), and
dI W^T, the one dense product, is fused with the LIF backward of the layer below. No BLAS:
every product and sum has one summation order, fixed by simulate/bptt_kernels.py and without
FMA contraction, so the loss and the gradients are the same bits on every CPU kind, with any
BLAS and any number of threads (tests/simulate/test_reproducible.py pins them). Against the
BLAS products of earlier versions the gradients moved within float32 rounding (another order
of summation). dtype: float32 weights -> float32 simulation (the default); float64 weights ->
float64 throughout (tests).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

import snn_validation as validation
from theory.core.lif import RESETS, reset_code
from theory.core.surrogates import SURROGATES, surrogate_code

import simulate.bptt_kernels as K
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
    spike_source: object = field(default=None, repr=False)

    @property
    def spikes(self):
        """Every layer's spikes (T, B, n_l), built on first access (the passes keep index lists)."""
        source = self.spike_source
        if source is None or isinstance(source, list):
            return source
        return source.get()


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
    if isinstance(value, np.ndarray) and value.dtype == dtype and value.flags.c_contiguous:
        array = value            # the training loop's case: nothing to convert
    else:
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

    The training passes no longer call a BLAS; the benchmarks use this for their GEMM floor. For
    small products (T*B x 100 x 100) a multi-threaded BLAS busy-waits between them, and on a
    shared 2-core machine that made a depth-50 batch several times slower (benchmarks/RESULTS.md). ``threadpoolctl.threadpool_limits`` finds the BLAS numpy loaded
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
    """Mean CE of softmax(counts) and its gradient w.r.t. counts (float64, max-shifted; compiled,
    so the bits do not depend on numpy's SIMD exp: bptt_kernels.cross_entropy)."""
    return loss_and_grad_counts(np.ascontiguousarray(counts, dtype=np.float64),
                                np.ascontiguousarray(labels, dtype=np.int64))


def layer_currents(spikes, active, weight, bias, binary):
    """I = s @ W (+ b) for (T, B, n_in) spikes -> (T, B, n_out): row gathers over the index
    lists ``active`` when binary, else the dense product with zeros skipped (the same summation
    order, simulate/bptt_kernels.py)."""
    steps, batch, n_in = spikes.shape if spikes is not None else active[0].shape
    out = np.empty((steps * batch, weight.shape[1]), weight.dtype)
    if binary:
        index, count = active
        has_bias = bias is not None
        K.gather_currents(index.reshape(steps * batch, n_in), count.reshape(-1), weight,
                          bias if has_bias else weight[0, :0], has_bias, out)
    else:
        K.rows_times_matrix(np.ascontiguousarray(spikes.reshape(steps * batch, n_in)), weight, out)
        if bias is not None:
            out += bias
    return out.reshape(steps, batch, weight.shape[1])


def weight_grad(inputs, active, grad_currents):
    """dW = x^T dI over all T*B rows (x the layer's input): for binary spikes given by their
    index lists ``active`` (index (T, B, n_in), count (T, B)), a gather of dI rows over the rows
    where each input fired (the lists transposed); for real-valued x (``active`` None) the dense
    product of the transposed copy. Both sum over rows in increasing order (the same bits)."""
    if active is not None:
        index, count = active
        out = np.empty((index.shape[2], grad_currents.shape[2]), grad_currents.dtype)
        K.binary_weight_grad(index, count, grad_currents, out)
        return out
    rows = grad_currents.shape[0] * grad_currents.shape[1]
    grad_flat = grad_currents.reshape(rows, -1)
    transposed = np.ascontiguousarray(inputs.reshape(rows, -1).T)
    out = np.empty((transposed.shape[0], grad_flat.shape[1]), grad_flat.dtype)
    K.rows_times_matrix(transposed, grad_flat, out)
    return out


def input_grad(grad_currents, weight):
    """dL/dx = dI W^T (T, B, n_in) from dI (T, B, n_out): the dense product with the transposed
    weights, summed over the outputs in increasing order (simulate/bptt_kernels.py)."""
    steps, batch, n_out = grad_currents.shape
    out = np.empty((steps * batch, weight.shape[0]), grad_currents.dtype)
    K.rows_times_matrix(grad_currents.reshape(steps * batch, n_out), np.ascontiguousarray(weight.T), out)
    return out.reshape(steps, batch, weight.shape[0])


def bias_grad(grad_currents):
    """db = sum of dI over all T*B rows, in increasing row order."""
    out = np.empty(grad_currents.shape[2], grad_currents.dtype)
    K.column_sums(grad_currents.reshape(-1, grad_currents.shape[2]), out)
    return out


def loss_and_grad_counts(counts, labels):
    """(loss, dL/dcounts) of the mean softmax cross-entropy (float64; bptt_kernels.cross_entropy)."""
    grad = np.empty_like(counts)
    loss = K.cross_entropy(counts, labels, grad)
    return float(loss), grad


class _Workspace(threading.local):
    """Per-thread buffers for the arrays a pass uses internally and never returns (membranes,
    dI), kept from one call to the next while the network's shapes stay the same. Fresh
    (T, B, n) arrays per layer and batch cost page faults: the C library gives the freed memory
    back to the system at the end of each batch (about 7 % of a depth-100 batch, measured with
    benchmarks/bench_train.py). At most ``LIMIT`` bytes are kept; larger passes allocate."""
    LIMIT = 512 * 2**20

    def __init__(self):
        self.key = None
        self.arrays = {}
        self.kept = 0

    def begin(self, key):
        """Start a pass over a network with this signature (shapes, dtype, options)."""
        if key != self.key:
            self.key, self.arrays, self.kept = key, {}, 0

    def array(self, name, shape, dtype):
        array = self.arrays.get(name)
        if array is not None and array.shape == shape and array.dtype == dtype:
            return array
        array = np.empty(shape, dtype)
        if self.kept + array.nbytes <= self.LIMIT:
            self.arrays[name] = array
            self.kept += array.nbytes
        return array


_WORK = _Workspace()


class _Spikes:
    """Every layer's spikes, built on first access: the binary ones from their index lists (the
    training passes keep only those), the smooth ones as recorded."""

    def __init__(self, layers, dtype):
        self._layers = layers          # per layer: an array, or (index, count, width)
        self._dtype = dtype
        self._built = None

    def get(self):
        if self._built is None:
            self._built = [self._build(layer) for layer in self._layers]
        return self._built

    def _build(self, layer):
        if isinstance(layer, np.ndarray):
            return layer
        index, count, width = layer
        out = np.empty(count.shape + (width,), self._dtype)
        K.spikes_from_lists(index, count, out)
        return out


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
    tau_d = dtype(escape_noise if escape else 0.0)

    steps, batch, _ = currents.shape
    _WORK.begin((currents.shape, tuple(w.shape for w in weights), np.dtype(dtype).str, smooth, backward))
    spikes, mems, actives = [], [], []    # spikes: dense arrays in smooth mode, else None
    for layer in range(len(weights) + 1):
        key = layer_key(noise_seed, layer) if escape else np.uint64(0)
        width = currents.shape[2] if layer == 0 else weights[layer - 1].shape[1]
        shape = (steps, batch, width)
        # layer 0's membranes never enter the backward pass, nor any membrane without one
        mem = (_WORK.array(("mem", layer), shape, dtype) if layer > 0 and backward else
               np.empty((0,) + shape[1:], dtype))
        index = np.empty(shape, np.int32)
        count = np.empty(shape[:2], np.int32)
        if layer > 0 and not smooth:
            bias = None if biases is None else biases[layer - 1]
            weight = weights[layer - 1]
            K.binary_layer_forward(weight, weight[0, :0] if bias is None else bias, bias is not None,
                                   actives[-1][0], actives[-1][1], beta_d, threshold_d, reset_index, int(escape),
                                   tau_d, key, sample_offset, mem, index, count)
            out = None
        else:
            layer_input = currents if layer == 0 else layer_currents(
                spikes[-1], None, weights[layer - 1], None if biases is None else biases[layer - 1], binary=False)
            out = np.empty(shape if smooth else (0,) + shape[1:], dtype)
            K.lif_forward(layer_input, beta_d, threshold_d, reset_index, slope_d, int(escape), tau_d, key,
                          sample_offset, firing == "expected", mem, out, index, count)
            out = out if smooth else None
        spikes.append(out)
        mems.append(mem)
        actives.append((index, count))
    if smooth:
        rates = np.array([float(s.mean(dtype=np.float64)) for s in spikes])
        counts = spikes[-1].sum(axis=0, dtype=np.float64)
    else:
        rates = np.array([count.sum(dtype=np.int64) / index.size for index, count in actives])
        counts = np.empty((batch, weights[-1].shape[1]))
        K.spike_counts(actives[-1][0], actives[-1][1], weights[-1].shape[1], counts)
    loss, grad_counts = loss_and_grad_counts(counts, labels)
    sources = spikes if smooth else [(index, count, index.shape[2]) for index, count in actives]
    result = BatchResult(loss=loss, counts=counts, rates=rates, spike_source=_Spikes(sources, dtype))
    if not backward:
        return result

    grad_out = grad_counts.astype(dtype)[None]          # the same dL/ds at every step
    weight_grads = [None] * len(weights)
    bias_grads = None if biases is None else [None] * len(weights)
    grad_currents = None
    for layer in range(len(weights), 0, -1):
        above = grad_currents
        grad_currents = _WORK.array(("grad", layer % 2), mems[layer].shape, dtype)
        if above is None:
            K.lif_backward(grad_out, mems[layer], beta_d, threshold_d, reset_index, code, dtype(scale), grad_currents)
        else:   # dL/ds = dI_above W_above^T, fused with this layer's LIF backward
            K.backward_through(above, weights[layer], mems[layer], beta_d, threshold_d, reset_index, code,
                               dtype(scale), grad_currents)
        weight_grads[layer - 1] = weight_grad(spikes[layer - 1], None if smooth else actives[layer - 1],
                                              grad_currents)
        if bias_grads is not None:
            bias_grads[layer - 1] = bias_grad(grad_currents)
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
