"""Stochastic firing (escape noise): mean-field maps, correlation depth scale and critical init.

Float64, infinite width, one time step (T = 1: u = I, the leak and reset play no part;
docs/theory.md §9 "Stochastic firing"). A neuron of a network with escape noise tau > 0 spikes with probability

    P(s = 1 | u) = f(u) = Phi((u - theta) / tau)          (probit escape function)

independently across neurons, steps and inputs, i.e. s = [u + tau eps > theta], eps ~ N(0, 1)
fresh for every spike decision: a hard threshold on u plus independent Gaussian noise. With
zero-mean weights of std sigma_w, fan-in n (gain g = n sigma_w^2), bias variance b, two inputs
whose currents have variance q and correlation c, z = theta / sqrt(q + tau^2) and
kappa = q / (q + tau^2):

    rate          p = E[s] = Q(z)
    pair moment   E[s^a s^b] = P2(z, kappa c)        (P2(z, r) = P(X > z, Y > z), corr r)

because u^a + tau eps^a and u^b + tau eps^b are bivariate normal with variance q + tau^2 and
covariance q c (the noise is independent across the two inputs). Two networks are compared:

* ``network="stochastic"`` (the spiking network with escape noise, what the simulator runs):

      q' = g Q(z) + b,        c' = [g P2(z, kappa c) + b] / q'

  The map is the Heaviside correlation map at variance q + tau^2 applied to kappa c: identical
  inputs decorrelate, c'(1) = [g P2(z, kappa) + b] / q' < 1. On [0, 1] the map is convex
  (dP2/dr = exp(-z^2 / (1 + r)) / (2 pi sqrt(1 - r^2)) grows with r) and maps 1 below 1, so
  there is exactly one fixed point c* < 1 and its slope is < 1: the stochastic network is
  always in the ordered phase, there is no edge of chaos, and the correlation of identical and
  of different inputs converge to the same c* (the output forgets the input) with

      slope = kappa g exp(-z^2 / (1 + kappa c*)) / (2 pi sqrt(1 - kappa^2 c*^2) q*),
      xi_c = -1 / ln(slope).

  By convexity slope <= 1 - (1 - c'(1)) / (1 - c*): it can approach 1 only where identical
  inputs stay nearly identical (c'(1) -> 1, small tau) while c* stays far from 1.

* ``network="expected"`` (the rate network with the smooth activation f, "expected spike"):

      q' = g P2(z, kappa) + b  (= g E[f(u)^2] + b),   c' = [g P2(z, kappa c) + b] / q'

  c = 1 is a fixed point with slope chi_1 = g E[f'(u)^2] (Poole et al. 2016): ordered (c* = 1,
  xi_c = -1/ln chi_1) for chi_1 < 1, chaotic (c* < 1) for chi_1 > 1, an edge of chaos at
  chi_1 = 1 as for erf networks.

Backward gain. The escape function's derivative f'(u) = phi((u - theta)/tau) / tau (the probit
surrogate with scale 1/tau, ``theory.core.surrogates.probit``) is the exact gradient of a neuron's
expected spike (Gygax & Zenke 2025). Its per-layer gain at the forward fixed point q* is

    chi = g E[f'(u)^2] = g exp(-theta^2 / (2 q + tau^2)) / (2 pi tau sqrt(2 q + tau^2)),  u ~ N(0, q)

(closed form: a Gaussian integral of a squared Gaussian). For the expected network chi = chi_1.
The critical initialisation of the escape regime (:func:`critical_sigma`) is the weight std for
which chi = 1 at the stochastic network's own fixed point q*: gradients neither vanish nor
explode with depth. It is the only notion of "critical" the stochastic network has: its
forward correlation map has no edge of chaos (see above); chi = 1 is the edge of chaos of the
expected network evaluated at the spiking network's variance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize

import snn_validation as validation
from theory.core.scales import gain_scale
from theory.core.gaussian import tail
from theory.core.lif import Firing
from theory.core.laws import Initialiser
from theory.meanfield.pair import bivariate_tail

__all__ = ["Escape", "NETWORKS", "escape_rate", "length_map", "fixed_point_variance", "correlation_map",
           "correlation_slope", "chi", "EscapePoint", "escape_fixed_point", "critical_sigma",
           "propagate_pair", "max_xi_sigma", "predict"]

NETWORKS = ("stochastic", "expected")


@dataclass(frozen=True)
class Escape(Firing):
    """Stochastic (escape-noise) firing, the value a LIF neuron carries (``LIF(firing=Escape(tau))``):

        P(s[t] = 1 | u[t]) = Phi((u[t] - theta) / tau),     tau > 0

    (probit escape function; its derivative phi((u - theta)/tau)/tau is also the backward pass's
    surrogate in training). The simulator draws the spikes from a counter-based stream
    (simulate.kernels), so they do not depend on threads or batch splits."""
    tau: float = 0.5

    def __post_init__(self):
        tau = float(validation.positive(self.tau, "tau"))
        if not np.isfinite(np.float32(tau)) or np.float32(tau) <= 0:
            raise ValueError(f"tau must be finite and > 0 in float32 (the simulation's dtype), got {self.tau!r}")
        object.__setattr__(self, "tau", tau)


def _check(threshold, tau, bias_var):
    threshold = float(validation.finite(threshold, "threshold"))
    tau = float(validation.positive(tau, "tau"))
    bias_var = float(validation.non_negative(bias_var, "bias_var"))
    return threshold, tau, bias_var


def _gain(sigma_w, fan_in):
    return validation.positive_int(fan_in, "fan_in") * float(validation.non_negative(sigma_w, "sigma_w")) ** 2


def _p2(z, r):
    """P2(z, r) = P(X > z, Y > z), corr(X, Y) = r (scalar float64)."""
    return float(bivariate_tail(z, z, float(np.clip(r, -1.0, 1.0))))


def _dp2(z, r):
    """dP2/dr = exp(-z^2 / (1 + r)) / (2 pi sqrt(1 - r^2)) (Plackett), r in (-1, 1)."""
    return float(np.exp(-z * z / (1.0 + r)) / (2.0 * np.pi * np.sqrt(1.0 - r * r)))


def escape_rate(q, threshold, tau):
    """E[Phi((u - theta)/tau)] = Q(theta / sqrt(q + tau^2)) for u ~ N(0, q) (q >= 0)."""
    q = validation.non_negative(q, "q")
    threshold, tau, _ = _check(threshold, tau, 0.0)
    return validation.scalar_or_array(tail(threshold / np.sqrt(q + tau * tau)))


def length_map(q, sigma_w, fan_in, threshold, tau, bias_var=0.0, network="stochastic"):
    """q' = g Q(z) + b (stochastic) or g P2(z, kappa) + b (expected), z = theta / sqrt(q + tau^2),
    kappa = q / (q + tau^2), g = fan_in sigma_w^2 (scalar q >= 0)."""
    q = float(validation.non_negative(q, "q"))
    threshold, tau, bias_var = _check(threshold, tau, bias_var)
    validation.choice(network, "network", NETWORKS)
    gain = _gain(sigma_w, fan_in)
    z = threshold / np.sqrt(q + tau * tau)
    second = float(tail(z)) if network == "stochastic" else _p2(z, q / (q + tau * tau))
    return gain * second + bias_var


def fixed_point_variance(sigma_w, fan_in, threshold, tau, bias_var=0.0, network="stochastic"):
    """The largest fixed point q* = length_map(q*). The map is increasing in q (theta >= 0) and
    bounded by g + b, so iterating from q = g + b decreases monotonically to it; stopped at
    relative change 1e-14. Where that is slow (2000 steps, next to a saddle-node of the map) the
    root is finished by Brent's method on [0, q], which then may return another root."""
    threshold, tau, bias_var = _check(threshold, tau, bias_var)
    validation.choice(network, "network", NETWORKS)
    gain = _gain(sigma_w, fan_in)
    if network == "stochastic":       # scalar erfc: this loop runs inside the init's root search
        def step(v):
            return gain * 0.5 * math.erfc(threshold / math.sqrt(2.0 * (v + tau * tau))) + bias_var
    else:
        def step(v):
            return length_map(v, sigma_w, fan_in, threshold, tau, bias_var, network)
    q = gain + bias_var
    for _ in range(2000):
        new = step(q)
        if abs(new - q) <= 1e-14 * max(1.0, q):
            return float(new)
        q = new
    if step(0.0) <= 0:
        return 0.0
    return float(optimize.brentq(lambda v: step(v) - v, 0.0, q, xtol=1e-15, rtol=1e-14))


