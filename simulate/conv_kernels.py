"""Numba kernels of convolutional spiking layers: convolution (event-driven for binary spikes,
direct for real values), max/average pooling, batch norm and a LIF layer over (T, B, ...) arrays.

Layouts are PyTorch's: activations (T, B, C, H, W) (1-d: (T, B, C, L)), a convolution weight
(C_out, C_in, k_h, k_w) (1-d: (C_out, C_in, k)), zero padding, stride, floor mode. State and
outputs are float32, statistics float64 (docs/theory.md §11 for the theory of these layers).

Convolution (cross-correlation, as torch's ``conv2d``), for output channel o and position (i, j):

    I[t, b, o, i, j] = (sum over ky, kx, c of  W[o, c, ky, kx] x[t, b, c, i s_h - p_h + ky, j s_w - p_w + kx]) + bias[o]

where the sum runs over the input positions inside the image (zero padding adds nothing).
**Summation order**: every output element is accumulated in float32, starting from +0, in
increasing (kernel row ky, kernel column kx, input channel c), and the bias is added last.
Both convolutions follow it, so the event-driven sum over a 0/1 input equals the direct one bit
for bit (a zero input adds a signed zero, which changes no float32 sum that starts at +0).

Event-driven layout. The weight is packed once to rows (ky, kx, c) of C_out floats (padded to
a multiple of 16 lanes): row (ky k_w + kx) C_in + c = W[:, c, ky, kx]. A work item is one
(t, b) image. It first lists the active inputs of every input row y as entries x C_in + c in
increasing x, then c (branch-free compaction, one pass over the image). The output is then
built row by row, and within output row i in one pass per kernel row ky (whose k_w C_in weight
rows stay in the L1 cache): for output (i, j), the ONE contiguous run of entries of input row
y = i s_h - p_h + ky with x in [x0, x0 + k_w), x0 = j s_w - p_w, is added in order, entry e
being weight row e + (ky k_w - x0) C_in; that is the order (ky, kx, c). The running sum of 16
or 32 output channels is loaded into vector registers (LLVM <16 x float> values, below) for the
run and stored back after it, so the cost is about one vector load and add per (active input,
kernel offset, 16 channels): it follows the input rate. Each (t, b) image of the output is
written by exactly one work item, so results do not depend on the thread count. The direct
convolution runs the same loops over every input value (channels-last copy of the image,
product rounded, then added). :func:`conv2d_spikes_lif` runs the LIF update on each finished
output row (one work item per sample), so the currents never go to memory.

Other kernels: pooling (one item per (t, b, c) plane), batch norm (one item per channel, or per
(step, channel)), LIF (one item per (block of BLOCK neurons, sample), all T steps, as
``simulate.kernels.input_layer``), each output element written by one item, every float64
partial summed in an order fixed by the compiled code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import njit, prange, types, uint64
from numba.extending import intrinsic, models, register_model

import snn_validation as validation
from theory.core.lif import RESETS, reset_code

from .kernels import BLOCK, membrane_row

__all__ = ["conv2d_spikes", "conv2d_dense", "conv1d_spikes", "conv1d_dense", "conv2d_spikes_lif",
           "max_pool", "avg_pool", "batch_norm", "lif_layer", "LIFResult", "PARALLEL_WORK"]

# Below this many multiply-adds (dense-equivalent) a call runs on one thread: waking the thread
# pool costs more than it saves (the value of simulate.network's threshold). Same results.
PARALLEL_WORK = 1 << 22


# ---------------------------------------------------------------------------------------------
# 16-lane float32 vectors: an LLVM <16 x float> value, so that an accumulator lives in a
# register across a loop (Numba's arrays would be stored back to memory after every add).
# Lane k of every operation is exactly the scalar float32 operation on lane k (no FMA, no
# reassociation): vectors change the speed, not a single bit.

LANES = 16


class _Lanes16(types.Type):
    def __init__(self):
        super().__init__(name="Lanes16xf32")


_lanes16 = _Lanes16()
_VECTOR = ir.VectorType(ir.FloatType(), LANES)


@register_model(_Lanes16)
class _Lanes16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VECTOR)


@intrinsic
def _vsplat(typingctx, value):
    """(value, ..., value) from a float32."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        first = builder.insert_element(ir.Constant(_VECTOR, None), args[0], ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        return builder.shuffle_vector(first, ir.Constant(_VECTOR, None), zeros)
    return _lanes16(value), codegen


def _contiguous_float32(array):
    return isinstance(array, types.Array) and array.dtype == types.float32 and array.ndim == 1 and array.layout == "C"


@intrinsic
def _vload(typingctx, array, index):
    """array[index : index + 16] of a contiguous 1-d float32 array (no bounds check: the caller's duty)."""
    if not _contiguous_float32(array):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), _VECTOR.as_pointer())
        return builder.load(pointer, align=4)
    return _lanes16(array, index), codegen


@intrinsic
def _vstore(typingctx, array, index, vector):
    """array[index : index + 16] = vector (contiguous 1-d float32 array, no bounds check)."""
    if not (_contiguous_float32(array) and vector == _lanes16):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), _VECTOR.as_pointer())
        builder.store(args[2], pointer, align=4)
        return context.get_dummy_value()
    return types.void(array, index, vector), codegen


@intrinsic
def _vadd(typingctx, a, b):
    """a + b lane by lane (float32, rounded)."""
    if not (a == _lanes16 and b == _lanes16):
        return None

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])
    return _lanes16(a, b), codegen


