"""Correlation (information) propagation of two inputs over depth and time, infinite width.

Float64 throughout. Two inputs a and b pass through the same LIF stack (neuron model of
:mod:`theory.meanfield.temporal`, docs/theory.md §1: u[0] = s[0] = 0; subtract / zero / no reset; s[t] = [u[t] > theta]).
With zero-mean i.i.d. weights of std sigma_w fixed over time, a bias b_j ~ N(0, bias_var)
shared by both inputs and constant in time, and infinite width, the pair of current sequences
(I^a[1..T], I^b[1..T]) of layer l >= 1 is a zero-mean Gaussian process with 2T x 2T covariance

    C_l = fan_in sigma_w^2 M_{l-1} + bias_var,      M[i, j] = E[s_i s_j],
    s = (s^a[1..T], s^b[1..T])                       (block order: a's steps, then b's),

bias_var entering every entry, the cross block included (the bias is the same for both inputs).
This is the temporal mean field of :func:`theory.propagate_temporal` (docs/theory.md §5) run on
the 2T-dimensional pair (the construction posed in docs/theory.md §9, "Correlation depth scale
over time"), and at T = 1 it is the correlation map of docs/theory.md §3, from Poole et al. 2016
("Exponential expressivity in deep neural networks through transient chaos") and Schoenholz et
al. 2017 ("Deep information propagation", ICLR): c_l = [n sigma_w^2 P2(z, c_{l-1}) + b] / q_l
(:func:`theory.correlation_map`). Both inputs have the same marginal law (same encoding, std
and rate), so the diagonal blocks are equal and the cross block is symmetric
(E[s^a[t] s^b[t']] = E[s^b[t] s^a[t']] by exchanging a and b); the estimates below are
symmetrised accordingly (it halves their variance and keeps rate_a = rate_b exactly).

Input layer (layer 0) for input correlation c0:

* gaussian:  (I^a_0[t], I^b_0[t]) ~ N(0, std^2 [[1, c0], [c0, 1]]) i.i.d. over steps, c0 in [-1, 1];
* static:    one such pair drawn once and repeated at every step, c0 in [-1, 1];
* bernoulli: spike trains s^a_0[t], s^b_0[t] ~ Bernoulli(r) each, independent over steps and
  neurons, with Pearson correlation c0 in [0, 1] between s^a_0[t] and s^b_0[t] at the same step
  (and none across steps): P(both spike) = r^2 + c0 r (1 - r). One construction: s^b = s^a with
  probability c0, otherwise an independent Bernoulli(r) draw. Layer 0 then emits these spikes.

Three correlations are reported per layer (with equal marginals, rate r[t] = M_aa[t, t]):

* ``current_correlation[l, t]`` = C_ab[t, t] / sqrt(C_aa[t, t] C_bb[t, t]): the cosine-type
  q_ab / sqrt(q_aa q_bb) of the currents, Poole et al.'s c (the currents of layers >= 1 have
  mean zero, so it is also their Pearson correlation). At T = 1 it iterates correlation_map.
* ``spike_correlation[l, t]`` = (M_ab[t, t] - r[t]^2) / (r[t] (1 - r[t])): Pearson correlation
  of the two inputs' spikes at step t (over neurons and networks).
* ``count_correlation[l]`` = Cov(k^a, k^b) / Var(k^a), k = sum_t s[t] the spike count over the
  T steps: (sum M_ab - (sum r)^2) / (sum M_aa - (sum r)^2).

Each is NaN where it is undefined (a silent or saturated step; a silent layer without bias).

How M is computed from C:

* ``exact`` (T = 1): M_aa = Q(theta / sqrt q), M_ab = P2(theta / sqrt q, c) by
  :func:`theory.core.gaussian.orthant` (c = C_ab / q): the correlation map exactly.
* ``sample`` (any T): seeded Gaussian paths in the interleaved order (a1, b1, a2, b2, ...),
  I = L z with L = :func:`theory.meanfield.temporal.psd_factor` of the interleaved covariance, and
  conditional (Rao-Blackwell) estimates given the joint past of both inputs: at step t the
  pair (I^a[t], I^b[t]) is bivariate normal given all earlier steps of both, so with
  A_x = leak/reset term + conditional mean,

      P(s^x[t] = 1 | past) = Q((theta - A_x) / sd_x),
      P(s^a[t] = s^b[t] = 1 | past) = P2(h_a, h_b; rho_t),  h_x = (theta - A_x) / sd_x,

  (the bivariate upper orthant :func:`bivariate_tail`), and E[s^x[t'] s^y[t]] (t' < t) is the
  mean of s^x[t'] P(s^y[t] = 1 | past). The paths continue with 0/1 spikes. At t = 1 nothing is
  sampled (T = 1 is exact); two identical inputs give identical paths (zero pivots) and
  P2 = Q, so their correlation stays exactly 1 (c = 1 is an unstable fixed point of the map,
  so a noisy estimator would not keep it). The normals of a's steps are drawn from the same
  Generator stream as :func:`theory.propagate_temporal`'s (b's from a child stream), so for
  identical inputs the rates equal propagate_temporal's up to rounding (common random numbers).
  Fresh paths are drawn for every layer. Standard errors: the paths are split into 16 groups;
  se = std over groups / 4, per layer *given* that layer's input covariance (the error that
  propagates from the layers below is not in them; estimate it from a few seeds).

Depth fixed point and depth scale (:func:`pair_fixed_point`): iterate the pair map from the
encoding over ``depth`` layers, average the last ``average`` layers' M (fresh paths each) to get
M*, and linearise the map of the cross block, X = M_ab -> M_ab' with the marginal held at M*_aa,
around X*. Its slowest mode sets how fast the distance between the two inputs' representations
relaxes to its fixed point, |X_l - X*| ~ slope^l, so xi_c = -1 / ln(slope) with slope the
largest |eigenvalue| of the Jacobian (Schoenholz et al. 2017, eq. for xi_c; at T = 1 the
Jacobian is 1 x 1 and equals :func:`theory.meanfield.maps.correlation_slope` at c*). The Jacobian is
taken by central differences with the same paths on both sides (common random numbers).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import erfc, exp, sqrt

import numpy as np
from numba import njit
from scipy import special

import snn_validation as validation
from theory.core.scales import correlation_scale
from theory.core.gaussian import firing_probability, orthant, tail
from theory.meanfield.maps import layer_gain, correlation_fixed_point, fixed_points
from theory.core.lif import membrane_compiled, reset_code
from theory.meanfield.temporal import ENCODINGS, check_dynamics, input_layer, psd_factor

__all__ = ["PairPropagation", "PairFixedPoint", "bivariate_tail", "pair_moments", "pair_input",
           "propagate_pair", "pair_fixed_point", "correlation_depth_scale"]

GROUPS = 16                      # path groups for the Monte Carlo standard errors
_GAUSS_LEGENDRE = [np.polynomial.legendre.leggauss(n) for n in (6, 12, 20)]
SQRT2 = sqrt(2.0)
_HIGH_RHO = 0.925                # above this |rho| Owen's T replaces the Drezner-Wesolowsky quadrature


def bivariate_tail(h, k, rho):
    """P(X > h, Y > k) for a standard bivariate normal (X, Y) with correlation ``rho`` (scalar).

    |rho| <= 0.925: Q(h) Q(k) + 1/(2 pi) int_0^{arcsin rho} exp(-(h^2 + k^2 - 2 h k sin a) /
    (2 cos^2 a)) da (Drezner & Wesolowsky 1990), by 6 / 12 / 20-point Gauss-Legendre for |rho|
    below 0.3 / 0.75 / 0.925 (Genz's BVND choice, double precision);
    0.925 < |rho| < 1: Owen's T form P = Phi2(-h, -k) with
    Phi2(x, y) = [Phi(x) + Phi(y)] / 2 - T(x, (y - rho x)/(x s)) - T(y, (x - rho y)/(y s)) - beta,
    s = sqrt(1 - rho^2), beta = 1/2 if x y < 0 or (x y = 0 and x + y < 0) else 0 (Owen 1956);
    rho = 1: Q(max(h, k));  rho = -1: max(0, Q(h) + Q(k) - 1). Vectorised over h, k; float64.
    """
    h, k = np.broadcast_arrays(np.asarray(h, dtype=np.float64), np.asarray(k, dtype=np.float64))
    rho = float(validation.finite(rho, "rho"))
    if abs(rho) > 1.0:
        raise ValueError(f"rho must lie in [-1, 1], got {rho!r}")
    return _upper_orthant(h, k, rho, tail(h), tail(k))


def _upper_orthant(h, k, rho, tail_h, tail_k):
    # bivariate_tail with the marginal tails Q(h), Q(k) given (they are computed anyway)
    if rho >= 1.0:
        return np.minimum(tail_h, tail_k)
    if rho <= -1.0:
        return np.maximum(tail_h + tail_k - 1.0, 0.0)
    if abs(rho) <= _HIGH_RHO:
        nodes, weights = _GAUSS_LEGENDRE[0 if abs(rho) < 0.3 else 1 if abs(rho) < 0.75 else 2]
        upper = np.arcsin(rho)
        sines = np.sin(0.5 * upper * (nodes + 1.0))
        cos_sq = 1.0 - sines * sines
        flat_h, flat_k = np.ascontiguousarray(h, dtype=np.float64).ravel(), np.ascontiguousarray(k, dtype=np.float64).ravel()
        integral = np.empty(flat_h.size)
        _drezner_sum(flat_h, flat_k, sines / cos_sq, 1.0 / cos_sq, weights, integral)
        return tail_h * tail_k + (0.25 * upper / np.pi) * integral.reshape(np.shape(h))
    x, y = 0.0 - h, 0.0 - k            # no negative zeros: T(0, a) depends on the sign of a = y / x
    scale = np.sqrt((1.0 - rho) * (1.0 + rho))
    with np.errstate(divide="ignore", invalid="ignore"):
        owen = special.owens_t(x, (y - rho * x) / (x * scale)) + special.owens_t(y, (x - rho * y) / (y * scale))
    both_zero = (x == 0.0) & (y == 0.0)
    owen = np.where(both_zero, 0.0, owen)
    jump = np.where((x * y < 0.0) | ((x * y == 0.0) & (x + y < 0.0)), 0.5, 0.0)
    lower = 0.5 * (tail_h + tail_k) - owen - jump          # Phi(-h) = Q(h)
    return np.where(both_zero, 0.25 + np.arcsin(rho) / (2.0 * np.pi), lower)


_membrane = membrane_compiled   # the one LIF update (theory.core.lif), compiled


@njit(cache=True)
def _drezner_sum(h, k, alpha, gamma, weights, out):  # pragma: no cover - compiled
    # out[i] = sum_j weights[j] exp(h k alpha_j - (h^2 + k^2)/2 gamma_j)
    for i in range(h.size):
        product = h[i] * k[i]
        half_sq = 0.5 * (h[i] * h[i] + k[i] * k[i])
        total = 0.0
        for j in range(alpha.size):
            total += weights[j] * exp(product * alpha[j] - half_sq * gamma[j])
        out[i] = total


def _interleaved(T):
    # block position of the interleaved variable (a1, b1, a2, b2, ...)
    order = np.empty(2 * T, dtype=np.int64)
    order[0::2], order[1::2] = np.arange(T), T + np.arange(T)
    return order


def _pair_paths(cov, threshold, beta, reset, normals_a, normals_b):
    """Per-path spikes S and conditional firing probabilities P (block order, (2T, paths)) and
    the conditional probability that both fire at each step, (T, paths)."""
    paths, T = normals_a.shape
    order = _interleaved(T)
    factor = psd_factor(np.asarray(cov)[np.ix_(order, order)])
    normals = np.empty((paths, 2 * T))
    normals[:, 0::2], normals[:, 1::2] = normals_a, normals_b
    spikes, prob = np.empty((2 * T, paths)), np.empty((2 * T, paths))
    h_a, h_b = np.empty((T, paths)), np.empty((T, paths))
    _pair_kernel(factor, normals, threshold, beta, reset_code(reset), spikes, prob, h_a, h_b)
    both = np.empty((T, paths))
    for t in range(T):
        ia, ib = 2 * t, 2 * t + 1
        sd_a, sd_b = factor[ia, ia], np.hypot(factor[ib, ia], factor[ib, ib])
        if sd_a > 0.0 and sd_b > 0.0:
            rho = factor[ia, ia] * factor[ib, ia] / (sd_a * sd_b)
            both[t] = _upper_orthant(h_a[t], h_b[t], rho, prob[t], prob[T + t])
        else:                                   # one of the two is determined by the past
            both[t] = prob[t] * prob[T + t]
    return spikes, prob, both


@njit(cache=True)
def _pair_kernel(factor, normals, threshold, beta, code, spikes, prob, h_a, h_b):  # pragma: no cover
    # LIF on the interleaved paths I = L z (theory.core.lif.membrane); per step the standardised
    # distance h = (theta - A) / sd of each input's conditional current to the threshold given
    # the joint past (+-inf where sd = 0), P = Q(h), then the 0/1 spike of the path
    paths = normals.shape[0]
    steps = h_a.shape[0]
    for n in range(paths):
        u_a, u_b, s_a, s_b = 0.0, 0.0, 0.0, 0.0
        for t in range(steps):
            ia, ib = 2 * t, 2 * t + 1
            mean_a, mean_b = 0.0, 0.0
            for k in range(ia):
                mean_a += factor[ia, k] * normals[n, k]
                mean_b += factor[ib, k] * normals[n, k]
            drive_a = _membrane(u_a, s_a, mean_a, beta, threshold, code)
            drive_b = _membrane(u_b, s_b, mean_b, beta, threshold, code)
            h_a[t, n] = _standardised(drive_a, factor[ia, ia], threshold)
            h_b[t, n] = _standardised(drive_b, sqrt(factor[ib, ia] ** 2 + factor[ib, ib] ** 2), threshold)
            prob[t, n] = 0.5 * erfc(h_a[t, n] / SQRT2)
            prob[steps + t, n] = 0.5 * erfc(h_b[t, n] / SQRT2)
            u_a = drive_a + factor[ia, ia] * normals[n, ia]
            u_b = drive_b + factor[ib, ia] * normals[n, ia] + factor[ib, ib] * normals[n, ib]
            s_a = 1.0 if u_a > threshold else 0.0
            s_b = 1.0 if u_b > threshold else 0.0
            spikes[t, n] = s_a
            spikes[steps + t, n] = s_b


@njit(cache=True)
def _standardised(drive, sd, threshold):  # pragma: no cover - compiled
    if sd > 0.0:
        return (threshold - drive) / sd
    return -np.inf if drive > threshold else np.inf


def _assemble(raw, prob_mean, both_mean, T):
    """M (block order, symmetrised) from raw[i, j] = mean S_i P_j and the same-step means."""
    step = np.tile(np.arange(T), 2)
    earlier = step[:, None] < step[None, :]
    moment = np.where(earlier, raw, np.swapaxes(raw, -1, -2) * (step[:, None] > step[None, :]))
    same = np.arange(T)
    moment[..., np.arange(2 * T), np.arange(2 * T)] = prob_mean
    moment[..., same, T + same] = both_mean
    moment[..., T + same, same] = both_mean
    marginal = 0.5 * (moment[..., :T, :T] + moment[..., T:, T:])
    cross = 0.5 * (moment[..., :T, T:] + np.swapaxes(moment[..., :T, T:], -1, -2))
    return _blocks(marginal, cross)


def _blocks(marginal, cross):
    top = np.concatenate([marginal, cross], axis=-1)
    bottom = np.concatenate([cross, marginal], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def pair_moments(cov, threshold, beta, reset, normals_a, normals_b):
    """Spike second moments of a LIF layer driven by the pair's current process (sampling).

    ``cov``: 2T x 2T covariance in block order (a's steps, then b's), zero mean; ``normals_a``,
    ``normals_b``: (paths, T) standard normals for a's and b's innovations. Returns
    (M, M_groups): M (2T, 2T) symmetrised as described in the module docstring, and the same
    estimate from each of 16 groups of paths, (16, 2T, 2T) (M is their size-weighted mean).
    """
    spikes, prob, both = _pair_paths(cov, threshold, beta, reset, normals_a, normals_b)
    T = both.shape[0]
    groups = np.array_split(np.arange(spikes.shape[1]), GROUPS)
    per_group = np.stack([
        _assemble(spikes[:, g] @ prob[:, g].T / g.size, prob[:, g].mean(axis=1), both[:, g].mean(axis=1), T)
        for g in groups])
    weights = np.array([g.size for g in groups], dtype=np.float64) / spikes.shape[1]
    return np.tensordot(weights, per_group, axes=1), per_group


def _exact_moments(cov, threshold):
    # T = 1: M_aa = Q(theta/sqrt q), M_ab = P2(theta/sqrt q, c)  (block 2 x 2)
    q = cov[0, 0]
    if q > 0.0:
        rate = float(firing_probability(threshold, q))
        cross = float(orthant(threshold / np.sqrt(q), np.clip(cov[0, 1] / q, -1.0, 1.0)))
    else:
        rate = cross = float(threshold < 0.0)
    return np.array([[rate, cross], [cross, rate]])


def pair_input(T, encoding="gaussian", input_correlation=0.0, input_std=1.0, input_rate=None):
    """Layer 0 of the pair: ("current", 2T x 2T covariance) or ("spikes", 2T x 2T M_0).

    gaussian:  C_0 = std^2 [[I, c0 I], [c0 I, I]];   static: C_0 = std^2 [[1, c0 1], [c0 1, 1]]
    (1 = all-ones T x T);   bernoulli: M_0 = [[A, B], [B, A]], A = r^2 1 + r(1-r) I,
    B = r^2 1 + c0 r(1-r) I. c0 in [-1, 1] for currents, in [0, 1] for spikes.
    """
    kind, first, shape = input_layer(T, encoding, input_std, 0.0, input_rate)
    if encoding == "bernoulli":
        c0 = float(validation.unit_interval(input_correlation, "input_correlation"))
        r = first
        cross = r * r * np.ones((T, T)) + c0 * r * (1.0 - r) * np.eye(T)
        return "spikes", _blocks(shape, cross)
    c0 = float(validation.finite(input_correlation, "input_correlation"))
    if abs(c0) > 1.0:
        raise ValueError(f"input_correlation must lie in [-1, 1] for encoding={encoding!r}, got {input_correlation!r}")
    return "current", _blocks(shape, c0 * shape)


@dataclass(frozen=True)
class PairPropagation:
    """Per-layer pair mean field; index 0 is the input LIF layer (see the module docstring).

    rate, rate_se: (depth + 1, T), the common firing rate of both inputs per step;
    second_moment, current_cov: (depth + 1, 2T, 2T) in block order (a's steps, then b's);
    current_cov[0] is NaN for Bernoulli input (layer 0 emits the given spikes);
    current_correlation, spike_correlation, spike_correlation_se: (depth + 1, T);
    count_correlation, count_correlation_se: (depth + 1,). Standard errors are 0 where exact.
    """
    rate: np.ndarray
    rate_se: np.ndarray
    second_moment: np.ndarray
    current_cov: np.ndarray
    current_correlation: np.ndarray
    spike_correlation: np.ndarray
    spike_correlation_se: np.ndarray
    count_correlation: np.ndarray
    count_correlation_se: np.ndarray

    @property
    def cross_moment(self) -> np.ndarray:
        """M_ab[l, t, t'] = E[s^a_l[t] s^b_l[t']], (depth + 1, T, T)."""
        T = self.rate.shape[1]
        return self.second_moment[:, :T, T:]

    @property
    def mean_current_correlation(self) -> np.ndarray:
        """Time-averaged current cosine sum_t C_ab[t, t] / sum_t C_aa[t, t] per layer (depth + 1,)."""
        return _mean_current_correlation(self.current_cov)


def _mean_current_correlation(cov):
    T = cov.shape[-1] // 2
    diag = np.diagonal(cov, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diagonal(cov[..., :T, T:], axis1=-2, axis2=-1).sum(-1) / diag[..., :T].sum(-1)


def _correlations(moment):
    """(rate, spike correlation per step, count correlation) from M (..., 2T, 2T)."""
    T = moment.shape[-1] // 2
    rate = np.diagonal(moment[..., :T, :T], axis1=-2, axis2=-1)
    cross = np.diagonal(moment[..., :T, T:], axis1=-2, axis2=-1)
    mean_count = rate.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        spike = (cross - rate * rate) / (rate * (1.0 - rate))
        count = ((moment[..., :T, T:].sum((-2, -1)) - mean_count ** 2)
                 / (moment[..., :T, :T].sum((-2, -1)) - mean_count ** 2))
    return rate, spike, count


def _current_correlation(cov):
    T = cov.shape[-1] // 2
    diag = np.diagonal(cov, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diagonal(cov[..., :T, T:], axis1=-2, axis2=-1) / np.sqrt(diag[..., :T] * diag[..., T:])


def _group_se(values):
    with np.errstate(invalid="ignore"):
        return np.std(values, axis=0, ddof=1) / np.sqrt(values.shape[0])


class _Streams:
    """a's normals from the Generator stream of propagate_temporal, b's from a child stream."""

    def __init__(self, seed, samples, T):
        if not (seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence))):
            seed = validation.non_negative_int(seed, "seed")
        self.rng_a = np.random.default_rng(seed)
        self.rng_b = np.random.default_rng(self.rng_a.bit_generator.seed_seq.spawn(1)[0])
        self.shape = (samples, T)

    def draw(self):
        return self.rng_a.standard_normal(self.shape), self.rng_b.standard_normal(self.shape)


def _check_common(T, threshold, beta, reset, bias_var, samples, method):
    T = validation.time_steps(T)
    threshold, beta, reset = check_dynamics(threshold, beta, reset)
    bias_var = float(validation.non_negative(bias_var, "bias_var"))
    samples = int(validation.positive_int(samples, "samples"))
    validation.choice(method, "method", ("auto", "exact", "sample"))
    if method == "exact" and T != 1:
        raise ValueError(f"method='exact' needs T = 1 (got T={T}); use method='sample'")
    method = "exact" if method == "auto" and T == 1 else ("sample" if method == "auto" else method)
    if method == "sample" and samples < 2 * GROUPS:
        raise ValueError(f"samples must be an integer >= {2 * GROUPS} for method='sample' "
                         f"({GROUPS} groups give the standard errors), got {samples}")
    return T, threshold, beta, reset, bias_var, samples, method


def _gains(sigma_w, fan_in, depth):
    if not depth:
        return np.zeros(0)
    gain = layer_gain(sigma_w, fan_in)
    try:
        return np.broadcast_to(gain, (depth,))
    except ValueError:
        raise ValueError(f"sigma_w and fan_in must be scalars or sequences of length depth={depth}") from None


def propagate_pair(depth, T, sigma_w, fan_in, threshold=1.0, beta=0.0, reset="subtract",
                   encoding="gaussian", input_correlation=0.0, input_std=1.0, input_rate=None,
                   bias_var=0.0, samples=20000, seed=0, method="auto") -> PairPropagation:
    """Pair mean field over ``depth`` weight layers and ``T`` steps (infinite width).

        C_0 / M_0 from the encoding (:func:`pair_input`);    M_l = LIF_pair(C_l);
        C_l = fan_in sigma_w^2 M_{l-1} + bias_var            (2T x 2T, zero mean, l >= 1)

    ``sigma_w``/``fan_in`` may be per-layer sequences of length ``depth``. ``method``: "exact"
    (T = 1, the correlation map), "sample" (``samples`` fresh paths per layer from ``seed``),
    "auto" (exact at T = 1). Returns :class:`PairPropagation` (float64).
    """
    depth = validation.non_negative_int(depth, "depth")
    T, threshold, beta, reset, bias_var, samples, method = _check_common(
        T, threshold, beta, reset, bias_var, samples, method)
    validation.choice(encoding, "encoding", ENCODINGS)
    gain = _gains(sigma_w, fan_in, depth)
    kind, first = pair_input(T, encoding, input_correlation, input_std, input_rate)
    streams = _Streams(seed, samples, T) if method == "sample" else None
    moments, cov, groups = _propagate(depth, T, gain, threshold, beta, reset, bias_var, kind, first, method, streams)
    rate, spike, count = _correlations(moments)
    group_rate, group_spike, group_count = _correlations(np.swapaxes(groups, 0, 1))
    return PairPropagation(rate=rate, rate_se=np.nan_to_num(_group_se(group_rate)), second_moment=moments,
                           current_cov=cov, current_correlation=_current_correlation(cov),
                           spike_correlation=spike, spike_correlation_se=_group_se(group_spike),
                           count_correlation=count, count_correlation_se=_group_se(group_count))


def _propagate(depth, T, gain, threshold, beta, reset, bias_var, kind, first, method, streams):
    moments = np.full((depth + 1, 2 * T, 2 * T), np.nan)
    cov = np.full_like(moments, np.nan)
    groups = np.full((depth + 1, GROUPS, 2 * T, 2 * T), np.nan)

    def layer(index):
        if method == "exact":
            moments[index] = _exact_moments(cov[index], threshold)
            groups[index] = moments[index]
        else:
            moments[index], groups[index] = pair_moments(cov[index], threshold, beta, reset, *streams.draw())

    if kind == "spikes":
        moments[0] = first
        groups[0] = first
    else:
        cov[0] = first
        layer(0)
    for index in range(1, depth + 1):
        cov[index] = gain[index - 1] * moments[index - 1] + bias_var
        layer(index)
    return moments, cov, groups


@dataclass(frozen=True)
class PairFixedPoint:
    """Depth fixed point of the pair map and its slowest mode (see the module docstring).

    c_star: time-averaged current cosine sum_t C*_ab[t, t] / sum_t C*_aa[t, t] (at T = 1 the
    fixed point of :func:`theory.correlation_map`); current_correlation, spike_correlation, rate:
    (T,) per step at the fixed point; count_correlation: of the spike counts over T steps;
    slope: largest |eigenvalue| of the cross-block Jacobian at the fixed point (at T = 1
    dc_l/dc_{l-1} at c*), slope_se its Monte Carlo standard error (0 where exact);
    spectrum: all eigenvalues, largest modulus first; step_slopes (T,): the largest |eigenvalue|
    of the modes first entering at step t (cross entries with max(t, t') = t; the Jacobian is
    block-triangular in time, so slope = max(step_slopes); step_slopes[0] is the one-step map's
    slope, since step 1 from rest is the T = 1 map); second_moment: M* (2T, 2T), block order.
    NaN everywhere when the stack is silent at its fixed point (no correlation is defined).
    """
    c_star: float
    current_correlation: np.ndarray
    spike_correlation: np.ndarray
    count_correlation: float
    rate: np.ndarray
    slope: float
    slope_se: float
    spectrum: np.ndarray
    step_slopes: np.ndarray
    step_slopes_se: np.ndarray
    second_moment: np.ndarray

    @property
    def xi_c(self) -> float:
        """Correlation depth scale -1 / ln(slope): deviations of the pair's cross moments from
        the fixed point decay as exp(-l / xi_c); inf for slope >= 1, 0 for slope 0."""
        return correlation_scale(self.slope)


def _scalar_gain(sigma_w, fan_in):
    gain = layer_gain(sigma_w, fan_in)
    if np.ndim(gain) != 0:
        raise ValueError("sigma_w and fan_in must be scalars for a depth fixed point (one map for every layer)")
    return float(gain)


def pair_fixed_point(T, sigma_w, fan_in, threshold=1.0, beta=0.0, reset="subtract", encoding="gaussian",
                     input_correlation=0.0, input_std=1.0, input_rate=None, bias_var=0.0, depth=100,
                     average=60, samples=20000, seed=0, method="auto", step=0.02) -> PairFixedPoint:
    """Fixed point c* of the pair map, the slope there and (``.xi_c``) the correlation depth scale.

    method "exact" (T = 1): q* = the stable fixed point of the length map nearest the layer
    reached after ``depth`` layers, c* = :func:`theory.correlation_fixed_point` at q*, slope =
    :func:`theory.meanfield.maps.correlation_slope` at c* (analytic). method "sample": M* = mean of
    the last ``average`` of ``depth`` layers of :func:`propagate_pair`; with the marginal held at
    M*_aa, the cross block X -> M_ab'(C = g [[M*_aa, X], [X, M*_aa]] + bias_var) is
    differentiated at X* by central differences of +- step * mean rate on each of its
    T(T+1)/2 entries (between active steps), all with the same ``samples`` paths; slope = the
    largest |eigenvalue|, its standard error by the delta method over 16 path groups
    (lambda_g = u^T J_g v / u^T v with u, v the left and right eigenvectors). That error is
    *given* M*; the Monte Carlo error of M* itself (layer-to-layer noise that the average over
    ``average`` layers does not remove) moves the later steps' slopes too: estimate the total
    from a few seeds.
    """
    T, threshold, beta, reset, bias_var, samples, method = _check_common(
        T, threshold, beta, reset, bias_var, samples, method)
    gain = _scalar_gain(sigma_w, fan_in)
    depth = validation.non_negative_int(depth, "depth")
    average = validation.non_negative_int(average, "average")
    if not 1 <= average <= depth:
        raise ValueError(f"average must be an integer in [1, depth={depth}], got {average}")
    step = float(validation.positive(step, "step"))
    if step >= 0.5:
        raise ValueError(f"step must lie in (0, 0.5), got {step}")
    validation.choice(encoding, "encoding", ENCODINGS)
    kind, first = pair_input(T, encoding, input_correlation, input_std, input_rate)
    streams = _Streams(seed, samples, T) if method == "sample" else None
    moments, _, _ = _propagate(depth, T, np.full(depth, gain), threshold, beta, reset, bias_var, kind, first,
                               method, streams)
    if method == "exact":
        return _exact_fixed_point(gain, threshold, bias_var, moments[-1])
    fixed = moments[-average:].mean(axis=0)
    slope, slope_se, spectrum, step_slopes, step_slopes_se = _cross_slope(fixed, gain, threshold, beta, reset,
                                                                          bias_var, streams, step)
    return _fixed_point_result(fixed, gain, bias_var, slope, slope_se, spectrum, step_slopes, step_slopes_se)


def _fixed_point_result(moment, gain, bias_var, slope, slope_se, spectrum, step_slopes, step_slopes_se):
    cov = gain * moment + bias_var
    rate, spike, count = _correlations(moment)
    silent = not np.any(cov[np.arange(cov.shape[0]), np.arange(cov.shape[0])] > 0.0)
    nan = float("nan")
    return PairFixedPoint(c_star=nan if silent else float(_mean_current_correlation(cov)),
                          current_correlation=_current_correlation(cov), spike_correlation=spike,
                          count_correlation=float(count), rate=rate, slope=nan if silent else slope,
                          slope_se=nan if silent else slope_se, spectrum=np.asarray(spectrum),
                          step_slopes=np.asarray(step_slopes, dtype=np.float64),
                          step_slopes_se=np.asarray(step_slopes_se, dtype=np.float64), second_moment=moment)


def _exact_fixed_point(gain, threshold, bias_var, last):
    # T = 1: the length map's stable fixed point nearest the propagated layer, then c*
    q_last = gain * last[0, 0] + bias_var
    points = [p for p in fixed_points(np.sqrt(gain), 1, threshold, bias_var) if p.stable]
    q_star = min(points, key=lambda p: abs(p.q - q_last)).q
    if q_star <= 0.0:
        moment = _exact_moments(np.zeros((2, 2)), threshold)
        return _fixed_point_result(moment, gain, bias_var, float("nan"), float("nan"), [], [float("nan")],
                                   [float("nan")])
    c_star, slope = correlation_fixed_point(np.sqrt(gain), 1, threshold, q=q_star, bias_var=bias_var)
    moment = _exact_moments(q_star * np.array([[1.0, c_star], [c_star, 1.0]]), threshold)
    return _fixed_point_result(moment, gain, bias_var, slope, 0.0, [slope], [slope], [0.0])


def _cross_slope(fixed, gain, threshold, beta, reset, bias_var, streams, step):
    T = fixed.shape[0] // 2
    marginal = 0.5 * (fixed[:T, :T] + fixed[T:, T:])
    cross = 0.5 * (fixed[:T, T:] + fixed[:T, T:].T)
    rate = np.diag(marginal)
    active = np.nonzero((rate > 1e-9) & (rate < 1.0 - 1e-9))[0]
    if active.size == 0:
        return float("nan"), float("nan"), np.zeros(0), np.full(T, np.nan), np.full(T, np.nan)
    entries = [(i, j) for n, i in enumerate(active) for j in active[n:]]
    size = step * float(rate[active].mean())
    normals = streams.draw()

    def cross_out(x):
        _, groups = pair_moments(gain * _blocks(marginal, x) + bias_var, threshold, beta, reset, *normals)
        out = 0.5 * (groups[:, :T, T:] + np.swapaxes(groups[:, :T, T:], 1, 2))
        return np.stack([out[:, i, j] for i, j in entries], axis=1)              # (groups, d)

    columns = []
    for i, j in entries:
        direction = np.zeros((T, T))
        direction[i, j] = direction[j, i] = size
        columns.append((cross_out(cross + direction) - cross_out(cross - direction)) / (2.0 * size))
    per_group = np.stack(columns, axis=2)                                        # (groups, d, d)
    jacobian = per_group.mean(axis=0)
    # the map is causal in time: entry (i, j) of the output depends on inputs with
    # max(i', j') <= max(i, j) only, so J is block-triangular by max(i, j) and its spectrum is
    # the union of the diagonal blocks' spectra (step_slopes)
    latest = np.array([max(i, j) for i, j in entries])
    step_slopes, step_slopes_se = np.full(T, np.nan), np.full(T, np.nan)
    for t in np.unique(latest):
        block = latest == t
        step_slopes[t], step_slopes_se[t] = _leading_mode(jacobian[np.ix_(block, block)],
                                                          per_group[:, block][:, :, block])
    slope, slope_se = _leading_mode(jacobian, per_group)
    values = np.linalg.eigvals(jacobian)
    return slope, slope_se, values[np.argsort(-np.abs(values))], step_slopes, step_slopes_se


def _leading_mode(jacobian, per_group):
    # largest |eigenvalue| of the mean Jacobian and its delta-method standard error over the
    # path groups: lambda_g = u^T J_g v / (u^T v), u and v its left and right eigenvectors
    values, right = np.linalg.eig(jacobian)
    lead = int(np.argmax(np.abs(values)))
    left_values, left = np.linalg.eig(jacobian.T)
    u, v = left[:, np.argmin(np.abs(left_values - values[lead]))], right[:, lead]
    overlap = u @ v
    if abs(overlap) <= 1e-12 * np.linalg.norm(u) * np.linalg.norm(v):
        # a defective leading eigenvalue (e.g. the zero Jacobian of a silent block): the first-order
        # perturbation formula has no value, so the standard error is undefined, not 0/0
        return float(np.abs(values[lead])), float("nan")
    per_group_value = np.abs(np.einsum("i,gij,j->g", u, per_group, v) / overlap)
    return float(np.abs(values[lead])), float(np.std(per_group_value, ddof=1) / np.sqrt(per_group_value.size))


def correlation_depth_scale(T, sigma_w, fan_in, threshold=1.0, **kwargs) -> float:
    """xi_c = -1 / ln(slope at c*) of :func:`pair_fixed_point` (same arguments), in layers."""
    return pair_fixed_point(T, sigma_w, fan_in, threshold, **kwargs).xi_c
