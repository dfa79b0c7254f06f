"""Heavy-tailed (symmetric alpha-stable) weights: rate and pair-correlation maps, their critical
point and the correlation depth scale (docs/theory.md §9, heavy-tailed weights). Float64.

Route (Kusmierz, Ogawa & Toyoizumi, PRL 2020: threshold units with Gaussian couplings have a
discontinuous transition to chaos, with power-law couplings a continuous one), for the deep
feed-forward spiking stack at ONE time step (u = I, s = [u > theta], theta > 0).

Weights w_ij i.i.d. symmetric alpha-stable, 0 < alpha <= 2, scale gamma: characteristic function
exp(-|gamma t|^alpha) (alpha = 1 Cauchy, alpha = 2 the normal N(0, 2 gamma^2)). X denotes the
standard law (gamma = 1), Q_a(x) = P(X > x) its tail, f_a its density. A sum of k such weights
is stable with scale gamma k^(1/alpha), so a neuron with k active inputs has

    I = gamma k^(1/alpha) X,      P(s = 1 | k) = Q_a(theta / (gamma k^(1/alpha)))      (exact).

With fan-in n write gamma = G n^(-1/alpha) (the init's scale law; G = the GAIN). Fresh weights
in every layer make the spike count an exact Markov chain over depth (:func:`count_chain`):

    k_{l+1} | k_l ~ Binomial(n, Q_a(theta / (G (k_l / n)^(1/alpha)))).

Large n (k = n r): the RATE MAP r' = Q_a(theta / (G r^(1/alpha))) (:func:`rate_map`). Its slope is
dr'/dr = f_a(z) z / (alpha r), z = theta / (G r^(1/alpha)); Q_a(x) ~ C_a x^(-alpha) for large x,
C_a = Gamma(alpha) sin(pi alpha / 2) / pi (alpha < 2), so at r -> 0 the map is LINEAR,

    r' ~ m r,   m = C_a (G / theta)^alpha:

silence is stable for m < 1 and unstable for m > 1, and the active fixed point r* grows
continuously from 0 at the CRITICAL GAIN G_c = theta C_a^(-1/alpha) (alpha = 1: G_c = pi theta).
A neuron near silence fires because ONE active input has a huge weight (single big jump), so a
spike has on average m "offspring" in the next layer: a branching process, critical at m = 1.
For Gaussian weights (alpha = 2) Q is super-exponentially small near r = 0: silence is always
stable and the active state appears only discontinuously (G_c = inf here).

PAIR MAP. Two inputs a, b drive the same network with rate r each and P(both active) = r_ab on
a layer's neurons; spike correlation c = (r_ab - r^2) / (r (1 - r)). With k_ab = n r_ab shared
active inputs and k - k_ab own ones, I_a = X_s + X_a, I_b = X_s + X_b with independent stable
parts of scales g_s = G r_ab^(1/alpha) and g_i = G (r - r_ab)^(1/alpha), so

    r_ab' = E_X[ Q_a((theta - g_s X) / g_i)^2 ]          (a one-dimensional integral)

(:func:`pair_map`, c -> c' with r held at r*; alpha = 1 and 2, where Q_a and f_a are closed
forms: the tabulated law of other alpha is not accurate enough for it). Its fixed point c* in [c_min, 1) (c = 1, two
identical inputs, is always a fixed point), the slope dc'/dc at c* and xi_c = -1 / ln|slope|
(:func:`pair_fixed_point`). Near G_c the firing is one big jump from one input, shared with
probability r_ab / r = c + O(r): c' -> c, the slope tends to 1 and xi_c diverges (continuous
transition). For the paper's Gaussian stack the same quantity is theory.network.trainability's xi_c
(at T = 1 the current-cosine and spike-correlation maps are conjugate: same slope at c*).

BACKWARD GAIN. E[w^2] is infinite for alpha < 2, so the mean-square gain chi of Gaussian theory
does not exist. :func:`typical_chi` simulates one-step networks of width n and their backward
pass delta_{l-1} = s'(u_{l-1} - theta) (W_l delta_l), and returns the TYPICAL gain
exp(E[ln ||delta_{l-1}||^2 / ||delta_l||^2]) per layer (mean over layers after a burn-in). The
forward pass is simulated, not assumed independent of the backward weights: a huge weight
drives its target far past threshold, where the surrogate is small.

Temporal behaviour (T > 1, leak, reset) is not covered by this one-step theory; it is measured
(tests/simulate/test_heavy_tailed_sim.py, docs/theory.md §9.5).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import interpolate, optimize, special, stats

import snn_validation as validation
from theory.core.gaussian import tail
from theory.core.laws import Initialiser, draw
from theory.core.scales import gain_scale

__all__ = ["check_alpha", "stable_tail", "stable_density", "stable_quantile", "tail_constant",
           "critical_gain", "gain_for_rate", "rate_map", "rate_map_slope", "rate_fixed_point",
           "propagate_rate", "count_chain", "CountChain", "pair_map", "propagate_pair",
           "pair_fixed_point", "PairFixedPoint", "typical_chi", "HeavyTailedTrainability",
           "heavy_tailed_trainability"]


def check_alpha(alpha) -> float:
    """alpha as a float in (0, 2]; ValueError naming it otherwise."""
    alpha = float(validation.finite(alpha, "alpha"))
    if not 0.0 < alpha <= 2.0:
        raise ValueError(f"alpha must lie in (0, 2] (the stability index), got {alpha!r}")
    return alpha


def _threshold(threshold) -> float:
    threshold = float(validation.finite(threshold, "threshold"))
    if threshold <= 0.0:
        raise ValueError(f"threshold must be > 0 for the heavy-tailed maps (silence is then a fixed point), "
                         f"got {threshold!r}")
    return threshold


# ------------------------------------------------------------------------------------------
# the standard symmetric stable law
# ------------------------------------------------------------------------------------------

_TABLE_POINTS = 1201


@functools.lru_cache(maxsize=16)
def _table(alpha):
    """Spline of v -> Q_a(tan v) on v in [0, pi/2) from scipy.stats.levy_stable's cdf (its
    parameterisation S1 with beta = 0 has characteristic function exp(-|t|^alpha))."""
    v = np.linspace(0.0, 0.5 * np.pi, _TABLE_POINTS)[:-1]
    x = np.tan(v)
    tail = stats.levy_stable.sf(x, alpha, 0.0)
    tail[0] = 0.5
    return interpolate.CubicSpline(v, tail), float(x[-1])


def tail_constant(alpha) -> float:
    """C_a = Gamma(alpha) sin(pi alpha / 2) / pi: Q_a(x) ~ C_a x^(-alpha) as x -> inf (0 at alpha = 2)."""
    alpha = check_alpha(alpha)
    if alpha == 2.0:
        return 0.0
    return float(special.gamma(alpha) * np.sin(0.5 * np.pi * alpha) / np.pi)


def stable_tail(x, alpha):
    """Q_a(x) = P(X > x), X standard symmetric alpha-stable: alpha = 1: 1/2 - arctan(x)/pi;
    alpha = 2: Q(x / sqrt 2) (normal tail); otherwise a cubic spline in v = arctan|x| of
    scipy's levy_stable survival function (1200 nodes), with C_a |x|^(-alpha) beyond
    |x| = tan(v_max) ~ 760. Symmetric: Q_a(-x) = 1 - Q_a(x). Float64, vectorised."""
    alpha = check_alpha(alpha)
    x = np.asarray(x, dtype=np.float64)
    if alpha == 1.0:
        return 0.5 - np.arctan(x) / np.pi
    if alpha == 2.0:
        return special.ndtr(-x / np.sqrt(2.0))
    spline, x_max = _table(alpha)
    ax = np.abs(x)
    with np.errstate(divide="ignore"):
        far = tail_constant(alpha) * np.where(ax > 0, ax, 1.0) ** (-alpha)
    upper = np.where(ax <= x_max, spline(np.arctan(ax)), far)
    return np.where(x >= 0, upper, 1.0 - upper)


def stable_density(x, alpha):
    """f_a(x): alpha = 1: 1 / (pi (1 + x^2)); alpha = 2: exp(-x^2/4) / (2 sqrt pi); otherwise
    -dQ_a/dx from the spline (alpha C_a |x|^(-alpha-1) in the far tail). Float64."""
    alpha = check_alpha(alpha)
    x = np.asarray(x, dtype=np.float64)
    if alpha == 1.0:
        return 1.0 / (np.pi * (1.0 + x * x))
    if alpha == 2.0:
        return np.exp(-0.25 * x * x) / (2.0 * np.sqrt(np.pi))
    spline, x_max = _table(alpha)
    ax = np.abs(x)
    v = np.arctan(ax)
    with np.errstate(divide="ignore"):
        far = alpha * tail_constant(alpha) * np.where(ax > 0, ax, 1.0) ** (-alpha - 1.0)
    return np.where(ax <= x_max, -spline(v, 1) * np.cos(v) ** 2, far)


def stable_quantile(u, alpha):
    """Q_a^-1: the x with P(X > x) = u, u in (0, 1). alpha = 1: tan(pi (1/2 - u)); alpha = 2:
    sqrt 2 Q^-1(u); otherwise Brent's method on :func:`stable_tail` (scalar u)."""
    alpha = check_alpha(alpha)
    u = float(validation.finite(u, "u"))
    if not 0.0 < u < 1.0:
        raise ValueError(f"u must lie in (0, 1), got {u!r}")
    if alpha == 1.0:
        return float(np.tan(np.pi * (0.5 - u)))
    if alpha == 2.0:
        return float(-np.sqrt(2.0) * special.ndtri(u))
    return _upper_quantile(u, alpha) if u <= 0.5 else -_upper_quantile(1.0 - u, alpha)


