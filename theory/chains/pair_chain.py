"""Exact finite-width pair chain: the joint spike-train Gram chain of TWO inputs through the same
network (the finite-width twin of theory.meanfield.pair; docs/theory.md §9).

Inputs a and b pass through the same weights. Stack their spike matrices side by side,
S_{l-1} = [S^a_{l-1}, S^b_{l-1}] (n_{l-1} x 2T). Neuron j of layer l receives, on input a at
step t, I^a_j[t] = sum_i W_l[i, j] S^a_{l-1}[i, t] (+ b_j), and on input b the same sum over
S^b. Given S_{l-1} the n_l joint paths (I^a_j[1..T], I^b_j[1..T]) are i.i.d. Gaussian with

    Cov = sigma_l^2 G_{l-1} + bias_var,    G_{l-1} = S_{l-1}^T S_{l-1}   (2T x 2T),

and each half drives the LIF dynamics from rest (theory.core.lif), so the joint Gram matrix G_l is a
Markov chain over depth, exactly as theory.chains.gram for one input, with paths of length 2T
(the kernel restarts the neuron at the start of each input's block). No large-width assumption:
for Gaussian weights the chain has the law of the simulated network's per-layer statistics of
the pair (tests/simulate/test_pair_chain_sim.py), and as n -> inf G_l / n_l concentrates on the
pair mean field (theory.meanfield.pair.propagate_pair).

Per layer it gives the across-neuron Pearson correlation of the two inputs' spike counts,

    c_l = (sum_j N^a_j N^b_j / n - mean N^a mean N^b) / sqrt(var N^a var N^b),
    N^x_j = sum_t S^x_l[j, t],

computed from G_l and the per-step spike counts alone (NaN where an input's layer is silent
or all its neurons fire the same count), and the per-input rates.

Input layer (layer 0): n_0 neurons; "gaussian": per neuron and step, currents (x_a, x_b) with
x_b = c0 x_a + sqrt(1 - c0^2) x', x, x' i.i.d. N(0, input_std^2); "static": one such pair per
neuron repeated at every step; "bernoulli": input a spikes i.i.d. Bernoulli(input_rate), input
b copies a's spike with probability c0 and is a fresh Bernoulli draw otherwise (the pair law of
theory.meanfield.pair.pair_input).

Float64. Randomness: one numpy Generator seeded with ``seed`` (reproducible, thread-independent).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

import snn_validation as validation
from theory.meanfield.pair import ENCODINGS
from theory.meanfield.temporal import RESETS, check_dynamics, input_layer
from theory.chains.gram import chain_layer, gram_matrices, lif_spikes

__all__ = ["PairChain", "pair_chain", "correlation_decay", "efold_depth"]


@dataclass(frozen=True)
class PairChain:
    """Samples of the exact pair chain; index 0 of the layer axis is the input layer.

    rate: (chains, depth + 1, 2, T) float64, k^x_l[t] / n_l for input x = a, b;
    count_correlation: (chains, depth + 1) float64, c_l of the module docstring (NaN if undefined).
    """
    widths: np.ndarray
    sigma_w: np.ndarray
    threshold: float
    beta: float
    reset: str
    rate: np.ndarray = field(repr=False)
    count_correlation: np.ndarray = field(repr=False)

    @property
    def chains(self) -> int:
        return self.rate.shape[0]

    @property
    def correlation_mean(self) -> np.ndarray:
        """Mean of c_l over the chains where it is defined, (depth + 1,); NaN if none."""
        with np.errstate(invalid="ignore"):
            return np.array([np.mean(v[np.isfinite(v)]) if np.isfinite(v).any() else np.nan
                             for v in self.count_correlation.T])

    @property
    def correlation_se(self) -> np.ndarray:
        """Standard error of :attr:`correlation_mean` over the chains where c_l is defined."""
        out = np.full(self.count_correlation.shape[1], np.nan)
        for l, v in enumerate(self.count_correlation.T):
            v = v[np.isfinite(v)]
            if len(v) > 1:
                out[l] = v.std(ddof=1) / np.sqrt(len(v))
        return out


def _count_correlation(gram, counts, width, T):
    """Across-neuron Pearson correlation of the two inputs' spike counts, from the joint Gram
    matrix (chains, 2T, 2T) and the per-step counts (chains, 2T)."""
    mean_a = counts[:, :T].sum(1) / width
    mean_b = counts[:, T:].sum(1) / width
    second_aa = gram[:, :T, :T].sum((1, 2)) / width
    second_bb = gram[:, T:, T:].sum((1, 2)) / width
    second_ab = gram[:, :T, T:].sum((1, 2)) / width
    var_a, var_b = second_aa - mean_a ** 2, second_bb - mean_b ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (second_ab - mean_a * mean_b) / np.sqrt(var_a * var_b)
    # an exactly zero variance (silent input, or every neuron with the same count) leaves c undefined
    return np.where((var_a > 1e-12 * np.maximum(second_aa, 1.0)) & (var_b > 1e-12 * np.maximum(second_bb, 1.0)),
                    value, np.nan)


def _input_pair(rng, chains, n0, T, threshold, beta, reset, encoding, c0, input_std, input_rate):
    kind, first, _ = input_layer(T, encoding, input_std, 0.0, input_rate)
    if kind == "spikes":
        a = rng.random((chains, n0, T)) < first
        fresh = rng.random((chains, n0, T)) < first
        copy = rng.random((chains, n0, T)) < c0
        return np.concatenate([a, np.where(copy, a, fresh)], axis=2).astype(np.float64)
    steps = 1 if encoding == "static" else T
    x = input_std * rng.standard_normal((chains, n0, steps))
    y = input_std * rng.standard_normal((chains, n0, steps))
    currents = np.concatenate([x, c0 * x + np.sqrt(1.0 - c0 * c0) * y], axis=2)
    if encoding == "static":
        currents = np.repeat(currents, T, axis=2)
    spikes_a = lif_spikes(currents[..., :T], threshold, beta, reset)
    spikes_b = lif_spikes(currents[..., T:], threshold, beta, reset)
    return np.concatenate([spikes_a, spikes_b], axis=2)


def pair_chain(depth, width, T, sigma_w, threshold=1.0, beta=0.0, reset="subtract", encoding="gaussian",
               input_correlation=0.0, input_std=1.0, input_rate=None, bias_var=0.0, chains=64,
               seed=0) -> PairChain:
    """Sample ``chains`` independent runs of the exact pair chain (module docstring):

        S_0 = [S^a_0, S^b_0] from the encoding with input correlation c0;
        for l = 1..depth:  (I^a_j, I^b_j) ~ N(0, sigma_l^2 S_{l-1}^T S_{l-1} + bias_var) i.i.d.,
                           S^x_l[j] = LIF(I^x_j) from rest, x = a, b.

    width: an integer (every layer, input included) or depth + 1 integers; sigma_w: a scalar or
    ``depth`` values; input_correlation c0 in [-1, 1] for current encodings, [0, 1] for
    "bernoulli". Cost ~ chains x sum_l n_l x (2T)^2. Float64; returns :class:`PairChain`.
    """
    depth = validation.non_negative_int(depth, "depth")
    T = validation.time_steps(T)
    validation.scalar(threshold, "threshold", validation.finite)
    validation.scalar(beta, "beta", validation.unit_interval)
    threshold, beta, reset = check_dynamics(threshold, beta, reset)
    validation.choice(encoding, "encoding", ENCODINGS)
    widths = validation.layer_widths(width, depth)
    sigmas = validation.per_layer(sigma_w, depth, "sigma_w", validation.non_negative)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    input_std = validation.scalar(input_std, "input_std", validation.non_negative)
    c0 = validation.scalar(input_correlation, "input_correlation", validation.finite)
    low = 0.0 if encoding == "bernoulli" else -1.0
    if not low <= c0 <= 1.0:
        raise ValueError(f"input_correlation must lie in [{low:g}, 1] for encoding={encoding!r}, got {input_correlation!r}")
    chains = int(validation.scalar(chains, "chains", validation.positive_int))
    validation.check_memory(16 * chains * T * ((depth + 1) + 4 * int(widths[0]) + 4 * T),
                            f"chains={chains} x 2 T={2 * T} x (depth={depth} + 4 x width={int(widths[0])} + 4 T)")
    rng = np.random.default_rng(validation.non_negative_int(seed, "seed"))

    rate = np.empty((chains, depth + 1, 2, T))
    correlation = np.empty((chains, depth + 1))
    spikes = _input_pair(rng, chains, int(widths[0]), T, threshold, beta, reset, encoding, c0, input_std, input_rate)
    counts = spikes.sum(axis=1)
    gram, new_gram = gram_matrices(spikes), np.empty((chains, 2 * T, 2 * T))
    code = RESETS.index(reset)
    for layer in range(depth + 1):
        if layer:
            chain_layer(rng, gram, sigmas[layer - 1] ** 2, bias_var, int(widths[layer]), threshold, beta, code,
                         counts, new_gram, 2)
            gram, new_gram = new_gram, gram
        rate[:, layer] = counts.reshape(chains, 2, T) / widths[layer]
        correlation[:, layer] = _count_correlation(gram, counts, widths[layer], T)
    return PairChain(widths, sigmas, threshold, beta, reset, rate, correlation)


def efold_depth(gap) -> float:
    """The first e-folding depth of a decaying gap: the number of layers after layer 1 at which
    gap[l] falls to gap[1] / e, by linear interpolation of log gap between the two layers that
    bracket it (float64). inf if the gap stays above gap[1] / e at every given layer; NaN if
    gap[1] is not positive and finite or the gap becomes undefined (NaN: a silent layer) before
    it crosses. No fit window: the scale is read where the data cross a
    fixed level, so it does not move with how many layers were computed (beyond the crossing)."""
    gap = np.asarray(gap, dtype=np.float64)
    if gap.ndim != 1 or gap.size < 2 or not np.isfinite(gap[1]) or gap[1] <= 0.0:
        return float("nan")
    level = np.log(gap[1]) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(gap)
    for l in range(2, gap.size):
        if np.isnan(gap[l]):                      # undefined (a silent layer): no crossing to read
            return float("nan")
        if logs[l] <= level:                      # a gap of exactly 0 crosses at once
            if not np.isfinite(logs[l]):
                return float(l - 1)
            return float(l - 2 + (logs[l - 1] - level) / (logs[l - 1] - logs[l]))
    return float("inf")


def correlation_decay(depth, width, T, sigma_w, starts=(0.2, 0.9), **kwargs) -> dict:
    """Finite-width correlation depth scale from two starts: run :func:`pair_chain` from input
    correlations c0 = starts[0] and starts[1] (same seed), and fit

        |E[c_l | c0 = s1] - E[c_l | c0 = s0]|  ~  A exp(-l / xi)

    by weighted least squares on log gap (weights gap / se, i.e. 1 / se of log gap to first
    order) over the layers 1..depth where the gap exceeds three standard errors (the two means'
    se added in quadrature). Returns {"xi", "xi_se", "gap", "gap_se", "layers"}: xi in weight
    layers (inf if the gap does not shrink, NaN if fewer than two layers qualify), its standard
    error from the fit's covariance (delta method; NaN with two layers), the gap per layer and
    its se, and the layers used. At infinite width the same fit on
    theory.meanfield.pair.propagate_pair gives the mean-field xi_c when the map is near its fixed point.

    The fit's xi moves with its window (the layers computed: the decay is not one exponential
    over the first layers). "xi_efold" is the window-free scale, :func:`efold_depth` of the mean
    gap (the layers for the gap to fall e-fold from layer 1), with "xi_efold_se" from a bootstrap
    over the chains.
    """
    starts_ = validation.finite(starts, "starts")
    low = 0.0 if kwargs.get("encoding") == "bernoulli" else -1.0
    if starts_.shape != (2,) or np.any(starts_ < low) or np.any(starts_ > 1.0):
        raise ValueError(f"starts must be two input correlations in [{low:g}, 1], got {starts!r}")
    runs = [pair_chain(depth, width, T, sigma_w, input_correlation=s, **kwargs) for s in starts]
    gap = np.abs(runs[1].correlation_mean - runs[0].correlation_mean)
    gap_se = np.hypot(runs[1].correlation_se, runs[0].correlation_se)
    layers = np.arange(depth + 1)
    use = (layers >= 1) & np.isfinite(gap) & np.isfinite(gap_se) & (gap > 3.0 * gap_se)
    xi, xi_se = np.nan, np.nan
    if use.sum() >= 2:
        weights = gap[use] / gap_se[use]
        if use.sum() > 2:
            (slope, _), cov = np.polyfit(layers[use], np.log(gap[use]), 1, w=weights, cov="unscaled")
            xi_se = float(np.sqrt(cov[0, 0])) / slope ** 2 if slope < 0.0 else np.nan
        else:
            slope = np.polyfit(layers[use], np.log(gap[use]), 1, w=weights)[0]
        xi = np.inf if slope >= 0.0 else -1.0 / slope
    efold, efold_se = _efold_with_error(runs, seed=kwargs.get("seed", 0))
    return {"xi": float(xi), "xi_se": float(xi_se), "gap": gap, "gap_se": gap_se, "layers": layers[use],
            "xi_efold": efold, "xi_efold_se": efold_se}


BOOTSTRAP = 200


def _efold_with_error(runs, seed):
    """:func:`efold_depth` of the mean gap and its standard error: the spread of the e-fold depth
    over BOOTSTRAP resamples of each start's chains (with replacement, seeded)."""
    def gap_of(a, b):
        # a layer where every run is silent has no correlation: NaN, not a warning
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.abs(np.nanmean(b, axis=0) - np.nanmean(a, axis=0))
    a, b = runs[0].count_correlation, runs[1].count_correlation
    value = efold_depth(gap_of(a, b))
    if not np.isfinite(value):
        return value, float("nan")
    rng = np.random.default_rng([int(seed), 0xE4])
    draws = [efold_depth(gap_of(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))]))
             for _ in range(BOOTSTRAP)]
    draws = np.asarray(draws)
    finite = draws[np.isfinite(draws)]
    return value, float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