@intrinsic
def _vmul(typingctx, a, b):
    """a * b lane by lane (float32, rounded; never fused with a following add)."""
    if not (a == _lanes16 and b == _lanes16):
        return None

    def codegen(context, builder, signature, args):
        return builder.fmul(args[0], args[1])
    return _lanes16(a, b), codegen


# ---------------------------------------------------------------------------------------------
# convolution

@njit(cache=True)
def _spike_rows(image, entries, row_ptr):
    """Active inputs of a binary image (C, H, W) as rows: for input row y, the entries
    x C + c of its active (x, c) in increasing x, then c, at entries[row_ptr[y, x] : row_ptr[y, x + 1]]
    for position x (row_ptr[y, W] ends the row). Branch-free compaction."""
    channels, height, width = image.shape
    n = 0
    for y in range(height):
        for x in range(width):
            row_ptr[y, x] = n
            base = x * channels
            for c in range(channels):
                entries[n] = base + c
                n += np.int64(image[c, y, x] != 0)
        row_ptr[y, width] = n


@njit(cache=True)
def _dense_rows(image, values):
    """values[y, x C + c] = image[c, y, x]: a real-valued image (C, H, W) channels-last by rows."""
    channels, height, width = image.shape
    for y in range(height):
        for x in range(width):
            for c in range(channels):
                values[y, x * channels + c] = image[c, y, x]


@njit(cache=True, inline="always")
def _add_spike_run(entries, start, stop, offset, packed, lanes, lane0, pair, a0, a1):
    """a0 (+ a1) += the packed weight rows entries[k] + offset (lanes lane0 .. lane0 + 16, and the
    next 16 if ``pair``) for k = start .. stop - 1, in that order."""
    base = offset * lanes + lane0
    for k in range(uint64(start), uint64(stop)):
        row = uint64(entries[k] * lanes + base)
        a0 = _vadd(a0, _vload(packed, row))
        if pair:
            a1 = _vadd(a1, _vload(packed, row + uint64(LANES)))
    return a0, a1


@njit(cache=True, inline="always")
def _add_dense_run(values, y, start, stop, offset, packed, lanes, lane0, pair, a0, a1):
    """a0 (+ a1) += fl(values[y, m] x packed weight row m + offset), m = start .. stop - 1, in order."""
    base = offset * lanes + lane0
    for m in range(uint64(start), uint64(stop)):
        value = _vsplat(values[y, m])
        row = uint64(m * lanes + base)
        a0 = _vadd(a0, _vmul(value, _vload(packed, row)))
        if pair:
            a1 = _vadd(a1, _vmul(value, _vload(packed, row + uint64(LANES))))
    return a0, a1


@njit(cache=True, inline="always")
def _store_row(acc, lanes, out, i):
    """out[o, i, j] = acc[j lanes + o] (channels-last row to torch's layout)."""
    c_out, _, w_out = out.shape
    for o in range(c_out):
        for j in range(w_out):
            out[o, i, j] = acc[j * lanes + o]


@njit(cache=True)
def _conv_rows(is_spikes, image, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, i, entries, row_ptr, values,
               acc):
    """acc[j lanes + o] = the weight sum of output (i, j), channel o, + bias_lanes[o], for all j.

    One pass per kernel row ky (its k_w C_in weight rows stay in the L1 cache): output j's
    running sum is loaded from acc into registers, the run of entries of input row
    y = i s_h - p_h + ky with x in [j s_w - p_w, j s_w - p_w + k_w) is added in order, and the
    sum is stored back (float32 values, so the order stays (ky, kx, c) bit for bit). The bias is
    added to the finished sums."""
    channels, height, width = image.shape
    w_out = acc.shape[0] // lanes
    acc[:] = 0.0
    for ky in range(kh):
        y = i * sh - ph + ky
        if y < 0 or y >= height:
            continue
        offset_ky = ky * kw * channels
        for lane0 in range(0, lanes, 2 * LANES):
            pair = lane0 + 2 * LANES <= lanes
            for j in range(w_out):
                x0 = j * sw - pw
                xa = max(x0, 0)
                xb = min(x0 + kw, width)
                if xa >= xb:
                    continue
                at = j * lanes + lane0
                a0 = _vload(acc, at)
                a1 = _vload(acc, at + LANES) if pair else a0
                offset = offset_ky - x0 * channels         # weight row of entry x C + c
                if is_spikes:
                    a0, a1 = _add_spike_run(entries, row_ptr[y, xa], row_ptr[y, xb], offset, packed, lanes, lane0,
                                            pair, a0, a1)
                else:
                    a0, a1 = _add_dense_run(values, y, xa * channels, xb * channels, offset, packed, lanes, lane0,
                                            pair, a0, a1)
                _vstore(acc, at, a0)
                if pair:
                    _vstore(acc, at + LANES, a1)
    for j in range(w_out):
        for lane0 in range(0, lanes, LANES):
            _vstore(acc, j * lanes + lane0, _vadd(_vload(acc, j * lanes + lane0), _vload(bias_lanes, lane0)))


@njit(cache=True)
def _prepare(is_spikes, image, entries, row_ptr, values):
    if is_spikes:
        _spike_rows(image, entries, row_ptr)
    else:
        _dense_rows(image, values)