def _upper_quantile(u, alpha):
    # u in (0, 1/2]: x >= 0 with Q_a(x) = u
    if u == 0.5:
        return 0.0
    hi = 1.0
    while float(stable_tail(hi, alpha)) > u:
        hi *= 2.0
    return float(optimize.brentq(lambda x: float(stable_tail(x, alpha)) - u, 0.0, hi, xtol=1e-13, rtol=1e-13))


# ------------------------------------------------------------------------------------------
# rate map, its critical point and the rate-preserving gain
# ------------------------------------------------------------------------------------------

def critical_gain(alpha, threshold=1.0) -> float:
    """G_c = theta C_a^(-1/alpha): the slope m = C_a (G/theta)^alpha of the rate map at silence
    is 1 there (alpha = 1: pi theta; alpha = 2: inf, no continuous transition)."""
    alpha, threshold = check_alpha(alpha), _threshold(threshold)
    c = tail_constant(alpha)
    return float("inf") if c == 0.0 else float(threshold * c ** (-1.0 / alpha))


def gain_for_rate(rate, alpha=1.0, threshold=1.0) -> float:
    """The gain G whose large-n rate map has the fixed point r* = ``rate``:
    r = Q_a(theta / (G r^(1/alpha)))  =>  G = theta / (r^(1/alpha) Q_a^-1(r)),  0 < r < 1/2
    (alpha = 1: G = theta tan(pi r) / r). G -> G_c as r -> 0 and -> inf as r -> 1/2."""
    alpha, threshold = check_alpha(alpha), _threshold(threshold)
    rate = float(validation.finite(rate, "rate"))
    if not 0.0 < rate < 0.5:
        raise ValueError(f"rate must lie in (0, 0.5) (a positive threshold cannot be crossed by more than half "
                         f"of the symmetric currents), got {rate!r}")
    return float(threshold / (rate ** (1.0 / alpha) * stable_quantile(rate, alpha)))


