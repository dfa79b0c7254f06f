"""Mean-field (infinite-width, one time step) maps of a deep spiking layer stack.

Length map (docs/theory.md §3), float64, for weights of std sigma_w, fan-in n, bias variance b:

    q_l = g(q_{l-1}) = n sigma_w^2 Q(theta / sqrt(q_{l-1})) + b,      rate p_l = Q(theta / sqrt(q_l))

Its slope is g'(q) = n sigma_w^2 phi(z) z / (2 q),  z = theta / sqrt(q). Correlation map
between two inputs whose membranes have correlation c:

    c_l = [n sigma_w^2 P2(z, c_{l-1}) + b] / q_l,    P2(z, c) = P(X > z, Y > z), corr(X, Y) = c.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

import snn_validation as validation
from theory.core.gaussian import density, firing_probability, orthant

__all__ = [
    "Propagation", "FixedPoint", "length_map", "length_map_slope", "rate_map", "propagate",
    "fixed_points", "stable_fixed_point", "basin_boundary", "depth_scale",
    "critical_threshold", "correlation_map", "correlation_fixed_point",
]


def layer_gain(sigma_w, fan_in):
    return validation.positive_int(fan_in, "fan_in") * validation.non_negative(sigma_w, "sigma_w") ** 2


def length_map(q, sigma_w, fan_in, threshold, bias_var=0.0):
    """g(q) = fan_in sigma_w^2 Q(theta / sqrt q) + bias_var  (membrane variance one layer up)."""
    q = validation.non_negative(q, "q")
    threshold = validation.finite(threshold, "threshold")
    bias_var = validation.non_negative(bias_var, "bias_var")
    out = layer_gain(sigma_w, fan_in) * firing_probability(threshold, q) + bias_var
    return validation.scalar_or_array(out)


def length_map_slope(q, sigma_w, fan_in, threshold):
    """g'(q) = fan_in sigma_w^2 phi(z) z / (2 q), z = theta/sqrt(q); limit 0 at q = 0 for theta > 0."""
    q = validation.non_negative(q, "q")
    threshold = validation.finite(threshold, "threshold")
    gain = layer_gain(sigma_w, fan_in)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = threshold / np.sqrt(q)
        slope = gain * density(z) * z / (2.0 * q)
    # phi(z) decays faster than 1/q grows, so the slope tends to 0 at q -> 0 when theta != 0.
    slope = np.where(q > 0, slope, 0.0)
    return validation.scalar_or_array(slope)


def rate_map(rate, sigma_w, fan_in, threshold, bias_var=0.0):
    """Firing-rate map p_l = Q(theta / sqrt(fan_in sigma_w^2 p_{l-1} + bias_var))."""
    rate = validation.unit_interval(rate, "rate")
    threshold = validation.finite(threshold, "threshold")
    bias_var = validation.non_negative(bias_var, "bias_var")
    q = layer_gain(sigma_w, fan_in) * rate + bias_var
    return validation.scalar_or_array(firing_probability(threshold, q))


@dataclass(frozen=True)
class Propagation:
    """Per-layer mean-field prediction, arrays of length depth + 1 (index 0 = input layer).

    q[l]    membrane variance Var[u_l] (zero-mean membrane at the first step from rest)
    rate[l] firing probability P(u_l > theta) = E[s_l] = E[s_l^2]
    """
    q: np.ndarray
    rate: np.ndarray