@njit(cache=True)
def _conv_image(is_spikes, image, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, out):
    """One (t, b) image: out (C_out, H_out, W_out) from image (C_in, H, W), module docstring."""
    channels, height, width = image.shape
    w_out = out.shape[2]
    entries = np.empty(channels * height * width if is_spikes else 0, np.int32)
    row_ptr = np.empty((height, width + 1), np.int64)
    values = np.empty((height, 0 if is_spikes else width * channels), np.float32)
    acc = np.empty(w_out * lanes, np.float32)
    _prepare(is_spikes, image, entries, row_ptr, values)
    for i in range(out.shape[1]):
        _conv_rows(is_spikes, image, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, i, entries, row_ptr, values,
                   acc)
        _store_row(acc, lanes, out, i)


@njit(cache=True, parallel=True)
def _conv_parallel(is_spikes, images, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, out):
    """out[n] = conv of images[n] (n = t B + b): one work item per image."""
    for n in prange(images.shape[0]):
        _conv_image(is_spikes, images[n], packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, out[n])


@njit(cache=True)
def _conv_serial(is_spikes, images, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, out):
    for n in range(images.shape[0]):
        _conv_image(is_spikes, images[n], packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, out[n])


@njit(cache=True)
def _conv_lif_sample(b, spikes, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, beta, threshold, reset_code,
                     spikes_out, active, mem_sum, mem_sumsq):
    """Sample b of :func:`conv2d_spikes_lif`: for t, for output row i, the currents of the row
    (as :func:`_conv_image`), then the LIF update of the row's neurons (channels-last state;
    the padding lanes get current 0, are updated too and never read)."""
    steps = spikes.shape[0]
    channels, height, width = spikes.shape[2:]
    c_out, h_out, w_out = spikes_out.shape[2:]
    entries = np.empty(channels * height * width, np.int32)
    row_ptr = np.empty((height, width + 1), np.int64)
    values = np.empty((height, 0), np.float32)
    row = w_out * lanes
    current = np.empty(row, np.float32)
    fired = np.empty(row, np.uint8)
    u = np.zeros(h_out * row, np.float32)
    s = np.zeros(h_out * row, np.float32)
    for t in range(steps):
        image = spikes[t, b]
        _spike_rows(image, entries, row_ptr)
        count = 0
        total = 0.0
        total_sq = 0.0
        for i in range(h_out):
            _conv_rows(True, image, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, i, entries, row_ptr, values,
                       current)
            u_row = u[i * row:(i + 1) * row]
            s_row = s[i * row:(i + 1) * row]
            membrane_row(u_row, s_row, current, beta, threshold, reset_code)
            for k in range(row):
                spike = u_row[k] > threshold
                s_row[k] = np.float32(spike)
                fired[k] = np.uint8(spike)
            for o in range(c_out):
                for j in range(w_out):
                    spikes_out[t, b, o, i, j] = fired[j * lanes + o]
                    count += np.int64(fired[j * lanes + o])
            row_sum, row_sumsq = _row_moments(u_row, lanes, c_out)
            total += row_sum
            total_sq += row_sumsq
        active[t, b] = count
        mem_sum[t, b] = total
        mem_sumsq[t, b] = total_sq


@njit(cache=True, parallel=True)
def _conv_lif_parallel(spikes, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, beta, threshold, reset_code,
                       spikes_out, active, mem_sum, mem_sumsq):
    """One work item per sample b (all T steps)."""
    for b in prange(spikes.shape[1]):
        _conv_lif_sample(b, spikes, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, beta, threshold, reset_code,
                         spikes_out, active, mem_sum, mem_sumsq)


@njit(cache=True)
def _conv_lif_serial(spikes, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, beta, threshold, reset_code,
                     spikes_out, active, mem_sum, mem_sumsq):
    for b in range(spikes.shape[1]):
        _conv_lif_sample(b, spikes, packed, lanes, kh, kw, sh, sw, ph, pw, bias_lanes, beta, threshold, reset_code,
                         spikes_out, active, mem_sum, mem_sumsq)