def _pair_setup(c, sigma_w, fan_in, threshold, tau, q, bias_var, network):
    """Checked (c, q', kappa, z, bias_var) shared by the correlation map and its slope."""
    c = float(validation.finite(c, "c"))
    if abs(c) > 1.0:
        raise ValueError(f"c must lie in [-1, 1], got {c!r}")
    q = float(validation.positive(q, "q"))
    threshold, tau, bias_var = _check(threshold, tau, bias_var)
    q_out = length_map(q, sigma_w, fan_in, threshold, tau, bias_var, network)
    if q_out <= 0:
        raise ValueError("sigma_w is 0 and bias_var is 0: the output variance is 0, so the correlation is undefined")
    return c, q_out, q / (q + tau * tau), threshold / np.sqrt(q + tau * tau), bias_var


def correlation_map(c, sigma_w, fan_in, threshold, tau, q=1.0, bias_var=0.0, network="stochastic"):
    """c' = [g P2(z, kappa c) + b] / q' for input currents of variance q and correlation c."""
    c, q_out, kappa, z, bias_var = _pair_setup(c, sigma_w, fan_in, threshold, tau, q, bias_var, network)
    return (_gain(sigma_w, fan_in) * _p2(z, kappa * c) + bias_var) / q_out


def correlation_slope(c, sigma_w, fan_in, threshold, tau, q=1.0, bias_var=0.0, network="stochastic"):
    """dc'/dc = kappa g exp(-z^2 / (1 + kappa c)) / (2 pi sqrt(1 - kappa^2 c^2) q')."""
    c, q_out, kappa, z, _ = _pair_setup(c, sigma_w, fan_in, threshold, tau, q, bias_var, network)
    return kappa * _gain(sigma_w, fan_in) * _dp2(z, kappa * c) / q_out


