"""A temporally optimal initialisation: the weight std whose temporal mean-field fixed point
keeps the time-averaged rate at a target (science.md §6), and the temporal phase diagram.

Float64. With gain g = fan_in sigma_w^2, the temporal map of :mod:`theory.temporal` is

    M_l = F_g(M_{l-1}) = LIF(C = g M_{l-1})       (T x T spike second moments)

and the init solves, for g, that the depth fixed point M* = F_g(M*) reached from a layer
firing at the target rate has (1/T) sum_t M*[t, t] = target_rate; sigma_w = sqrt(g / fan_in).
g does not depend on fan_in, so it is computed once per (threshold, beta, T, reset, target).

Target (default Q(theta)): the rate of the paper's first-step fixed point, so that at T = 1
the init is exactly the paper's (test), the target does not depend on the input encoding (the
fixed point is a property of the layer stack; deep layers forget the input), and the
comparison with the paper isolates what time, leak and reset change.

Assumptions, compared with the alternatives in the registry:
- micheli (the paper): one step from rest; u ~ N(0, q*). Breaks from step 2 on: leak adds the
  previous membrane (variance grows with beta), the reset subtracts theta from the neurons that
  fired, and spikes are correlated in time.
- micheli_reset (authors' code): keeps a stationary single-step variance with leak and reset
  terms, but uses E[u | u > theta] = phi/p where the covariance phi(theta) would be exact,
  treats u as Gaussian after the reset, and ignores temporal correlations of the input spikes.
- micheli_temporal (here): infinite width, zero-mean i.i.d. weights fixed over time (exact
  Gaussian-process currents), full LIF dynamics; it targets the time average only, so the
  time profile at the fixed point is whatever the dynamics give (it may oscillate); finite
  width breaks it (see tests/simulate/test_temporal_sim.py).

Gains g = fan_in Var[w] at theta = 1, T = 10 (paper: 1/Q(1) = 6.30 for every beta and reset;
micheli_reset: 5.46, 13.5, 17.7 at beta = 0, 0.5, 0.9):

    reset      beta 0   beta 0.5   beta 0.9
    subtract    7.62     7.22       5.83
    zero        6.31     6.27       6.02
    none        6.31     5.79       5.70

Findings. micheli_reset at beta = 0 lies below the one-step saddle-node gain (~6.03 at
theta = 1, the smallest gain with an active one-step fixed point), so activity dies over
depth; at beta >= 0.5 it overshoots (time-averaged rates 0.30-0.40 at depth 100 instead of
0.16). The paper's init keeps step 1 exactly but, with subtract reset, loses steps >= 3 over
depth at beta = 0.5 and alternates firing/silence at beta = 0; with beta = 0.9 rates grow in
time. Where leak raises the rate over time (beta = 0.9 any reset, beta >= 0.5 without reset)
the time-averaged target needs a gain below the saddle-node: the early steps then die slowly
over depth (time profile e.g. 0, 0, 0, 0, 0.14, 0.24, ... for subtract, beta = 0.9) while the
time average holds; a target on every step cannot be met there by any single gain.
Such marginal modes (a slow drift through the saddle-node's ghost, or the slowly growing
firing/silence alternation at beta = 0 with subtract reset) are where finite width matters
most: at width 2000 the simulated time-averaged rate at depth 100 falls 11.6 % and 12.8 % below the
target for beta = 0 and 0.9 (subtract), while beta = 0.5 stays within 1 %. The exact
finite-width chain (:mod:`theory.temporal_chain`) predicts that shortfall, so ``width=n``
solves for the gain on the chain instead (finite-width gains at width 2000, T = 10, subtract:
7.74, 7.22, 5.87 at beta 0, 0.5, 0.9, i.e. +1.6 %, +0.0 %, +0.7 % over the infinite-width
gains; simulated rate at depth 100 within 1.1 % of Q(1) at all three, measured). The steep
dependence of the deep rate on the gain at beta = 0.9 (a 3 % change of g moves the rate at
depth 100 by about 50 %) is the price of a time-averaged target below the saddle-node.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from tqdm.auto import tqdm

from . import validation
from .gaussian import tail
from .inits import register
from .temporal import check_dynamics, lif_moments, propagate_temporal
from .temporal_chain import temporal_chain

__all__ = ["TemporalFixedPoint", "temporal_fixed_point", "optimal_gain_temporal",
           "optimal_sigma_temporal", "classify_profile", "temporal_phase", "PHASES"]

PHASES = ("silent", "stable", "growing", "decaying", "oscillating")


@dataclass(frozen=True)
class TemporalFixedPoint:
    """Depth fixed point of the temporal map for gain g: rate (T,), second moment (T, T),
    the number of layers iterated and whether max |M_l - M_{l-1}| fell below the tolerance
    (if not, the values are those of the last layer iterated)."""
    gain: float
    rate: np.ndarray
    second_moment: np.ndarray
    layers: int
    converged: bool

    @property
    def time_averaged_rate(self) -> float:
        return float(self.rate.mean())


class _Paths:
    """Fresh standard normal paths (samples, T) per layer, the same sequence on every pass
    (common random numbers across gains; independent errors across layers)."""

    def __init__(self, T, samples, seed):
        self.shape, self.seed = (samples, T), seed

    def layers(self):
        rng = np.random.default_rng(self.seed)
        while True:
            yield rng.standard_normal(self.shape)


def _bernoulli_moment(rate, T):
    return rate * rate * np.ones((T, T)) + rate * (1.0 - rate) * np.eye(T)


def _iterate(gain, start, threshold, beta, reset, paths, max_layers, tolerance, averaged=20):
    # Without convergence (sampling noise keeps the change above a small tolerance) the
    # estimate is the mean of the last `averaged` layers: the noise of single layers averages out.
    moment, recent = start, []
    for layer, normals in zip(range(1, max_layers + 1), paths.layers()):
        new = lif_moments(0.0, gain * moment, threshold, beta, reset, normals).second_moment
        change = float(np.max(np.abs(new - moment)))
        moment = new
        recent = (recent + [new])[-averaged:]
        if change < tolerance:
            return moment, layer, True
    return np.mean(recent, axis=0), max_layers, False


def temporal_fixed_point(gain, threshold, beta, T, reset="subtract", start_rate=None,
                         samples=10000, seed=0, max_layers=100, tolerance=1e-7) -> TemporalFixedPoint:
    """Iterate M_l = LIF(gain M_{l-1}) from i.i.d. Bernoulli(start_rate) spikes (default
    Q(theta)) until max |M_l - M_{l-1}| < tolerance or ``max_layers`` layers, float64,
    ``samples`` fresh Gaussian paths per layer from ``seed``. With sampling noise the change
    rarely falls below a small tolerance: the result is then the mean of the last 20 layers."""
    gain = float(validation.non_negative(gain, "gain"))
    threshold, beta, reset = check_dynamics(threshold, beta, reset)
    T = int(validation.positive_int(T, "T"))
    start_rate = float(tail(threshold)) if start_rate is None else float(validation.unit_interval(start_rate, "start_rate"))
    paths = _Paths(T, int(validation.positive_int(samples, "samples")), seed)
    moment, layers, converged = _iterate(gain, _bernoulli_moment(start_rate, T), threshold, beta, reset,
                                         paths, int(max_layers), float(tolerance))
    return TemporalFixedPoint(gain, np.diag(moment).copy(), moment, layers, converged)


def _meanfield_excess(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance):
    paths = _Paths(T, samples, seed)
    start = _bernoulli_moment(target_rate, T)

    def excess(log_gain):
        moment, _, _ = _iterate(np.exp(log_gain), start, threshold, beta, reset, paths, depth, tolerance)
        return float(np.mean(np.diag(moment))) - target_rate
    return excess


def _chain_excess(threshold, beta, T, reset, target_rate, depth, width, chains, seed):
    # common random numbers: every gain sees the same seed, so the excess is a nearly smooth
    # (piecewise constant, with steps of single spike flips) function of the gain
    def excess(log_gain):
        chain = temporal_chain(depth, width, T, np.sqrt(np.exp(log_gain) / width), threshold, beta, reset,
                               encoding="bernoulli", input_rate=target_rate, chains=chains, seed=seed)
        return float(chain.rate[:, depth].mean()) - target_rate
    return excess


_GAINS: dict = {}     # solved gains of this process, keyed by every argument that sets the answer


def _optimal_gain(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance, width, chains, progress):
    # the progress bar is not part of the answer, so it stays out of the cache key
    key = (threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance, width, chains)
    if key not in _GAINS:
        where = "mean field" if width is None else f"chain, width {width}"
        with tqdm(desc=f"temporal gain ({where})", unit=" evaluations", disable=not progress, leave=False) as bar:
            _GAINS[key] = _solve_gain(*key, bar)
    return _GAINS[key]


def _solve_gain(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance, width, chains, bar):
    if width is None:
        evaluate = _meanfield_excess(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance)
    else:
        evaluate = _chain_excess(threshold, beta, T, reset, target_rate, depth, width, chains, seed)

    def excess(log_gain):
        bar.update()
        return evaluate(log_gain)
    where = f"at depth {depth}" + ("" if width is None else f", width {width}")

    # bracket around the paper's gain 1/Q(theta), widened by factors of 1.5 up to x/ 50
    paper = -np.log(float(tail(threshold)))
    lower, upper = paper - np.log(1.5), paper + np.log(1.5)
    f_lower, f_upper = excess(lower), excess(upper)
    while f_lower >= 0.0 and lower > paper - np.log(50.0):
        upper, f_upper = lower, f_lower
        lower -= np.log(1.5)
        f_lower = excess(lower)
    while f_upper <= 0.0 and upper < paper + np.log(50.0):
        lower, f_lower = upper, f_upper
        upper += np.log(1.5)
        f_upper = excess(upper)
    if not f_lower < 0.0 < f_upper:
        raise ValueError(
            f"target_rate={target_rate} is not reached by any weight gain in [1/50, 50] x the paper's "
            f"(time-averaged rates {f_lower + target_rate:.3g} .. {f_upper + target_rate:.3g} {where}) "
            f"for threshold={threshold}, beta={beta}, T={T}, reset={reset!r}")
    log_gain = optimize.brentq(excess, lower, upper, xtol=1e-4, rtol=1e-10)
    achieved = excess(log_gain) + target_rate
    if abs(achieved - target_rate) > 0.02 * target_rate:
        # the rate jumps across the target (a saddle-node: no stable fixed point has that rate)
        raise ValueError(
            f"no stable temporal fixed point has time-averaged rate {target_rate:.4g} {where} for "
            f"threshold={threshold}, beta={beta}, T={T}, reset={reset!r} (closest {achieved:.4g}); "
            f"choose another target_rate")
    return float(np.exp(log_gain))


def _check_width(width, chains):
    if width is None:
        return None, 64
    return int(validation.positive_int(width, "width")), int(validation.positive_int(chains, "chains"))


def optimal_gain_temporal(threshold, beta, T, reset="subtract", target_rate=None, depth=100,
                          samples=10000, seed=0, tolerance=1e-7, width=None, chains=64, progress=True) -> float:
    """g = fan_in sigma_w^2 such that the deep stack's time-averaged rate at layer ``depth``,
    started from i.i.d. Bernoulli(target) spikes, is ``target_rate`` (default Q(theta)).

    width=None (infinite width): the temporal mean-field map, at its fixed point or, if it has
    not converged by layer ``depth`` (max |M_l - M_{l-1}| >= tolerance: sampling noise, slow
    bottlenecks near a saddle-node), averaged over layers depth-19..depth (``samples`` paths).
    width=n: layers of n neurons, E[(1/T) sum_t k_depth[t] / n] over ``chains`` runs of the
    exact Gram chain (:func:`theory.temporal_chain.temporal_chain`; silent runs count as 0).
    Brent's method on log g (to 1e-4) in a bracket around the paper's 1/Q(theta)
    (within [1/50, 50] x it). ValueError if no gain gives that rate. Results are cached per
    process; ``progress`` shows a bar of map evaluations while a new gain is solved.
    """
    threshold, beta, reset = check_dynamics(threshold, beta, reset)
    if beta >= 1.0:
        raise ValueError(f"beta must lie in [0, 1) for a temporal fixed point, got {beta}")
    T = int(validation.positive_int(T, "T"))
    target_rate = float(tail(threshold)) if target_rate is None else float(validation.unit_interval(target_rate, "target_rate"))
    if not 0.0 < target_rate < 1.0:
        raise ValueError(f"target_rate must lie in (0, 1), got {target_rate}")
    width, chains = _check_width(width, chains)
    return _optimal_gain(threshold, beta, T, reset, target_rate, int(validation.positive_int(depth, "depth")),
                         int(validation.positive_int(samples, "samples")), int(seed), float(tolerance), width, chains,
                         bool(progress))


def optimal_sigma_temporal(threshold, fan_in, beta, T, reset="subtract", target_rate=None,
                           depth=100, samples=10000, seed=0, width=None, chains=64, progress=True) -> float:
    """Weight std keeping the time-averaged rate of a deep LIF stack at ``target_rate``:

        sigma_w = sqrt(g* / fan_in),   g*: (1/T) sum_t M*_g[t, t] = target_rate,  M*_g = LIF(g M*_g)

    (temporal mean-field fixed point, infinite width; default target Q(theta), the paper's
    first-step rate). At T = 1 this is the paper's 1/sqrt(fan_in Q(theta)) up to the root
    finder's tolerance.

    width=n solves instead on the exact finite-width chain of layers of n neurons (usually
    n = fan_in): E[(1/T) sum_t k_depth[t] / n] = target_rate (see
    :func:`optimal_gain_temporal`). Use it where the infinite-width fixed point has a marginal
    mode: at width 2000, depth 100, T = 10, subtract reset the infinite-width gain leaves the
    simulated rate 11.6 % and 12.8 % below Q(1) at beta = 0 and 0.9, the finite-width gain within 1.1 %.
    Costs about 10-15 chain runs (width 2000, depth 100, T = 10, 64 chains: 27-40 s measured,
    cached per process). Float64; ValueError on bad input or an unreachable target.
    """
    fan_in = float(validation.positive_int(fan_in, "fan_in"))
    gain = optimal_gain_temporal(threshold, beta, T, reset, target_rate, depth, samples, seed, width=width,
                                 chains=chains, progress=progress)
    return float(np.sqrt(gain / fan_in))


@register("micheli_temporal",
          "std = sqrt(g*/n), g*: temporal mean-field fixed point with time-averaged rate Q(theta)",
          "this toolkit (theory/temporal_init.py), science.md §6",
          params=("T", "reset", "target_rate", "depth", "samples", "seed", "finite_width", "chains"))
def _micheli_temporal(fan_in, fan_out, threshold, beta, T=10, reset="subtract", target_rate=None,
                      depth=100, samples=10000, seed=0, finite_width=False, chains=64):
    """Temporally optimal init (see :func:`optimal_sigma_temporal`); finite_width=True solves on
    the exact chain of a uniform stack of width fan_in."""
    width = int(fan_in) if finite_width else None
    # no progress bar: the registry is called inside simulations and figure workers
    return optimal_sigma_temporal(threshold, fan_in, beta, T, reset, target_rate, depth, samples, seed,
                                  width=width, chains=chains, progress=False)


def classify_profile(rate, silent_below=1e-3, change=0.2) -> str:
    """Phase of a per-step rate profile (T,) at depth, float64:

    silent       time-averaged rate < silent_below (activity died over depth)
    oscillating  at least two peaks: steps above both neighbours (the first step: above the
                 second) by more than change x the mean rate (e.g. firing/silence alternation)
    growing      mean of the last quarter of the steps > (1 + change) x mean of the first quarter
    decaying     mean of the last quarter < (1 - change) x mean of the first quarter
    stable       otherwise
    """
    rate = np.asarray(rate, dtype=np.float64)
    mean = float(rate.mean())
    if mean < silent_below:
        return "silent"
    margin = change * mean
    padded = np.concatenate([[-np.inf], rate, [-np.inf]])
    peaks = (padded[1:-1] > padded[:-2] + margin) & (padded[1:-1] > padded[2:] + margin)
    if np.count_nonzero(peaks) >= 2:
        return "oscillating"
    quarter = max(1, rate.size // 4)
    early, last = rate[:quarter].mean(), rate[-quarter:].mean()
    if last > (1.0 + change) * early:
        return "growing"
    if last < (1.0 - change) * early:
        return "decaying"
    return "stable"


def temporal_phase(gain, threshold, beta, T, reset="subtract", depth=50, samples=4000, seed=0) -> str:
    """Phase (see :func:`classify_profile`) of layer ``depth``'s rate profile under the temporal
    map with gain g = fan_in sigma_w^2, starting from i.i.d. N(0, 1) input currents."""
    result = propagate_temporal(depth, T, np.sqrt(gain), 1, threshold, beta, reset, samples=samples, seed=seed)
    return classify_profile(result.rate[-1])