@njit(cache=True, fastmath={"reassoc", "nsz"})
def _row_moments(u_row, lanes, c_out):
    """(sum u, sum u^2) in float64 over the real channels (o < c_out) of a channels-last row,
    position by position (reassociated so that it vectorises; the order is fixed by the compiled code)."""
    total = 0.0
    total_sq = 0.0
    for j in range(u_row.shape[0] // lanes):
        for o in range(c_out):
            value = np.float64(u_row[j * lanes + o])
            total += value
            total_sq += value * value
    return total, total_sq


@dataclass(frozen=True)
class _Plan:
    """A checked convolution: packed weight, geometry, bias and output shape."""
    packed: np.ndarray      # (k_h k_w C_in lanes,) float32: row (ky k_w + kx) C_in + c = W[:, c, ky, kx], zero-padded
    lanes: int              # C_out rounded up to a multiple of 16
    kernel: tuple           # (k_h, k_w)
    stride: tuple
    padding: tuple
    bias: np.ndarray        # (lanes,) float32: the bias, zero-padded (zeros without bias: + 0 changes no sum)
    out_shape: tuple        # (C_out, H_out, W_out)

    def args(self):
        return (self.packed, self.lanes) + self.kernel + self.stride + self.padding


def _pack(weight):
    """weight (C_out, C_in, kh, kw) -> (kh kw C_in, lanes) rows W[:, c, ky, kx], C_out padded with zeros."""
    c_out, c_in, kh, kw = weight.shape
    lanes = -(-c_out // LANES) * LANES
    packed = np.zeros((kh, kw, c_in, lanes), np.float32)
    packed[..., :c_out] = weight.transpose(2, 3, 1, 0)
    return packed.ravel(), lanes


def _pair(value, name, minimum):
    """An int or a pair of ints >= minimum, as a pair."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name} must be an integer >= {minimum} or a pair of them, got {value!r}")
    out = []
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)) or item < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum} or a pair of them, got {value!r}")
        out.append(int(item))
    return tuple(out)



def _spikes(spikes, name):
    """uint8 C-contiguous copy/view of a 0/1 array (bool and uint8 are checked cheaply)."""
    arr = np.asarray(spikes)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr).view(np.uint8)
    if arr.dtype == np.uint8:
        if arr.size and arr.max() > 1:
            raise ValueError(f"{name} must contain only 0 and 1 (binary spikes)")
        return np.ascontiguousarray(arr)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array of 0/1 spikes, got dtype {arr.dtype}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must contain only 0 and 1 (binary spikes)")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _shape_checked(x, name, ndim, layout):
    if x.ndim != ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {x.shape}")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{name} must have channels and spatial sizes >= 1 {layout}, got shape {x.shape}")


def _plan(x_shape, weight, bias, stride, padding):
    """Check weight, bias, stride and padding against an input of shape (T, B, C_in, H, W)."""
    weight = validation.float32_array(weight, "weight")
    if weight.ndim != 4 or min(weight.shape) < 1:
        raise ValueError(f"weight must have shape (C_out, C_in, k_h, k_w) with sizes >= 1, got {weight.shape}")
    c_out, c_in, kh, kw = weight.shape
    if c_in != x_shape[2]:
        raise ValueError(f"weight has C_in = {c_in} but the input has {x_shape[2]} channels")
    if bias is None:
        bias = np.zeros(c_out, np.float32)
    else:
        bias = validation.float32_array(bias, "bias")
        if bias.shape != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},) (one per output channel), got {bias.shape}")
    height, width = x_shape[3], x_shape[4]
    if height + 2 * padding[0] < kh or width + 2 * padding[1] < kw:
        raise ValueError(f"the kernel ({kh}, {kw}) is larger than the padded input ({height}, {width}) "
                         f"+ 2 x padding {padding}: no output position")
    h_out = (height + 2 * padding[0] - kh) // stride[0] + 1
    w_out = (width + 2 * padding[1] - kw) // stride[1] + 1
    packed, lanes = _pack(weight)
    bias_lanes = np.zeros(lanes, np.float32)
    bias_lanes[:c_out] = bias
    return _Plan(packed, lanes, (kh, kw), stride, padding, bias_lanes, (c_out, h_out, w_out))


def _big(x_shape, plan):
    """Whether a call is worth the thread pool: dense-equivalent multiply-adds
    T B C_out H_out W_out C_in k_h k_w >= PARALLEL_WORK."""
    return (x_shape[0] * x_shape[1] * int(np.prod(plan.out_shape)) * x_shape[2] * plan.kernel[0] * plan.kernel[1]
            >= PARALLEL_WORK)


def _run_conv(is_spikes, x, plan):
    steps, batch = x.shape[:2]
    out = np.empty((steps, batch) + plan.out_shape, np.float32)
    if out.size == 0:
        return out
    kernel = _conv_parallel if _big(x.shape, plan) else _conv_serial
    kernel(is_spikes, x.reshape((steps * batch,) + x.shape[2:]), *plan.args(), plan.bias,
           out.reshape((steps * batch,) + plan.out_shape))
    return out


def conv2d_spikes(spikes, weight, bias=None, stride=1, padding=0):
    """Event-driven 2-d convolution of binary spikes: float32 currents (T, B, C_out, H_out, W_out),

        I[t, b, o, i, j] = (sum over ky, kx, c with s[t, b, c, y, x] = 1,
                            y = i s_h - p_h + ky, x = j s_w - p_w + kx inside the image,
                            of W[o, c, ky, kx]) + bias[o],

    summed in float32 from +0 in increasing (ky, kx, c), the bias added last (module
    docstring); H_out = floor((H + 2 p_h - k_h) / s_h) + 1, likewise W_out (torch's ``conv2d``
    with zero padding). The cost follows the number of input spikes.

    spikes : (T, B, C_in, H, W) array of 0/1 (uint8 or bool preferred; others are checked and
        converted).   weight : (C_out, C_in, k_h, k_w) (torch's layout).   bias : None or (C_out,).
    stride : int >= 1 or pair.   padding : int >= 0 or pair.
    Bit-identical for any thread count; equal bit for bit to :func:`conv2d_dense` on the same
    0/1 values. ValueError naming the argument on bad input.
    """
    x = _spikes(spikes, "spikes")
    _shape_checked(x, "spikes", 5, "(T, B, C_in, H, W)")
    plan = _plan(x.shape, weight, bias, _pair(stride, "stride", 1), _pair(padding, "padding", 0))
    return _run_conv(True, x, plan)


def conv2d_dense(x, weight, bias=None, stride=1, padding=0):
    """Direct 2-d convolution of real-valued x (T, B, C_in, H, W): float32 (T, B, C_out, H_out, W_out),

        I[t, b, o, i, j] = (sum over ky, kx, c of fl(x[t, b, c, y, x] W[o, c, ky, kx])) + bias[o],
        y = i s_h - p_h + ky, x = j s_w - p_w + kx inside the image,

    each product rounded to float32, then added in float32 from +0 in increasing (ky, kx, c),
    the bias last (no fused multiply-add). Arguments as :func:`conv2d_spikes`; x float32-finite.
    """
    x = validation.float32_array(x, "x")
    _shape_checked(x, "x", 5, "(T, B, C_in, H, W)")
    plan = _plan(x.shape, weight, bias, _pair(stride, "stride", 1), _pair(padding, "padding", 0))
    return _run_conv(False, x, plan)


def conv2d_spikes_lif(spikes, weight, bias=None, stride=1, padding=0, *, beta, threshold,
                      reset="subtract") -> "LIFResult":
    """Fused :func:`conv2d_spikes` + :func:`lif_layer`: the LIF layer driven by the currents
    of the event-driven convolution, without writing the currents to memory:

        I[t] = conv2d_spikes(s_in)[t]   (T, B, C_out, H_out, W_out), summed in (ky, kx, c), + bias
        u[t] = membrane(u[t-1], s[t-1], I[t])   (subtract / zero / none, as lif_layer)
        s[t] = 1 if u[t] > theta else 0

    Arguments as :func:`conv2d_spikes`, then beta, threshold, reset as :func:`lif_layer`;
    returns :class:`LIFResult` (spikes (T, B, C_out, H_out, W_out) uint8).
    The currents are those of :func:`conv2d_spikes` (same bits) and the update that of
    :func:`lif_layer`, so the spikes are bit for bit those of
    ``lif_layer(conv2d_spikes(...), ...)``; the float64 membrane sums are taken in another
    order (row by row), so they may differ from the unfused ones in the last bits.
    One work item per sample (all T steps), so B items run in parallel.
    """
    x = _spikes(spikes, "spikes")
    _shape_checked(x, "spikes", 5, "(T, B, C_in, H, W)")
    plan = _plan(x.shape, weight, bias, _pair(stride, "stride", 1), _pair(padding, "padding", 0))
    beta32, threshold32, code = _lif_params(beta, threshold, reset)
    steps, batch = x.shape[:2]
    spikes_out = np.empty((steps, batch) + plan.out_shape, np.uint8)
    active = np.zeros((steps, batch), np.int64)
    mem_sum = np.zeros((steps, batch))
    mem_sumsq = np.zeros((steps, batch))
    if spikes_out.size:
        kernel = _conv_lif_parallel if _big(x.shape, plan) else _conv_lif_serial
        kernel(x, *plan.args(), plan.bias, beta32, threshold32, code, spikes_out, active, mem_sum, mem_sumsq)
    return LIFResult(spikes=spikes_out, active=active, mem_sum=mem_sum, mem_sumsq=mem_sumsq,
                     width=int(np.prod(plan.out_shape)))


def _one_d(weight, stride, padding):
    weight = validation.float32_array(weight, "weight")
    if weight.ndim != 3:
        raise ValueError(f"weight must have shape (C_out, C_in, k), got {weight.shape}")
    for value, name, minimum in ((stride, "stride", 1), (padding, "padding", 0)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return weight[:, :, None, :], (1, int(stride)), (0, int(padding))


def conv1d_spikes(spikes, weight, bias=None, stride=1, padding=0):
    """Event-driven 1-d convolution of binary spikes (T, B, C_in, L) with weight (C_out, C_in, k):
    float32 (T, B, C_out, L_out), L_out = floor((L + 2 p - k) / s) + 1,

        I[t, b, o, j] = (sum over kx, c with s[t, b, c, j s - p + kx] = 1 of W[o, c, kx]) + bias[o],

    summed in increasing (kx, c) (:func:`conv2d_spikes` with H = 1)."""
    x = _spikes(spikes, "spikes")
    _shape_checked(x, "spikes", 4, "(T, B, C_in, L)")
    weight4, stride2, padding2 = _one_d(weight, stride, padding)
    return conv2d_spikes(x[:, :, :, None, :], weight4, bias, stride2, padding2)[:, :, :, 0, :]


def conv1d_dense(x, weight, bias=None, stride=1, padding=0):
    """Direct 1-d convolution of real-valued x (T, B, C_in, L) with weight (C_out, C_in, k):
    float32 (T, B, C_out, L_out),

        I[t, b, o, j] = (sum over kx, c of fl(x[t, b, c, j s - p + kx] W[o, c, kx])) + bias[o]

    in increasing (kx, c) (:func:`conv2d_dense` with H = 1)."""
    x = validation.float32_array(x, "x")
    _shape_checked(x, "x", 4, "(T, B, C_in, L)")
    weight4, stride2, padding2 = _one_d(weight, stride, padding)
    return conv2d_dense(x[:, :, :, None, :], weight4, bias, stride2, padding2)[:, :, :, 0, :]


# ---------------------------------------------------------------------------------------------
# pooling

@njit(cache=True)
def _max_plane(plane, kh, kw, sh, sw, ph, pw, out):
    """out[i, j] = max of plane over the window rows i sh - ph + ky, columns j sw - pw + kx
    inside the plane (padding never wins: torch's -inf padding); the first maximum in
    row-major window order is kept (strict >)."""
    height, width = plane.shape
    h_out, w_out = out.shape
    for i in range(h_out):
        y0 = max(i * sh - ph, 0)
        y1 = min(i * sh - ph + kh, height)
        for j in range(w_out):
            x0 = max(j * sw - pw, 0)
            x1 = min(j * sw - pw + kw, width)
            best = plane[y0, x0]
            for y in range(y0, y1):
                for x in range(x0, x1):
                    if plane[y, x] > best:
                        best = plane[y, x]
            out[i, j] = best


@njit(cache=True)
def _avg_plane(plane, kh, kw, sh, sw, ph, pw, out):
    """out[i, j] = float32((sum of float64(plane) over the window inside the plane, row-major) / (kh kw))
    (zero padding counted in the divisor: torch's count_include_pad=True)."""
    height, width = plane.shape
    h_out, w_out = out.shape
    divisor = np.float64(kh * kw)
    for i in range(h_out):
        y0 = max(i * sh - ph, 0)
        y1 = min(i * sh - ph + kh, height)
        for j in range(w_out):
            x0 = max(j * sw - pw, 0)
            x1 = min(j * sw - pw + kw, width)
            total = 0.0
            for y in range(y0, y1):
                for x in range(x0, x1):
                    total += np.float64(plane[y, x])
            out[i, j] = np.float32(total / divisor)


@njit(cache=True, parallel=True)
def _max_pool_planes(planes, kh, kw, sh, sw, ph, pw, out):
    for n in prange(planes.shape[0]):
        _max_plane(planes[n], kh, kw, sh, sw, ph, pw, out[n])


@njit(cache=True, parallel=True)
def _avg_pool_planes(planes, kh, kw, sh, sw, ph, pw, out):
    for n in prange(planes.shape[0]):
        _avg_plane(planes[n], kh, kw, sh, sw, ph, pw, out[n])


def _pool_args(x, kernel, stride, padding):
    """Planes (N, H, W) and the pooling geometry for x (T, B, C, H, W) or (T, B, C, L)."""
    if x.ndim == 5:
        kernel = _pair(kernel, "kernel", 1)
        stride = kernel if stride is None else _pair(stride, "stride", 1)
        padding = _pair(padding, "padding", 0)
    elif x.ndim == 4:
        for value, name, minimum in ((kernel, "kernel", 1), (stride, "stride", 1), (padding, "padding", 0)):
            if value is None and name == "stride":
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum} for a 1-d input, got {value!r}")
        kernel = (1, int(kernel))
        stride = (1, kernel[1] if stride is None else int(stride))
        padding = (0, int(padding))
    else:
        raise ValueError(f"x must have shape (T, B, C, H, W) or (T, B, C, L), got shape {x.shape}")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"x must have channels and spatial sizes >= 1, got shape {x.shape}")
    planes = x.reshape((-1,) + x.shape[3:]) if x.ndim == 5 else x.reshape(-1, 1, x.shape[3])
    height, width = planes.shape[1:]
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"padding must be at most half the kernel (torch's rule), got padding {padding} "
                         f"for kernel {kernel}")
    if height + 2 * padding[0] < kernel[0] or width + 2 * padding[1] < kernel[1]:
        raise ValueError(f"kernel {kernel} is larger than the padded input ({height}, {width}) + 2 x {padding}")
    h_out = (height + 2 * padding[0] - kernel[0]) // stride[0] + 1
    w_out = (width + 2 * padding[1] - kernel[1]) // stride[1] + 1
    shape = x.shape[:3] + ((h_out, w_out) if x.ndim == 5 else (w_out,))
    return planes, kernel, stride, padding, (h_out, w_out), shape


def _pool_input(x):
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr).view(np.uint8)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    return validation.float32_array(arr, "x")


def max_pool(x, kernel, stride=None, padding=0):
    """Max pooling of x (T, B, C, H, W) (2-d windows) or (T, B, C, L) (1-d windows), torch's
    ``max_pool2d``/``max_pool1d`` in floor mode:

        y[t, b, c, i, j] = max over ky < k_h, kx < k_w of x[t, b, c, i s_h - p_h + ky, j s_w - p_w + kx]

    over positions inside the input (padding counts as -infinity). float32 input gives float32
    (the maximum current); uint8/bool spikes give uint8 (max = OR of the window's spikes).
    kernel : int or pair >= 1 (an int for 1-d).   stride : default ``kernel``.
    padding : int or pair >= 0, at most half the kernel (torch's rule).
    """
    x = _pool_input(x)
    planes, kernel, stride, padding, plane_out, shape = _pool_args(x, kernel, stride, padding)
    out = np.empty((planes.shape[0],) + plane_out, x.dtype)
    if out.size:
        _max_pool_planes(planes, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1], out)
    return out.reshape(shape)