def _gain(gain):
    return float(validation.positive(gain, "gain"))


def rate_map(rate, alpha, gain, threshold=1.0):
    """Large-n rate map r' = Q_a(theta / (G r^(1/alpha))), r' = 0 at r = 0. Float64."""
    alpha, threshold, gain = check_alpha(alpha), _threshold(threshold), _gain(gain)
    rate = np.asarray(validation.unit_interval(rate, "rate"), dtype=np.float64)
    with np.errstate(divide="ignore"):
        z = threshold / (gain * np.where(rate > 0, rate, 1.0) ** (1.0 / alpha))
    return validation.scalar_or_array(np.where(rate > 0, stable_tail(z, alpha), 0.0))


def rate_map_slope(rate, alpha, gain, threshold=1.0):
    """dr'/dr = f_a(z) z / (alpha r), z = theta / (G r^(1/alpha)); at r = 0 the limit
    m = C_a (G / theta)^alpha (0 for alpha = 2)."""
    alpha, threshold, gain = check_alpha(alpha), _threshold(threshold), _gain(gain)
    rate = np.asarray(validation.unit_interval(rate, "rate"), dtype=np.float64)
    safe = np.where(rate > 0, rate, 1.0)
    z = threshold / (gain * safe ** (1.0 / alpha))
    slope = stable_density(z, alpha) * z / (alpha * safe)
    return validation.scalar_or_array(np.where(rate > 0, slope, tail_constant(alpha) * (gain / threshold) ** alpha))