def chi(sigma_w, fan_in, threshold, tau, q):
    """Backward gain g E[f'(u)^2] = g exp(-theta^2/(2q + tau^2)) / (2 pi tau sqrt(2q + tau^2)),
    u ~ N(0, q), f' = phi((u - theta)/tau)/tau the escape function's derivative."""
    q = float(validation.non_negative(q, "q"))
    threshold, tau, _ = _check(threshold, tau, 0.0)
    spread = 2.0 * q + tau * tau
    return float(_gain(sigma_w, fan_in) * np.exp(-threshold ** 2 / spread) / (2.0 * np.pi * tau * np.sqrt(spread)))


@dataclass(frozen=True)
class EscapePoint:
    """Infinite-width fixed point of one network (T = 1).

    q, rate     fixed-point current variance q* and firing rate (stochastic: Q(z); expected:
                the mean expected spike, also Q(z))
    c_star      fixed-point correlation of two inputs' currents (1 for the ordered expected net)
    slope       slope of the correlation map at c*;  xi_c = -1 / ln(slope)  (layers)
    c_same      one layer's correlation of two IDENTICAL inputs at q* (c'(1): < 1 for stochastic)
    chi         backward gain with the escape derivative;  xi_grad = 1 / |ln chi|
    sigma_w, fan_in, threshold, tau, bias_var, network   the configuration
    """
    q: float
    rate: float
    c_star: float
    slope: float
    xi_c: float
    c_same: float
    chi: float
    xi_grad: float
    sigma_w: float
    fan_in: int
    threshold: float
    tau: float
    bias_var: float
    network: str


