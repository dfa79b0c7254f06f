"""Backward pass at initialisation, one time step: surrogate-gradient gains chi (float64).

Stack of L weight layers, widths n_0 .. n_L (n_L = number of classes), W_l ~ (0, sigma_l^2)
of shape (n_{l-1}, n_l), u_l = s_{l-1} @ W_l, s_l = [u_l > theta]. The backward pass of the
training code (simulate.loss_and_grads, T = 1, batch 1) is

    delta_l = dL/du_l = dL/ds_l * g(u_l - theta),      dL/ds_{l-1} = W_l delta_l,
    dL/dW_l = s_{l-1}^T delta_l   =>   ||dL/dW_l||^2 = k_{l-1} ||delta_l||^2   (exactly, batch 1)
    dL/db_l = delta_l             =>   ||dL/db_l||^2 = ||delta_l||^2,

g the surrogate derivative. Mean field: W_{l+1} is independent of u_l and of the signal it
carries back, so E||W_{l+1} delta_{l+1}||^2 = n_l sigma_{l+1}^2 ||delta_{l+1}||^2, and treating
g(u_l - theta) as independent of dL/ds_l (the usual gradient-independence assumption),

    ||delta_l||^2 = chi_l ||delta_{l+1}||^2,      chi_l = n_l sigma_{l+1}^2 E[g(u - theta)^2],  u ~ N(0, q_l)
    E||dL/dW_l||^2 = n_{l-1} p_{l-1} ||delta_l||^2,   p = Q(theta / sqrt q)   (forward mean field).

chi_l uses the fan-in of W_{l+1} (= width of layer l) because the NORM sums over the n_l
neurons of layer l. The top term ||delta_L||^2 of the count cross-entropy is computed
exactly for independent outputs (:func:`output_delta_sq`).

Quadrature: E[g^2] is computed by adaptive quadrature (scipy.integrate.quad) split at the
surrogate's peak u = theta; Gauss-Hermite is offered for comparison but is inaccurate for
sharp surrogates (sigmoid or fast sigmoid with slope 25: width 1/25 << sqrt q), which the
tests show.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats

from theory.inits import registry as inits
import snn_validation as validation
from theory.core.gaussian import density, firing_probability, gauss_hermite_expectation
from theory.meanfield.maps import propagate, stable_fixed_point
from theory.core.surrogates import SURROGATES

__all__ = ["surrogate_moment", "chi", "gain_cv2", "output_delta_sq", "GradientProfile", "gradient_profile",
           "chi_one_scale", "chi_one_fixed_points", "ChiOnePoint"]

# Surrogates whose square is constant in x (their gain needs no quadrature).
_CONSTANT_SQUARE = {"triangular", "straight_through"}
_ROOT_2PI = np.sqrt(2.0 * np.pi)
_SPAN = 12.0   # integrate u over +-12 sqrt(q): the Gaussian mass outside is < 1e-32


def _scale(surrogate, scale):
    validation.choice(surrogate, "surrogate", SURROGATES)
    return SURROGATES[surrogate][1] if scale is None else validation.scalar(scale, "scale", validation.positive)


def _overflow(what, **args) -> ValueError:
    """The ValueError for magnitudes whose float64 arithmetic overflows (Python floats raise)."""
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return ValueError(f"{what} overflows float64 at {shown}: use smaller magnitudes")


def surrogate_moment(surrogate, q, threshold=1.0, scale=None, power=2, part="all", method="adaptive"):
    """E[g(u - theta)^power (restricted to ``part``)] for u ~ N(0, q), float64.

    part: "all", "above" (E[g^p 1{u > theta}]) or "below" (E[g^p 1{u <= theta}]).
    method: "adaptive" (scipy quad split at theta; default, accurate for sharp surrogates)
    or "gauss_hermite" (101 nodes, smooth only: the comparison the tests make).
    q = 0 means u = 0 exactly: g(-theta)^power.
    """
    scale = _scale(surrogate, scale)
    q = validation.scalar(q, "q", validation.non_negative)
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    validation.scalar(power, "power", validation.positive)     # checked; used as given (int powers stay int)
    validation.choice(part, "part", {"all", "above", "below"})
    validation.choice(method, "method", {"adaptive", "gauss_hermite"})
    try:
        return _moment(surrogate, q, threshold, scale, power, part, method)
    except OverflowError:
        raise _overflow("the surrogate's moment", threshold=threshold, q=q, scale=scale, power=power) from None


def _moment(surrogate, q, threshold, scale, power, part, method):
    """surrogate_moment on checked arguments."""

    func = SURROGATES[surrogate][0]   # unvalidated: the arguments are checked above

    def g_power(u):
        return func(u - threshold, scale) ** power

    if q == 0.0:
        inside = {"all": True, "above": 0.0 > threshold, "below": 0.0 <= threshold}[part]
        return float(g_power(np.array(0.0))) if inside else 0.0
    if surrogate in _CONSTANT_SQUARE and power % 2 == 0:
        mass = {"all": 1.0, "above": float(firing_probability(threshold, q)),
                "below": 1.0 - float(firing_probability(threshold, q))}[part]
        return float(g_power(np.array(0.0))) * mass
    if method == "gauss_hermite":
        if part != "all":
            raise ValueError("method 'gauss_hermite' supports part='all' only (the indicator is not smooth)")
        return float(gauss_hermite_expectation(g_power, q))
    std = np.sqrt(q)
    lo, hi = -_SPAN * std, _SPAN * std
    # breakpoints at the surrogate's peak and at 1, 10, 100, 1000 of its widths on both sides,
    # so that quad sees a peak much narrower than sqrt(q) (sigmoid slope 25 at q = 1e4)
    width = 1.0 / scale
    offsets = width * np.array([1.0, 10.0, 100.0, 1000.0])
    edges = {"below": [lo, *np.sort(threshold - offsets), threshold],
             "above": [threshold, *(threshold + offsets), hi]}
    wanted = ("below", "above") if part == "all" else (part,)
    total = 0.0
    for name in wanted:
        points = np.clip(edges[name], lo, hi)
        for a, b in zip(points[:-1], points[1:]):
            if b <= a:
                continue
            value, _ = integrate.quad(lambda u: g_power(u) * np.exp(-0.5 * (u / std) ** 2) / (_ROOT_2PI * std),
                                      a, b, limit=200, epsabs=1e-300, epsrel=1e-11)
            total += value
    return total


def chi(surrogate, sigma_w, fan_in, threshold=1.0, q=None, scale=None, method="adaptive"):
    """Backward gain per layer  chi = fan_in sigma_w^2 E[g(u - theta)^2],  u ~ N(0, q).

    q defaults to the stable active fixed point of the forward length map for (sigma_w,
    fan_in, threshold) (theory.meanfield.maps.stable_fixed_point). chi > 1: gradients grow
    towards the input; chi < 1: they vanish, as chi^depth.
    """
    sigma_w = validation.scalar(sigma_w, "sigma_w", validation.non_negative)
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    if q is None:
        q = stable_fixed_point(sigma_w, fan_in, threshold).q
    try:
        return fan_in * sigma_w**2 * surrogate_moment(surrogate, q, threshold, scale, method=method)
    except OverflowError:
        raise _overflow("the gain fan_in sigma_w^2", sigma_w=sigma_w, fan_in=fan_in) from None


def gain_cv2(surrogate, q, fan_in, threshold=1.0, scale=None):
    """Squared coefficient of variation of one layer's gain at finite width n = fan_in.

    Given delta_{l+1}, the n numbers z_i = (W_{l+1} delta_{l+1})_i / (sigma ||delta_{l+1}||) are
    i.i.d. N(0, 1) (disjoint rows of W) and independent of u_l, so the measured gain
    ||delta_l||^2 / ||delta_{l+1}||^2 = sigma^2 sum_i g_i^2 z_i^2 has mean chi and

        CV^2 = (3 E[g^4] / E[g^2]^2 - 1) / n.

    Sharp surrogates make E[g^4] / E[g^2]^2 large (fast sigmoid k = 25 at q = 1: ~66, so
    CV = 0.44 at n = 1000): a product of L gains is then log-normal-like, its mean chi^L is
    carried by rare draws, and the typical (median) network has exp(sum log gain) ~
    chi^L exp(-L CV^2 / 2) to first order (delta method), far below the mean at depth.
    """
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    second = surrogate_moment(surrogate, q, threshold, scale, power=2)
    fourth = surrogate_moment(surrogate, q, threshold, scale, power=4)
    if second == 0.0:
        raise ValueError("E[g^2] is 0 for these parameters: the gain is identically 0")
    return (3.0 * fourth / second**2 - 1.0) / fan_in


def output_delta_sq(surrogate, q, n_classes=10, threshold=1.0, scale=None):
    """E||delta_L||^2 for the count cross-entropy at T = 1, batch 1 (label: any class).

    delta_L,j = (softmax_j(s_L) - y_j) g(u_j - theta), outputs u_j i.i.d. N(0, q). Let
    A_s = E[g^2 1{s_j = s}] and m ~ Binomial(C - 1, p) the number of OTHER active outputs;
    with D = (m + s)(e - 1) + C the softmax denominator,

        E||delta_L||^2 = sum_s A_s E_m[(e^s / D - 1)^2 + (C - 1)(e^s / D)^2]

    (the label's term plus C - 1 identically distributed others; softmax is symmetric in
    the others, so whether the label fires only enters through the label's own s).
    """
    n_classes = int(validation.scalar(n_classes, "n_classes", validation.positive_int))
    validation.check_memory(40 * n_classes, f"n_classes={n_classes}")
    q = validation.scalar(q, "q", validation.non_negative)
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    rate = float(firing_probability(threshold, q))
    moments = {1: surrogate_moment(surrogate, q, threshold, scale, part="above"),
               0: surrogate_moment(surrogate, q, threshold, scale, part="below")}
    others = np.arange(n_classes)
    weights = stats.binom.pmf(others, n_classes - 1, rate)
    total = 0.0
    for s, moment in moments.items():
        share = np.exp(s) / ((others + s) * (np.e - 1.0) + n_classes)
        total += moment * float(weights @ ((share - 1.0) ** 2 + (n_classes - 1) * share**2))
    return total


@dataclass(frozen=True)
class GradientProfile:
    """Predicted backward pass at init (index l = layer; arrays of length depth + 1).

    q[l], rate[l]         forward mean field (layer 0 = input LIF layer)
    chi[l]                gain from layer l + 1 to layer l (l = 0 .. L-1; chi[L] = nan)
    delta_sq[l]           E||dL/du_l||^2 = E||dL/db_l||^2 (absolute; batch 1)
    weight_grad_sq[l]     E||dL/dW_l||^2 = n_{l-1} p_{l-1} delta_sq[l]  (l = 1..L; [0] = nan)
    gain_cv2[l]           squared CV of the measured gain chi_l at this width (:func:`gain_cv2`)
    typical_weight_grad_sq[l]  weight_grad_sq[l] exp(-1/2 sum_{m=l}^{L-1} gain_cv2[m]): the
                          typical (geometric-mean) ||dW_l||^2 per unit output error, i.e.
                          exp E[log(||dW_l||^2 / ||delta_L||^2)] E||delta_L||^2 (delta method)
    """
    q: np.ndarray
    rate: np.ndarray
    chi: np.ndarray
    delta_sq: np.ndarray
    weight_grad_sq: np.ndarray
    gain_cv2: np.ndarray
    typical_weight_grad_sq: np.ndarray


def gradient_profile(depth, width, threshold=1.0, surrogate="atan", scale=None, init="micheli",
                     sigma_w=None, n_classes=10, beta=0.0, q0=1.0, method="adaptive") -> GradientProfile:
    """Per-layer gradient norms at init for the stack n_0 = .. = n_{L-1} = width, n_L = n_classes.

    Weights from initialiser ``init`` (per layer, fan_in/fan_out as in the stack) unless
    ``sigma_w`` (one std, or one per layer) is given. T = 1, batch 1, no biases. Float64.
    """
    depth = validation.non_negative_int(depth, "depth")
    if depth < 1:
        raise ValueError(f"depth must be >= 1 (at least the output layer), got {depth}")
    width = int(validation.scalar(width, "width", validation.positive_int))
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    beta = validation.scalar(beta, "beta", validation.unit_interval)
    n_classes = int(validation.scalar(n_classes, "n_classes", validation.positive_int))
    validation.check_memory(120 * (depth + 1), f"depth={depth}")
    widths = np.array([width] * depth + [n_classes])
    if sigma_w is None:
        sigmas = np.array([inits.weight_std(init, widths[l], widths[l + 1], threshold, beta)
                           for l in range(depth)])
    else:
        sigmas = validation.per_layer(sigma_w, depth, "sigma_w", validation.non_negative)
    forward = propagate(depth, sigmas, widths[:-1], threshold, q0=q0)
    gains = np.full(depth + 1, np.nan)
    delta_sq = np.empty(depth + 1)
    delta_sq[depth] = output_delta_sq(surrogate, forward.q[depth], widths[depth], threshold, scale)
    cv2 = np.full(depth + 1, np.nan)
    moments = {}   # layers at the same fixed point share their quadratures
    for l in range(depth - 1, -1, -1):
        key = float(forward.q[l])
        if key not in moments:
            second = surrogate_moment(surrogate, key, threshold, scale, method=method)
            fourth = surrogate_moment(surrogate, key, threshold, scale, power=4, method=method)
            moments[key] = (second, fourth)
        second, fourth = moments[key]
        gains[l] = widths[l] * sigmas[l] ** 2 * second    # sigmas[l] is the std of W_{l+1}
        cv2[l] = (3.0 * fourth / second**2 - 1.0) / widths[l] if second > 0 else np.inf
        delta_sq[l] = gains[l] * delta_sq[l + 1]
    weight_grad_sq = np.full(depth + 1, np.nan)
    weight_grad_sq[1:] = widths[:-1] * forward.rate[:-1] * delta_sq[1:]
    # sum_{m=l}^{L-1} cv2[m] for l = 1..L (empty sum at l = L)
    tail_cv2 = np.concatenate([np.cumsum(cv2[1:depth][::-1])[::-1], [0.0]])
    typical = np.full(depth + 1, np.nan)
    typical[1:] = weight_grad_sq[1:] * np.exp(-0.5 * tail_cv2)
    return GradientProfile(q=forward.q, rate=forward.rate, chi=gains, delta_sq=delta_sq,
                           weight_grad_sq=weight_grad_sq, gain_cv2=cv2, typical_weight_grad_sq=typical)


def chi_one_scale(surrogate, sigma_w, fan_in, threshold=1.0, q=None, bracket=(1e-3, 1e3)):
    """Surrogate scale making chi = 1 at the forward fixed point (None if no scale in
    ``bracket`` does, e.g. straight_through, whose gain ignores the scale)."""
    sigma_w = validation.scalar(sigma_w, "sigma_w", validation.positive)
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    bracket = validation.positive(bracket, "bracket")
    if bracket.shape != (2,) or not bracket[0] < bracket[1]:
        raise ValueError(f"bracket must be two scales 0 < low < high, got {bracket!r}")
    if q is None:
        q = stable_fixed_point(sigma_w, fan_in, threshold).q
    grid = np.geomspace(*bracket, 61)
    values = np.array([chi(surrogate, sigma_w, fan_in, threshold, q, s) - 1.0 for s in grid])
    crossing = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    if not len(crossing):
        return None
    a, b = np.log(grid[crossing[0]]), np.log(grid[crossing[0] + 1])
    log_scale = optimize.brentq(lambda x: chi(surrogate, sigma_w, fan_in, threshold, q, np.exp(x)) - 1.0,
                                a, b, xtol=1e-12)
    return float(np.exp(log_scale))


@dataclass(frozen=True)
class ChiOnePoint:
    """The init making chi = 1 (the forward fixed point it implies, and its cost).

    q          forward fixed-point variance;   gain = n sigma_w^2 = q / Q(theta / sqrt q)
    sigma_w    weight std at fan_in n;         rate = Q(theta / sqrt q) (paper: Q(theta))
    forward_slope  slope of the length map at q (> 1: the forward pass does not settle there)
    """
    q: float
    gain: float
    sigma_w: float
    rate: float
    forward_slope: float


def chi_one_fixed_points(surrogate, fan_in, threshold=1.0, scale=None, q_bracket=(1e-3, 1e4)):
    """Every init whose forward fixed point q has chi = 1 (backward gain one), by increasing q.

    Parametrising by the fixed point: gain(q) = n sigma_w^2 = q / Q(theta/sqrt q) makes q a
    fixed point of the length map, and chi(q) = gain(q) E_{N(0,q)}[g^2]. Roots of chi(q) = 1
    are bracketed on a log grid of q in ``q_bracket`` and refined by Brent's method; an empty
    list means chi != 1 at every fixed point (e.g. straight-through, where chi >= min_q gain(q)
    > 1). Check ``forward_slope`` < 1: a root the forward pass cannot settle at is no init.
    Compare with the paper's q = 1.
    """
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    scale = _scale(surrogate, scale)
    q_bracket = validation.positive(q_bracket, "q_bracket")
    if q_bracket.shape != (2,) or not q_bracket[0] < q_bracket[1]:
        raise ValueError(f"q_bracket must be two variances 0 < low < high, got {q_bracket!r}")

    def gain(q):
        return q / float(firing_probability(threshold, q))

    def excess(log_q):
        q = np.exp(log_q)
        return gain(q) * surrogate_moment(surrogate, q, threshold, scale) - 1.0

    grid = np.linspace(np.log(q_bracket[0]), np.log(q_bracket[1]), 161)
    values = np.array([excess(x) for x in grid])
    points = []
    for k in np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]:
        q = float(np.exp(optimize.brentq(excess, grid[k], grid[k + 1], xtol=1e-13)))
        z = threshold / np.sqrt(q)
        slope = float(z * density(z) / (2.0 * firing_probability(threshold, q)))
        points.append(ChiOnePoint(q=q, gain=gain(q), sigma_w=float(np.sqrt(gain(q) / fan_in)),
                                  rate=float(firing_probability(threshold, q)), forward_slope=slope))
    return points
