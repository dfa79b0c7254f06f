"""Numba forward kernels of the deep-SNN simulator (float32 state, float64 statistics).

Dynamics (science.md §2; snnTorch ``Leaky``, ``reset_delay=True``), reset codes
0 = subtract, 1 = zero, 2 = none:

    subtract: u[t] = (beta u[t-1] + I[t]) - theta s[t-1]
    zero:     u[t] = beta ((1 - s[t-1]) u[t-1]) + I[t]
    none:     u[t] = beta u[t-1] + I[t]
    s[t] = 1 if u[t] > theta else 0

A hidden layer's current is I[t] = s_{l-1}[t] @ W = sum of the weight rows of the active
inputs, so it is accumulated from a list of active indices: at rate p this touches a
fraction p of the weights. Work is split into (column block, sample) pairs; each pair runs
all T steps for BLOCK neurons, so the membrane state of the block lives in a small local
array and the weight slab (n_in x BLOCK) stays in cache while the samples sweep over it.
Every output element is written by exactly one iteration and every partial statistic is
summed in a fixed order, so results do not depend on thread scheduling.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 128    # neurons per work item: 512 bytes of accumulator, slab of n_in * 512 bytes


@njit(cache=True)
def _lif_block(u, s, current, beta, threshold, reset_code, spikes_row):
    """Advance one step for a block of neurons in place (u, s float32; spikes_row uint8).

    One branch-free loop per reset mode so that LLVM vectorises it; returns the spike count.
    """
    width = u.shape[0]
    if reset_code == 0:
        for j in range(width):
            u[j] = (beta * u[j] + current[j]) - threshold * s[j]
    elif reset_code == 1:
        for j in range(width):
            u[j] = beta * ((np.float32(1.0) - s[j]) * u[j]) + current[j]
    else:
        for j in range(width):
            u[j] = beta * u[j] + current[j]
    count = 0
    for j in range(width):
        fired = u[j] > threshold
        s[j] = np.float32(fired)
        spikes_row[j] = np.uint8(fired)
        count += np.int64(fired)
    return count


@njit(cache=True, fastmath={"reassoc", "nsz"})
def _moments(u):
    """(sum u, sum u^2) in float64. Reassociation lets the sum vectorise; the order is fixed
    by the compiled code, so the result is still the same on every run and thread count."""
    total = 0.0
    total_sq = 0.0
    for j in range(u.shape[0]):
        value = np.float64(u[j])
        total += value
        total_sq += value * value
    return total, total_sq


@njit(cache=True)
def _input_item(item, drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active):
    """Work item ``item`` = (column block, sample) of :func:`input_layer`: all T steps."""
    steps, batch, width = drive.shape
    block = item // batch
    b = item % batch
    j0 = block * BLOCK
    w = min(BLOCK, width - j0)
    u = np.zeros(w, np.float32)
    s = np.zeros(w, np.float32)
    for t in range(steps):
        part_active[block, t, b] = _lif_block(u, s, drive[t, b, j0:j0 + w], beta, threshold,
                                              reset_code, spikes_out[t, b, j0:j0 + w])
        part_sum[block, t, b], part_sumsq[block, t, b] = _moments(u)


@njit(cache=True, parallel=True)
def input_layer(drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active):
    """LIF layer driven by dense currents ``drive`` (T, B, n) float32.

    Writes spikes_out (T, B, n) uint8 and, per (column block, step, sample), the float64
    sum and sum of squares of u and the number of spikes into part_* (nblocks, T, B).
    """
    items = part_sum.shape[0] * drive.shape[1]
    for item in prange(items):
        _input_item(item, drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def input_layer_serial(drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active):
    """:func:`input_layer` on one thread (small layers: no thread start-up cost); same results."""
    items = part_sum.shape[0] * drive.shape[1]
    for item in range(items):
        _input_item(item, drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def _hidden_item(item, weight, bias, has_bias, active_index, active_count, beta, threshold, reset_code,
                 spikes_out, part_sum, part_sumsq, part_active):
    """Work item ``item`` = (column block, sample) of :func:`hidden_layer`: all T steps."""
    n_out = weight.shape[1]
    steps, batch = active_count.shape
    block = item // batch
    b = item % batch
    j0 = block * BLOCK
    w = min(BLOCK, n_out - j0)
    u = np.zeros(w, np.float32)
    s = np.zeros(w, np.float32)
    current = np.empty(w, np.float32)
    for t in range(steps):
        current[:] = 0.0
        # slices, not element indexing: they vectorise (no per-element wraparound checks)
        for a in range(active_count[t, b]):
            current += weight[active_index[t, b, a], j0:j0 + w]
        if has_bias:
            current += bias[j0:j0 + w]
        part_active[block, t, b] = _lif_block(u, s, current, beta, threshold, reset_code,
                                              spikes_out[t, b, j0:j0 + w])
        part_sum[block, t, b], part_sumsq[block, t, b] = _moments(u)


@njit(cache=True, parallel=True)
def hidden_layer(weight, bias, has_bias, active_index, active_count, beta, threshold, reset_code,
                 spikes_out, part_sum, part_sumsq, part_active):
    """LIF layer driven by binary inputs given as index lists.

    ``active_index`` (T, B, n_in) int32 holds, for each step and sample, the indices of the
    spiking inputs in increasing order in its first ``active_count[t, b]`` entries. The
    current is accumulated row by row in that order in float32, then the bias is added.
    Outputs as in :func:`input_layer`. Items are ordered block-major so that consecutive
    items of a thread reuse the same weight slab.
    """
    items = part_sum.shape[0] * active_count.shape[1]
    for item in prange(items):
        _hidden_item(item, weight, bias, has_bias, active_index, active_count, beta, threshold,
                     reset_code, spikes_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def hidden_layer_serial(weight, bias, has_bias, active_index, active_count, beta, threshold, reset_code,
                        spikes_out, part_sum, part_sumsq, part_active):
    """:func:`hidden_layer` on one thread; same results."""
    items = part_sum.shape[0] * active_count.shape[1]
    for item in range(items):
        _hidden_item(item, weight, bias, has_bias, active_index, active_count, beta, threshold,
                     reset_code, spikes_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def _gather_item(item, spikes, active_index, active_count):
    steps, batch, width = spikes.shape
    t = item // batch
    b = item % batch
    row = spikes[t, b]
    out = active_index[t, b]
    count = 0
    for j in range(width):
        # branch-free: always write, advance only on a spike (rate ~0.16 mispredicts a branch)
        out[count] = j
        count += row[j] != 0
    active_count[t, b] = count


@njit(cache=True, parallel=True)
def gather_active(spikes, active_index, active_count):
    """Index lists of the spiking neurons: for each (t, b), the j with spikes[t, b, j] != 0
    in increasing order go to active_index[t, b, :count], count to active_count[t, b]."""
    for item in prange(spikes.shape[0] * spikes.shape[1]):
        _gather_item(item, spikes, active_index, active_count)


@njit(cache=True)
def gather_active_serial(spikes, active_index, active_count):
    """:func:`gather_active` on one thread; same results."""
    for item in range(spikes.shape[0] * spikes.shape[1]):
        _gather_item(item, spikes, active_index, active_count)