def avg_pool(x, kernel, stride=None, padding=0):
    """Average pooling of x (T, B, C, H, W) or (T, B, C, L) (float32, or uint8/bool spikes),
    torch's ``avg_pool2d``/``avg_pool1d`` in floor mode with count_include_pad=True:

        y[t, b, c, i, j] = float32( (sum over the window's positions inside the input of x) / (k_h k_w) )

    the sum taken in float64 in row-major window order, then divided and rounded once (so a
    spike window gives the correctly rounded fraction count / (k_h k_w)). Returns float32.
    Arguments as :func:`max_pool`.
    """
    x = _pool_input(x)
    planes, kernel, stride, padding, plane_out, shape = _pool_args(x, kernel, stride, padding)
    out = np.empty((planes.shape[0],) + plane_out, np.float32)
    if out.size:
        _avg_pool_planes(planes, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1], out)
    return out.reshape(shape)


# ---------------------------------------------------------------------------------------------
# batch norm

@njit(cache=True, fastmath={"reassoc", "nsz"})
def _plane_sum(row):
    """sum of float64(row[k]) (reassociation lets it vectorise; the order is fixed by the
    compiled code, so the same on every run and thread count)."""
    total = 0.0
    for k in range(row.shape[0]):
        total += np.float64(row[k])
    return total


