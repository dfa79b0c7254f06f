"""Numba kernels for training: forward with recorded membranes, and the BPTT backward.

Dynamics (science.md §2, snnTorch ``Leaky`` with ``reset_delay=True``), reset codes
0 = subtract, 1 = zero, 2 = none, r[t-1] = H(u[t-1] - theta) the previous step's spike:

    subtract: u[t] = (beta u[t-1] + I[t]) - theta r[t-1]
    zero:     u[t] = beta ((1 - r[t-1]) u[t-1]) + I[t]
    none:     u[t] = beta u[t-1] + I[t]
    s[t] = H(u[t] - theta)           (strict >; or the smooth test step, see below)

The float operations are written in the same order as simulate/kernels.py, so with the same
float32 inputs the spikes are bit-identical to ``simulate.run_network``.

Backward (reset detached: r[t-1] is a constant, no gradient flows through it):

    du[t]      = ds[t] * g(u[t] - theta) + du[t+1] * beta * (1 - r[t])   [zero reset]
    du[t]      = ds[t] * g(u[t] - theta) + du[t+1] * beta                 [subtract, none]
    dI[t]      = du[t]

with g the surrogate derivative. The kernels are generic over float32/float64 (Numba
compiles one version per dtype): float32 for training, float64 for the gradient tests.
``smooth_slope > 0`` selects the smooth test mode: s[t] = 1/(1 + e^{-k (u[t] - theta)}) is sent
forward (the reset flag r stays the hard step, detached), and the caller uses the logistic
derivative with the same k as the surrogate, so the backward is the exact gradient.
Every kernel is parallel over independent output elements (rows or samples): each value is
written by one iteration with a fixed summation order, so results are deterministic.
"""
from __future__ import annotations

import os

# Numba's OpenMP layer spins its idle threads by default; on a shared 2-core machine that
# made a training batch 25x slower (0.45 s instead of 18 ms, measured under load 7). The
# library reads the variable when the thread pool first starts, i.e. at the first parallel
# kernel call, so setting it here (unless the user chose otherwise) is early enough.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from theory import surrogates as _surrogates

_atan = njit(cache=True, inline="always")(_surrogates.atan)
_fast_sigmoid = njit(cache=True, inline="always")(_surrogates.fast_sigmoid)
_sigmoid = njit(cache=True, inline="always")(_surrogates.sigmoid)
_triangular = njit(cache=True, inline="always")(_surrogates.triangular)
_straight_through = njit(cache=True, inline="always")(_surrogates.straight_through)


@njit(cache=True, inline="always")
def surrogate(code, x, scale):
    """g(x) of surrogate ``code`` (the order of theory.surrogates.SURROGATES)."""
    if code == 0:
        return _atan(x, scale)
    if code == 1:
        return _fast_sigmoid(x, scale)
    if code == 2:
        return _sigmoid(x, scale)
    if code == 3:
        return _triangular(x, scale)
    return _straight_through(x, scale)


@njit(cache=True, parallel=True)
def gather_currents(active_index, active_count, weight, bias, has_bias, out):
    """out[r] = sum of weight rows active_index[r, :active_count[r]] (in that order), + bias.

    Rows r = t * B + b; the index lists come from :func:`lif_forward` of the layer below and
    are increasing, so the float32 sum is the one simulate.run_network makes. At firing rate
    p this touches a fraction p of the weights instead of the dense product's all.
    """
    rows = active_count.shape[0]
    n_out = weight.shape[1]
    for r in prange(rows):
        acc = np.zeros(n_out, out.dtype)
        for a in range(active_count[r]):
            i = active_index[r, a]
            for j in range(n_out):
                acc[j] += weight[i, j]
        if has_bias:
            for j in range(n_out):
                acc[j] += bias[j]
        for j in range(n_out):
            out[r, j] = acc[j]


