"""Numba kernels for training: forward with recorded membranes, and the BPTT backward.

Dynamics (docs/theory.md §1, snnTorch ``Leaky`` with ``reset_delay=True``), reset codes
0 = subtract, 1 = zero, 2 = none, r[t-1] = H(u[t-1] - theta) the previous step's spike:

    subtract: u[t] = (beta u[t-1] + I[t]) - theta r[t-1]
    zero:     u[t] = beta (u[t-1] - r[t-1] u[t-1]) + I[t]     (theory.core.lif.membrane)
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

# Importing this module changes no global state. Numba's OpenMP layer spins its idle threads
# unless OMP_WAIT_POLICY=PASSIVE, which on a loaded machine slows a training batch many times
# (benchmarks/RESULTS.md): the programs (python -m simulate.train, paper_figs.py, the
# benchmarks, the test suite's conftest) set it where they start, before the first parallel
# kernel call starts the thread pool; a library user sets it in their own program.
import numpy as np
from numba import njit, prange

from theory.core import surrogates as _surrogates

from .kernels import escape_probability, membrane_row, noise_row, noise_uniform

_atan = njit(cache=True, inline="always")(_surrogates.atan)
_fast_sigmoid = njit(cache=True, inline="always")(_surrogates.fast_sigmoid)
_sigmoid = njit(cache=True, inline="always")(_surrogates.sigmoid)
_triangular = njit(cache=True, inline="always")(_surrogates.triangular)
_straight_through = njit(cache=True, inline="always")(_surrogates.straight_through)
_probit = njit(cache=True, inline="always")(_surrogates.probit)
PROBIT_CODE = 99   # the escape-noise derivative (theory.core.surrogates.probit), not an snnTorch surrogate


@njit(cache=True, inline="always")
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
    may have T = 0 rows (the input layer's membranes are never needed): then it is not written.
    The update and the index list are separate loops so that the first one vectorises.
    """
    steps, batch, width = currents.shape
    one = currents.dtype.type(1.0)
    zero = currents.dtype.type(0.0)
    keep_mem = mem_out.shape[0] > 0
    for b in prange(batch):
        u = np.zeros(width, currents.dtype)
        r = np.zeros(width, currents.dtype)
        for t in range(steps):
            membrane_row(u, r, currents[t, b], beta, threshold, reset_code)
            if firing_code == 0:
                for j in range(width):
                    r[j] = one if u[j] > threshold else zero
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
                    spikes_out[t, b, j] = currents.dtype.type(p) if expected else r[j]
            if keep_mem:
                for j in range(width):
                    mem_out[t, b, j] = u[j]
            count = 0
            for j in range(width):
                if r[j] != zero:
                    active_index[t, b, count] = j
                    count += 1
            active_count[t, b] = count


@njit(cache=True, parallel=True)
def lif_backward(grad_spikes, mem, beta, threshold, reset_code, surrogate_code, scale, grad_currents):
    """BPTT through one LIF layer: dI[t] from dL/ds[t] (T, B, n) and the recorded u[t].

    Runs t = T-1 .. 0 per (sample, neuron) with the detached-reset carry of the module
    docstring; writes grad_currents (T, B, n).
    """
    steps, batch, width = grad_spikes.shape
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
