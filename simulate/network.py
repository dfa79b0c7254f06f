"""``run_network``: forward pass of a deep feed-forward LIF network, with per-layer statistics.

Neuron model (docs/theory.md §1; the same as snnTorch ``Leaky`` with ``reset_delay=True``):

    I_0[t] = currents[t],   I_l[t] = s_{l-1}[t] @ W_l (+ b_l)
    subtract: u_l[t] = beta u_l[t-1] + I_l[t] - theta s_l[t-1]
    zero:     u_l[t] = beta (1 - s_l[t-1]) u_l[t-1] + I_l[t]
    none:     u_l[t] = beta u_l[t-1] + I_l[t]
    s_l[t] = 1 if u_l[t] > theta else 0 (strict),   u_l[0] = 0, s_l[0] = 0

Simulation in float32 (weights, currents, membranes; beta and theta are rounded to float32
before use, so a spike means float32(u) > float32(theta)); statistics accumulated in float64.
Memory: besides the weights, only two layers of spikes (uint8) and of active-index lists
(int32) are held at a time, 5 T B n bytes per layer, unless ``record_spikes=True``. Layers with
fewer than PARALLEL_WORK multiply-adds run on one thread; results are bit-identical either way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import snn_validation as validation
from theory.core.lif import RESETS, reset_code

import simulate.kernels as kernels

__all__ = ["NetworkResult", "run_network", "lif_statistics", "RESETS"]

# Below this many multiply-adds (T B n_in n_out) a layer runs on one thread: waking the thread
# pool costs more than it saves, badly so on a loaded machine.
PARALLEL_WORK = 1 << 22


@dataclass(frozen=True)
class NetworkResult:
    """Output of :func:`run_network` for L weight layers, T steps, batch B.

    rate      (L+1, T) float64  mean spike of layer l at step t over batch x neurons
    mem_mean  (L+1, T) float64  mean over batch x neurons of u_l[t] (the value compared with
                                theta, after the reset); with input_is_spikes row 0 is the
                                mean of the given input spikes (= rate[0])
    mem_var   (L+1, T) float64  population variance (divisor B n_l) of the same values
    active    (L+1, T, B) int32 number of spiking neurons of layer l at step t in sample b
                                (the spike count k_l of docs/theory.md §4)
    out_spikes (T, B, n_L) uint8  spikes of the last layer
    spikes    list of L+1 (T, B, n_l) uint8 arrays when record_spikes=True, else None
    """
    rate: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    active: np.ndarray
    out_spikes: np.ndarray
    spikes: list | None = None

    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return self.rate.shape[0] - 1



def _check_currents(currents, input_is_spikes):
    currents = validation.float32_array(currents, "currents")
    if currents.ndim != 3 or min(currents.shape) < 1:
        raise ValueError(f"currents must have shape (T, B, n_0) with T, B, n_0 >= 1, got shape {currents.shape}")
    if input_is_spikes and not np.all((currents == 0) | (currents == 1)):
        raise ValueError("currents must contain only 0 and 1 when input_is_spikes=True")
    return currents


def _check_weights(weights, width):
    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
        raise ValueError("weights must be a list of (fan_in, fan_out) arrays")
    checked = []
    for index, weight in enumerate(weights):
        weight = validation.float32_array(weight, f"weights[{index}]")
        if weight.ndim != 2 or min(weight.shape) < 1:
            raise ValueError(f"weights[{index}] must be a 2-d (fan_in, fan_out) array, got shape {weight.shape}")
        if weight.shape[0] != width:
            source = "currents width n_0" if index == 0 else f"weights[{index - 1}] fan_out"
            raise ValueError(f"weights[{index}] has fan_in {weight.shape[0]} but {source} is {width}: "
                             "consecutive shapes must chain")
        width = weight.shape[1]
        checked.append(weight)
    return checked


def _check_biases(biases, weights):
    if biases is None:
        return [None] * len(weights)
    if not isinstance(biases, (list, tuple)) or len(biases) != len(weights):
        raise ValueError(f"biases must be None or a list of {len(weights)} arrays (one per weight layer)")
    checked = []
    for index, (bias, weight) in enumerate(zip(biases, weights)):
        if bias is None:
            checked.append(None)
            continue
        bias = validation.float32_array(bias, f"biases[{index}]")
        if bias.shape != (weight.shape[1],):
            raise ValueError(f"biases[{index}] must have shape ({weight.shape[1]},), got {bias.shape}")
        checked.append(bias)
    return checked


def _reduce(part_sum, part_sumsq, part_active, width, rate_row, mean_row, var_row, active_row):
    """Per-step statistics from per-(block, step, sample) partials; fixed summation order."""
    count = part_active.sum(axis=0, dtype=np.int64)                     # (T, B)
    per_sample_sum = part_sum.sum(axis=0)
    per_sample_sumsq = part_sumsq.sum(axis=0)
    n_values = width * part_sum.shape[2]
    mean = per_sample_sum.sum(axis=1) / n_values
    mean_sq = per_sample_sumsq.sum(axis=1) / n_values
    active_row[...] = count
    rate_row[...] = count.sum(axis=1) / n_values
    mean_row[...] = mean
    # E[u^2] - E[u]^2 in float64: relative error ~1e-16 * mean^2 / var, negligible here.
    var_row[...] = np.maximum(mean_sq - mean * mean, 0.0)


def run_network(weights, currents, *, beta, threshold, reset="subtract", biases=None,
                input_is_spikes=False, record_spikes=False, firing="deterministic", escape_noise=None,
                noise_seed=0, sample_offset=0) -> NetworkResult:
    """Simulate a feed-forward stack of LIF layers for T steps (float32; see module docstring).

    Parameters
    ----------
    weights : list of (fan_in, fan_out) float32 arrays, W_l maps layer l-1 spikes to layer l
        currents (weights[0].shape[0] == n_0, consecutive shapes chain). May be empty.
    currents : (T, B, n_0) array, the input current of layer 0 at each step, or its spikes
        (values 0/1) with ``input_is_spikes=True``.
    beta : leak factor in [0, 1].   threshold : finite threshold theta.
    reset : "subtract" (default), "zero" or "none".
    biases : None or a list (one per weight layer) of None or (fan_out,) arrays.
    input_is_spikes : take ``currents`` as layer-0 spikes; rate[0] is their rate and
        mem_mean/mem_var row 0 are the mean/variance of the given values.
    record_spikes : keep every layer's spikes in ``result.spikes`` (memory T B sum n_l bytes).
    firing : "deterministic" (default, s = [u > theta]) or "escape": stochastic firing with
        P(s[t] = 1 | u[t]) = Phi((u[t] - theta) / escape_noise) (docs/theory.md §9 "Stochastic firing"), every
        LIF layer including the input layer (not given input spikes). The uniforms come from a
        counter-based stream keyed by (noise_seed, layer, step, sample_offset + b, neuron)
        (simulate.kernels), so the same seed gives the same spikes on any number of threads
        and for any split of a batch into calls (pass each part's ``sample_offset``).
    escape_noise : tau > 0, the escape noise level (required for firing="escape").
    noise_seed : integer >= 0.   sample_offset : integer >= 0, the global index of sample 0.

    Returns :class:`NetworkResult`. Deterministic: the same input gives bit-identical output
    whatever the number of threads or their scheduling. Raises ValueError naming the
    argument on bad input.
    """
    beta = float(validation.unit_interval(beta, "beta"))
    threshold = float(validation.finite(threshold, "threshold"))
    if abs(threshold) > float(np.finfo(np.float32).max):   # the simulation compares in float32
        raise ValueError(f"threshold must be finite in float32 (|threshold| <= {float(np.finfo(np.float32).max):.4g}), "
                         f"got {threshold!r}")
    validation.choice(reset, "reset", RESETS)
    escape = _check_firing(firing, escape_noise, noise_seed, sample_offset)
    noise_seed, sample_offset = int(noise_seed), int(sample_offset)
    currents = _check_currents(currents, bool(input_is_spikes))
    steps, batch, width = currents.shape
    weights = _check_weights(weights, width)
    biases = _check_biases(biases, weights)

    depth = len(weights)
    beta32, threshold32, code = np.float32(beta), np.float32(threshold), reset_code(reset)
    rate = np.empty((depth + 1, steps))
    mem_mean = np.empty((depth + 1, steps))
    mem_var = np.empty((depth + 1, steps))
    active = np.empty((depth + 1, steps, batch), np.int32)
    recorded = [] if record_spikes else None

    if input_is_spikes:
        spikes = currents.astype(np.uint8)
        values = currents.reshape(steps, -1).astype(np.float64)
        active[0] = spikes.sum(axis=2, dtype=np.int64)
        rate[0] = values.mean(axis=1)
        mem_mean[0] = rate[0]
        mem_var[0] = values.var(axis=1)
        index = np.empty((steps, batch, width), np.int32)
        count = np.empty((_blocks(width), steps, batch), np.int32)
        kernels.gather_active(spikes, index, count)
    else:
        spikes, index, count = _lif_layer(currents, beta32, threshold32, code, escape_noise if escape else None,
                                          kernels.layer_key(noise_seed, 0), sample_offset,
                                          (rate[0], mem_mean[0], mem_var[0], active[0]))

    no_bias = np.zeros(0, np.float32)
    for layer, (weight, bias) in enumerate(zip(weights, biases), start=1):
        if record_spikes:
            recorded.append(spikes)
        fan_in, fan_out = weight.shape
        # the spikes themselves only where they are returned: the next layer reads the lists
        kept = record_spikes or layer == depth
        spikes = np.empty((steps if kept else 0, batch, fan_out), np.uint8)
        next_index = np.empty((steps, batch, fan_out), np.int32)
        parts = _partials(fan_out, steps, batch)
        big = steps * batch * fan_in * fan_out >= PARALLEL_WORK
        hidden_layer = kernels.hidden_layer if big else kernels.hidden_layer_serial
        hidden_layer(weight, no_bias if bias is None else bias, bias is not None, index, count, beta32, threshold32,
                     code, *_firing(escape_noise if escape else None, noise_seed, layer), sample_offset, spikes,
                     next_index, *parts)
        _reduce(*parts, fan_out, rate[layer], mem_mean[layer], mem_var[layer], active[layer])
        index, count = next_index, parts[2]
    if record_spikes:
        recorded.append(spikes)
    return NetworkResult(rate=rate, mem_mean=mem_mean, mem_var=mem_var, active=active,
                         out_spikes=spikes, spikes=recorded)


def _lif_layer(currents, beta32, threshold32, code, tau, key, sample_offset, rows):
    """A LIF layer driven by dense float32 currents (T, B, n): spikes, blocked active-index lists
    and their counts; its rate, membrane mean and variance and spike counts written into ``rows``
    (deterministic firing, or escape firing with noise ``tau`` and layer ``key``)."""
    steps, batch, width = currents.shape
    spikes = np.empty((steps, batch, width), np.uint8)
    index = np.empty((steps, batch, width), np.int32)
    parts = _partials(width, steps, batch)
    big = steps * batch * width * 64 >= PARALLEL_WORK
    run = kernels.input_layer if big else kernels.input_layer_serial
    run(currents, beta32, threshold32, code, 0 if tau is None else 1, np.float32(0.0 if tau is None else tau), key,
        sample_offset, spikes, index, *parts)
    _reduce(*parts, width, *rows)
    return spikes, index, parts[2]


def _firing(tau, noise_seed, layer):
    """(firing code, tau, layer key) of the kernels: 0 deterministic; 1 escape noise ``tau``."""
    if tau is None:
        return 0, np.float32(0.0), np.uint64(0)
    return 1, np.float32(tau), kernels.layer_key(noise_seed, layer)


def lif_statistics(currents, neuron, noise_seed=0, layer=0, sample_offset=0):
    """A LIF layer (a theory.LIF value: threshold, beta, reset, firing) on dense float32 currents
    (T, B, n), the input layer's kernel of :func:`run_network`: (spikes uint8, blocked index lists,
    counts, (rate (T,), mem_mean (T,), mem_var (T,), active (T, B))). Escape firing draws its
    spikes from the stream keyed by (noise_seed, layer)."""
    steps, batch, _ = currents.shape
    stats = (np.empty(steps), np.empty(steps), np.empty(steps), np.empty((steps, batch), np.int32))
    tau = getattr(neuron.firing, "tau", None)
    spikes, index, count = _lif_layer(currents, np.float32(neuron.beta), np.float32(neuron.threshold),
                                      reset_code(neuron.reset), tau, kernels.layer_key(noise_seed, layer),
                                      sample_offset, stats)
    return spikes, index, count, stats


FIRINGS = ("deterministic", "escape")


def _check_firing(firing, escape_noise, noise_seed, sample_offset) -> bool:
    """True for escape-noise firing; ValueError naming the argument otherwise out of range."""
    validation.choice(firing, "firing", FIRINGS)
    validation.non_negative_int(noise_seed, "noise_seed")
    validation.non_negative_int(sample_offset, "sample_offset")
    if firing == "deterministic":
        if escape_noise is not None:
            raise ValueError("escape_noise must be None with firing='deterministic' (it applies to firing='escape')")
        return False
    if escape_noise is None:
        raise ValueError("escape_noise must be given (a float tau > 0) with firing='escape'")
    tau = float(validation.positive(escape_noise, "escape_noise"))
    if not np.isfinite(tau) or np.float32(tau) <= 0 or not np.isfinite(np.float32(tau)):
        raise ValueError(f"escape_noise must be finite and > 0 in float32, got {escape_noise!r}")
    return True


def _blocks(width):
    return (width + kernels.BLOCK - 1) // kernels.BLOCK


def _partials(width, steps, batch):
    nblocks = _blocks(width)
    return (np.empty((nblocks, steps, batch)), np.empty((nblocks, steps, batch)),
            np.empty((nblocks, steps, batch), np.int32))
