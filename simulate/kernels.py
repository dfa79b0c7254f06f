"""Numba forward kernels of the deep-SNN simulator (float32 state, float64 statistics).

Dynamics (docs/theory.md §1; snnTorch ``Leaky``, ``reset_delay=True``), reset codes
0 = subtract, 1 = zero, 2 = none, computed by :func:`theory.core.lif.membrane` (the one
implementation of the update, compiled here as ``membrane``):

    subtract: u[t] = (beta u[t-1] + I[t]) - theta s[t-1]
    zero:     u[t] = beta (u[t-1] - s[t-1] u[t-1]) + I[t]
    none:     u[t] = beta u[t-1] + I[t]
    s[t] = 1 if u[t] > theta else 0

A hidden layer's current is I[t] = s_{l-1}[t] @ W = sum of the weight rows of the active
inputs, so it is accumulated from lists of active indices: at rate p this touches a
fraction p of the weights. Work is split into (column block, sample) items; each item runs
all T steps for BLOCK neurons, so the membrane state of the block lives in a small local
array and the weight slab (n_in x BLOCK) stays in cache while the samples sweep over it.

Active indices are kept in a *blocked* layout, written by the layer that fires them while
its spikes are still in registers (no separate pass over the spikes): for column block k,
step t and sample b, the indices of the spiking neurons of that block are
index[t, b, k BLOCK : k BLOCK + count[k, t, b]] in increasing order, so reading the blocks
in order lists all active inputs in increasing order.

Every output element is written by exactly one item and every partial statistic is summed in
a fixed order, so results do not depend on the number of threads or their scheduling, nor on
the CPU kind: no kernel here has fastmath (no FMA contraction, no reassociation), and vector
lanes only ever run over independent outputs, so SSE2, AVX2 and AVX-512 give the same bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, uint64

# the one LIF update (theory.core.lif), inlined so each per-reset loop below still vectorises
from theory.core.lif import membrane_compiled as membrane
BLOCK = 128    # neurons per work item: 512 bytes of accumulator, slab of n_in * 512 bytes


@njit(cache=True, inline="always")
def membrane_row(u, s, current, beta, threshold, reset_code):
    """u[j] <- membrane(u[j], s[j], current[j]) for every j, in place (theory.core.lif's update).

    One loop per reset with a literal code: the branch in membrane folds away and each loop
    vectorises. Inlined into every kernel that advances a row of neurons (here and in
    simulate.bptt_kernels), so the dispatch is written once."""
    width = u.shape[0]
    if reset_code == 0:
        for j in range(width):
            u[j] = membrane(u[j], s[j], current[j], beta, threshold, 0)
    elif reset_code == 1:
        for j in range(width):
            u[j] = membrane(u[j], s[j], current[j], beta, threshold, 1)
    elif reset_code == 3:
        for j in range(width):
            u[j] = membrane(u[j], s[j], current[j], beta, threshold, 3)
    else:
        for j in range(width):
            u[j] = membrane(u[j], s[j], current[j], beta, threshold, 2)


# ---------------------------------------------------------------------------------------------
# Stochastic firing (escape noise), firing code 1 of the kernels above. A neuron spikes at step t with probability
#     P(s[t] = 1 | u[t]) = Phi((u[t] - theta) / tau),
# decided by s[t] = [U < Phi((u[t] - theta) / tau)] with U uniform on [0, 1) from a
# counter-based stream (docs/theory.md §9 "Stochastic firing"): for layer key K (from the seed and the layer),
# step t, sample index b (global: sample_offset + position in the batch) and neuron j,
#     row = mix(mix(K ^ t) ^ b),   x = mix(row + (j + 1) * 0x9E3779B97F4A7C15),
#     U = (x >> 11) * 2^-53,
# mix the splitmix64 finaliser (all arithmetic mod 2^64). So the same seed gives the same
# spikes whatever the number of threads, the batch split (with sample_offset) or the order.
# Phi is evaluated in float64 from the float32 membrane.

GOLDEN = uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def mix64(x):
    """splitmix64 finaliser (Steele, Lea & Flood 2014): a bijection of uint64."""
    x = (x ^ (x >> uint64(30))) * uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> uint64(27))) * uint64(0x94D049BB133111EB)
    return x ^ (x >> uint64(31))


@njit(cache=True, inline="always")
def noise_row(key, t, b):
    """Stream seed of (layer key, step t, global sample index b)."""
    return mix64(mix64(key ^ uint64(t)) ^ uint64(b))


@njit(cache=True, inline="always")
def noise_uniform(row, j):
    """U in [0, 1) (53 bits) for neuron j of a row."""
    return np.float64(mix64(row + (uint64(j) + uint64(1)) * GOLDEN) >> uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def escape_probability(u, threshold, tau):
    """Phi((u - theta)/tau) in float64 (probit escape function)."""
    return 0.5 * math.erfc((np.float64(threshold) - np.float64(u)) / (np.float64(tau) * math.sqrt(2.0)))


@njit(cache=True, inline="always")
def fire_row(u, s, spikes_row, threshold, firing_code, tau, row, j0):
    """s[j], spikes_row[j] <- the spike of membrane u[j] under firing rule ``firing_code``:
    0 deterministic, s = [u > theta] (float32 compare, strict); 1 escape noise,
    s = [U < Phi((u - theta)/tau)] with U = noise_uniform(row, j0 + j) (see below). One loop per
    rule (the code is a literal in each kernel's call), so the deterministic loop vectorises."""
    width = u.shape[0]
    if firing_code == 0:
        for j in range(width):
            fired = u[j] > threshold
            s[j] = np.float32(fired)
            spikes_row[j] = np.uint8(fired)
    else:
        for j in range(width):
            fired = noise_uniform(row, j0 + j) < escape_probability(u[j], threshold, tau)
            s[j] = np.float32(fired)
            spikes_row[j] = np.uint8(fired)


@njit(cache=True, inline="always")
def _fire_moments(u, s, current, spikes_row, acc_sum, acc_sq, beta, threshold, code):
    """The deterministic step of a block, for reset ``code`` (a literal: the branch in membrane
    folds away and the loops vectorise): u <- membrane(u, s, current), s and spikes_row <-
    [u > theta], acc_sum += u and acc_sq += u^2 in float64 (per neuron: vertical sums over the
    samples of a group, no reduction across lanes); returns the number of spikes. The same
    operations per neuron as membrane_row followed by fire_row; three loops (one fused loop
    vectorised worse: benchmarks/RESULTS.md)."""
    n = uint64(u.shape[0])
    for j in range(n):
        value = membrane(u[j], s[j], current[j], beta, threshold, code)
        u[j] = value
        fired = value > threshold
        s[j] = np.float32(fired)
        spikes_row[j] = np.uint8(fired)
    spikes = 0
    for j in range(n):
        spikes += np.int64(spikes_row[j])
    for j in range(n):
        wide = np.float64(u[j])
        acc_sum[j] += wide
        acc_sq[j] += wide * wide
    return spikes


@njit(cache=True, inline="always")
def _lif_block(u, s, current, beta, threshold, reset_code, firing_code, tau, row, spikes_row, index_row, j0,
               scratch, acc_sum, acc_sq):
    """Advance one step for a block of neurons in place (u, s float32; spikes_row uint8); add u
    and u^2 to the float64 rows acc_sum, acc_sq; write the absolute indices (j0 + j) of the
    spiking ones to index_row[:count]; return count.

    Deterministic firing: one fused pass per reset (:func:`_fire_moments`). Escape firing:
    :func:`membrane_row`, :func:`fire_row`, then the sums. ``scratch`` (int32, BLOCK entries)
    holds the index list while it is built, branch-free (always write, advance on a spike: a
    branch at rate ~0.1 mispredicts); only its ``count`` entries are copied to ``index_row``, so
    a sparse layer's lists touch a fraction of their (T, B, n) array (benchmarks/RESULTS.md).
    """
    width = uint64(u.shape[0])
    if firing_code == 0:
        if reset_code == 0:
            spikes = _fire_moments(u, s, current, spikes_row, acc_sum, acc_sq, beta, threshold, 0)
        elif reset_code == 1:
            spikes = _fire_moments(u, s, current, spikes_row, acc_sum, acc_sq, beta, threshold, 1)
        elif reset_code == 3:
            spikes = _fire_moments(u, s, current, spikes_row, acc_sum, acc_sq, beta, threshold, 3)
        else:
            spikes = _fire_moments(u, s, current, spikes_row, acc_sum, acc_sq, beta, threshold, 2)
    else:
        membrane_row(u, s, current, beta, threshold, reset_code)
        fire_row(u, s, spikes_row, threshold, firing_code, tau, row, j0)
        spikes = 0
        for j in range(width):
            spikes += np.int64(spikes_row[j])
            wide = np.float64(u[j])
            acc_sum[j] += wide
            acc_sq[j] += wide * wide
    if spikes == 0:
        return 0
    count = 0
    for j in range(u.shape[0]):
        scratch[count] = j0 + j
        count += np.int64(spikes_row[j])
    for a in range(count):
        index_row[a] = scratch[a]
    return count


@njit(cache=True)
def _lane_sum(x):
    """Sum of a float64 row in one fixed order on every CPU: element j goes to lane j mod 4
    (four scalar sums in increasing j), the lanes are added as (l0 + l1) + (l2 + l3). No
    reassociation (a vectorised reduction's partial sums follow the vector width, so the sums
    would differ between SSE2, AVX2 and AVX-512 machines in the last bits)."""
    n = x.shape[0]
    full = n - n % 4
    s0 = s1 = s2 = s3 = 0.0
    for j in range(0, full, 4):
        s0 += x[j]
        s1 += x[j + 1]
        s2 += x[j + 2]
        s3 += x[j + 3]
    rest = n - full
    if rest > 0:
        s0 += x[full]
    if rest > 1:
        s1 += x[full + 1]
    if rest > 2:
        s2 += x[full + 2]
    return (s0 + s1) + (s2 + s3)


GROUP = 8      # samples per work item: their membrane sums add per neuron before one lane sum


@njit(cache=True)
def _item_place(item, batch, width):
    """(column block, first sample, samples, first column, block width) of a block-major work
    item: a block of BLOCK neurons and a group of up to GROUP consecutive samples."""
    groups = (batch + GROUP - 1) // GROUP
    block = item // groups
    first = block * BLOCK
    b0 = (item % groups) * GROUP
    return block, b0, min(GROUP, batch - b0), first, min(BLOCK, width - first)


@njit(cache=True)
def _store_moments(acc_sum, acc_sq, block, b0, samples, part_sum, part_sumsq):
    """The group's statistics: per step the lane sums of the per-neuron float64 sums, stored at
    the group's first sample; the other samples of the group get 0 (the totals over samples are
    what run_network reports)."""
    for t in range(acc_sum.shape[0]):
        part_sum[block, t, b0] = _lane_sum(acc_sum[t])
        part_sumsq[block, t, b0] = _lane_sum(acc_sq[t])
        for b in range(b0 + 1, b0 + samples):
            part_sum[block, t, b] = 0.0
            part_sumsq[block, t, b] = 0.0


@njit(cache=True)
def items(nblocks, batch):
    """Number of work items of a layer (blocks x groups of samples)."""
    return nblocks * ((batch + GROUP - 1) // GROUP)


@njit(cache=True)
def _input_item(item, drive, beta, threshold, reset_code, firing_code, tau, key, sample_offset, spikes_out, index_out,
                part_sum, part_sumsq, part_active):
    """Work item ``item`` = (column block, group of samples) of :func:`input_layer`: all T steps."""
    steps, batch, width = drive.shape
    block, b0, samples, j0, w = _item_place(item, batch, width)
    u = np.empty(w, np.float32)
    s = np.empty(w, np.float32)
    scratch = np.empty(w, np.int32)
    spare = np.empty(w, np.uint8)
    acc_sum = np.zeros((steps, w))
    acc_sq = np.zeros((steps, w))
    keep = spikes_out.shape[0] > 0
    for b in range(b0, b0 + samples):
        u[:] = 0.0
        s[:] = 0.0
        for t in range(steps):
            row = noise_row(key, t, sample_offset + b) if firing_code else uint64(0)
            spikes_row = spikes_out[t, b, j0:j0 + w] if keep else spare
            part_active[block, t, b] = _lif_block(u, s, drive[t, b, j0:j0 + w], beta, threshold, reset_code,
                                                  firing_code, tau, row, spikes_row, index_out[t, b, j0:j0 + w], j0,
                                                  scratch, acc_sum[t], acc_sq[t])
    _store_moments(acc_sum, acc_sq, block, b0, samples, part_sum, part_sumsq)


@njit(cache=True, parallel=True)
def input_layer(drive, beta, threshold, reset_code, firing_code, tau, key, sample_offset, spikes_out, index_out,
                part_sum, part_sumsq, part_active):
    """LIF layer driven by dense currents ``drive`` (T, B, n) float32, firing rule
    ``firing_code`` (0 deterministic; 1 escape noise ``tau`` from the stream of layer ``key``,
    global sample index ``sample_offset`` + b).

    Writes spikes_out (T, B, n) uint8 (not written when it has 0 rows), the blocked
    active-index lists index_out (T, B, n) int32 with their counts part_active (nblocks, T, B),
    and the float64 sum and sum of squares of u into part_sum, part_sumsq (nblocks, T, B): per
    (block, step, group of GROUP samples), stored at the group's first sample (0 at the others;
    their sum over samples is the layer's). Per neuron the samples of a group are added in
    order, then the neurons in the fixed order of :func:`_lane_sum`.
    """
    for item in prange(items(part_sum.shape[0], drive.shape[1])):
        _input_item(item, drive, beta, threshold, reset_code, firing_code, tau, key, sample_offset, spikes_out,
                    index_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def input_layer_serial(drive, beta, threshold, reset_code, firing_code, tau, key, sample_offset, spikes_out,
                       index_out, part_sum, part_sumsq, part_active):
    """:func:`input_layer` on one thread (small layers: no thread wake-up cost); same results."""
    for item in range(items(part_sum.shape[0], drive.shape[1])):
        _input_item(item, drive, beta, threshold, reset_code, firing_code, tau, key, sample_offset, spikes_out,
                    index_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def _accumulate_rows(weight, rows, counts, j0, w, current, merged):
    """current[j] += weight[row, j0 + j] for the active rows, block after block, in order.

    The blocked lists are first copied into one increasing list (``merged``, int32 scratch of
    n_in entries), so the passes below run over all active rows and not over each input
    block's short segment. Unsigned indices skip Numba's negative-index wraparound so the j
    loop vectorises; eight rows per pass give the CPU eight independent loads in flight and
    load/store the accumulator once per eight rows (faster than four or one row per pass:
    benchmarks/RESULTS.md). The additions per element stay in row order, so the sum is the same
    as a plain sequential accumulation, bit for bit.
    """
    column = uint64(j0)
    width = uint64(w)
    stop = 0
    for in_block in range(counts.shape[0]):
        first = in_block * BLOCK
        for a in range(first, first + counts[in_block]):
            merged[stop] = rows[a]
            stop += 1
    a = 0
    while a + 8 <= stop:
        r0 = uint64(merged[a])
        r1 = uint64(merged[a + 1])
        r2 = uint64(merged[a + 2])
        r3 = uint64(merged[a + 3])
        r4 = uint64(merged[a + 4])
        r5 = uint64(merged[a + 5])
        r6 = uint64(merged[a + 6])
        r7 = uint64(merged[a + 7])
        for j in range(width):
            value = current[j]
            value += weight[r0, column + j]
            value += weight[r1, column + j]
            value += weight[r2, column + j]
            value += weight[r3, column + j]
            value += weight[r4, column + j]
            value += weight[r5, column + j]
            value += weight[r6, column + j]
            value += weight[r7, column + j]
            current[j] = value
        a += 8
    while a + 4 <= stop:
        r0 = uint64(merged[a])
        r1 = uint64(merged[a + 1])
        r2 = uint64(merged[a + 2])
        r3 = uint64(merged[a + 3])
        for j in range(width):
            value = current[j]
            value += weight[r0, column + j]
            value += weight[r1, column + j]
            value += weight[r2, column + j]
            value += weight[r3, column + j]
            current[j] = value
        a += 4
    while a < stop:
        r0 = uint64(merged[a])
        for j in range(width):
            current[j] += weight[r0, column + j]
        a += 1


PANEL_BYTES = 8 * 2**20   # weight columns one work item of hidden_layer gathers from (L3-sized)


@njit(cache=True)
def panel_blocks(n_in, nblocks):
    """Column blocks per work item of :func:`hidden_layer`: as many as keep the item's weight
    panel (n_in x blocks x BLOCK float32) within PANEL_BYTES. Whole rows of a panel are read
    per active input, which streams better than 128-column slabs (benchmarks/RESULTS.md)."""
    return max(1, min(nblocks, PANEL_BYTES // (max(n_in, 1) * BLOCK * 4)))


@njit(cache=True)
def _hidden_item(item, weight, bias, has_bias, in_index, in_count, beta, threshold, reset_code, firing_code, tau, key,
                 sample_offset, spikes_out, index_out, part_sum, part_sumsq, part_active):
    """Work item ``item`` = (panel of column blocks, group of samples) of :func:`hidden_layer`:
    all T steps. The current of the whole panel is gathered at once, then each block of BLOCK
    neurons takes its LIF step, index list and sums as in :func:`_input_item` (the same bits as
    one item per block)."""
    n_in, n_out = weight.shape
    in_blocks, steps, batch = in_count.shape
    nblocks = part_sum.shape[0]
    per = panel_blocks(n_in, nblocks)
    groups = (batch + GROUP - 1) // GROUP
    panel = item // groups
    b0 = (item % groups) * GROUP
    samples = min(GROUP, batch - b0)
    first_block = panel * per
    last_block = min(nblocks, first_block + per)
    c0 = first_block * BLOCK
    cw = min(n_out, last_block * BLOCK) - c0
    u = np.empty(cw, np.float32)
    s = np.empty(cw, np.float32)
    current = np.empty(cw, np.float32)
    scratch = np.empty(BLOCK, np.int32)
    merged = np.empty(n_in, np.int32)
    spare = np.empty(cw, np.uint8)
    acc_sum = np.zeros((steps, cw))
    acc_sq = np.zeros((steps, cw))
    keep = spikes_out.shape[0] > 0
    for b in range(b0, b0 + samples):
        u[:] = 0.0
        s[:] = 0.0
        for t in range(steps):
            current[:] = 0.0
            _accumulate_rows(weight, in_index[t, b], in_count[:, t, b], c0, cw, current, merged)
            if has_bias:
                current += bias[c0:c0 + cw]
            row = noise_row(key, t, sample_offset + b) if firing_code else uint64(0)
            for block in range(first_block, last_block):
                lo = block * BLOCK - c0
                hi = min(lo + BLOCK, cw)
                j0 = c0 + lo
                spikes_row = spikes_out[t, b, j0:c0 + hi] if keep else spare[lo:hi]
                part_active[block, t, b] = _lif_block(u[lo:hi], s[lo:hi], current[lo:hi], beta, threshold, reset_code,
                                                      firing_code, tau, row, spikes_row, index_out[t, b, j0:c0 + hi],
                                                      j0, scratch, acc_sum[t, lo:hi], acc_sq[t, lo:hi])
    for block in range(first_block, last_block):
        lo = block * BLOCK - c0
        hi = min(lo + BLOCK, cw)
        _store_moments(acc_sum[:, lo:hi], acc_sq[:, lo:hi], block, b0, samples, part_sum, part_sumsq)


@njit(cache=True)
def hidden_items(n_in, nblocks, batch):
    """Number of work items of :func:`hidden_layer` (panels x groups of samples)."""
    per = panel_blocks(n_in, nblocks)
    return ((nblocks + per - 1) // per) * ((batch + GROUP - 1) // GROUP)


@njit(cache=True, parallel=True)
def hidden_layer(weight, bias, has_bias, in_index, in_count, beta, threshold, reset_code, firing_code, tau, key,
                 sample_offset, spikes_out, index_out, part_sum, part_sumsq, part_active):
    """LIF layer driven by binary inputs given as blocked active-index lists (in_index
    (T, B, n_in) int32, in_count (in_blocks, T, B) int32; see the module docstring), firing rule
    as in :func:`input_layer`.

    The current is accumulated row by row in increasing input index in float32, then the
    bias is added. Outputs as in :func:`input_layer`. Items are ordered panel-major so that
    consecutive items of a thread reuse the same weight panel.
    """
    for item in prange(hidden_items(weight.shape[0], part_sum.shape[0], in_count.shape[2])):
        _hidden_item(item, weight, bias, has_bias, in_index, in_count, beta, threshold, reset_code, firing_code, tau,
                     key, sample_offset, spikes_out, index_out, part_sum, part_sumsq, part_active)


@njit(cache=True)
def hidden_layer_serial(weight, bias, has_bias, in_index, in_count, beta, threshold, reset_code, firing_code, tau, key,
                        sample_offset, spikes_out, index_out, part_sum, part_sumsq, part_active):
    """:func:`hidden_layer` on one thread; same results."""
    for item in range(hidden_items(weight.shape[0], part_sum.shape[0], in_count.shape[2])):
        _hidden_item(item, weight, bias, has_bias, in_index, in_count, beta, threshold, reset_code, firing_code, tau,
                     key, sample_offset, spikes_out, index_out, part_sum, part_sumsq, part_active)


@njit(cache=True, parallel=True)
def dense_currents(weight, bias, has_bias, in_index, in_count, out):
    """I = s @ W (+ b) for binary inputs given as blocked active-index lists (the layout of
    :func:`hidden_layer`), written to ``out`` (T, B, n_out) float32: the currents the fused
    :func:`hidden_layer` computes, bit for bit (rows accumulated in increasing input index,
    then the bias), for a walker that puts something other than a neuron after the weights."""
    steps, batch, n_out = out.shape
    for item in prange(steps * batch):
        t, b = item // batch, item % batch
        row = out[t, b]
        row[:] = 0.0
        merged = np.empty(weight.shape[0], np.int32)
        _accumulate_rows(weight, in_index[t, b], in_count[:, t, b], 0, n_out, row, merged)
        if has_bias:
            for j in range(n_out):
                row[j] += bias[j]


@njit(cache=True, parallel=True)
def dense_values(values, weight, bias, has_bias, out):
    """I = x @ W (+ b) for real-valued inputs x (rows, n_in) float32 (a residual stream): per
    output row the non-zero inputs are added in increasing index order, x_i W[i] each, then the
    bias; deterministic and independent of any BLAS."""
    rows, n_in = values.shape
    n_out = weight.shape[1]
    for r in prange(rows):
        acc = np.zeros(n_out, np.float32)
        for i in range(n_in):
            x = values[r, i]
            if x != 0.0:
                for j in range(n_out):
                    acc[j] += x * weight[i, j]
        if has_bias:
            for j in range(n_out):
                acc[j] += bias[j]
        out[r, :] = acc

@njit(cache=True)
def gather_active(spikes, index_out, count_out):
    """Blocked active-index lists of given spikes (T, B, n) uint8 (input_is_spikes=True)."""
    steps, batch, width = spikes.shape
    for t in range(steps):
        for b in range(batch):
            for block in range(count_out.shape[0]):
                j0 = block * BLOCK
                count = 0
                for j in range(j0, min(j0 + BLOCK, width)):
                    index_out[t, b, j0 + count] = j
                    count += spikes[t, b, j] != 0
                count_out[block, t, b] = count


def layer_key(seed, layer) -> np.uint64:
    """uint64 key of layer ``layer`` (0 = input layer) for noise seed ``seed`` (an int >= 0):
    mix(mix(seed mod 2^64) ^ (layer + 1)), in Python integers (same value as the compiled mix64)."""
    return np.uint64(_mix_int(_mix_int(int(seed) & _MASK) ^ (int(layer) + 1)))


_MASK = (1 << 64) - 1


def _mix_int(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)