@njit(cache=True, fastmath={"reassoc", "nsz"})
def _plane_sq_dev(row, mean):
    """sum of (float64(row[k]) - mean)^2 (as :func:`_plane_sum`)."""
    total = 0.0
    for k in range(row.shape[0]):
        d = np.float64(row[k]) - mean
        total += d * d
    return total


@njit(cache=True)
def _channel_moments(x, c, t0, t1):
    """Biased mean and variance of channel c of x (T, B, C, S) over steps t0..t1-1, all b and s,
    two passes in float64: mean = sum / n, var = sum (x - mean)^2 / n."""
    count = (t1 - t0) * x.shape[1] * x.shape[3]
    total = 0.0
    for t in range(t0, t1):
        for b in range(x.shape[1]):
            total += _plane_sum(x[t, b, c])
    mean = total / count
    sq = 0.0
    for t in range(t0, t1):
        for b in range(x.shape[1]):
            sq += _plane_sq_dev(x[t, b, c], mean)
    return mean, sq / count


@njit(cache=True)
def _normalise_channel(x, c, t0, t1, mean, var, eps, weight, bias, out):
    """out = float32((float64(x) - mean) (weight / sqrt(var + eps)) + bias) for channel c, steps t0..t1-1."""
    scale = np.float64(weight) / math.sqrt(var + eps)
    shift = np.float64(bias)
    for t in range(t0, t1):
        for b in range(x.shape[1]):
            for k in range(x.shape[3]):
                out[t, b, c, k] = np.float32((np.float64(x[t, b, c, k]) - mean) * scale + shift)