@dataclass(frozen=True)
class RateFixedPoint:
    """The active fixed point r* of the rate map (0 if silence is the only one), its slope,
    and the slope at silence m (silence is stable iff m < 1)."""
    rate: float
    slope: float
    silence_slope: float


def rate_fixed_point(alpha, gain, threshold=1.0) -> RateFixedPoint:
    """Largest root of r = Q_a(theta / (G r^(1/alpha))) in (0, 1/2) (Brent on a log grid of
    400 points), its slope, and m at r = 0; rate 0 if there is no active fixed point."""
    alpha, threshold, gain = check_alpha(alpha), _threshold(threshold), _gain(gain)
    m = float(rate_map_slope(0.0, alpha, gain, threshold))
    grid = np.logspace(-14, np.log10(0.5), 400)
    h = rate_map(grid, alpha, gain, threshold) - grid
    roots = np.nonzero(np.sign(h[:-1]) * np.sign(h[1:]) < 0)[0]
    if not len(roots):
        return RateFixedPoint(0.0, m, m)
    i = roots[-1]
    r = float(optimize.brentq(lambda x: float(rate_map(x, alpha, gain, threshold)) - x, grid[i], grid[i + 1],
                              xtol=1e-15, rtol=1e-14))
    return RateFixedPoint(r, float(rate_map_slope(r, alpha, gain, threshold)), m)


def propagate_rate(depth, alpha, gain, threshold=1.0, rate0=0.2):
    """Rates r_0 .. r_depth of the large-n rate map from r_0 = rate0 (float64, (depth + 1,))."""
    depth = validation.non_negative_int(depth, "depth")
    rates = np.empty(depth + 1)
    rates[0] = float(validation.unit_interval(rate0, "rate0"))
    for layer in range(depth):
        rates[layer + 1] = rate_map(rates[layer], alpha, gain, threshold)
    return rates


@dataclass(frozen=True)
class CountChain:
    """Exact finite-width law of the spike count over depth (one step, fresh weights per layer).

    distribution (depth + 1, n + 1): P(k_l = k);  rate (depth + 1,): E[k_l] / n;
    silent (depth + 1,): P(k_l = 0)."""
    distribution: np.ndarray
    rate: np.ndarray
    silent: np.ndarray


def count_chain(depth, width, alpha, gain, threshold=1.0, rate0=0.2) -> CountChain:
    """Propagate the exact law of k_l: k_{l+1} | k_l ~ Bin(n, p(k_l)),
    p(k) = Q_a(theta / (G (k/n)^(1/alpha))), p(0) = 0, from k_0 ~ Bin(n, rate0) (a layer of
    Bernoulli(rate0) input spikes). Width n is the same in every layer. Float64; memory (n+1)^2."""
    depth = validation.non_negative_int(depth, "depth")
    n = int(validation.positive_int(width, "width"))
    k = np.arange(n + 1)
    p = rate_map(k / n, alpha, gain, threshold)
    transition = stats.binom.pmf(k[None, :], n, np.asarray(p)[:, None])
    dist = np.empty((depth + 1, n + 1))
    dist[0] = stats.binom.pmf(k, n, float(validation.unit_interval(rate0, "rate0")))
    for layer in range(depth):
        dist[layer + 1] = dist[layer] @ transition
    return CountChain(distribution=dist, rate=dist @ k / n, silent=dist[:, 0].copy())


