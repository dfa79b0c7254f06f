"""Exact finite-width temporal theory: the spike-train Gram chain (docs/theory.md §4 and §5).

Layer l has n_l LIF neurons and weights W_l ~ N(0, sigma_l^2) i.i.d., fixed over the T steps
and independent of everything below. Write S_{l-1} for the (n_{l-1} x T) 0/1 spike matrix of
layer l-1 on one input. Neuron j of layer l receives I_j[t] = sum_i W_l[i, j] S_{l-1}[i, t]
(+ b_j), so, given S_{l-1}, the n_l current paths I_j[1..T] are i.i.d. Gaussian processes with

    Cov(I_j[t], I_j[t']) = sigma_l^2 G_{l-1}[t, t'] + bias_var,    G_{l-1} = S_{l-1}^T S_{l-1},

the T x T Gram matrix of the layer's spike trains (G[t, t'] = number of neurons spiking at both
t and t'). Each path drives the LIF dynamics of theory/meanfield/temporal.py, so G_l is a sum of n_l i.i.d.
outer products s_j s_j^T, and (G_l) is a Markov chain over depth whose transition needs only
n_l Gaussian paths of length T: O(n_l T^2) work per layer instead of the network's O(n_{l-1} n_l T).
No large-width or Gaussian-membrane assumption enters, so for Gaussian weights the chain is
*exact in distribution* for any widths, depth, beta, reset and threshold: the per-layer,
per-step rates k_l[t] / n_l of one input have the same law as in ``simulate.run_network``
(tests/theory/test_temporal_chain.py checks this against the simulator and, at T = 1, against
the exact spike-count chain of :mod:`theory.chains.spike_count`). As n -> inf, G_l / n_l -> M_l and
the chain concentrates on the temporal mean-field (:func:`theory.propagate_temporal`).

Why it matters: where the temporal mean-field's depth fixed point has a marginal mode (the
firing/silence alternation at beta = 0 with subtract reset; a step drifting through a
saddle-node ghost at beta = 0.9), the O(1/sqrt(n)) fluctuations of G push the rate off the
infinite-width prediction; the chain predicts that shift (tests/simulate/test_temporal_sim.py
checks it against simulated networks), and :func:`theory.optimal_sigma_temporal` solves for
the gain on the chain of the layer width.

Computation: one layer of one chain is a compiled loop (Numba, ``cache=True``) over the n_l
neurons: draw z ~ N(0, I_T), form I = L z with L the lower-triangular factor of the
covariance above (:func:`theory.meanfield.temporal.psd_factor`), run the LIF update, and add the
neuron's spike counts and spike-pair counts to k_l and G_l (G_l[t, t'] += s[t] s[t']). The
normals are drawn in the order (chain, neuron, step) within a layer, as NumPy's
``standard_normal((chains, n_l, T))`` would, so the samples do not depend on the kernel.

Float64. Randomness: one ``numpy.random.Generator`` seeded with ``seed`` draws the input layer
and then, layer by layer, the standard normals of every path (reproducible; independent of
threads). Not exact for non-Gaussian weights (a sum of uniforms is only approximately Gaussian).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

import snn_validation as validation
from theory.core.lif import membrane_compiled
from theory.meanfield.temporal import RESETS, leak_reset, check_dynamics, input_layer

__all__ = ["TemporalChain", "temporal_chain", "lif_spikes"]


@dataclass(frozen=True)
class TemporalChain:
    """Samples of the exact finite-width chain; index 0 of the layer axis is the input layer.

    rate: (chains, depth + 1, T) float64, k_l[t] / n_l for each independent chain (one chain =
    one network draw on one input). Summaries over chains are properties.
    """
    widths: np.ndarray
    sigma_w: np.ndarray
    threshold: float
    beta: float
    reset: str
    rate: np.ndarray = field(repr=False)

    @property
    def chains(self) -> int:
        return self.rate.shape[0]

    @property
    def rate_mean(self) -> np.ndarray:
        """E[k_l[t] / n_l], shape (depth + 1, T)."""
        return self.rate.mean(axis=0)

    @property
    def rate_se(self) -> np.ndarray:
        """Standard error of :attr:`rate_mean` over the independent chains."""
        return self.rate.std(axis=0, ddof=1) / np.sqrt(self.chains) if self.chains > 1 else np.zeros_like(self.rate_mean)

    @property
    def time_averaged_rate(self) -> np.ndarray:
        """(1/T) sum_t k_l[t] / n_l per chain and layer, shape (chains, depth + 1)."""
        return self.rate.mean(axis=2)

    @property
    def silent(self) -> np.ndarray:
        """Fraction of chains in which layer l emits no spike at any step, shape (depth + 1,)."""
        return np.mean(np.all(self.rate == 0.0, axis=2), axis=0)


def _dynamics(threshold, beta, reset):
    """check_dynamics, with an array where one threshold or beta belongs refused by name."""
    validation.scalar(threshold, "threshold", validation.finite)
    validation.scalar(beta, "beta", validation.unit_interval)
    return check_dynamics(threshold, beta, reset)


def lif_spikes(currents, threshold, beta, reset) -> np.ndarray:
    """0/1 spikes (float64, same shape) of LIF neurons driven by ``currents`` (..., T), from
    rest u[0] = s[0] = 0 (docs/theory.md §1, snnTorch reset_delay=True):

        subtract: u[t] = beta u[t-1] + I[t] - theta s[t-1]
        zero:     u[t] = beta (1 - s[t-1]) u[t-1] + I[t]
        none:     u[t] = beta u[t-1] + I[t],            s[t] = [u[t] > theta]
    """
    threshold, beta, reset = _dynamics(threshold, beta, reset)
    currents = validation.finite(currents, "currents")
    if currents.ndim < 1 or currents.shape[-1] < 1:
        raise ValueError(f"currents must be an array (..., T) with T >= 1 steps, got shape {currents.shape}")
    u = np.zeros(currents.shape[:-1])
    s = np.zeros_like(u)
    spikes = np.empty_like(currents)
    for t in range(currents.shape[-1]):
        u = leak_reset(u, s, threshold, beta, reset) + currents[..., t]
        s = (u > threshold).astype(np.float64)
        spikes[..., t] = s
    return spikes


def _input_spikes(rng, chains, n0, T, threshold, beta, reset, encoding, input_std, input_rate):
    kind, first, _ = input_layer(T, encoding, input_std, 0.0, input_rate)
    if kind == "spikes":
        return (rng.random((chains, n0, T)) < first).astype(np.float64)
    if encoding == "static":
        currents = np.repeat(input_std * rng.standard_normal((chains, n0, 1)), T, axis=2)
    else:
        currents = input_std * rng.standard_normal((chains, n0, T))
    return lif_spikes(currents, threshold, beta, reset)


def gram_matrices(spikes):
    # G[c] = S[c]^T S[c]: batched BLAS product (exact: 0/1 sums below 2^53)
    return np.matmul(spikes.transpose(0, 2, 1), spikes)


def temporal_chain(depth, width, T, sigma_w, threshold=1.0, beta=0.0, reset="subtract",
                   encoding="gaussian", input_std=1.0, input_rate=None, bias_var=0.0,
                   chains=64, seed=0) -> TemporalChain:
    """Sample ``chains`` independent runs of the exact finite-width Gram chain (module docstring):

        S_0 from the encoding (as in simulate.monte_carlo: i.i.d. N(0, input_std^2) currents per
        step, one static N(0, input_std^2) current repeated, or Bernoulli(input_rate) spikes);
        for l = 1..depth:  I_j ~ N(0, sigma_l^2 S_{l-1}^T S_{l-1} + bias_var) i.i.d., j = 1..n_l,
                           S_l[j] = LIF(I_j)

    width: an integer (every layer, input included) or depth + 1 integers; sigma_w: a scalar or
    ``depth`` values. Cost ~ chains x sum_l n_l x T^2 (benchmarks/RESULTS.md). Float64; returns
    :class:`TemporalChain`.
    """
    depth = validation.non_negative_int(depth, "depth")
    T = validation.time_steps(T)
    threshold, beta, reset = _dynamics(threshold, beta, reset)
    widths = validation.layer_widths(width, depth)
    sigmas = validation.per_layer(sigma_w, depth, "sigma_w", validation.non_negative)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    input_std = validation.scalar(input_std, "input_std", validation.non_negative)
    chains = int(validation.scalar(chains, "chains", validation.positive_int))
    validation.check_memory(8 * chains * T * ((depth + 1) + 3 * int(widths[0]) + 2 * T),
                            f"chains={chains} x T={T} x (depth={depth} + 3 x width={int(widths[0])} + 2 T)")
    rng = np.random.default_rng(seed if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence))
                                else validation.non_negative_int(seed, "seed"))

    rate = np.empty((chains, depth + 1, T))
    spikes = _input_spikes(rng, chains, int(widths[0]), T, threshold, beta, reset, encoding, input_std, input_rate)
    rate[:, 0] = spikes.mean(axis=1)
    gram, new_gram = gram_matrices(spikes), np.empty((chains, T, T))
    counts = np.empty((chains, T))
    code = RESETS.index(reset)
    for layer in range(1, depth + 1):
        chain_layer(rng, gram, sigmas[layer - 1] ** 2, bias_var, int(widths[layer]), threshold, beta, code,
                     counts, new_gram)
        rate[:, layer] = counts / widths[layer]
        gram, new_gram = new_gram, gram
    return TemporalChain(widths, sigmas, threshold, beta, reset, rate)


@njit(cache=True)
def _psd_factor_into(cov, factor):
    # theory.meanfield.temporal.psd_factor compiled: Cholesky with zero pivots allowed (singular Gram
    # matrices of silent steps or static input); writes the lower-triangular factor
    steps = cov.shape[0]
    largest = 0.0
    for j in range(steps):
        largest = max(largest, cov[j, j])
    tolerance = 1e-12 * largest
    factor[:, :] = 0.0
    for j in range(steps):
        pivot = cov[j, j]
        for k in range(j):
            pivot -= factor[j, k] * factor[j, k]
        if pivot > tolerance:
            root = np.sqrt(pivot)
            factor[j, j] = root
            for i in range(j + 1, steps):
                acc = cov[i, j]
                for k in range(j):
                    acc -= factor[i, k] * factor[j, k]
                factor[i, j] = acc / root


@njit(cache=True)
def _lif_paths(rng, factor, width, threshold, beta, code, counts, gram, blocks=1):
    # width paths I = L z, z ~ N(0, I) drawn in (neuron, step) order; LIF from rest with the
    # update of lif_spikes (code: index in RESETS); adds spike counts per step to counts and
    # spike-pair counts to gram. blocks > 1 (theory.chains.pair_chain): the path is `blocks` inputs'
    # currents of equal length one after the other (jointly Gaussian, the same neuron), and the
    # neuron restarts from rest at the start of each block.
    steps = factor.shape[0]
    length = steps // blocks
    z = np.empty(steps)
    fired = np.empty(steps, np.int64)
    for _ in range(width):
        for t in range(steps):
            z[t] = rng.standard_normal()
        n_fired = 0
        for block in range(blocks):
            u = 0.0
            s = 0.0
            for t in range(block * length, (block + 1) * length):
                current = 0.0
                for k in range(t + 1):
                    current += factor[t, k] * z[k]
                u = membrane_compiled(u, s, 0.0, beta, threshold, code) + current   # as lif_spikes: leak/reset, then I
                if u > threshold:
                    s = 1.0
                    fired[n_fired] = t
                    n_fired += 1
                else:
                    s = 0.0
        for p in range(n_fired):
            counts[fired[p]] += 1.0
            for q in range(n_fired):
                gram[fired[p], fired[q]] += 1.0


@njit(cache=True)
def chain_layer(rng, gram, variance, bias_var, width, threshold, beta, code, counts, new_gram, blocks=1):
    # one layer of every chain: cov = variance G + bias_var, factor, paths; (counts, new_gram)
    # are overwritten with the layer's spike counts (chains, T) and Gram matrices (chains, T, T)
    chains, steps = counts.shape
    cov = np.empty((steps, steps))
    factor = np.empty((steps, steps))
    for c in range(chains):
        for a in range(steps):
            for b in range(steps):
                cov[a, b] = variance * gram[c, a, b] + bias_var
        _psd_factor_into(cov, factor)
        counts[c, :] = 0.0
        new_gram[c, :, :] = 0.0
        _lif_paths(rng, factor, width, threshold, beta, code, counts[c], new_gram[c], blocks)


@njit(cache=True)
def _run_to_depth(rng, input_rate, depth, width, variance, bias_var, threshold, beta, code, steps):
    # one chain of a uniform stack (every layer `width` neurons, weight variance `variance`)
    # from Bernoulli(input_rate) input spikes: (1/T) sum_t k_depth[t] / width. A silent layer
    # stays silent when nothing drives it (no bias, threshold >= 0): the chain stops there.
    gram = np.zeros((steps, steps))
    new_gram = np.empty((steps, steps))
    counts = np.empty(steps)
    cov = np.empty((steps, steps))
    factor = np.empty((steps, steps))
    fired = np.empty(steps, np.int64)
    for _ in range(width):
        n_fired = 0
        for t in range(steps):
            if rng.random() < input_rate:
                fired[n_fired] = t
                n_fired += 1
        for p in range(n_fired):
            for q in range(n_fired):
                gram[fired[p], fired[q]] += 1.0
    absorbing = bias_var == 0.0 and threshold >= 0.0
    for _ in range(depth):
        if absorbing and gram.sum() == 0.0:
            return 0.0
        for a in range(steps):
            for b in range(steps):
                cov[a, b] = variance * gram[a, b] + bias_var
        _psd_factor_into(cov, factor)
        counts[:] = 0.0
        new_gram[:, :] = 0.0
        _lif_paths(rng, factor, width, threshold, beta, code, counts, new_gram)
        gram, new_gram = new_gram, gram
    return counts.sum() / (width * steps)


def rates_at_depth(gain, depth, width, T, threshold, beta, reset, input_rate, chains, seed, bias_var=0.0):
    """Time-averaged rate at layer ``depth`` of ``chains`` independent runs of the chain for a
    uniform stack (width ``width`` everywhere, sigma_w^2 = gain / width) from i.i.d.
    Bernoulli(input_rate) spikes, float64 array (chains,): (1/T) sum_t k_depth[t] / width.

    Same law as :func:`temporal_chain` (``encoding="bernoulli"``), but run c draws from its own
    stream ``SeedSequence(seed).spawn(chains)[c]``: runs 0..c-1 are the same for any ``chains``
    >= c and for every gain (common random numbers for a root search that adds runs as it goes).
    No validation (private use by theory.inits.temporal)."""
    code = RESETS.index(reset)
    streams = np.random.SeedSequence(seed).spawn(chains)
    return np.array([_run_to_depth(np.random.default_rng(stream), input_rate, depth, width, gain / width, bias_var,
                                    threshold, beta, code, T) for stream in streams])
