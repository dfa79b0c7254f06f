"""Numba kernels for training: forward with recorded membranes, the BPTT backward, and the
matrix products of both, with a fixed summation order (no BLAS).

Dynamics (docs/theory.md §1, snnTorch ``Leaky`` with ``reset_delay=True``), reset codes
0 = subtract, 1 = zero, 2 = none, 3 = subtract_leaky (theory.core.lif.membrane), r[t-1] the
previous step's spike:

    subtract: u[t] = (beta u[t-1] + I[t]) - theta r[t-1]
    zero:     u[t] = beta (u[t-1] - r[t-1] u[t-1]) + I[t]
    none:     u[t] = beta u[t-1] + I[t]
    s[t] = H(u[t] - theta)           (strict >; or the smooth test step, see below)

The float operations are written in the same order as simulate/kernels.py, so with the same
float32 inputs the spikes are bit-identical to ``simulate.run_network``.

Backward (reset detached: r[t-1] is a constant, no gradient flows through it):

    du[t]      = ds[t] * g(u[t] - theta) + du[t+1] * beta * (1 - r[t])   [zero reset]
    du[t]      = ds[t] * g(u[t] - theta) + du[t+1] * beta                 [other resets]
    dI[t]      = du[t]

with g the surrogate derivative. The kernels are generic over float32/float64 (Numba
compiles one version per dtype): float32 for training, float64 for the gradient tests.
``smooth_slope > 0`` selects the smooth test mode: s[t] = 1/(1 + e^{-k (u[t] - theta)}) is sent
forward (the reset flag r stays the hard step, detached), and the caller uses the logistic
derivative with the same k as the surrogate, so the backward is the exact gradient.

Products. Every product here has ONE summation order, fixed by this code and the same on every
CPU: an output element is a sequential sum in increasing order of the summed index, starting
from +0,

    (x M)[r, j]  = (((0 + x[r,0] M[0,j]) + x[r,1] M[1,j]) + ...)         (k increasing)

with every product rounded before the addition (no fastmath, so no FMA contraction and no
reassociation; vector lanes run over j, never over the summed index, so the vector width
changes nothing). A term with x[r,k] = 0 leaves the sum unchanged bit for bit (the sum starts
at +0 and never becomes -0), so skipping zeros, gathering the rows of the active inputs of a
binary x (1 * M[k,j] is exact) and the dense loop give the same bits. The three products of a
layer are all of this form:

    forward  I = s W          rows of W gathered over the active inputs (index lists)
    weight   dW = s^T dI      rows of dI gathered, per input neuron, over the rows where it
                              fired (the index lists transposed)
    input    ds = dI W^T      dense, vectorised over the output, four summed terms per pass

So the gradients do not depend on the CPU kind, the BLAS, the number of threads or their
scheduling (each output element is written by one iteration).
"""
from __future__ import annotations

# Importing this module changes no global state. Numba's OpenMP layer spins its idle threads
# unless OMP_WAIT_POLICY=PASSIVE, which on a loaded machine slows a training batch many times
# (benchmarks/RESULTS.md): the programs (python -m simulate.train, paper_figs.py, the
# benchmarks, the test suite's conftest) set it where they start, before the first parallel
# kernel call starts the thread pool; a library user sets it in their own program.
import math

import numpy as np
from numba import njit, prange, uint64

from theory.core import surrogates as _surrogates
from theory.core.lif import membrane_compiled as membrane

from .kernels import escape_probability, membrane_row, noise_row, noise_uniform

_atan = njit(cache=True, inline="always")(_surrogates.atan)
_fast_sigmoid = njit(cache=True, inline="always")(_surrogates.fast_sigmoid)
_sigmoid = njit(cache=True, inline="always")(_surrogates.sigmoid)
_triangular = njit(cache=True, inline="always")(_surrogates.triangular)
_straight_through = njit(cache=True, inline="always")(_surrogates.straight_through)
_probit = njit(cache=True, inline="always")(_surrogates.probit)
PROBIT_CODE = 99   # the escape-noise derivative (theory.core.surrogates.probit), not an snnTorch surrogate


