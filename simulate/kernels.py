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


@njit(cache=True, inline="always")
def _lif_update(u, s, current, beta, threshold, reset_code):
    """New membrane of one neuron (float32) from its previous u, s and current."""
    if reset_code == 0:
        return (beta * u + current) - threshold * s
    if reset_code == 1:
        return beta * ((np.float32(1.0) - s) * u) + current
    return beta * u + current


@njit(cache=True, parallel=True)
def input_layer(drive, beta, threshold, reset_code, spikes_out, part_sum, part_sumsq, part_active):
    """LIF layer driven by dense currents ``drive`` (T, B, n) float32.

    Writes spikes_out (T, B, n) uint8 and, per (column block, step, sample), the float64
    sum and sum of squares of u and the number of spikes into part_* (nblocks, T, B).
    """
    steps, batch, width = drive.shape
    nblocks = (width + BLOCK - 1) // BLOCK
    for item in prange(nblocks * batch):
        block = item // batch
        b = item % batch
        j0 = block * BLOCK
        w = min(BLOCK, width - j0)
        u = np.zeros(BLOCK, np.float32)
        s = np.zeros(BLOCK, np.float32)
        for t in range(steps):
            total = 0.0
            total_sq = 0.0
            count = 0
            for j in range(w):
                new_u = _lif_update(u[j], s[j], drive[t, b, j0 + j], beta, threshold, reset_code)
                u[j] = new_u
                fired = new_u > threshold
                s[j] = np.float32(1.0) if fired else np.float32(0.0)
                spikes_out[t, b, j0 + j] = 1 if fired else 0
                count += 1 if fired else 0
                value = np.float64(new_u)
                total += value
                total_sq += value * value
            part_sum[block, t, b] = total
            part_sumsq[block, t, b] = total_sq
            part_active[block, t, b] = count


@njit(cache=True, parallel=True)
def hidden_layer(weight, bias, has_bias, active_index, active_count, beta, threshold, reset_code,
                 spikes_out, part_sum, part_sumsq, part_active):
    """LIF layer driven by binary inputs given as index lists.

    ``active_index`` (T, B, n_in) int32 holds, for each step and sample, the indices of the
    spiking inputs in increasing order in its first ``active_count[t, b]`` entries. The
    current is accumulated row by row in that order in float32, then the bias is added.
    Outputs as in :func:`input_layer`.
    """
    n_out = weight.shape[1]
    steps, batch = active_count.shape
    nblocks = (n_out + BLOCK - 1) // BLOCK
    for item in prange(nblocks * batch):
        block = item // batch
        b = item % batch
        j0 = block * BLOCK
        w = min(BLOCK, n_out - j0)
        u = np.zeros(BLOCK, np.float32)
        s = np.zeros(BLOCK, np.float32)
        current = np.empty(BLOCK, np.float32)
        for t in range(steps):
            for j in range(w):
                current[j] = np.float32(0.0)
            for a in range(active_count[t, b]):
                row = active_index[t, b, a]
                for j in range(w):
                    current[j] += weight[row, j0 + j]
            if has_bias:
                for j in range(w):
                    current[j] += bias[j0 + j]
            total = 0.0
            total_sq = 0.0
            count = 0
            for j in range(w):
                new_u = _lif_update(u[j], s[j], current[j], beta, threshold, reset_code)
                u[j] = new_u
                fired = new_u > threshold
                s[j] = np.float32(1.0) if fired else np.float32(0.0)
                spikes_out[t, b, j0 + j] = 1 if fired else 0
                count += 1 if fired else 0
                value = np.float64(new_u)
                total += value
                total_sq += value * value
            part_sum[block, t, b] = total
            part_sumsq[block, t, b] = total_sq
            part_active[block, t, b] = count


@njit(cache=True, parallel=True)
def gather_active(spikes, active_index, active_count):
    """Index lists of the spiking neurons: for each (t, b), the j with spikes[t, b, j] != 0
    in increasing order go to active_index[t, b, :count], count to active_count[t, b]."""
    steps, batch, width = spikes.shape
    for item in prange(steps * batch):
        t = item // batch
        b = item % batch
        count = 0
        for j in range(width):
            if spikes[t, b, j] != 0:
                active_index[t, b, count] = j
                count += 1
        active_count[t, b] = count