# ------------------------------------------------------------------------------------------
# pair map
# ------------------------------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(48)
_OFFSETS = np.array([-64.0, -16.0, -4.0, -1.0, -0.25, 0.0, 0.25, 1.0, 4.0, 16.0, 64.0])


def _both(r, r_ab, alpha, gain, threshold):
    """P(both fire) = E_X[Q_a((theta - g_s X) / g_i)^2], g_s = G r_ab^(1/alpha), g_i = G (r - r_ab)^(1/alpha)."""
    g_s = gain * max(r_ab, 0.0) ** (1.0 / alpha)
    g_i = gain * max(r - r_ab, 0.0) ** (1.0 / alpha)
    if g_i == 0.0:
        return float(stable_tail(threshold / g_s, alpha)) if g_s > 0 else 0.0
    if g_s == 0.0:
        return float(stable_tail(threshold / g_i, alpha)) ** 2
    # integrate over v = arctan(X), where the integrand f_a(tan v) / cos^2 v Q_a(...)^2 is bounded
    # on a finite interval; the step of Q_a((theta - g_s x) / g_i) sits at v0 = arctan(theta / g_s)
    # with width ~ w = (g_i / g_s) cos^2 v0: composite 48-point Gauss-Legendre on pieces cut
    # at v0 +- w {1/4, 1, 4, 16, 64} (checked against direct sampling and, at alpha = 2, the exact
    # bivariate-normal orthant: tests/theory/test_heavy_tailed.py)
    v0 = float(np.arctan(threshold / g_s))
    w = min(max(g_i / g_s * np.cos(v0) ** 2, 1e-14), np.pi)
    cuts = np.clip(v0 + w * _OFFSETS, -0.5 * np.pi, 0.5 * np.pi)
    edges = np.unique(np.concatenate([[-0.5 * np.pi], cuts, [0.5 * np.pi]]))
    lo, hi = edges[:-1, None], edges[1:, None]
    v = 0.5 * (hi - lo) * _GL_X[None, :] + 0.5 * (hi + lo)
    weight = 0.5 * (hi - lo) * _GL_W[None, :]
    x = np.tan(v)
    values = stable_density(x, alpha) / np.cos(v) ** 2 * stable_tail((threshold - g_s * x) / g_i, alpha) ** 2
    return float(np.sum(weight * values))


def _pair_alpha(alpha):
    alpha = check_alpha(alpha)
    if alpha not in (1.0, 2.0):
        raise ValueError(f"alpha must be 1 (Cauchy) or 2 (normal) for the pair map: its integral needs the "
                         f"stable density to better than the 1e-3 the tabulated law gives elsewhere, got {alpha!r}")
    return alpha


def pair_map(correlation, rate, alpha, gain, threshold=1.0, out_rate=None):
    """Spike correlation one layer up, c' = (r_ab' - r'^2) / (r' (1 - r')), of two inputs with
    rate ``rate`` each and spike correlation c (r_ab = r^2 + c r (1 - r)); large-n, one step.
    c must keep r_ab in [max(0, 2r - 1), r]. ``out_rate`` (r') defaults to rate_map(rate)."""
    alpha, threshold, gain = _pair_alpha(alpha), _threshold(threshold), _gain(gain)
    r = float(validation.unit_interval(rate, "rate"))
    if not 0.0 < r < 1.0:
        raise ValueError(f"rate must lie in (0, 1) for a correlation to exist, got {rate!r}")
    c = float(validation.finite(correlation, "correlation"))
    r_ab = r * r + c * r * (1.0 - r)
    if not max(0.0, 2.0 * r - 1.0) - 1e-15 <= r_ab <= r + 1e-15:
        raise ValueError(f"correlation {c!r} is outside the range a pair of rate {r} can have")
    r_out = float(rate_map(r, alpha, gain, threshold)) if out_rate is None else float(out_rate)
    if not 0.0 < r_out < 1.0:
        return float("nan")
    both = _both(r, min(max(r_ab, 0.0), r), alpha, gain, threshold)
    return (both - r_out * r_out) / (r_out * (1.0 - r_out))