@njit(cache=True, inline="always", error_model="numpy")
def surrogate(code, x, scale):
    """g(x) of surrogate ``code`` (the order of theory.core.surrogates.SURROGATES)."""
    if code == 0:
        return _atan(x, scale)
    if code == 1:
        return _fast_sigmoid(x, scale)
    if code == 2:
        return _sigmoid(x, scale)
    if code == 3:
        return _triangular(x, scale)
    if code == 4:
        return _straight_through(x, scale)
    return _probit(x, scale)


@njit(cache=True, inline="always", error_model="numpy")
def _surrogate_row(out, mem, threshold, code, scale):
    """out[j] = g(mem[j] - threshold) for surrogate ``code``: one loop per code with the code a
    literal, so the dispatch folds away and each loop vectorises."""
    width = uint64(out.shape[0])
    if code == 0:
        for j in range(width):
            out[j] = surrogate(0, mem[j] - threshold, scale)
    elif code == 1:
        for j in range(width):
            out[j] = surrogate(1, mem[j] - threshold, scale)
    elif code == 2:
        for j in range(width):
            out[j] = surrogate(2, mem[j] - threshold, scale)
    elif code == 3:
        for j in range(width):
            out[j] = surrogate(3, mem[j] - threshold, scale)
    elif code == 4:
        for j in range(width):
            out[j] = surrogate(4, mem[j] - threshold, scale)
    else:
        for j in range(width):
            out[j] = surrogate(PROBIT_CODE, mem[j] - threshold, scale)


# --------------------------------------------------------------------------------- products

@njit(cache=True, inline="always", error_model="numpy")
def _add_rows(acc, matrix, rows, start, stop):
    """acc[j] += matrix[rows[a], j] for a = start..stop-1 in order (sequential per element).

    Unsigned indices skip Numba's negative-index wraparound so the j loop vectorises; eight
    (then four) rows per pass give the CPU independent loads in flight and load/store acc once
    per pass; the additions per element stay in row order."""
    width = uint64(acc.shape[0])
    a = start
    while a + 8 <= stop:
        r0 = uint64(rows[a])
        r1 = uint64(rows[a + 1])
        r2 = uint64(rows[a + 2])
        r3 = uint64(rows[a + 3])
        r4 = uint64(rows[a + 4])
        r5 = uint64(rows[a + 5])
        r6 = uint64(rows[a + 6])
        r7 = uint64(rows[a + 7])
        for j in range(width):
            value = acc[j]
            value += matrix[r0, j]
            value += matrix[r1, j]
            value += matrix[r2, j]
            value += matrix[r3, j]
            value += matrix[r4, j]
            value += matrix[r5, j]
            value += matrix[r6, j]
            value += matrix[r7, j]
            acc[j] = value
        a += 8
    while a + 4 <= stop:
        r0 = uint64(rows[a])
        r1 = uint64(rows[a + 1])
        r2 = uint64(rows[a + 2])
        r3 = uint64(rows[a + 3])
        for j in range(width):
            value = acc[j]
            value += matrix[r0, j]
            value += matrix[r1, j]
            value += matrix[r2, j]
            value += matrix[r3, j]
            acc[j] = value
        a += 4
    while a < stop:
        r0 = uint64(rows[a])
        for j in range(width):
            acc[j] += matrix[r0, j]
        a += 1


@njit(cache=True, parallel=True, error_model="numpy")
def gather_rows(rows, starts, matrix, out):
    """out[i] = sum of matrix rows rows[starts[i]:starts[i+1]] in that order, from +0.

    With the transposed spike lists (:func:`transpose_lists`) this is the weight gradient
    dW = s^T dI of binary spikes s: dW[i] sums dI over the rows where input i fired, in
    increasing row order."""
    for i in prange(out.shape[0]):
        acc = out[i]
        acc[:] = 0.0
        _add_rows(acc, matrix, rows, starts[i], starts[i + 1])


