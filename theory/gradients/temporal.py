"""Backward pass over T time steps at initialisation: the temporal gradient gain (float64).

BPTT through one LIF layer (simulate.loss_and_grads; reset detached, docs/theory.md §6): with
delta[t] = dL/dI[t] of a neuron, ds[t] = dL/ds[t] arriving from the layer above, g_t =
g(u[t] - theta) the surrogate derivative and c_t the carry of the membrane update (beta for
subtract and none resets, beta (1 - s[t]) for the zero reset),

    delta[t] = sum_{t' >= t} K[t, t'] ds[t'],     K[t, t'] = (prod_{k=t}^{t'-1} c_k) g_{t'},

and the layer below receives ds_{l-1}[t] = W_l delta_l[t]. At infinite width, with W_l
independent of the signal it carries back and K independent of ds (the usual
gradient-independence assumption), the T x T second moment D_l[t, t'] = E[delta_l[t] delta_l[t']]
of one neuron obeys the linear map

    D_{l-1} = n_l sigma_l^2 E_{C_{l-1}}[K D_l K^T],

the expectation over the forward paths of layer l - 1, whose currents are the Gaussian process
of the temporal mean field (covariance C_{l-1}, theory.propagate_temporal). At the output the
count cross-entropy sends the same dL/ds_L[t] = softmax_j - y_j to every step, so D at the top
is proportional to the all-ones matrix; ratios between layers do not depend on its size.

K is upper triangular (a gradient only flows back in time), so the linear map is triangular
in the ordering of the pairs (t, t') by their later step, and its eigenvalues are
n sigma^2 E[g_t g_t'] for pairs of steps. The asymptotic per-layer gain is therefore

    chi_T = n sigma^2 max_t E[g(u[t] - theta)^2]        (at the forward fixed point C*),

the largest single-step gain: leak and reset (the carries c_k) do not change the exponential
rate, only its prefactor. When several steps share that gain the operator has Jordan blocks and
the gradient gains a polynomial factor up to depth^(T-1) (the number of ways a gradient path can
step back in time across the layers), which :func:`temporal_gradient_profile` keeps and chi_T
does not. Gradients scale as chi_T^depth (times that factor); xi_grad = 1 / |ln chi_T|. At T = 1
chi_T is theory.chi.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

import snn_validation as validation
from theory.core.lif import RESETS, membrane
from theory.core.surrogates import SURROGATES
from theory.meanfield.temporal import propagate_temporal, psd_factor

__all__ = ["lif_jacobians", "backward_map", "TemporalGradientProfile", "temporal_gradient_profile",
           "temporal_chi", "temporal_chi_one_scale"]


def _surrogate(surrogate, scale):
    validation.choice(surrogate, "surrogate", SURROGATES)
    func, default = SURROGATES[surrogate]
    return func, (default if scale is None else validation.scalar(scale, "scale", validation.positive))


def _check_scalars(**values):
    """One number each (the temporal mean field takes them as such): ValueError naming the
    argument for an array, before the forward pass sees it."""
    checks = {"threshold": validation.finite, "beta": validation.unit_interval}
    for name, value in values.items():
        validation.scalar(value, name, checks.get(name, validation.non_negative))


def _check_paths(samples, T, what):
    """Refuse up front (snn_validation.check_memory) Jacobians of ``samples`` paths that cannot
    fit: K (samples, T, T) and its products, float64."""
    validation.check_memory(24 * samples * T * T, f"{what}: samples={samples} x T={T} x T={T}")


def lif_jacobians(current_cov, threshold, beta, reset, surrogate="atan", scale=None, normals=None,
                  current_mean=0.0) -> np.ndarray:
    """K (paths, T, T), the BPTT Jacobian dI[t] <- ds[t'] of LIF neurons driven by Gaussian
    currents I = mean + L z (C = L L^T, z = ``normals`` (paths, T)), from rest:

        K[t, t'] = (prod_{k=t}^{t'-1} c_k) g(u[t'] - theta)  for t' >= t, else 0,
        c_k = beta (subtract, none) or beta (1 - s[k]) (zero reset).
    """
    func, scale = _surrogate(surrogate, scale)
    code = RESETS.index(validation.choice(reset, "reset", RESETS))
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    beta = validation.scalar(beta, "beta", validation.unit_interval)
    normals = validation.finite(normals, "normals")
    if normals.ndim != 2 or min(normals.shape) < 1:
        raise ValueError(f"normals must be a (paths, T) array of standard normals, got shape {normals.shape}")
    paths, steps = normals.shape
    current_cov = validation.finite(current_cov, "current_cov")
    if current_cov.shape != (steps, steps):
        raise ValueError(f"current_cov must be a (T, T) = ({steps}, {steps}) covariance (T from normals), got shape "
                         f"{current_cov.shape}")
    current_mean = validation.finite(current_mean, "current_mean")
    if current_mean.ndim and current_mean.shape not in ((steps,), (paths, steps)):
        raise ValueError(f"current_mean must be a number, one per step (T = {steps}) or one per path and step, "
                         f"got shape {current_mean.shape}")
    _check_paths(paths, steps, "lif_jacobians")
    currents = current_mean + normals @ psd_factor(current_cov).T
    u = np.zeros(paths)
    s = np.zeros(paths)
    g = np.empty((paths, steps))
    carry = np.empty((paths, steps))
    for t in range(steps):
        u = membrane(u, s, currents[:, t], beta, threshold, code)
        s = (u > threshold).astype(np.float64)
        g[:, t] = func(u - threshold, scale)
        carry[:, t] = beta * (1.0 - s) if code == 1 else beta
    K = np.zeros((paths, steps, steps))
    for t in range(steps):
        product = np.ones(paths)
        for t2 in range(t, steps):
            K[:, t, t2] = product * g[:, t2]
            product = product * carry[:, t2]
    return K


def backward_map(D, K) -> np.ndarray:
    """E[K D K^T] over the paths of ``K`` (paths, T, T): one layer of the map without its gain."""
    K = validation.finite(K, "K")
    if K.ndim != 3 or K.shape[1] != K.shape[2] or min(K.shape) < 1:
        raise ValueError(f"K must be (paths, T, T) Jacobians, got shape {K.shape}")
    D = validation.finite(D, "D")
    if D.shape != K.shape[1:]:
        raise ValueError(f"D must be a (T, T) = {K.shape[1:]} second moment (T from K), got shape {D.shape}")
    return np.matmul(np.matmul(K, D), K.transpose(0, 2, 1)).mean(axis=0)


@dataclass(frozen=True)
class TemporalGradientProfile:
    """Predicted backward pass over T steps (index l = layer 0..L; float64).

    D[l]          (T, T) second moment E[delta_l[t] delta_l[t']] of one neuron of layer l, per
                  unit output error (dL/ds_L[t] = 1 at every step; D[0] is that of the input layer)
    delta_sq[l]   n_l tr D[l]: E sum_{t, j} delta_{l,j}[t]^2 (the squared gradient of the currents)
    bias_sq[l]    n_l 1^T D[l] 1: E||dL/db_l||^2 (a bias is constant in time, its gradient sums over t)
    weight_sq[l]  n_{l-1} n_l sum_{t,t'} M_{l-1}[t,t'] D_l[t,t'] = E||dL/dW_l||^2 (l >= 1; [0] NaN)
    chi[l]        delta_sq[l] / delta_sq[l+1] (l = 0..L-1; chi[L] = NaN): the per-layer gain
    """
    D: np.ndarray
    delta_sq: np.ndarray
    bias_sq: np.ndarray
    weight_sq: np.ndarray
    chi: np.ndarray


def temporal_gradient_profile(depth, T, sigma_w, width, threshold=1.0, beta=0.0, reset="subtract",
                              surrogate="atan", scale=None, encoding="gaussian", input_std=1.0,
                              input_rate=None, bias_var=0.0, samples=20000, seed=0) -> TemporalGradientProfile:
    """Per-layer gradient moments at init over T steps (module docstring), per unit output error.

    ``width``: one integer or depth + 1 widths n_0..n_L; ``sigma_w`` one std or one per weight
    layer. Forward: theory.propagate_temporal (``samples`` paths per layer from ``seed``);
    backward: ``samples`` fresh paths per layer from the same Generator stream. Float64.
    """
    depth = validation.non_negative_int(depth, "depth")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    T = validation.time_steps(T)
    widths = validation.layer_widths(width, depth)
    sigmas = validation.per_layer(sigma_w, depth, "sigma_w", validation.non_negative)
    _surrogate(surrogate, scale)
    _check_scalars(threshold=threshold, beta=beta, input_std=input_std, bias_var=bias_var)
    samples = int(validation.scalar(samples, "samples", validation.positive_int))
    _check_paths(samples, T, "temporal_gradient_profile")
    validation.check_memory(16 * (depth + 1) * T * T, f"depth={depth} x T={T} x T={T}")
    forward = propagate_temporal(depth, T, sigmas, widths[:-1], threshold, beta, reset, encoding=encoding,
                                 input_std=input_std, input_rate=input_rate, bias_var=bias_var,
                                 samples=samples, seed=seed)
    rng = np.random.default_rng([validation.non_negative_int(seed, "seed"), 1])
    D = np.full((depth + 1, T, T), np.nan)
    D[depth] = backward_map(np.ones((T, T)), lif_jacobians(forward.current_cov[depth], threshold, beta, reset,
                                                          surrogate, scale, rng.standard_normal((samples, T))))
    for l in range(depth, 0, -1):
        cov = forward.current_cov[l - 1]
        if np.any(np.isnan(cov)):      # spike input: layer 0 has no membrane, nothing to carry back
            break
        K = lif_jacobians(cov, threshold, beta, reset, surrogate, scale, rng.standard_normal((samples, T)))
        D[l - 1] = widths[l] * sigmas[l - 1] ** 2 * backward_map(D[l], K)
    delta_sq = widths * np.trace(D, axis1=1, axis2=2)
    bias_sq = widths * D.sum(axis=(1, 2))
    weight_sq = np.full(depth + 1, np.nan)
    weight_sq[1:] = widths[:-1] * widths[1:] * np.einsum("lij,lij->l", forward.second_moment[:-1], D[1:])
    chi = np.full(depth + 1, np.nan)
    chi[:-1] = delta_sq[:-1] / delta_sq[1:]
    return TemporalGradientProfile(D=D, delta_sq=delta_sq, bias_sq=bias_sq, weight_sq=weight_sq, chi=chi)


def _fixed_point_paths(T, sigma_w, fan_in, threshold, beta, reset, bias_var, samples, seed, depth):
    """The current covariance C* of layer ``depth`` of a uniform stack (temporal mean field,
    i.i.d. N(0, 1) input) and one fixed set of standard normals for paths driven by it."""
    _check_scalars(threshold=threshold, beta=beta, bias_var=bias_var)
    depth = validation.non_negative_int(depth, "depth")
    validation.check_memory(32 * (depth + 1) * T * T, f"depth={depth} x T={T} x T={T}")
    forward = propagate_temporal(depth, T, sigma_w, fan_in, threshold, beta, reset, bias_var=bias_var,
                                 samples=samples, seed=seed)
    normals = np.random.default_rng([validation.non_negative_int(seed, "seed"), 2]).standard_normal((samples, T))
    return forward.current_cov[depth], normals


def step_gains(K, gain):
    """n sigma^2 E[g_t^2] per step t: the diagonal of the Jacobians, squared and averaged."""
    return gain * np.mean(np.diagonal(K, axis1=1, axis2=2) ** 2, axis=0)


def temporal_chi(T, sigma_w, fan_in, threshold=1.0, beta=0.0, reset="subtract", surrogate="atan", scale=None,
                 bias_var=0.0, samples=20000, seed=0, depth=60, per_step=False):
    """chi_T = fan_in sigma_w^2 max_t E[g(u[t] - theta)^2] at the forward fixed point C* (module
    docstring), where C* is the current covariance of layer ``depth`` of a uniform stack under the
    temporal mean field with i.i.d. N(0, 1) input (where deep layers sit), estimated on
    ``samples`` seeded paths. ``per_step=True`` returns the T single-step gains instead of their
    maximum. At T = 1 it is theory.chi (up to sampling error).
    """
    T = validation.time_steps(T)
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    sigma = validation.scalar(sigma_w, "sigma_w", validation.non_negative)
    samples = int(validation.scalar(samples, "samples", validation.positive_int))
    depth = validation.non_negative_int(depth, "depth")
    _surrogate(surrogate, scale)
    _check_paths(samples, T, "temporal_chi")
    cov, normals = _fixed_point_paths(T, sigma, fan_in, threshold, beta, reset, bias_var, samples, seed, depth)
    gains = step_gains(lif_jacobians(cov, threshold, beta, reset, surrogate, scale, normals), fan_in * sigma**2)
    return gains if per_step else float(gains.max())


def temporal_chi_one_scale(surrogate, T, sigma_w, fan_in, threshold=1.0, beta=0.0, reset="subtract",
                           bracket=(1e-2, 1e2), samples=20000, seed=0, depth=60):
    """The surrogate scale at which chi_T = 1 (root of log chi_T(scale) in ``bracket``, Brent,
    on one fixed sample of paths), or None if chi_T - 1 has no sign change there (e.g. the
    straight-through surrogate, whose gain does not depend on its scale)."""
    _surrogate(surrogate, None)
    bracket_ = validation.positive(bracket, "bracket")
    if bracket_.shape != (2,) or not bracket_[0] < bracket_[1]:
        raise ValueError(f"bracket must be (low, high) with 0 < low < high, got {bracket!r}")
    low, high = (float(x) for x in bracket_)
    T = validation.time_steps(T)
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    sigma_w = validation.scalar(sigma_w, "sigma_w", validation.non_negative)
    samples = int(validation.scalar(samples, "samples", validation.positive_int))
    _check_paths(samples, T, "temporal_chi_one_scale")
    cov, normals = _fixed_point_paths(T, sigma_w, fan_in, threshold, beta, reset, 0.0, samples, seed, depth)
    gain = int(fan_in) * float(sigma_w) ** 2

    def excess(log_scale):
        K = lif_jacobians(cov, threshold, beta, reset, surrogate, float(np.exp(log_scale)), normals)
        return np.log(max(float(step_gains(K, gain).max()), 1e-300))

    a, b = np.log(low), np.log(high)
    fa, fb = excess(a), excess(b)
    if not np.isfinite(fa) or not np.isfinite(fb) or fa * fb > 0:
        return None
    return float(np.exp(optimize.brentq(excess, a, b, xtol=1e-10)))