def propagate_pair(depth, alpha, gain, threshold=1.0, rate0=0.2, correlation0=0.0):
    """(rates, correlations), each (depth + 1,), of two inputs through the large-n maps from
    Bernoulli(rate0) input spikes with spike correlation correlation0. NaN once silent."""
    rates = propagate_rate(depth, alpha, gain, threshold, rate0)
    corr = np.full(rates.shape, np.nan)
    corr[0] = float(validation.finite(correlation0, "correlation0"))
    for layer in range(len(rates) - 1):
        if not 0.0 < rates[layer] < 1.0 or not 0.0 < rates[layer + 1] < 1.0:
            break
        corr[layer + 1] = pair_map(corr[layer], rates[layer], alpha, gain, threshold, rates[layer + 1])
    return rates, corr


@dataclass(frozen=True)
class PairFixedPoint:
    """Fixed point of the spike-correlation map at the rate fixed point r*.

    rate r*; c_star the attracting fixed point c* < 1 (NaN if the stack is silent); slope
    dc'/dc at c*; xi_c = -1 / ln|slope| (layers; inf at slope 1, 0 if the slope is 0);
    roots: every fixed point found in [c_min, 1) with its slope; unit_slope: the left slope
    (1 - c'(1 - h)) / h at c = 1 with h = 1e-6 (> 1: identical inputs are unstable);
    silence_slope m; gain G; critical_gain G_c."""
    rate: float
    c_star: float
    slope: float
    xi_c: float
    roots: tuple
    unit_slope: float
    silence_slope: float
    gain: float
    critical_gain: float


def _slope(alpha, gain, threshold, r, c, h=1e-5):
    lo, hi = max(c - h, -r / (1.0 - r)), min(c + h, 1.0)
    return (pair_map(hi, r, alpha, gain, threshold, r) - pair_map(lo, r, alpha, gain, threshold, r)) / (hi - lo)


def pair_fixed_point(alpha, gain, threshold=1.0, grid=60) -> PairFixedPoint:
    """c* of c -> pair_map(c, r*) (r held at the rate fixed point), its slope and xi_c.
    Roots of c' - c are bracketed on ``grid`` points of [c_min, 1 - 1e-4] (c_min: r_ab = 0)
    and refined by Brent's method; c* is the root with |slope| < 1 reached from c = 0
    (the largest stable root <= the first one above 0, else the smallest stable root)."""
    alpha, threshold, gain = _pair_alpha(alpha), _threshold(threshold), _gain(gain)
    grid = int(validation.positive_int(grid, "grid"))
    fp = rate_fixed_point(alpha, gain, threshold)
    g_c = critical_gain(alpha, threshold)
    r = fp.rate
    if not 0.0 < r < 1.0:
        nan = float("nan")
        return PairFixedPoint(r, nan, nan, nan, (), nan, fp.silence_slope, gain, g_c)
    c_min = -r / (1.0 - r)
    cs = np.linspace(c_min, 1.0 - 1e-4, grid)
    h = np.array([pair_map(c, r, alpha, gain, threshold, r) - c for c in cs])
    roots = []
    for i in np.nonzero(np.sign(h[:-1]) * np.sign(h[1:]) < 0)[0]:
        c = float(optimize.brentq(lambda x: pair_map(x, r, alpha, gain, threshold, r) - x, cs[i], cs[i + 1],
                                  xtol=1e-12))
        roots.append((c, float(_slope(alpha, gain, threshold, r, c))))
    stable = [root for root in roots if abs(root[1]) < 1.0]
    if stable:
        below = [root for root in stable if root[0] <= max(0.0, min(root[0] for root in roots))]
        c_star, slope = (below[-1] if below else stable[0])
    else:
        c_star, slope = float("nan"), float("nan")
    unit = (1.0 - pair_map(1.0 - 1e-6, r, alpha, gain, threshold, r)) / 1e-6
    a = abs(slope)
    xi = float("nan") if not np.isfinite(a) else (0.0 if a == 0.0 else (float("inf") if a == 1.0 else -1.0 / np.log(a)))
    return PairFixedPoint(r, c_star, slope, xi, tuple(roots), float(unit), fp.silence_slope, gain, g_c)