@njit(cache=True, error_model="numpy")
def transpose_lists(index, count, n_in, starts, rows):
    """Transpose per-row active-index lists (row r: index[r, :count[r]], increasing) into
    per-input row lists: input i fired in rows rows[starts[i]:starts[i+1]] (increasing r).
    ``starts`` (n_in + 1,) int64, ``rows`` (count.sum(),) int32. A counting sort, O(nnz + n_in)."""
    starts[:] = 0
    for r in range(count.shape[0]):
        for a in range(count[r]):
            starts[index[r, a] + 1] += 1
    for i in range(n_in):
        starts[i + 1] += starts[i]
    fill = starts[:n_in].copy()
    for r in range(count.shape[0]):
        for a in range(count[r]):
            i = index[r, a]
            rows[fill[i]] = r
            fill[i] += 1


@njit(cache=True, inline="always", error_model="numpy")
def _zero_row(row):
    for j in range(uint64(row.shape[0])):
        row[j] = 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _three_rows(xa, xb, xc, matrix, o, p, q):
    """o, p, q = xa @ matrix, xb @ matrix, xc @ matrix (the fixed order of the module docstring).

    Four summed terms per pass over the output and three rows sharing each matrix load. Dense:
    a test for zero inputs inside the loop costs more than it saves (benchmarks/RESULTS.md)."""
    depth = xa.shape[0]
    width = uint64(matrix.shape[1])
    _zero_row(o)
    _zero_row(p)
    _zero_row(q)
    k = 0
    while k + 4 <= depth:
        a0, a1, a2, a3 = xa[k], xa[k + 1], xa[k + 2], xa[k + 3]
        b0, b1, b2, b3 = xb[k], xb[k + 1], xb[k + 2], xb[k + 3]
        c0, c1, c2, c3 = xc[k], xc[k + 1], xc[k + 2], xc[k + 3]
        m0, m1, m2, m3 = matrix[k], matrix[k + 1], matrix[k + 2], matrix[k + 3]
        for j in range(width):
            w0 = m0[j]
            w1 = m1[j]
            w2 = m2[j]
            w3 = m3[j]
            o[j] = (((o[j] + a0 * w0) + a1 * w1) + a2 * w2) + a3 * w3
            p[j] = (((p[j] + b0 * w0) + b1 * w1) + b2 * w2) + b3 * w3
            q[j] = (((q[j] + c0 * w0) + c1 * w1) + c2 * w2) + c3 * w3
        k += 4
    while k < depth:
        a0, b0, c0 = xa[k], xb[k], xc[k]
        m0 = matrix[k]
        for j in range(width):
            w0 = m0[j]
            o[j] += a0 * w0
            p[j] += b0 * w0
            q[j] += c0 * w0
        k += 1


@njit(cache=True, inline="always", error_model="numpy")
def _one_row(xa, matrix, o):
    """o = xa @ matrix (the fixed order of the module docstring)."""
    depth = xa.shape[0]
    width = uint64(matrix.shape[1])
    _zero_row(o)
    k = 0
    while k + 4 <= depth:
        a0, a1, a2, a3 = xa[k], xa[k + 1], xa[k + 2], xa[k + 3]
        m0, m1, m2, m3 = matrix[k], matrix[k + 1], matrix[k + 2], matrix[k + 3]
        for j in range(width):
            o[j] = (((o[j] + a0 * m0[j]) + a1 * m1[j]) + a2 * m2[j]) + a3 * m3[j]
        k += 4
    while k < depth:
        a0 = xa[k]
        m0 = matrix[k]
        for j in range(width):
            o[j] += a0 * m0[j]
        k += 1


