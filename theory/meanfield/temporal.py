"""Temporal mean-field of a deep LIF stack over T steps, with leak and reset (docs/theory.md §5).

Float64 throughout. Neuron model (docs/theory.md §1, snnTorch ``Leaky`` with ``reset_delay=True``),
u[0] = s[0] = 0, for t = 1..T:

    subtract: u[t] = beta u[t-1] + I[t] - theta s[t-1]
    zero:     u[t] = beta (1 - s[t-1]) u[t-1] + I[t]
    none:     u[t] = beta u[t-1] + I[t]
    s[t] = [u[t] > theta]

With fixed zero-mean weights of std sigma_w and infinite width, layer l's current sequence
I_l[1..T] is a zero-mean Gaussian process (whatever the mean of the layer below) with

    C_l[t, t'] = fan_in sigma_w^2 M_{l-1}[t, t'] + bias_var,    M[t, t'] = E[s[t] s[t']],

and M_l follows from running the LIF dynamics on that process. Iterating C -> M -> C over
depth is the temporal mean-field. M is computed from C in one of two ways:

* ``exact`` (T <= 2): T = 1 is the closed form Q((theta - mu)/sqrt C), so the map equals
  :func:`theory.meanfield.maps.propagate`'s length map; T = 2 integrates the first step's current
  numerically (scipy quad, split at the firing boundary) and the second in closed form.
* ``sample`` (any T): Gaussian paths I = mu + L z with C = L L^T (lower-triangular factor,
  zero pivots allowed for singular C such as a static input) and *conditional* (Rao-Blackwell)
  estimates: given the path up to t-1, I[t] is N(mu[t] + sum_{k<t} L[t,k] z_k, L[t,t]^2), so

      P(s[t] = 1 | past) = Q((theta - a_t) / L[t,t]),   a_t = leak/reset term + conditional mean

  is averaged instead of the 0/1 spike; likewise E[u[t]] and E[u[t]^2] = a_t^2 + L[t,t]^2.
  At t = 1 the estimate has no sampling error at all. Each layer draws fresh paths from one
  seeded Generator, so the Monte Carlo errors of successive layers are independent and do not
  add up to a bias at the depth fixed point (reusing one set of paths for every layer would
  make each run the exact fixed point of a slightly wrong map: an error ~ 1/(1 - slope) times
  larger). Every sigma_w sees the same sequence of paths (common random numbers), so the map
  is a deterministic, nearly smooth function of sigma_w for root finding. Standard errors of
  the per-step rate, membrane mean and variance are reported per layer, *given* that layer's
  input covariance; the error propagated from the layers below is not in them (estimate it
  from a few seeds, as tests/simulate/test_temporal_sim.py does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate

import snn_validation as validation
from theory.core.gaussian import density, tail
from theory.core.lif import RESETS, membrane

__all__ = [
    "RESETS", "ENCODINGS", "LayerMoments", "TemporalPropagation", "psd_factor", "lif_moments",
    "lif_moments_exact", "input_layer", "propagate_temporal", "dense_current_cov", "layer_moments",
]

ENCODINGS = ("gaussian", "static", "bernoulli")


@dataclass(frozen=True)
class LayerMoments:
    """Statistics of one LIF layer driven by a Gaussian current process, arrays over t = 1..T.

    rate[t] = E[s[t]], mem_mean[t] = E[u[t]], mem_var[t] = Var[u[t]] (u as compared with the
    threshold, i.e. after leak and reset), second_moment[t, t'] = E[s[t] s[t']] (T x T);
    *_se are Monte Carlo standard errors (0 where the value is exact).
    """
    rate: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    second_moment: np.ndarray
    rate_se: np.ndarray
    mem_mean_se: np.ndarray
    mem_var_se: np.ndarray


@dataclass(frozen=True)
class TemporalPropagation:
    """Per-layer, per-step temporal mean-field; index 0 is the input LIF layer.

    rate, mem_mean, mem_var, *_se: (depth + 1, T);  second_moment, current_cov: (depth + 1, T, T).
    For Bernoulli spike input, layer 0's membrane statistics and current covariance are NaN
    (the input layer emits the given spikes, it has no membrane).
    """
    rate: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    second_moment: np.ndarray
    current_cov: np.ndarray
    rate_se: np.ndarray
    mem_mean_se: np.ndarray
    mem_var_se: np.ndarray

    @property
    def time_averaged_rate(self) -> np.ndarray:
        """(1/T) sum_t rate[l, t] per layer, shape (depth + 1,)."""
        return self.rate.mean(axis=1)


def psd_factor(cov) -> np.ndarray:
    """Lower-triangular L with L L^T = cov for a symmetric positive *semi*-definite cov.

    Cholesky with zero pivots allowed: a pivot below 1e-12 of the largest diagonal entry
    means the step's current is a deterministic function of the earlier ones (e.g. a static
    input, rank 1), and its column is set to 0. Float64.
    """
    cov = np.asarray(cov, dtype=np.float64)
    steps = cov.shape[0]
    factor = np.zeros_like(cov)
    tolerance = 1e-12 * max(float(np.max(np.diag(cov))), 0.0)
    for j in range(steps):
        pivot = cov[j, j] - factor[j, :j] @ factor[j, :j]
        if pivot > tolerance:
            factor[j, j] = np.sqrt(pivot)
            factor[j + 1:, j] = (cov[j + 1:, j] - factor[j + 1:, :j] @ factor[j, :j]) / factor[j, j]
    return factor


def leak_reset(u_prev, s_prev, threshold, beta, reset):
    # the part of u[t] that does not come from I[t]: lif.membrane with zero current (exact)
    return membrane(u_prev, s_prev, 0.0, beta, threshold, RESETS.index(reset))


def _fire_given(a, sd, threshold):
    # P(a + sd Z > theta), Z ~ N(0, 1); sd = 0 is a deterministic step (strict >)
    if sd > 0.0:
        return tail((threshold - a) / sd)
    return (a > threshold).astype(np.float64)


def lif_moments(current_mean, current_cov, threshold, beta, reset, normals, tau=None, rng=None) -> LayerMoments:
    """Monte Carlo (conditional, common random numbers) moments of a LIF layer, float64.

    The current is I = mu + L z, z = ``normals`` (paths, T) standard normals, C = L L^T.
    Per path and step, with a_t = leak/reset term + mu[t] + sum_{k<t} L[t,k] z_k:

        rate[t]        ~ mean_paths Q((theta - a_t) / L[t,t])
        E[u[t]]        ~ mean_paths a_t,      E[u[t]^2] ~ mean_paths (a_t^2 + L[t,t]^2)
        M[t, t'] (t'<t) ~ mean_paths Q((theta - a_t)/L[t,t]) s[t']

    and the path continues with u[t] = a_t + L[t,t] z_t. Standard errors: sample std of the
    per-path terms / sqrt(paths) (delta method for the variance).

    Escape firing (``tau``, theory.regimes.escape: P(s = 1 | u) = Phi((u - theta)/tau)): averaging
    the escape function over the step's own innovation gives the conditional firing probability
    exactly, P(s[t] = 1 | past) = Q((theta - a_t) / sqrt(L[t,t]^2 + tau^2)), and the path's spike
    is drawn with ``rng``: s[t] ~ Bernoulli(Q((theta - u[t]) / tau)).
    """
    normals = np.asarray(normals, dtype=np.float64)
    paths, steps = normals.shape
    mean = np.broadcast_to(np.asarray(current_mean, dtype=np.float64), (steps,))
    factor = psd_factor(current_cov)
    sds = np.diag(factor)
    # conditional mean of I[t] given z_1..z_{t-1}: the strictly lower part of L
    conditional = mean[:, None] + np.einsum("tk,nk->tn", np.tril(factor, -1), normals)  # (T, paths)
    prob = np.empty((steps, paths))
    drive = np.empty((steps, paths))
    spikes = np.empty((steps, paths))
    u_prev = np.zeros(paths)
    s_prev = np.zeros(paths)
    for t in range(steps):
        a = leak_reset(u_prev, s_prev, threshold, beta, reset) + conditional[t]
        drive[t] = a
        u_prev = a + sds[t] * normals[:, t]
        if tau is None:
            prob[t] = _fire_given(a, sds[t], threshold)
            s_prev = (u_prev > threshold).astype(np.float64)
        else:
            prob[t] = tail((threshold - a) / np.sqrt(sds[t] ** 2 + tau * tau))
            s_prev = (rng.random(paths) < tail((threshold - u_prev) / tau)).astype(np.float64)
        spikes[t] = s_prev
    rate = prob.mean(axis=1)
    # M[t, t'] for t' < t is E[P(s[t] | past) s[t']]; the diagonal is the rate
    second = np.tril(np.einsum("tn,sn->ts", prob, spikes) / paths, -1)
    second = second + second.T + np.diag(rate)
    mem_mean = drive.mean(axis=1)
    centred = (drive - mem_mean[:, None]) ** 2 + (sds * sds)[:, None]
    mem_var = centred.mean(axis=1)
    if paths > 1:
        root_n = np.sqrt(paths)
        errors = [x.std(axis=1, ddof=1) / root_n for x in (prob, drive, centred)]
    else:
        errors = [np.zeros(steps)] * 3
    return LayerMoments(rate, mem_mean, mem_var, second, *errors)


def _quad(func, lower, upper, breakpoint):
    # integrate a function with a jump at `breakpoint` (the first step's firing boundary)
    total = 0.0
    pieces = [(lower, breakpoint), (breakpoint, upper)] if lower < breakpoint < upper else [(lower, upper)]
    for lo, hi in pieces:
        total += integrate.quad(func, lo, hi, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    return total


def lif_moments_exact(current_mean, current_cov, threshold, beta, reset) -> LayerMoments:
    """Moments of a LIF layer for T <= 2 steps by closed form and quadrature, float64.

    T = 1: rate = Q((theta - mu_1)/sqrt C_11), E[u] = mu_1, Var[u] = C_11 (exact).
    T = 2: with I_1 = mu_1 + L_11 z, a(z) = leak/reset term + mu_2 + L_21 z, sd = L_22,

        rate[2] = int phi(z) Q((theta - a(z))/sd) dz,   M[1,2] = int_{z > z*} phi(z) Q(...) dz,
        E[u[2]] = int phi a,   E[u[2]^2] = int phi (a^2 + sd^2),   z* = (theta - mu_1)/L_11,

    each by adaptive quadrature split at z* (where the reset switches on). Accurate to ~1e-10
    when L_22 > 0; with L_22 = 0 (static input) the integrand jumps once more and quad is
    accurate to ~1e-8.
    """
    cov = np.asarray(current_cov, dtype=np.float64)
    steps = cov.shape[0]
    if steps > 2:
        raise ValueError(f"T must be 1 or 2 for the exact moments, got {steps} (use sampling)")
    mean = np.broadcast_to(np.asarray(current_mean, dtype=np.float64), (steps,))
    factor = psd_factor(cov)
    first_sd = factor[0, 0]
    rate = np.zeros(steps)
    rate[0] = float(_fire_given(np.asarray(mean[0]), first_sd, threshold))
    mem_mean = mean.copy()
    mem_var = np.diag(cov).copy()
    second = np.zeros((steps, steps))
    second[0, 0] = rate[0]
    if steps == 2:
        sd = factor[1, 1]

        def a_of(z):
            current_1 = mean[0] + first_sd * z
            s_1 = float(current_1 > threshold)
            return float(leak_reset(current_1, s_1, threshold, beta, reset)) + mean[1] + factor[1, 0] * z

        def fire(z):
            return float(_fire_given(np.asarray(a_of(z)), sd, threshold))

        if first_sd > 0:
            boundary = (threshold - mean[0]) / first_sd
            weighted = lambda g: lambda z: density(z) * g(z)  # noqa: E731
            rate[1] = _quad(weighted(fire), -np.inf, np.inf, boundary)
            second[0, 1] = _quad(weighted(fire), boundary, np.inf, boundary)
            mem_mean[1] = _quad(weighted(a_of), -np.inf, np.inf, boundary)
            second_u = _quad(weighted(lambda z: a_of(z) ** 2), -np.inf, np.inf, boundary) + sd * sd
        else:
            rate[1] = fire(0.0)
            second[0, 1] = rate[0] * rate[1]
            mem_mean[1] = a_of(0.0)
            second_u = a_of(0.0) ** 2 + sd * sd
        mem_var[1] = second_u - mem_mean[1] ** 2
        second[1, 1] = rate[1]
        second[1, 0] = second[0, 1]
    zeros = np.zeros(steps)
    return LayerMoments(rate, mem_mean, mem_var, second, zeros, zeros.copy(), zeros.copy())


def input_layer(T, encoding="gaussian", input_std=1.0, input_mean=0.0, input_rate=None):
    """Layer 0's current process (mean vector, covariance) or, for spike input, its spikes' M.

    gaussian:  I_0[t] i.i.d. N(mean, std^2) per step        -> C_0 = std^2 * identity
    static:    one N(mean, std^2) draw repeated every step  -> C_0 = std^2 * ones
    bernoulli: spikes i.i.d. Bernoulli(rate) per step       -> M_0 = r^2 ones + r(1-r) identity

    Returns ("current", mean (T,), cov (T,T)) or ("spikes", rate r, M_0 (T,T)).
    """
    T = validation.time_steps(T)
    validation.choice(encoding, "encoding", ENCODINGS)
    if encoding == "bernoulli":
        if input_rate is None:
            raise ValueError("input_rate must be given (in [0, 1]) for encoding='bernoulli'")
        r = validation.scalar(input_rate, "input_rate", validation.unit_interval)
        return "spikes", r, r * r * np.ones((T, T)) + r * (1.0 - r) * np.eye(T)
    std = validation.scalar(input_std, "input_std", validation.non_negative)
    mean = validation.scalar(input_mean, "input_mean") * np.ones(T)
    shape = np.eye(T) if encoding == "gaussian" else np.ones((T, T))
    return "current", mean, std * std * shape


def resolve_method(method, T):
    validation.choice(method, "method", ("auto", "exact", "sample"))
    if method == "auto":
        return "exact" if T <= 2 else "sample"
    if method == "exact" and T > 2:
        raise ValueError(f"method='exact' needs T <= 2 (got T={T}); use method='sample'")
    return method


def check_dynamics(threshold, beta, reset):
    """Validated (threshold, beta, reset): threshold finite, beta in [0, 1], reset in RESETS."""
    threshold = validation.scalar(threshold, "threshold")
    beta = validation.scalar(beta, "beta", validation.unit_interval)
    validation.choice(reset, "reset", RESETS)
    return threshold, beta, reset


def dense_current_cov(gain, second, bias_var):
    """C = gain M + bias_var: the current covariance of a layer whose i.i.d. zero-mean weights
    have n sigma^2 = ``gain``, given its inputs' raw second moment M = E[x x^T] (T x T)."""
    return gain * second + bias_var


def layer_moments(mean, cov, threshold, beta, reset, method, normals) -> LayerMoments:
    """One application of the LIF part of the map (current process -> moments)."""
    if method == "exact":
        return lif_moments_exact(mean, cov, threshold, beta, reset)
    return lif_moments(mean, cov, threshold, beta, reset, normals)


def propagate_temporal(depth, T, sigma_w, fan_in, threshold=1.0, beta=0.0, reset="subtract",
                       encoding="gaussian", input_std=1.0, input_mean=0.0, input_rate=None,
                       bias_var=0.0, samples=20000, seed=0, method="auto") -> TemporalPropagation:
    """Temporal mean-field over ``depth`` weight layers and ``T`` steps (infinite width).

        C_0 from the encoding (see :func:`input_layer`);   M_l = LIF(C_l);
        C_l = fan_in sigma_w^2 M_{l-1} + bias_var          (zero-mean current for l >= 1)

    ``sigma_w``/``fan_in`` may be per-layer sequences of length ``depth``. ``method``:
    "exact" (T <= 2), "sample" (``samples`` fresh Gaussian paths per layer, all from one
    Generator seeded with ``seed``), or "auto" (exact when T <= 2). At T = 1 with a Gaussian input of variance q0 the
    rates and variances are those of ``propagate(depth, sigma_w, fan_in, threshold, q0)``.
    Float64; returns :class:`TemporalPropagation`.
    """
    depth = validation.non_negative_int(depth, "depth")
    T = validation.time_steps(T)
    threshold, beta, reset = check_dynamics(threshold, beta, reset)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    samples = int(validation.scalar(samples, "samples", validation.positive_int))
    method = resolve_method(method, T)
    # the per-layer moments (T x T) and one layer's paths (samples x T x 4 arrays)
    validation.check_memory(8 * (3 * (depth + 1) * T * T + 4 * samples * T),
                            f"depth={depth} x T={T}^2 and samples={samples} x T={T}")
    gain = np.broadcast_to(validation.positive_int(fan_in, "fan_in") * validation.non_negative(sigma_w, "sigma_w") ** 2,
                           (depth,)) if depth else np.zeros(0)
    rng = np.random.default_rng(seed if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence))
                                else validation.non_negative_int(seed, "seed"))

    def normals():
        return rng.standard_normal((samples, T)) if method == "sample" else None

    shape = (depth + 1, T)
    out = {key: np.full(shape, np.nan) for key in
           ("rate", "mem_mean", "mem_var", "rate_se", "mem_mean_se", "mem_var_se")}
    second = np.full((depth + 1, T, T), np.nan)
    cov = np.full((depth + 1, T, T), np.nan)

    kind, first, second_input = input_layer(T, encoding, input_std, input_mean, input_rate)
    if kind == "spikes":
        out["rate"][0], out["rate_se"][0] = first, 0.0
        second[0] = second_input
    else:
        cov[0] = second_input
        _store(out, second, 0, layer_moments(first, second_input, threshold, beta, reset, method, normals()))
    zero_mean = np.zeros(T)
    for layer in range(1, depth + 1):
        cov[layer] = dense_current_cov(gain[layer - 1], second[layer - 1], bias_var)
        _store(out, second, layer, layer_moments(zero_mean, cov[layer], threshold, beta, reset, method, normals()))
    return TemporalPropagation(second_moment=second, current_cov=cov, **out)


def _store(out, second, layer, moments: LayerMoments):
    for key in out:
        out[key][layer] = getattr(moments, key)
    second[layer] = moments.second_moment