# ------------------------------------------------------------------------------------------
# backward gain
# ------------------------------------------------------------------------------------------

def _standard_stable(alpha, shape, rng):

    return draw({"dist": "stable", "alpha": alpha, "scale": 1.0}, shape, rng).astype(np.float64)


def typical_chi(alpha, gain, threshold=1.0, width=100, surrogate="atan", scale=None, depth=40, burn_in=10,
                chains=20, seed=0, rate=None):
    """Typical per-layer backward gain exp(mean ln(||delta_l||^2 / ||delta_{l+1}||^2)) of
    one-step networks of width n (module docstring), its standard error (delta method over
    chains) and the per-chain values: (chi, se, per_chain).

    Each chain is one network, simulated: Bernoulli(r) input spikes (r = the rate fixed point
    r*, or ``rate``), ``depth`` layers of fresh stable weights, u_l = s_{l-1} W_l,
    s_l = [u_l > theta]; then delta_depth ~ N(0, 1) and delta_{l-1} = s'(u_{l-1} - theta) (W_l delta_l).
    The forward pass is kept because the gradient-independence shortcut fails for heavy tails:
    a huge w_ji drives neuron i far past threshold, where s'(u_i - theta) is small, so the
    largest weights carry less gradient than an independent draw of u would say. The
    ``burn_in`` layers nearest the top and the first layer are left out of the mean. Seeded
    (numpy Generator(seed)); float64 from float32 weights (theory.inits.draw)."""
    from theory.core.surrogates import surrogate_grad

    alpha, threshold, gain = check_alpha(alpha), _threshold(threshold), _gain(gain)
    n = int(validation.positive_int(width, "width"))
    depth = int(validation.positive_int(depth, "depth"))
    burn_in = validation.non_negative_int(burn_in, "burn_in")
    if burn_in >= depth - 1:
        raise ValueError(f"burn_in must be < depth - 1 = {depth - 1}, got {burn_in}")
    chains = int(validation.positive_int(chains, "chains"))
    r = rate_fixed_point(alpha, gain, threshold).rate if rate is None else float(validation.unit_interval(rate, "rate"))
    gamma = gain * n ** (-1.0 / alpha)
    rng = np.random.default_rng(validation.non_negative_int(seed, "seed"))
    per_chain = np.empty(chains)
    for chain in range(chains):
        spikes = (rng.random(n) < r).astype(np.float64)
        weights, currents = [], []
        for _ in range(depth):
            w = gamma * _standard_stable(alpha, (n, n), rng)
            u = spikes @ w
            weights.append(w)
            currents.append(u)
            spikes = (u > threshold).astype(np.float64)
        delta = rng.standard_normal(n)
        logs = []
        for layer in range(depth - 1, 0, -1):          # delta of layer `layer` -> layer - 1
            new = surrogate_grad(surrogate, currents[layer - 1] - threshold, scale) * (weights[layer] @ delta)
            before, after = float(delta @ delta), float(new @ new)
            if after == 0.0 or before == 0.0:
                logs.append(-np.inf)
                break
            logs.append(np.log(after / before))
            delta = new / np.sqrt(after)                 # renormalised: only ratios matter
        kept = np.asarray(logs[burn_in:]) if len(logs) > burn_in else np.asarray([-np.inf])
        per_chain[chain] = float(np.mean(kept))
    mean = float(np.mean(per_chain))
    se = float(np.std(per_chain, ddof=1) / np.sqrt(chains)) if chains > 1 and np.isfinite(mean) else float("nan")
    return float(np.exp(mean)), float(np.exp(mean) * se), np.exp(per_chain)