@njit(cache=True, parallel=True, error_model="numpy")
def rows_times_matrix(x, matrix, out):
    """out = x @ matrix for dense x (R, K) and matrix (K, N): out[r, j] = sum over k in
    increasing order of x[r, k] matrix[k, j], from +0 (module docstring). Rows in groups of three
    (:func:`_three_rows`), groups in parallel: each output row is written by one iteration."""
    rows = x.shape[0]
    for group in prange((rows + 2) // 3):
        r = 3 * group
        if r + 3 <= rows:
            _three_rows(x[r], x[r + 1], x[r + 2], matrix, out[r], out[r + 1], out[r + 2])
        else:
            for i in range(r, rows):
                _one_row(x[i], matrix, out[i])


@njit(cache=True, error_model="numpy")
def column_sums(x, out):
    """out[j] = sum over rows r in increasing order of x[r, j], from +0 (bias gradients)."""
    _zero_row(out)
    width = uint64(out.shape[0])
    for r in range(x.shape[0]):
        row = x[r]
        for j in range(width):
            out[j] += row[j]


@njit(cache=True, parallel=True, error_model="numpy")
def gather_currents(active_index, active_count, weight, bias, has_bias, out):
    """out[r] = sum of weight rows active_index[r, :active_count[r]] (in that order), + bias.

    Rows r = t * B + b; the index lists come from :func:`lif_forward` of the layer below and
    are increasing, so the float32 sum is the one simulate.run_network makes. At firing rate
    p this touches a fraction p of the weights instead of the dense product's all.
    """
    rows = active_count.shape[0]
    n_out = uint64(weight.shape[1])
    for r in prange(rows):
        acc = out[r]
        _zero_row(acc)
        _add_rows(acc, weight, active_index[r], 0, active_count[r])
        if has_bias:
            for j in range(n_out):
                acc[j] += bias[j]


# --------------------------------------------------------------------------------- LIF layers

@njit(cache=True, inline="always", error_model="numpy")
def _index_row(r, scratch, index_row):
    """Write the increasing indices j with r[j] != 0 to index_row[:count]; return count.

    A row without spikes is found by a vectorised count and costs nothing more. Otherwise the
    list is built branch-free (always write, advance on a spike: a branch at rate ~0.1
    mispredicts) in ``scratch`` (int32, L1-resident) and only its ``count`` entries are copied
    out, so the lists of a sparse layer touch a fraction of their (T, B, n) array."""
    zero = r.dtype.type(0.0)
    width = uint64(r.shape[0])
    spikes = 0
    for j in range(width):
        spikes += np.int64(r[j] != zero)
    if spikes == 0:
        return 0
    count = 0
    for j in range(r.shape[0]):
        scratch[count] = j
        count += np.int64(r[j] != zero)
    for a in range(count):
        index_row[a] = scratch[a]
    return count


@njit(cache=True, inline="always", error_model="numpy")
def _fire_row(u, r, current, mem, beta, threshold, code):
    """The deterministic step of a row in one pass: u[j] <- membrane(u[j], r[j], current[j]),
    mem[j] = u[j], r[j] = [u[j] > theta]; returns the number of spikes. One loop per reset with
    a literal code (the branch in membrane folds away and each loop vectorises): the same
    operations as membrane_row followed by the comparison, so the same bits."""
    n = uint64(u.shape[0])
    one = u.dtype.type(1.0)
    zero = u.dtype.type(0.0)
    spikes = 0
    if code == 0:
        for j in range(n):
            value = membrane(u[j], r[j], current[j], beta, threshold, 0)
            u[j] = value
            mem[j] = value
            fired = value > threshold
            r[j] = one if fired else zero
            spikes += np.int64(fired)
    elif code == 1:
        for j in range(n):
            value = membrane(u[j], r[j], current[j], beta, threshold, 1)
            u[j] = value
            mem[j] = value
            fired = value > threshold
            r[j] = one if fired else zero
            spikes += np.int64(fired)
    elif code == 3:
        for j in range(n):
            value = membrane(u[j], r[j], current[j], beta, threshold, 3)
            u[j] = value
            mem[j] = value
            fired = value > threshold
            r[j] = one if fired else zero
            spikes += np.int64(fired)
    else:
        for j in range(n):
            value = membrane(u[j], r[j], current[j], beta, threshold, 2)
            u[j] = value
            mem[j] = value
            fired = value > threshold
            r[j] = one if fired else zero
            spikes += np.int64(fired)
    return spikes


@njit(cache=True, inline="always", error_model="numpy")
def _list_row(r, spikes, scratch, index_row):
    """index_row[:count] = the increasing j with r[j] != 0, given their number ``spikes``;
    returns count. Built branch-free in ``scratch`` (see _index_row)."""
    if spikes == 0:
        return 0
    zero = r.dtype.type(0.0)
    count = 0
    for j in range(r.shape[0]):
        scratch[count] = j
        count += np.int64(r[j] != zero)
    for a in range(count):
        index_row[a] = scratch[a]
    return count


@njit(cache=True, inline="always", error_model="numpy")
def _lif_step(u, r, scratch, spare, current, t, b, beta, threshold, reset_code, smooth_slope, firing_code, tau, key,
              sample_offset, expected, mem_out, spikes_out, active_index, active_count):
    """One step of one sample's row of neurons: membrane, spike, records (see lif_forward).
    ``scratch`` (int32) and ``spare`` (float, written in place of unrecorded membranes; may be
    ``current`` when the caller owns it) are per-sample work rows."""
    width = u.shape[0]
    one = u.dtype.type(1.0)
    zero = u.dtype.type(0.0)
    keep_spikes = spikes_out.shape[0] > 0
    if firing_code == 0 and not keep_spikes:     # the training path: one fused pass
        mem = mem_out[t, b] if mem_out.shape[0] > 0 else spare
        spikes = _fire_row(u, r, current, mem, beta, threshold, reset_code)
        active_count[t, b] = _list_row(r, spikes, scratch, active_index[t, b])
        return
    membrane_row(u, r, current, beta, threshold, reset_code)
    if firing_code == 0:
        for j in range(width):
            r[j] = one if u[j] > threshold else zero
        if keep_spikes:
            if smooth_slope > zero:
                for j in range(width):
                    x = u[j] - threshold
                    e = np.exp(-smooth_slope * abs(x))
                    spikes_out[t, b, j] = one / (one + e) if x >= zero else e / (one + e)
            else:
                for j in range(width):
                    spikes_out[t, b, j] = r[j]
    else:
        row = noise_row(key, t, sample_offset + b)
        for j in range(width):
            p = escape_probability(u[j], threshold, tau)
            r[j] = one if noise_uniform(row, j) < p else zero
            if keep_spikes:
                spikes_out[t, b, j] = u.dtype.type(p) if expected else r[j]
    if mem_out.shape[0] > 0:
        mem = mem_out[t, b]
        for j in range(width):
            mem[j] = u[j]
    active_count[t, b] = _index_row(r, scratch, active_index[t, b])


@njit(cache=True, parallel=True, error_model="numpy")
def lif_forward(currents, beta, threshold, reset_code, smooth_slope, firing_code, tau, key, sample_offset, expected,
                mem_out, spikes_out, active_index, active_count):
    """Run the LIF recursion over T for every (sample, neuron); record u and s (T, B, n) and,
    per (t, b), the increasing list of spiking neurons (active_index[t, b, :active_count[t, b]]).

    Firing rule ``firing_code``: 0 deterministic, r[t] = [u[t] > theta]; 1 escape noise,
    r[t] = [U < Phi((u[t] - theta)/tau)] with U from the counter-based stream of simulate.kernels
    (layer ``key``, step t, sample sample_offset + b, neuron j): the spikes of
    ``simulate.run_network`` with the same firing. ``smooth_slope`` > 0 (deterministic) sends the
    logistic step forward, ``expected`` (escape) the expected spike Phi((u[t] - theta)/tau), the
    reset flag staying the hard or sampled spike (detached): the smooth test modes, whose
    surrogate is the exact gradient.

    ``beta``/``threshold``/``smooth_slope``/``tau`` must have the dtype of ``currents``. ``mem_out``
    and ``spikes_out`` may have T = 0 rows: then they are not written (the input layer's
    membranes are never needed; binary spikes are kept as the index lists alone).
    """
    steps, batch, width = currents.shape
    for b in prange(batch):
        u = np.zeros(width, currents.dtype)
        r = np.zeros(width, currents.dtype)
        scratch = np.empty(width, np.int32)
        spare = np.empty(width, currents.dtype)
        for t in range(steps):
            _lif_step(u, r, scratch, spare, currents[t, b], t, b, beta, threshold, reset_code, smooth_slope, firing_code, tau, key,
                      sample_offset, expected, mem_out, spikes_out, active_index, active_count)


@njit(cache=True, parallel=True, error_model="numpy")
def binary_layer_forward(weight, bias, has_bias, in_index, in_count, beta, threshold, reset_code, firing_code, tau,
                         key, sample_offset, mem_out, active_index, active_count):
    """A LIF layer driven by binary spikes given as index lists (in_index (T, B, n_in),
    in_count (T, B) from the layer below): per (t, b) the current is the sum of the weight rows
    of the active inputs in increasing order, plus the bias (:func:`gather_currents`, fused here
    so the currents are never stored), then the LIF step of :func:`lif_forward` (hard spikes,
    deterministic or escape firing). Records mem_out (T, B, n_out) and the output index lists."""
    steps, batch = in_count.shape
    n_out = weight.shape[1]
    zero = weight.dtype.type(0.0)
    no_spikes = np.empty((0, 0, 0), weight.dtype)
    for b in prange(batch):
        u = np.zeros(n_out, weight.dtype)
        r = np.zeros(n_out, weight.dtype)
        current = np.empty(n_out, weight.dtype)
        scratch = np.empty(n_out, np.int32)
        for t in range(steps):
            _zero_row(current)
            _add_rows(current, weight, in_index[t, b], 0, in_count[t, b])
            if has_bias:
                for j in range(n_out):
                    current[j] += bias[j]
            _lif_step(u, r, scratch, current, current, t, b, beta, threshold, reset_code, zero, firing_code, tau, key, sample_offset,
                      False, mem_out, no_spikes, active_index, active_count)


@njit(cache=True, inline="always", error_model="numpy")
def _lif_back_step(grad_spikes, mem_t, mem_prev, t, carry, gain, out, beta, threshold, reset_code, surrogate_code,
                   scale):
    """One step of :func:`lif_backward` for one sample's row of neurons: out = dI[t] from
    dL/ds[t] ``grad_spikes``, u[t] ``mem_t`` and (t > 0) u[t-1] ``mem_prev``; updates ``carry``
    (float64, beta dI[t] or 0 after a zero reset). ``gain`` is float64 scratch."""
    n = uint64(out.shape[0])
    _surrogate_row(gain, mem_t, threshold, surrogate_code, scale)
    if t == 0:
        for j in range(n):
            out[j] = grad_spikes[j] * gain[j] + carry[j]
    elif reset_code == 1:
        for j in range(n):
            value = grad_spikes[j] * gain[j] + carry[j]
            out[j] = value
            carry[j] = 0.0 if mem_prev[j] > threshold else beta * value   # zero reset: no carry
    else:
        for j in range(n):
            value = grad_spikes[j] * gain[j] + carry[j]
            out[j] = value
            carry[j] = beta * value


@njit(cache=True, parallel=True, error_model="numpy")
def lif_backward(grad_spikes, mem, beta, threshold, reset_code, surrogate_code, scale, grad_currents):
    """BPTT through one LIF layer: dI[t] from dL/ds[t] (T, B, n) and the recorded u[t].

    Runs t = T-1 .. 0 per sample, vectorised over the neurons, with the detached-reset carry of
    the module docstring; writes grad_currents (T, B, n). Per element the operations of a scalar
    loop, in float64 as Numba types them (the surrogate's float64 constants promote it): the
    surrogate g and grad_u = ds g + carry in float64, grad_u rounded to the output dtype when
    stored, the carry beta grad_u kept in float64. So the bits do not depend on the vector width.
    ``grad_spikes`` may have one step (shape (1, B, n)): the same dL/ds at every step (the loss
    on spike counts gives the output layer that).
    """
    steps, batch, width = grad_currents.shape
    same = grad_spikes.shape[0] == 1
    for b in prange(batch):
        carry = np.zeros(width, np.float64)
        gain = np.empty(width, np.float64)
        for t in range(steps - 1, -1, -1):
            _lif_back_step(grad_spikes[0 if same else t, b], mem[t, b], mem[t - 1 if t > 0 else 0, b], t, carry,
                           gain, grad_currents[t, b], beta, threshold, reset_code, surrogate_code, scale)


@njit(cache=True, parallel=True, error_model="numpy")
def backward_through(grad_above, weight, mem, beta, threshold, reset_code, surrogate_code, scale, grad_currents):
    """dI of a LIF layer from dI of the layer above, fused: dL/ds[t, b] = dI_above[t, b] W^T
    (``weight`` (n, n_above): the above layer's weights; the product in the fixed order of the
    module docstring, summed over the above layer's neurons in increasing order), then the step
    of :func:`lif_backward` with u = ``mem`` (T, B, n). The same bits as input_grad followed by
    lif_backward, without storing dL/ds. Samples in groups of three (three rows share each
    weight load), groups in parallel."""
    steps, batch, width = grad_currents.shape
    weight_t = np.ascontiguousarray(weight.T)
    for group in prange((batch + 2) // 3):
        b0 = 3 * group
        rows = min(3, batch - b0)
        carry = np.zeros((3, width), np.float64)
        gain = np.empty(width, np.float64)
        grad_spikes = np.empty((3, width), grad_currents.dtype)
        for t in range(steps - 1, -1, -1):
            if rows == 3:
                _three_rows(grad_above[t, b0], grad_above[t, b0 + 1], grad_above[t, b0 + 2], weight_t,
                            grad_spikes[0], grad_spikes[1], grad_spikes[2])
            else:
                for i in range(rows):
                    _one_row(grad_above[t, b0 + i], weight_t, grad_spikes[i])
            previous = t - 1 if t > 0 else 0
            for i in range(rows):
                _lif_back_step(grad_spikes[i], mem[t, b0 + i], mem[previous, b0 + i], t, carry[i], gain,
                               grad_currents[t, b0 + i], beta, threshold, reset_code, surrogate_code, scale)


@njit(cache=True, parallel=True, error_model="numpy")
def binary_weight_grad(index, count, grad_currents, out):
    """dW = s^T dI for binary inputs s given by their index lists (index (T, B, n_in), count
    (T, B)) and dI (T, B, n_out): per input i the sum, in increasing row order r = t B + b, of
    the dI rows where i fired (the lists transposed by :func:`transpose_lists`, then
    :func:`gather_rows`); ``out`` (n_in, n_out)."""
    steps, batch, n_in = index.shape
    rows = steps * batch
    flat_index = index.reshape(rows, n_in)
    flat_count = count.reshape(rows)
    total = 0
    for r in range(rows):
        total += flat_count[r]
    starts = np.empty(n_in + 1, np.int64)
    row_lists = np.empty(total, np.int32)
    transpose_lists(flat_index, flat_count, n_in, starts, row_lists)
    matrix = grad_currents.reshape(rows, grad_currents.shape[2])
    for i in prange(n_in):
        acc = out[i]
        _zero_row(acc)
        _add_rows(acc, matrix, row_lists, starts[i], starts[i + 1])


@njit(cache=True, error_model="numpy")
def spike_counts(active_index, active_count, width, out):
    """out[b, j] = number of steps t at which neuron j is in the list of (t, b) (float64)."""
    steps, batch = active_count.shape
    out[:] = 0.0
    for t in range(steps):
        for b in range(batch):
            for a in range(active_count[t, b]):
                out[b, active_index[t, b, a]] += 1.0


@njit(cache=True, error_model="numpy")
def spikes_from_lists(active_index, active_count, out):
    """Dense 0/1 spikes (T, B, n) from the index lists."""
    steps, batch = active_count.shape
    out[:] = 0.0
    for t in range(steps):
        for b in range(batch):
            for a in range(active_count[t, b]):
                out[t, b, active_index[t, b, a]] = 1.0


@njit(cache=True, error_model="numpy")
def cross_entropy(counts, labels, grad):
    """Mean softmax cross-entropy of ``counts`` (B, n) float64 against ``labels``; writes its
    gradient w.r.t. the counts into ``grad`` and returns the loss. Max-shifted; the sums run
    sequentially in index order and exp/log are the C library's (math.exp, math.log), so the
    value does not depend on the vector width (numpy's exp has SIMD paths that differ by an ulp
    between CPU kinds)."""
    batch, width = counts.shape
    total = 0.0
    for b in range(batch):
        top = counts[b, 0]
        for j in range(1, width):
            top = max(top, counts[b, j])
        z = 0.0
        for j in range(width):
            z += math.exp(counts[b, j] - top)
        log_z = math.log(z)
        total += log_z - (counts[b, labels[b]] - top)
        for j in range(width):
            grad[b, j] = math.exp((counts[b, j] - top) - log_z)
        grad[b, labels[b]] -= 1.0
        for j in range(width):
            grad[b, j] /= batch
    return total / batch