@njit(cache=True, parallel=True)
def lif_forward(currents, beta, threshold, reset_code, smooth_slope, mem_out, spikes_out,
                active_index, active_count):
    """Run the LIF recursion over T for every (sample, neuron); record u and s (T, B, n) and,
    per (t, b), the increasing list of spiking neurons (active_index[t, b, :active_count[t, b]]).

    ``beta``/``threshold``/``smooth_slope`` must have the dtype of ``currents``.
    """
    steps, batch, width = currents.shape
    one = currents.dtype.type(1.0)
    zero = currents.dtype.type(0.0)
    for b in prange(batch):
        u = np.zeros(width, currents.dtype)
        r = np.zeros(width, currents.dtype)
        for t in range(steps):
            count = 0
            for j in range(width):
                current = currents[t, b, j]
                if reset_code == 0:
                    new_u = (beta * u[j] + current) - threshold * r[j]
                elif reset_code == 1:
                    new_u = beta * ((one - r[j]) * u[j]) + current
                else:
                    new_u = beta * u[j] + current
                u[j] = new_u
                mem_out[t, b, j] = new_u
                if new_u > threshold:
                    r[j] = one
                    active_index[t, b, count] = j
                    count += 1
                else:
                    r[j] = zero
                if smooth_slope > zero:
                    x = new_u - threshold
                    e = np.exp(-smooth_slope * abs(x))
                    spikes_out[t, b, j] = one / (one + e) if x >= zero else e / (one + e)
                else:
                    spikes_out[t, b, j] = r[j]
            active_count[t, b] = count


@njit(cache=True, parallel=True)
def lif_backward(grad_spikes, mem, beta, threshold, reset_code, surrogate_code, scale, grad_currents):
    """BPTT through one LIF layer: dI[t] from dL/ds[t] (T, B, n) and the recorded u[t].

    Runs t = T-1 .. 0 per (sample, neuron) with the detached-reset carry of the module
    docstring; writes grad_currents (T, B, n).
    """
    steps, batch, width = grad_spikes.shape
    one = mem.dtype.type(1.0)
    zero = mem.dtype.type(0.0)
    for b in prange(batch):
        for j in range(width):
            carry = zero
            for t in range(steps - 1, -1, -1):
                grad_u = grad_spikes[t, b, j] * surrogate(surrogate_code, mem[t, b, j] - threshold, scale) + carry
                grad_currents[t, b, j] = grad_u
                if t > 0:
                    if reset_code == 1 and mem[t - 1, b, j] > threshold:
                        carry = zero          # zero reset: u[t] does not depend on u[t-1]
                    else:
                        carry = beta * grad_u


WEIGHT_GRAD_BLOCK = 32     # output columns per work item of weight_grad_sparse


@njit(cache=True, parallel=True)
def weight_grad_sparse(active_index, active_count, grad_currents, out):
    """out = S^T dI for binary S given as index lists: out[i] = sum over rows r where i is
    active of grad_currents[r], rows in increasing order. Parallel over blocks of output
    columns, each owned by one iteration, so the summation order is fixed.
    active_index (R, n_in), active_count (R,), grad_currents (R, n_out), out (n_in, n_out).
    """
    rows = active_count.shape[0]
    n_out = grad_currents.shape[1]
    nblocks = (n_out + WEIGHT_GRAD_BLOCK - 1) // WEIGHT_GRAD_BLOCK
    for block in prange(nblocks):
        j0 = block * WEIGHT_GRAD_BLOCK
        j1 = min(n_out, j0 + WEIGHT_GRAD_BLOCK)
        for i in range(out.shape[0]):
            for j in range(j0, j1):
                out[i, j] = 0.0
        for r in range(rows):
            for a in range(active_count[r]):
                i = active_index[r, a]
                for j in range(j0, j1):
                    out[i, j] += grad_currents[r, j]


@njit(cache=True, parallel=True)
def spike_grad(grad_currents, weight, out):
    """out = dI @ W^T: out[r, i] = sum_j grad_currents[r, j] weight[i, j] (dense, fixed order).

    A Numba loop rather than BLAS: at these sizes (100 x 100 weights) it is as fast, and a
    multi-threaded OpenBLAS busy-waits on a loaded machine (measured: a depth-50 batch took
    435 ms with it against 82 ms without, load 5.5 on 2 cores). Parallel over rows r.
    """
    rows, n_out = grad_currents.shape
    n_in = weight.shape[0]
    for r in prange(rows):
        for i in range(n_in):
            acc = grad_currents.dtype.type(0.0)
            for j in range(n_out):
                acc += grad_currents[r, j] * weight[i, j]
            out[r, i] = acc