# ------------------------------------------------------------------------------------------
# one call for the figure
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeavyTailedTrainability:
    """What :func:`heavy_tailed_trainability` predicts (one step, large n unless stated).

    alpha, gain G, critical_gain G_c, rate r*, c_star, slope, xi_c (layers), depth = constant *
    xi_c (the trainable-depth rule of theory.trainability), chi (typical backward gain at
    width ``width``, :func:`typical_chi`), chi_se, xi_grad = 1 / |ln chi|."""
    alpha: float
    gain: float
    critical_gain: float
    rate: float
    c_star: float
    slope: float
    xi_c: float
    depth: float
    chi: float
    chi_se: float
    xi_grad: float


def heavy_tailed_trainability(alpha=1.0, gain=None, rate=None, threshold=1.0, width=100, surrogate="atan",
                              scale=None, constant=6.0, chains=20, seed=0) -> HeavyTailedTrainability:
    """xi_c, chi and the predicted trainable depth of a stack with the 'stable' init
    (theory.inits; gain G, or the rate-preserving G at ``rate``, default Q(theta)). Compare with
    ``theory.trainability(threshold=..., T=1, init='micheli', fan_in=width)`` for the paper's init."""
    from theory.core.gaussian import tail

    alpha, threshold = check_alpha(alpha), _threshold(threshold)
    if gain is not None and rate is not None:
        raise ValueError("give gain or rate, not both")
    gain = gain_for_rate(float(tail(threshold)) if rate is None else rate, alpha, threshold) if gain is None \
        else _gain(gain)
    point = pair_fixed_point(alpha, gain, threshold)
    if point.rate > 0:
        chi, chi_se, _ = typical_chi(alpha, gain, threshold, width, surrogate, scale, chains=chains, seed=seed)
    else:
        chi, chi_se = 0.0, 0.0
    constant = float(validation.positive(constant, "constant"))
    return HeavyTailedTrainability(alpha, gain, point.critical_gain, point.rate, point.c_star, point.slope,
                                   point.xi_c, constant * point.xi_c, chi, chi_se, gain_scale(chi))


def _stable(fan_in, fan_out, threshold, beta, alpha=1.0, rate=None, gain=None):
    """Heavy-tailed init: w_ij i.i.d. symmetric alpha-stable with scale gamma = G n^(-1/alpha)
    (the current of k active inputs is stable with scale gamma k^(1/alpha) = G (k/n)^(1/alpha)).
    G = ``gain`` if given; else the rate-preserving G of :func:`theory.gain_for_rate`
    at ``rate`` (default Q(theta), the paper's fixed-point rate). Returns gamma (a scale, not a std)."""
    alpha = check_alpha(alpha)
    if gain is not None and rate is not None:
        raise ValueError("rate and gain of the 'stable' init are alternatives: give at most one")
    if gain is None:
        gain = gain_for_rate(float(tail(threshold)) if rate is None else rate, alpha, threshold)
    gain = float(validation.positive(gain, "gain"))
    return float(gain / fan_in ** (1.0 / alpha))


# this regime's registry entry (listed explicitly by theory.inits)
INITIALISER = Initialiser("stable",
          "w ~ symmetric alpha-stable, scale gamma = G / n^(1/alpha); G = gain, or by default the G whose "
          "one-step large-n rate fixed point is `rate` (default Q(theta)): G = theta / (r^(1/alpha) "
          "Q_alpha^-1(r)); alpha = 1: Cauchy, G = theta tan(pi r) / r",
          "Kusmierz, Ogawa & Toyoizumi 2020 (heavy-tailed couplings); this toolkit, docs/theory.md §9",
          dist="stable", params=("alpha", "rate", "gain"), regime="heavy_tailed", std=_stable)