def escape_fixed_point(sigma_w, fan_in, threshold, tau, bias_var=0.0, network="stochastic") -> EscapePoint:
    """q*, rate, c*, slope, xi_c, c_same, chi of the stochastic or the expected network (T = 1)."""
    threshold, tau, bias_var = _check(threshold, tau, bias_var)
    validation.choice(network, "network", NETWORKS)
    fan_in = int(validation.positive_int(fan_in, "fan_in"))
    sigma_w = float(validation.positive(sigma_w, "sigma_w"))
    q = fixed_point_variance(sigma_w, fan_in, threshold, tau, bias_var, network)
    if q <= 0.0:
        raise ValueError("the fixed-point variance is 0 (sigma_w and bias_var too small): no correlation defined")
    args = (sigma_w, fan_in, threshold, tau, q, bias_var, network)
    c_same = correlation_map(1.0, *args)
    excess = lambda c: correlation_map(c, *args) - c  # noqa: E731
    if network == "expected":
        chi_1 = correlation_slope(1.0 - 1e-15, *args)
        if chi_1 <= 1.0:                          # ordered: c = 1 is the stable fixed point
            c_star, slope = 1.0, chi_1
        else:
            c_star = optimize.brentq(excess, -1.0, 1.0 - 1e-9, xtol=1e-15)
            slope = correlation_slope(c_star, *args)
    else:
        c_star = optimize.brentq(excess, -1.0, 1.0, xtol=1e-15)
        slope = correlation_slope(c_star, *args)
    gain_back = chi(sigma_w, fan_in, threshold, tau, q)
    return EscapePoint(q=q, rate=float(tail(threshold / np.sqrt(q + tau * tau))), c_star=float(c_star),
                       slope=float(slope), xi_c=gain_scale(slope), c_same=float(c_same), chi=gain_back,
                       xi_grad=gain_scale(gain_back), sigma_w=sigma_w, fan_in=fan_in, threshold=threshold,
                       tau=tau, bias_var=bias_var, network=network)


def critical_sigma(fan_in, threshold, tau, bias_var=0.0, network="stochastic"):
    """The weight std with chi = 1 at the network's ACTIVE fixed point q*(sigma_w).

    q*(sigma_w) jumps from a (nearly) silent branch to the active one as the gain grows, and chi
    jumps with it (chi ~ 1/tau on the active branch for small tau), so a root search on chi - 1
    alone would land on the jump. The gain g = fan_in sigma_w^2 is scanned on a log grid over
    [1e-2, 1e4] (240 points); the first sign change of ln chi between two grid points whose q*
    differ by less than a factor 1.5 (one continuous branch) with rate > 1e-6 is refined by
    Brent's method. ValueError if there is none: then chi > 1 wherever the network is active
    (the escape function is too sharp: tau too small for this threshold) or chi < 1 throughout.
    """
    threshold, tau, bias_var = _check(threshold, tau, bias_var)
    validation.choice(network, "network", NETWORKS)
    fan_in = int(validation.positive_int(fan_in, "fan_in"))
    return _critical_sigma(fan_in, threshold, tau, bias_var, network)


@lru_cache(maxsize=256)
def _critical_sigma(fan_in, threshold, tau, bias_var, network):
    def state(log_gain):
        sigma = float(np.exp(0.5 * log_gain) / np.sqrt(fan_in))
        q = fixed_point_variance(sigma, fan_in, threshold, tau, bias_var, network)
        return q, np.log(max(chi(sigma, fan_in, threshold, tau, q), 1e-300))

    grid = np.linspace(np.log(1e-2), np.log(1e4), 240)
    states = [state(x) for x in grid]
    for (x0, (q0, e0)), (x1, (q1, e1)) in zip(zip(grid, states), zip(grid[1:], states[1:])):
        active = min(q0, q1) > 0 and float(tail(threshold / np.sqrt(min(q0, q1) + tau * tau))) > 1e-6
        if active and max(q0, q1) < 1.5 * min(q0, q1) and e0 * e1 <= 0:
            root = optimize.brentq(lambda x: state(x)[1], x0, x1, xtol=1e-13)
            return float(np.exp(0.5 * root) / np.sqrt(fan_in))
    raise ValueError(f"chi = 1 is not reached on the active branch for fan_in={fan_in}, threshold={threshold}, "
                     f"tau={tau}, bias_var={bias_var} (gain fan_in sigma_w^2 in [1e-2, 1e4]); at threshold 1 "
                     "a larger tau (about 0.4 or more) has a critical init")