@njit(cache=True, parallel=True)
def _batch_norm_joint(x, eps, weight, bias, out, mean, var):
    """Statistics per channel over (T, B, S) jointly; one item per channel."""
    steps = x.shape[0]
    for c in prange(x.shape[2]):
        mean[c], var[c] = _channel_moments(x, c, 0, steps)
        _normalise_channel(x, c, 0, steps, mean[c], var[c], eps, weight[c], bias[c], out)


@njit(cache=True, parallel=True)
def _batch_norm_per_step(x, eps, weight, bias, out, mean, var):
    """Statistics per (step, channel) over (B, S); one item per (t, c)."""
    channels = x.shape[2]
    for item in prange(x.shape[0] * channels):
        t, c = item // channels, item % channels
        mean[t, c], var[t, c] = _channel_moments(x, c, t, t + 1)
        _normalise_channel(x, c, t, t + 1, mean[t, c], var[t, c], eps, weight[c], bias[c], out)


def batch_norm(x, weight=None, bias=None, *, eps=1e-5, per_step=False):
    """Batch norm in training mode (batch statistics) of x (T, B, C, ...) float32, per channel:

        y[t, b, c, ...] = (x[t, b, c, ...] - mean_c) / sqrt(var_c + eps) * weight[c] + bias[c]

    mean_c and the BIASED variance var_c = mean((x - mean_c)^2) are taken over (T, B, spatial)
    jointly (SpikingJelly's ``SeqToANNContainer(BatchNorm2d)``, tdBN), or with
    ``per_step=True`` over (B, spatial) separately for every step t (a ``BatchNorm2d`` applied
    step by step): mean_{t,c}, var_{t,c}. Statistics in float64 (two passes); y computed in
    float64 and rounded once to float32.

    weight, bias : None (1 and 0) or (C,) arrays.   eps : > 0.
    Returns (y float32 like x, mean, var) with mean/var float64 of shape (C,), or (T, C) with
    ``per_step``. (Running statistics are not kept: the caller updates them from mean/var;
    torch's running_var uses the unbiased variance var n / (n - 1).)
    """
    x = validation.float32_array(x, "x")
    if x.ndim < 3 or min(x.shape[2:]) < 1:
        raise ValueError(f"x must have shape (T, B, C, ...) with C and spatial sizes >= 1, got shape {x.shape}")
    channels = x.shape[2]
    eps = float(validation.positive(eps, "eps"))
    weight = np.ones(channels, np.float32) if weight is None else validation.float32_array(weight, "weight")
    bias = np.zeros(channels, np.float32) if bias is None else validation.float32_array(bias, "bias")
    for name, value in (("weight", weight), ("bias", bias)):
        if value.shape != (channels,):
            raise ValueError(f"{name} must have shape ({channels},) (one per channel), got {value.shape}")
    steps, batch = x.shape[:2]
    if steps * batch == 0:
        raise ValueError(f"x must have T, B >= 1 for batch statistics, got shape {x.shape}")
    flat = x.reshape(steps, batch, channels, -1)
    out = np.empty_like(x)
    if per_step:
        mean = np.empty((steps, channels))
        var = np.empty((steps, channels))
        _batch_norm_per_step(flat, eps, weight, bias, out.reshape(flat.shape), mean, var)
    else:
        mean = np.empty(channels)
        var = np.empty(channels)
        _batch_norm_joint(flat, eps, weight, bias, out.reshape(flat.shape), mean, var)
    return out, mean, var


# ---------------------------------------------------------------------------------------------
# LIF layer

@njit(cache=True, fastmath={"reassoc", "nsz"})
def _moments(u):
    """(sum u, sum u^2) in float64 (as simulate.kernels: reassociated, order fixed by the code)."""
    total = 0.0
    total_sq = 0.0
    for j in range(u.shape[0]):
        value = np.float64(u[j])
        total += value
        total_sq += value * value
    return total, total_sq