def propagate(depth, sigma_w, fan_in, threshold, q0=1.0, bias_var=0.0):
    """Iterate the length map ``depth`` times from q_0 = q0.

        q_l = fan_in sigma_w^2 Q(theta / sqrt(q_{l-1})) + bias_var,   rate_l = Q(theta / sqrt(q_l))

    ``sigma_w`` and ``fan_in`` may be scalars or sequences of length ``depth`` (one per
    weight layer, for stacks of varying width). Returns :class:`Propagation` with arrays of
    length depth + 1. Float64.
    """
    depth = validation.non_negative_int(depth, "depth")
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    q0 = validation.scalar(q0, "q0", validation.non_negative)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    gain = layer_gain(sigma_w, fan_in)
    if gain.ndim > 1 or (gain.ndim == 1 and gain.shape != (depth,)):
        raise ValueError(f"sigma_w and fan_in must be scalars or sequences of length depth={depth} (one per "
                         f"weight layer), got shapes {np.shape(sigma_w)} and {np.shape(fan_in)}")
    validation.check_memory(24 * (depth + 1), f"depth={depth}")
    gain = np.broadcast_to(gain, (depth,)) if depth else np.zeros(0)
    q = np.empty(depth + 1)
    q[0] = q0
    for layer in range(depth):
        q[layer + 1] = gain[layer] * firing_probability(threshold, q[layer]) + bias_var
    return Propagation(q=q, rate=firing_probability(threshold, q))


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point q = g(q) of the length map: its slope g'(q), stability |g'| < 1, and
    the firing probability Q(theta/sqrt q) there."""
    q: float
    slope: float
    stable: bool
    rate: float


def fixed_points(sigma_w, fan_in, threshold, bias_var=0.0, grid_points: int = 4000):
    """Every fixed point of the length map, in increasing q, each with slope and stability.

    All fixed points lie in [0, n sigma_w^2 + b] because Q <= 1. q = 0 is one whenever
    b = 0 and theta >= 0 (silence is absorbing); its slope is 0, so it is always stable.
    The others are roots of h(q) = g(q) - q. The interval is first cut at the roots of
    h'(q) = g'(q) - 1 (bracketed on a log grid, refined by Brent's method); h is monotone
    between consecutive cuts, so each piece holds at most one root, found by Brent's method.
    This finds nearly-coincident pairs of fixed points (near the critical threshold) that a
    plain sign-change scan would miss; an exactly tangent root is reported when |h| there is
    at round-off level.
    """
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    gain = layer_gain(sigma_w, fan_in)
    if gain.ndim:
        raise ValueError(f"sigma_w and fan_in must be scalars (one layer map), got shapes "
                         f"{np.shape(sigma_w)} and {np.shape(fan_in)}")
    gain = float(gain)
    if isinstance(grid_points, (bool, np.bool_)) or not isinstance(grid_points, (int, np.integer)) or grid_points < 100:
        raise ValueError(f"grid_points must be an integer >= 100 (a coarser grid misses fixed points), got {grid_points!r}")
    validation.check_memory(32 * grid_points, f"grid_points={grid_points}")
    upper = gain + bias_var

    def excess(q):
        return gain * firing_probability(threshold, q) + bias_var - q

    def excess_slope(q):
        return length_map_slope(q, np.sqrt(gain), 1, threshold) - 1.0

    roots = []
    if bias_var == 0.0 and threshold >= 0.0:
        roots.append(0.0)
    if upper > 0.0:
        grid = np.geomspace(upper * 1e-12, upper * 1.001, grid_points)
        slopes = excess_slope(grid)
        cuts = [optimize.brentq(excess_slope, grid[k], grid[k + 1], xtol=1e-15, rtol=1e-15)
                for k in np.nonzero(np.sign(slopes[:-1]) * np.sign(slopes[1:]) < 0)[0]]
        edges = [grid[0], *cuts, grid[-1]]
        for lo, hi in zip(edges[:-1], edges[1:]):
            h_lo, h_hi = excess(lo), excess(hi)
            if h_lo * h_hi < 0:
                roots.append(optimize.brentq(excess, lo, hi, xtol=1e-15, rtol=1e-15))
        for cut in cuts:  # tangent roots: h touches 0 at a critical point
            if abs(excess(cut)) <= 1e-13 * max(1.0, cut):
                roots.append(cut)
    points = []
    for q in sorted(set(roots)):
        slope = float(length_map_slope(q, np.sqrt(gain), 1, threshold))
        points.append(FixedPoint(q=float(q), slope=slope, stable=abs(slope) < 1.0,
                                 rate=float(firing_probability(threshold, q))))
    return points


def stable_fixed_point(sigma_w, fan_in, threshold, bias_var=0.0):
    """The largest stable fixed point (the active state), or the q = 0 one if none is active."""
    stable = [p for p in fixed_points(sigma_w, fan_in, threshold, bias_var) if p.stable]
    return stable[-1]


def basin_boundary(sigma_w, fan_in, threshold, bias_var=0.0):
    """The unstable fixed point separating silence from activity: iterating from below it
    goes to q = 0, from above it goes to the active stable point. None if there is none."""
    points = fixed_points(sigma_w, fan_in, threshold, bias_var)
    active = stable_fixed_point(sigma_w, fan_in, threshold, bias_var)
    unstable = [p for p in points if not p.stable and 0.0 < p.q < active.q]
    return unstable[-1] if unstable else None


# A fixed point whose |slope| is within this of 1 is marginal. At a (nearly) double root of
# g(q) = q the root is known only to ~sqrt(machine epsilon) in q, and so is its slope: at the
# critical threshold the computed slope comes out 1 - 2e-16 or 1 + 2e-16 by round-off.
_MARGINAL = 1e-7


def depth_scale(sigma_w, fan_in, threshold, bias_var=0.0):
    """xi = -1 / log|g'(q*)| at the active stable fixed point: perturbations of q decay as
    exp(-l / xi). Infinite at a marginal point (|g'(q*)| = 1, e.g. the paper's init at the
    critical threshold; slopes within 1e-7 of 1 count as marginal, the precision to which a
    double root's slope is known); 0 where the slope is 0 (q* = 0, or theta = 0 where g is
    constant)."""
    points = fixed_points(sigma_w, fan_in, threshold, bias_var)
    active = [p for p in points if abs(p.slope) < 1.0 + _MARGINAL and p.q > 0.0]
    point = active[-1] if active else stable_fixed_point(sigma_w, fan_in, threshold, bias_var)
    slope = abs(point.slope)
    if slope == 0.0:
        return 0.0
    return float(-1.0 / np.log(slope)) if slope < 1.0 - _MARGINAL else float("inf")


def paper_slope(z):
    # slope of the length map at q* under the paper's init: z phi(z) / (2 Q(z)), z = theta/sqrt(q*)
    return z * density(z) / (2.0 * firing_probability(z, 1.0))


def critical_threshold(target_var=1.0):
    """Threshold above which the paper's fixed point q* becomes unstable.

    With sigma_w = optimal_sigma(theta, n, q*) the slope at q* is z phi(z) / (2 Q(z)),
    z = theta / sqrt(q*), independent of n; it increases with z and crosses 1 at
    z_c ~= 1.19, so theta_c = z_c sqrt(q*). Solved by Brent's method.
    """
    target_var = validation.scalar(target_var, "target_var", validation.positive)
    z_c = optimize.brentq(lambda z: paper_slope(z) - 1.0, 0.1, 10.0, xtol=1e-15, rtol=1e-15)
    return float(z_c * np.sqrt(target_var))


def correlation_map(c, sigma_w, fan_in, threshold, q=1.0, bias_var=0.0):
    """Membrane correlation one layer up for two inputs with membrane variance q and
    correlation c (infinite width, one step):

        c_l = [n sigma_w^2 P2(theta/sqrt q, c) + b] / (n sigma_w^2 Q(theta/sqrt q) + b)

    c = 1 maps to 1; its slope there is infinite for the step nonlinearity.
    """
    c = validation.as_float_array(c, "c")
    if np.any(np.abs(c) > 1):
        raise ValueError(f"c must lie in [-1, 1], got {c!r}")
    q = validation.positive(q, "q")
    threshold = validation.finite(threshold, "threshold")
    bias_var = validation.non_negative(bias_var, "bias_var")
    gain = layer_gain(sigma_w, fan_in)
    z = threshold / np.sqrt(q)
    q_out = gain * firing_probability(threshold, q) + bias_var
    if np.any(q_out <= 0):
        raise ValueError("the output variance fan_in sigma_w^2 Q(threshold / sqrt q) + bias_var is 0 (sigma_w = 0, or "
                         "a threshold so far above sqrt(q) that nothing fires, and bias_var = 0): the correlation is "
                         f"undefined; got sigma_w={_shown(sigma_w)}, threshold={_shown(threshold)}, q={_shown(q)}")
    return validation.scalar_or_array((gain * orthant(z, c) + bias_var) / q_out)


def _shown(value) -> str:
    """A number (or an array's shape) for a message."""
    return f"{float(np.squeeze(value)):g}" if np.size(value) == 1 else f"an array of shape {np.shape(value)}"


def correlation_slope(c, sigma_w, fan_in, threshold, q=1.0, bias_var=0.0):
    """dc_l/dc = n sigma_w^2 exp(-z^2/(1+c)) / (2 pi sqrt(1-c^2) q_l); infinite at c = 1."""
    c = validation.as_float_array(c, "c")
    q = validation.positive(q, "q")
    threshold = validation.finite(threshold, "threshold")
    gain = layer_gain(sigma_w, fan_in)
    z = threshold / np.sqrt(q)
    q_out = gain * firing_probability(threshold, q) + validation.non_negative(bias_var, "bias_var")
    with np.errstate(divide="ignore"):
        dens = np.exp(-z * z / (1.0 + c)) / (2.0 * np.pi * np.sqrt(1.0 - c * c))
    return validation.scalar_or_array(gain * dens / q_out)


def correlation_fixed_point(sigma_w, fan_in, threshold, q=1.0, bias_var=0.0):
    """The stable fixed point c* < 1 of the correlation map (c = 1 is always a fixed point
    but unstable, with infinite slope). Returns (c_star, slope_at_c_star)."""
    sigma_w = validation.scalar(sigma_w, "sigma_w", validation.non_negative)
    fan_in = validation.scalar(fan_in, "fan_in", validation.positive_int)
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    q = validation.scalar(q, "q", validation.positive)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    f = lambda c: correlation_map(c, sigma_w, fan_in, threshold, q, bias_var) - c  # noqa: E731
    lo, hi = -1.0, 1.0 - 1e-12
    if f(lo) < 0:
        raise ValueError("the correlation map has no fixed point below 1 for these parameters")
    if f(hi) >= 0:
        raise ValueError(f"the correlation map has no stable fixed point below 1 for sigma_w={sigma_w}, "
                         f"fan_in={fan_in:g}, threshold={threshold}, q={q}, bias_var={bias_var}: it lies on or above "
                         f"the diagonal up to c = 1 (every pair of inputs ends fully correlated)")
    c_star = optimize.brentq(f, lo, hi, xtol=1e-14)
    return float(c_star), float(correlation_slope(c_star, sigma_w, fan_in, threshold, q, bias_var))