def max_xi_sigma(fan_in, threshold, tau, bias_var=0.0, bounds=(0.05, 50.0)):
    """The weight std maximising the stochastic network's xi_c (bounded scalar search over
    sqrt(fan_in) sigma_w in ``bounds``, log scale). Returns (sigma_w, EscapePoint). Where the
    slope keeps growing with the gain (large tau: the network approaches a Heaviside one at
    theta / sqrt(q*) -> 0), the result sits at the upper bound: a supremum, not a maximum."""
    threshold, tau, bias_var = _check(threshold, tau, bias_var)
    fan_in = int(validation.positive_int(fan_in, "fan_in"))
    lo, hi = (float(validation.positive(b, "bounds")) for b in bounds)

    def negative_slope(log_gain):
        try:
            return -escape_fixed_point(np.exp(log_gain) / np.sqrt(fan_in), fan_in, threshold, tau, bias_var).slope
        except ValueError:          # a silent fixed point (q* = 0 in float64): no correlation, slope 0
            return 0.0

    best = optimize.minimize_scalar(negative_slope, bounds=(np.log(lo), np.log(hi)), method="bounded",
                                    options={"xatol": 1e-6})
    sigma = float(np.exp(best.x) / np.sqrt(fan_in))
    return sigma, escape_fixed_point(sigma, fan_in, threshold, tau, bias_var)


def propagate_pair(depth, sigma_w, fan_in, threshold, tau, q0=1.0, c0=0.0, bias_var=0.0, network="stochastic"):
    """Iterate the length and correlation maps from input currents of variance q0, correlation
    c0 (layer 0). Returns dict of (depth + 1,) arrays: q (current variance), rate, c (current
    correlation), spike_moment (E[s^a s^b]) and spike_correlation ((E[s^a s^b] - p^2)/(p(1 - p)))
    of layers 0..depth (layer 0 fires on the input currents)."""
    depth = int(validation.non_negative_int(depth, "depth"))
    threshold, tau, bias_var = _check(threshold, tau, bias_var)
    q0 = float(validation.positive(q0, "q0"))
    c0 = float(validation.finite(c0, "c0"))
    if abs(c0) > 1.0:
        raise ValueError(f"c0 must lie in [-1, 1], got {c0!r}")
    validation.choice(network, "network", NETWORKS)
    gain = _gain(sigma_w, fan_in)
    q, c = np.empty(depth + 1), np.empty(depth + 1)
    rate, moment = np.empty(depth + 1), np.empty(depth + 1)
    q[0], c[0] = q0, c0
    for layer in range(depth + 1):
        z = threshold / np.sqrt(q[layer] + tau * tau)
        kappa = q[layer] / (q[layer] + tau * tau)
        rate[layer] = float(tail(z))
        moment[layer] = _p2(z, kappa * c[layer])
        if layer < depth:
            second = rate[layer] if network == "stochastic" else _p2(z, kappa)
            q[layer + 1] = gain * second + bias_var
            c[layer + 1] = (gain * moment[layer] + bias_var) / q[layer + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        spike_corr = (moment - rate ** 2) / (rate * (1.0 - rate))
    return {"q": q, "rate": rate, "c": c, "spike_moment": moment, "spike_correlation": spike_corr}


def predict(tau, threshold=1.0, fan_in=100, sigma_w=None, bias_var=0.0, network="stochastic") -> EscapePoint:
    """The one-step (T = 1) prediction for a stack of width ``fan_in`` with escape noise ``tau``:
    weight std ``sigma_w`` (default the critical init of this tau, :func:`critical_sigma`), then
    :func:`escape_fixed_point` (xi_c, chi, rate, c*, c_same)."""
    if sigma_w is None:
        sigma_w = critical_sigma(fan_in, threshold, tau)
    return escape_fixed_point(sigma_w, fan_in, threshold, tau, bias_var, network)


def _escape_critical(fan_in, fan_out, threshold, beta, tau=0.5):
    """Critical init of the escape-noise network (:func:`critical_sigma`, network="stochastic"):
    the backward gain with the escape derivative is 1 at the forward fixed point. The training
    loop passes its ``escape_noise`` as ``tau``; 0.5 is the default (the smallest round tau with
    a critical init at threshold 1: none exists below tau/theta of about 0.4)."""
    return critical_sigma(fan_in, threshold, tau)


# this regime's registry entry (listed explicitly by theory.inits)
INITIALISER = Initialiser("escape_critical",
          "std = sigma_w with chi = n sigma_w^2 E[f'(u)^2] = 1 at the stochastic fixed point q*, "
          "f(u) = Phi((u - theta)/tau)  (T = 1; docs/theory.md §9, stochastic firing)",
          "this toolkit (escape-noise regime, docs/theory.md §9)", params=("tau",), regime="escape", std=_escape_critical)