@njit(cache=True)
def _lif_item(item, drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active):
    """Work item (column block, sample) of :func:`_lif_parallel`: all T steps for BLOCK neurons."""
    steps, batch, width = drive.shape
    block = item // batch
    b = item % batch
    j0 = block * BLOCK
    w = min(BLOCK, width - j0)
    u = np.zeros(w, np.float32)
    s = np.zeros(w, np.float32)
    for t in range(steps):
        membrane_row(u, s, drive[t, b, j0:j0 + w], beta, threshold, reset_code)
        count = 0
        for j in range(w):
            fired = u[j] > threshold
            s[j] = np.float32(fired)
            spikes_out[t, b, j0 + j] = np.uint8(fired)
            count += np.int64(fired)
        part_active[block, t, b] = count
        part_sum[block, t, b], part_sumsq[block, t, b] = _moments(u)


@njit(cache=True, parallel=True)
def _lif_parallel(drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active):
    for item in prange(part_sum.shape[0] * drive.shape[1]):
        _lif_item(item, drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def _lif_serial(drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active):
    for item in range(part_sum.shape[0] * drive.shape[1]):
        _lif_item(item, drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active)


@dataclass(frozen=True)
class LIFResult:
    """Output of a LIF layer over T steps, batch B, n = product of the per-sample sizes.

    spikes    (T, B, ...) uint8  s[t] (same shape as the currents)
    active    (T, B) int64       spiking neurons per step and sample
    mem_sum   (T, B) float64     sum over the sample's neurons of u[t] (after the reset, the
                                 value compared with theta)
    mem_sumsq (T, B) float64     sum of u[t]^2
    width     n
    rate, mem_mean, mem_var (T,) float64: over batch x neurons, as ``simulate.run_network``
    (population variance, divisor B n, E[u^2] - E[u]^2 clipped at 0).
    """
    spikes: np.ndarray
    active: np.ndarray
    mem_sum: np.ndarray
    mem_sumsq: np.ndarray
    width: int

    @property
    def rate(self) -> np.ndarray:
        return self.active.sum(axis=1) / (self.width * self.active.shape[1])

    @property
    def mem_mean(self) -> np.ndarray:
        return self.mem_sum.sum(axis=1) / (self.width * self.mem_sum.shape[1])

    @property
    def mem_var(self) -> np.ndarray:
        n_values = self.width * self.mem_sum.shape[1]
        mean = self.mem_sum.sum(axis=1) / n_values
        return np.maximum(self.mem_sumsq.sum(axis=1) / n_values - mean * mean, 0.0)


def _lif_params(beta, threshold, reset):
    beta = float(validation.unit_interval(beta, "beta"))
    threshold = float(validation.finite(threshold, "threshold"))
    if abs(threshold) > float(np.finfo(np.float32).max):
        raise ValueError(f"threshold must be finite in float32, got {threshold!r}")
    validation.choice(reset, "reset", RESETS)
    return np.float32(beta), np.float32(threshold), reset_code(reset)


def lif_layer(currents, *, beta, threshold, reset="subtract") -> LIFResult:
    """LIF neurons driven by float32 currents (T, B, ...) (snnTorch ``Leaky``, reset_delay=True):

        subtract:       u[t] = (beta u[t-1] + I[t]) - theta s[t-1]
        zero:           u[t] = beta (u[t-1] - s[t-1] u[t-1]) + I[t]
        none:           u[t] = beta u[t-1] + I[t]
        subtract_leaky: u[t] = beta (u[t-1] - theta s[t-1]) + I[t]
        s[t] = 1 if u[t] > theta else 0 (strict),   u[0] = s[0] = 0,

    the update of ``simulate.kernels.membrane_row`` (theory.core.lif; ``reset`` is any name of
    theory.core.lif.RESETS), beta and theta rounded to float32. Every neuron of a sample (all
    channels and positions) is one of n = prod(shape[2:]). The statistics are those of
    ``simulate.run_network`` (rate, mean and population variance of u over batch x neurons per
    step): on (T, B, n) currents the spikes, counts and rates equal its layer 0 bit for bit, the
    float64 membrane moments up to float64 rounding (per-block sums, then over blocks in order).
    Returns :class:`LIFResult`.
    """
    currents = validation.float32_array(currents, "currents")
    if currents.ndim < 3 or min(currents.shape) < 1:
        raise ValueError(f"currents must have shape (T, B, ...) with all sizes >= 1, got shape {currents.shape}")
    beta32, threshold32, code = _lif_params(beta, threshold, reset)
    steps, batch = currents.shape[:2]
    drive = currents.reshape(steps, batch, -1)
    width = drive.shape[2]
    nblocks = (width + BLOCK - 1) // BLOCK
    spikes = np.empty(drive.shape, np.uint8)
    part_sum = np.empty((nblocks, steps, batch))
    part_sumsq = np.empty((nblocks, steps, batch))
    part_active = np.empty((nblocks, steps, batch), np.int32)
    kernel = _lif_parallel if steps * batch * width * 64 >= PARALLEL_WORK else _lif_serial
    kernel(drive, beta32, threshold32, code, spikes, part_sum, part_sumsq, part_active)
    return LIFResult(spikes=spikes.reshape(currents.shape), active=part_active.sum(axis=0, dtype=np.int64),
                     mem_sum=part_sum.sum(axis=0), mem_sumsq=part_sumsq.sum(axis=0), width=width)
