"""SpikeInit (Shi & Yu, "Training Deep Spiking Neural Networks without Normalization", ICML 2026),
written here from the method's description and the equations below (the authors' public code,
github.com/xyshi2000/SpikeInit, ``models/submodules/initialization.py`` and ``models/resnet.py``,
was read to pin down the equations; nothing is copied). docs/theory.md §10 places it among the
toolkit's initialisers.

The neuron (one LIF layer, reset detached in the backward pass, s = [y > theta]):

    hard reset (``zero``):      y' = kappa y (1 - s) + lambda x
    soft reset (``subtract``):  y' = kappa y - c theta s + lambda x     (snnTorch c = 1; SpikingJelly's
                                                                        soft reset c = kappa)
    no reset (``none``):        y' = kappa y + lambda x

kappa = beta (SpikingJelly: 1 - 1/tau), lambda = 1 (snnTorch; SpikingJelly with decay_input=False)
or 1/tau (SpikingJelly's default decay_input=True, the paper's setting: tau = 2, theta = 0.5,
hard reset, kappa = lambda = 0.5). A layer's input current is x = sum_j w_j s_j with
w ~ N(0, sigma^2 / fan_in) and input spikes of rate p, so E[s^2] = p and x ~ N(0, sigma^2 p).

1. Steady state (the paper's Theorem 4.1, a Gaussian closure): take y ~ N(mu, s^2) in the steady
   state and require one step to return its first two moments. With a = (theta - mu)/s,
   Phi, phi the standard normal cdf and pdf, and rate p = Q(a) = 1 - Phi(a):

     hard:  mu = kappa (mu Phi(a) - s phi(a))
            mu^2 + s^2 = kappa^2 [(mu^2 + s^2) Phi(a) - s (theta + mu) phi(a)] + lambda^2 sigma_x^2
     soft:  mu = kappa mu - c theta p
            mu^2 + s^2 = kappa^2 (mu^2 + s^2) - 2 kappa c theta (mu p + s phi(a)) + c^2 theta^2 p + lambda^2 sigma_x^2
     none:  mu = kappa mu,  mu^2 + s^2 = kappa^2 (mu^2 + s^2) + lambda^2 sigma_x^2

   (the hard-reset pair is the paper's; the soft and none pairs are the same closure for the other
   resets -- our extension, checked by Monte Carlo in tests/torch/test_spikeinit.py).
   :func:`steady_state` solves the pair for a given input std sigma_x (the paper's Algorithm 1:
   a root finder started at the AR(1) state mu = 0, s = lambda sigma_x / sqrt(1 - kappa^2)).

2. sigma*: the weight gain whose steady state fires at the target rate p (0.1 by default) when
   its inputs fire at p, i.e. sigma_x = sigma* sqrt(p) and Q(a) = p. The paper bisects sigma
   around Algorithm 1 (its Algorithm 2). Here the target fixes a = z = Q^{-1}(p), which makes the
   system explicit (same solution, no iteration; :func:`solve_sigma`):

     hard:  s = theta (1 - kappa (1 - p)) / (z (1 - kappa (1 - p)) - kappa phi(z)),   mu = theta - z s,
            lambda^2 sigma_x^2 = (mu^2 + s^2) (1 - kappa^2 (1 - p)) + kappa^2 s (theta + mu) phi(z)
     soft:  mu = -c theta p / (1 - kappa),   s = (theta - mu) / z,
            lambda^2 sigma_x^2 = (mu^2 + s^2)(1 - kappa^2) + 2 kappa c theta (mu p + s phi(z)) - c^2 theta^2 p
     none:  mu = 0,  s = theta / z,  lambda^2 sigma_x^2 = s^2 (1 - kappa^2)

     sigma* = sigma_x / sqrt(p),     every hidden weight  w ~ N(0, sigma*^2 / fan_in).

   A ValueError says when no such state exists (e.g. hard reset with kappa = 1, where the first
   denominator is <= 0; soft/none reset with kappa = 1 or p >= 0.5).

3. The direct-coding stem (the paper's sigma_static): the image is a current x constant over
   time, x ~ N(0, sigma_static^2 m) across output channels (m = E[pixel^2] of the input; the paper
   normalises images, m = 1). Its rate is the neuron's rate under a constant drive I = lambda x.
   Hard reset, long run (the paper): fires every k + 1 steps when theta / S_k <= I < theta / S_{k-1},
   S_k = sum_{i=0..k} kappa^i, so

     P_static(sigma) = sum_{k>=0} 1/(k+1) [Phi(theta / (lambda sigma S_{k-1})) - Phi(theta / (lambda sigma S_k))],
     S_{-1} = 0;

   no reset, long run: Q(theta (1 - kappa) / (lambda sigma)). Over the T steps a model runs
   (``stem_steps=T``; the paper's Algorithm 3 variant simulates T steps): the spike count of a
   constant drive grows with I, so E[count] = sum_{j=1..T} Q(I_j / sigma), I_j the least drive
   that fires j times in T steps from rest (found by bisection on the exact recursion). sigma_static
   solves P_static = p. Default (``stem_steps=None``): the long run for hard and no reset (the
   paper), T steps for the soft reset (whose long-run rate has no closed form).

4. Surrogate scale (the paper's Theorem 5.1): the backward gain of one layer and step in the
   steady state,  chi = lambda^2 sigma*^2 M2 + rho,  M2 = E[g'(y - theta)^2] with y ~ N(mu, s^2),
   rho = kappa^2 (1 - p) (hard reset: the detached reset multiplies the carried membrane by 1 - s)
   or kappa^2 (soft/no reset), is set to 1 by the surrogate's scale:
   M2(scale) = (1 - rho) / (lambda sigma*)^2 (:func:`solve_surrogate_scale`, Brent's method on a
   bracket; M2 by adaptive quadrature). Surrogates: ``atan`` g'(v) = (alpha/2)/(1 + (pi alpha v/2)^2)
   (snnTorch and SpikingJelly ``ATan``; the models of snn_bridge.models) and ``piecewise_exp``
   g'(v) = a exp(-2 a |v|) (the paper's; SpikingJelly ``PiecewiseExp(alpha=2a)``). The gain assumes
   fan_out = fan_in (equal channel widths), as the paper does.

5. Residual blocks (the paper's zero-init of residual branches). MS-ResNet: each block's last
   convolution is zero, so the stream starts as the stem's current. SEW-ResNet: each block's last
   convolution gets a small std sigma_sew / sqrt(fan_in),

     sigma_sew = theta (1 - kappa) / (lambda z_{1-q} sqrt(r))      (kappa < 1)
     sigma_sew = theta / (lambda z_{1-q} sqrt(r) T)                (kappa = 1, T steps)

   with q = 0.01, r = 0.5 as in the authors' code. Our reading (the paper gives the constants, not
   this rationale): under a drive constant in time with std sigma_sew sqrt(r) (r: the input's
   second moment, a conservative rate), the branch's last neuron reaches at most lambda I / (1 - kappa)
   (lambda I T for kappa = 1), so it fires with probability at most q: the block starts near the
   identity and still passes gradient. The classifier Linear starts at zero (the paper), its bias
   at zero. With batch norm (SpikeInit targets networks without it) the weights are drawn the same
   way and each block's last BN weight is set to zero instead (the authors' treatment of ConvBN).

Not implemented: the authors' ASLIF neuron (a learnable affine of the membrane and a surrogate
width adapted to each batch's membrane std during training); :func:`spikeinit_` sets the initial
scale only. Choices where the description is open: sigma* applies to every hidden convolution,
including downsampling shortcuts and the blocks' first convolutions fed by an ADD stream whose
counts have E[s^2] above p (the paper does the same); the stem uses the input's second moment m
(``input_second_moment``; the trainer passes the training pixels' E[x^2]).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import integrate, optimize
from scipy.special import ndtr, ndtri
from scipy.stats import norm

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError('snn_bridge.spikeinit needs PyTorch, the optional extra: pip install ".[torch]"') from exc

__all__ = ["LIFSpec", "SteadyState", "SigmaSolution", "SpikeInitParameters", "SpikeInitReport", "closure_step",
           "steady_state", "solve_sigma", "static_rate", "solve_static_sigma", "surrogate_derivative",
           "surrogate_m2", "carry_gain", "backward_gain", "solve_surrogate_scale", "sew_branch_sigma",
           "spikeinit_parameters", "spikeinit_", "SURROGATES"]

RESETS = ("zero", "subtract", "none")
SURROGATES = ("atan", "piecewise_exp")


def _real(value, name, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return value


def _steps(value, name="steps"):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class LIFSpec:
    """The neuron of the steady-state analysis (module docstring): ``kappa`` in [0, 1] the decay
    per step, ``lam`` > 0 the input scale, ``threshold`` > 0, ``reset`` zero/subtract/none and
    ``reset_scale`` c (the soft reset removes c theta; snnTorch 1, SpikingJelly's soft reset kappa)."""
    kappa: float
    lam: float = 1.0
    threshold: float = 1.0
    reset: str = "zero"
    reset_scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "kappa", _real(self.kappa, "kappa", 0.0, 1.0))
        object.__setattr__(self, "lam", _real(self.lam, "lam", 0.0, None, low_open=True))
        object.__setattr__(self, "threshold", _real(self.threshold, "threshold", 0.0, None, low_open=True))
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {list(RESETS)}, got {self.reset!r}")
        object.__setattr__(self, "reset_scale", _real(self.reset_scale, "reset_scale", 0.0, None))

    def step(self, y, x):
        """One exact update y -> y' for membranes ``y`` and input currents ``x`` (numpy arrays);
        returns (y', spikes of y)."""
        s = (y > self.threshold).astype(y.dtype)
        if self.reset == "zero":
            return self.kappa * y * (1.0 - s) + self.lam * x, s
        if self.reset == "subtract":
            return self.kappa * y - self.reset_scale * self.threshold * s + self.lam * x, s
        return self.kappa * y + self.lam * x, s


# ---------------------------------------------------------------------------------------------
# 1-2. steady state and sigma*
# ---------------------------------------------------------------------------------------------

def closure_step(mu, std, input_std, neuron: LIFSpec):
    """One step of the Gaussian closure: for y ~ N(mu, std^2) and x ~ N(0, input_std^2)
    independent, the exact (E[y'], E[y'^2]) of the update (module docstring, point 1)."""
    k, lam, th, c = neuron.kappa, neuron.lam, neuron.threshold, neuron.reset_scale
    a = (th - mu) / std
    Phi, phi = ndtr(a), norm.pdf(a)
    p = 1.0 - Phi
    second = mu * mu + std * std
    noise = lam * lam * input_std * input_std
    if neuron.reset == "zero":
        return k * (mu * Phi - std * phi), k * k * (second * Phi - std * (th + mu) * phi) + noise
    if neuron.reset == "subtract":
        return (k * mu - c * th * p,
                k * k * second - 2.0 * k * c * th * (mu * p + std * phi) + c * c * th * th * p + noise)
    return k * mu, k * k * second + noise


@dataclass(frozen=True)
class SteadyState:
    """Membrane mean and std of the Gaussian steady state, its rate Q((theta - mu)/std), the
    largest residual of the two balance equations and whether the root finder converged."""
    mu: float
    std: float
    rate: float
    residual: float
    converged: bool


def steady_state(input_std, neuron: LIFSpec, initial=None) -> SteadyState:
    """Solve the closure's balance equations for the steady state driven by x ~ N(0, input_std^2)
    (the paper's Algorithm 1: ``scipy.optimize.fsolve`` from the AR(1) state unless ``initial``
    (mu, std) is given)."""
    input_std = _real(input_std, "input_std", 0.0, None, low_open=True)
    if neuron.kappa >= 1.0 and neuron.reset != "zero":
        raise ValueError("kappa must be < 1 for a steady state with reset 'subtract' or 'none'")

    def equations(v):
        mu, std = v
        if std <= 0:
            return [1e10, 1e10]
        m1, m2 = closure_step(mu, std, input_std, neuron)
        return [mu - m1, mu * mu + std * std - m2]

    if initial is None:
        kappa = min(neuron.kappa, 0.999)
        initial = (0.0, neuron.lam * input_std / math.sqrt(1.0 - kappa * kappa))
    solution, info, flag, _ = optimize.fsolve(equations, initial, full_output=True, xtol=1e-13)
    mu, std = float(solution[0]), float(solution[1])
    residual = float(np.max(np.abs(equations((mu, std)))))
    rate = float(norm.sf((neuron.threshold - mu) / std)) if std > 0 else float("nan")
    return SteadyState(mu=mu, std=std, rate=rate, residual=residual, converged=bool(flag == 1 and std > 0))


@dataclass(frozen=True)
class SigmaSolution:
    """sigma* and its steady state: weights N(0, sigma^2 / fan_in) with inputs at ``rate`` give
    input currents of std ``input_std`` = sigma sqrt(rate) and membranes N(mu, std^2) firing at ``rate``."""
    sigma: float
    mu: float
    std: float
    input_std: float
    rate: float


def _rate(rate):
    return _real(rate, "rate", 0.0, 0.5, low_open=True, high_open=True)


def solve_sigma(rate=0.1, neuron: LIFSpec = LIFSpec(kappa=0.5, lam=0.5, threshold=0.5)) -> SigmaSolution:
    """sigma* of the module docstring (point 2), explicit. Default neuron: the paper's (tau = 2,
    decay_input, theta = 0.5, hard reset). ValueError when no steady state fires at ``rate``."""
    p = _rate(rate)
    k, lam, th, c = neuron.kappa, neuron.lam, neuron.threshold, neuron.reset_scale
    z = float(ndtri(1.0 - p))
    phi = float(norm.pdf(z))
    if neuron.reset == "zero":
        carry = 1.0 - k * (1.0 - p)
        denominator = z * carry - k * phi
        if denominator <= 0:
            raise ValueError(f"rate {p:g}: no steady state of the hard-reset neuron (kappa = {k:g}) fires at this rate "
                             f"(z (1 - kappa (1 - p)) - kappa phi(z) = {denominator:.3g} <= 0)")
        std = th * carry / denominator
        mu = th - z * std
        drive = (mu * mu + std * std) * (1.0 - k * k * (1.0 - p)) + k * k * std * (th + mu) * phi
    else:
        if k >= 1.0:
            raise ValueError(f"kappa must be < 1 for a steady state with reset {neuron.reset!r} (the membrane "
                             f"drifts without a leak), got {k:g}")
        if neuron.reset == "subtract":
            mu = -c * th * p / (1.0 - k)
            std = (th - mu) / z
            drive = (mu * mu + std * std) * (1.0 - k * k) + 2.0 * k * c * th * (mu * p + std * phi) - c * c * th * th * p
        else:
            mu, std = 0.0, th / z
            drive = std * std * (1.0 - k * k)
    if not drive > 0:
        raise ValueError(f"rate {p:g}: the balance equations need a negative input variance for this neuron "
                         f"({neuron}); no steady state fires at this rate")
    input_std = math.sqrt(drive) / lam
    return SigmaSolution(sigma=input_std / math.sqrt(p), mu=float(mu), std=float(std), input_std=input_std, rate=p)


# ---------------------------------------------------------------------------------------------
# 3. the direct-coding stem
# ---------------------------------------------------------------------------------------------

def _counts(drive, neuron: LIFSpec, steps):
    """Spike counts over ``steps`` steps from rest of neurons with constant currents ``drive``."""
    y = np.zeros_like(drive)
    count = np.zeros_like(drive)
    s_prev = np.zeros_like(drive)
    for _ in range(steps):
        # y[t] from y[t-1] and s[t-1] (reset_delay): LIFSpec.step fires on y[t-1]
        if neuron.reset == "zero":
            y = neuron.kappa * y * (1.0 - s_prev) + neuron.lam * drive
        elif neuron.reset == "subtract":
            y = neuron.kappa * y - neuron.reset_scale * neuron.threshold * s_prev + neuron.lam * drive
        else:
            y = neuron.kappa * y + neuron.lam * drive
        s_prev = (y > neuron.threshold).astype(y.dtype)
        count += s_prev
    return count


def _drive_thresholds(neuron: LIFSpec, steps):
    """I_j, j = 1..steps: the least constant current that fires at least j times in ``steps``
    steps from rest (bisection, 200 halvings in float64)."""
    need = np.arange(1, steps + 1, dtype=np.float64)
    low = np.zeros(steps)
    high = np.full(steps, neuron.threshold / neuron.lam)
    for _ in range(200):
        short = _counts(high, neuron, steps) < need
        if not short.any():
            break
        high = np.where(short, 2.0 * high, high)
    else:
        raise ValueError("no constant drive fires every step (check the neuron)")
    for _ in range(200):
        mid = 0.5 * (low + high)
        enough = _counts(mid, neuron, steps) >= need
        high = np.where(enough, mid, high)
        low = np.where(enough, low, mid)
        if np.all(high - low <= 1e-15 * high):
            break
    return high


def static_rate(current_std, neuron: LIFSpec, steps=None) -> float:
    """Mean rate of neurons driven by a constant current x ~ N(0, current_std^2) (module
    docstring, point 3): ``steps=None`` the long-run rate (hard reset: the paper's series; no
    reset: closed form), ``steps=T`` the mean over T steps from rest (any reset)."""
    sigma = _real(current_std, "current_std", 0.0, None, low_open=True)
    k, lam, th = neuron.kappa, neuron.lam, neuron.threshold
    if steps is not None:
        steps = _steps(steps)
        drives = _drive_thresholds(neuron, steps)
        return float(np.sum(norm.sf(drives / sigma)) / steps)
    if neuron.reset == "none":
        return float(norm.sf(th * (1.0 - k) / (lam * sigma))) if k < 1 else 0.5
    if neuron.reset == "subtract":
        raise ValueError("steps must be given (an integer >= 1) for the stem rate with reset 'subtract': its long-run "
                         "rate under a constant drive has no closed form here")
    # hard reset: sum_k 1/(k+1) [Phi(theta/(lam sigma S_{k-1})) - Phi(theta/(lam sigma S_k))]
    total, k_index, block = 0.0, 0, 4096
    previous_bound = math.inf                     # theta / S_{-1}
    while True:
        idx = np.arange(k_index, k_index + block, dtype=np.float64)
        S = (idx + 1.0) if k >= 1.0 else (1.0 - k ** (idx + 1.0)) / (1.0 - k)
        bounds = th / (lam * sigma * S)
        upper = np.concatenate(([previous_bound], bounds[:-1]))
        terms = (ndtr(upper) - ndtr(bounds)) / (idx + 1.0)
        total += float(np.sum(terms))
        previous_bound = float(bounds[-1])
        k_index += block
        remaining = (ndtr(previous_bound) - (ndtr(th * (1.0 - k) / (lam * sigma)) if k < 1 else 0.5)) / (k_index + 1)
        if remaining < 1e-14 or k_index >= 1_048_576:      # kappa = 1: tail ~ theta/(lam sigma K^2)
            return total


def solve_static_sigma(rate=0.1, neuron: LIFSpec = LIFSpec(kappa=0.5, lam=0.5, threshold=0.5), steps=None,
                       input_moment=1.0) -> float:
    """sigma_static: stem weights N(0, sigma_static^2 / fan_in) on inputs of second moment
    ``input_moment`` fire at ``rate`` (:func:`static_rate`, Brent's method)."""
    p = _rate(rate)
    m = _real(input_moment, "input_moment", 0.0, None, low_open=True)
    low, high = 1e-6 * neuron.threshold / neuron.lam, 1e6 * neuron.threshold / neuron.lam
    f = lambda s: static_rate(s, neuron, steps) - p   # noqa: E731
    if f(low) > 0 or f(high) < 0:
        raise ValueError(f"rate {p:g} cannot be reached by the stem of this neuron ({neuron}, steps {steps})")
    current = optimize.brentq(f, low, high, xtol=1e-14, rtol=1e-12)
    return float(current / math.sqrt(m))


# ---------------------------------------------------------------------------------------------
# 4. surrogate scale
# ---------------------------------------------------------------------------------------------

def surrogate_derivative(name, scale, v):
    """g'(v) of surrogate ``name`` with scale ``scale`` at v = y - theta (module docstring, point 4)."""
    v = np.asarray(v, dtype=np.float64)
    if name == "atan":
        return (scale / 2.0) / (1.0 + (math.pi * scale * v / 2.0) ** 2)
    if name == "piecewise_exp":
        return scale * np.exp(-2.0 * scale * np.abs(v))
    raise ValueError(f"surrogate must be one of {list(SURROGATES)}, got {name!r}")


def surrogate_m2(name, scale, mu, std, threshold) -> float:
    """M2 = E[g'(y - theta)^2], y ~ N(mu, std^2), by adaptive quadrature split at y = theta."""
    scale = _real(scale, "scale", 0.0, None, low_open=True)
    std = _real(std, "std", 0.0, None, low_open=True)

    def integrand(v):
        return float(surrogate_derivative(name, scale, v)) ** 2 * norm.pdf(threshold + v, mu, std)

    width = 1.0 / scale
    pieces = [(-math.inf, -width), (-width, 0.0), (0.0, width), (width, math.inf)]
    return float(sum(integrate.quad(integrand, a, b, limit=200, epsabs=0.0, epsrel=1e-11)[0] for a, b in pieces))


def carry_gain(neuron: LIFSpec, rate) -> float:
    """rho: E[(d y' / d y)^2] through the detached reset, kappa^2 (1 - p) (hard) or kappa^2."""
    p = _rate(rate)
    return neuron.kappa ** 2 * ((1.0 - p) if neuron.reset == "zero" else 1.0)


def backward_gain(name, scale, solution: SigmaSolution, neuron: LIFSpec) -> float:
    """chi = lambda^2 sigma*^2 M2 + rho, the per-layer backward gain in the steady state."""
    m2 = surrogate_m2(name, scale, solution.mu, solution.std, neuron.threshold)
    return neuron.lam ** 2 * solution.sigma ** 2 * m2 + carry_gain(neuron, solution.rate)


def solve_surrogate_scale(name, solution: SigmaSolution, neuron: LIFSpec) -> float:
    """The scale with chi = 1 (module docstring, point 4): M2(scale) = (1 - rho) / (lambda sigma*)^2."""
    if name not in SURROGATES:
        raise ValueError(f"surrogate must be one of {list(SURROGATES)}, got {name!r}")
    rho = carry_gain(neuron, solution.rate)
    if rho >= 1.0:
        raise ValueError("the membrane carries a gain >= 1 back in time (kappa = 1 with a soft or no reset): no "
                         "surrogate scale makes the backward gain 1")
    target = (1.0 - rho) / (neuron.lam * solution.sigma) ** 2
    f = lambda a: surrogate_m2(name, a, solution.mu, solution.std, neuron.threshold) - target   # noqa: E731
    low, high = 1e-4, 1.0
    for _ in range(40):
        if f(high) > 0:
            break
        low, high = high, high * 4.0
    else:
        raise ValueError(f"no {name} scale up to {high:g} reaches the gain target M2 = {target:.4g}")
    if f(low) > 0:
        raise ValueError(f"the gain target M2 = {target:.4g} is below the {name} surrogate's M2 at scale {low:g}")
    return float(optimize.brentq(f, low, high, xtol=1e-13, rtol=1e-12))


# ---------------------------------------------------------------------------------------------
# 5. residual branches
# ---------------------------------------------------------------------------------------------

def sew_branch_sigma(neuron: LIFSpec, steps=None, input_moment=0.5, fire_prob=0.01) -> float:
    """sigma_sew of the module docstring (point 5): theta (1 - kappa) / (lambda z_{1-q} sqrt(r)),
    or theta / (lambda z_{1-q} sqrt(r) T) for kappa = 1 (``steps`` T needed)."""
    r = _real(input_moment, "input_moment", 0.0, None, low_open=True)
    q = _real(fire_prob, "fire_prob", 0.0, 0.5, low_open=True, high_open=True)
    z = float(ndtri(1.0 - q))
    if neuron.kappa < 1.0:
        return neuron.threshold * (1.0 - neuron.kappa) / (neuron.lam * z * math.sqrt(r))
    if steps is None:
        raise ValueError("steps must be given (an integer >= 1) for the SEW branch std of a neuron without leak "
                         "(kappa = 1)")
    return neuron.threshold / (neuron.lam * z * math.sqrt(r) * _steps(steps))


# ---------------------------------------------------------------------------------------------
# all parameters, and the in-place initialiser
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpikeInitParameters:
    """Every number SpikeInit sets for one neuron (module docstring): hidden gain ``sigma``, stem
    gain ``sigma_static`` (per unit input second moment already divided out), ``sigma_sew``, the
    ``surrogate`` and its ``surrogate_scale``, the steady state (``mu``, ``std``), the resulting
    backward gain ``chi`` (1 up to the solver's tolerance) and how the stem's rate was taken."""
    rate: float
    sigma: float
    sigma_static: float
    sigma_sew: float
    surrogate: str
    surrogate_scale: float
    mu: float
    std: float
    chi: float
    stem_horizon: str
    neuron: dict


def spikeinit_parameters(neuron: LIFSpec, *, rate=0.1, surrogate="atan", steps=None, input_moment=1.0,
                         stem_steps=None, sew_input_moment=0.5, sew_fire_prob=0.01) -> SpikeInitParameters:
    """All of SpikeInit's numbers for ``neuron``. ``stem_steps``: None = long run for hard/no reset
    and ``steps`` for the soft reset; an integer = that many steps from rest; "long" = long run."""
    if not isinstance(neuron, LIFSpec):
        raise ValueError(f"neuron must be a LIFSpec, got {type(neuron).__name__}")
    solution = solve_sigma(rate, neuron)
    if stem_steps is None:
        horizon = steps if neuron.reset == "subtract" else None
        if neuron.reset == "subtract" and steps is None:
            raise ValueError("steps must be given (the model's T) for SpikeInit with reset 'subtract' (its stem rate "
                             "is taken over the T steps)")
    elif stem_steps == "long":
        horizon = None
    else:
        horizon = _steps(stem_steps, "stem_steps")
    sigma_static = solve_static_sigma(rate, neuron, horizon, input_moment)
    scale = solve_surrogate_scale(surrogate, solution, neuron)
    sigma_sew = sew_branch_sigma(neuron, steps, sew_input_moment, sew_fire_prob)
    return SpikeInitParameters(rate=solution.rate, sigma=solution.sigma, sigma_static=sigma_static, sigma_sew=sigma_sew,
                               surrogate=surrogate, surrogate_scale=scale, mu=solution.mu, std=solution.std,
                               chi=backward_gain(surrogate, scale, solution, neuron),
                               stem_horizon="long run" if horizon is None else f"{horizon} steps",
                               neuron=asdict(neuron))


@dataclass
class SpikeInitReport:
    """What :func:`spikeinit_` did: the parameters, one row per weight layer (name, role, fan_in,
    std drawn; ``bn_weight_zeroed`` where a block's last BN weight was set to 0), one row per
    neuron (name, surrogate scale set) and notes."""
    parameters: SpikeInitParameters
    layers: list
    neurons: list
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"parameters": asdict(self.parameters), "layers": list(self.layers), "neurons": list(self.neurons),
                "notes": list(self.notes)}


def _read_neuron(name, module):
    """(LIFSpec, (surrogate name, scale) or None, setter) of an snnTorch Leaky or a SpikingJelly node."""
    kind = type(module).__module__
    if kind.startswith("snntorch"):
        from snntorch import surrogate as snn_surrogate

        from . import read_surrogate
        beta = torch.as_tensor(module.beta).detach().double()
        threshold = torch.as_tensor(module.threshold).detach().double()
        if beta.numel() != 1 or threshold.numel() != 1:
            raise ValueError(f"module {name!r}: beta and threshold must be one number per layer for SpikeInit")
        spec = LIFSpec(kappa=min(max(float(beta), 0.0), 1.0), lam=1.0, threshold=float(threshold),
                       reset=module.reset_mechanism, reset_scale=1.0)
        surrogate = read_surrogate(module.spike_grad)
        if surrogate is not None and surrogate[0] not in SURROGATES:
            surrogate = None

        def setter(kind_, scale):
            if kind_ != "atan":
                raise ValueError(f"module {name!r}: snnTorch has no {kind_} surrogate; SpikeInit here sets atan")
            module.spike_grad = snn_surrogate.atan(alpha=scale)
        return spec, surrogate, setter
    from spikingjelly.activation_based import neuron as sj_neuron
    from spikingjelly.activation_based import surrogate as sj_surrogate
    if isinstance(module, sj_neuron.IFNode):
        kappa, lam = 1.0, 1.0
    elif isinstance(module, sj_neuron.ParametricLIFNode):
        inv_tau = float(torch.sigmoid(module.w.detach().double()))
        kappa, lam = 1.0 - inv_tau, inv_tau if module.decay_input else 1.0
    elif isinstance(module, sj_neuron.LIFNode):
        kappa, lam = 1.0 - 1.0 / float(module.tau), 1.0 / float(module.tau) if module.decay_input else 1.0
    else:
        raise ValueError(f"module {name!r} ({type(module).__name__}): SpikeInit reads IFNode, LIFNode and "
                         f"ParametricLIFNode")
    if module.v_reset is None:
        reset, c = "subtract", kappa
    elif float(module.v_reset) == 0.0:
        reset, c = "zero", 1.0
    else:
        raise ValueError(f"module {name!r}: v_reset must be None or 0 for SpikeInit, got {module.v_reset}")
    spec = LIFSpec(kappa=kappa, lam=lam, threshold=float(module.v_threshold), reset=reset, reset_scale=c)
    fn = module.surrogate_function
    if isinstance(fn, sj_surrogate.ATan):
        surrogate = ("atan", float(fn.alpha))
    elif isinstance(fn, sj_surrogate.PiecewiseExp):
        surrogate = ("piecewise_exp", float(fn.alpha) / 2.0)
    else:
        surrogate = None

    def setter(kind_, scale):
        module.surrogate_function = (sj_surrogate.ATan(alpha=scale) if kind_ == "atan"
                                     else sj_surrogate.PiecewiseExp(alpha=2.0 * scale))
    return spec, surrogate, setter


def _block_bn(model, conv_name):
    """The BatchNorm after a block's last convolution (snnTorch ``bn2``; SpikingJelly
    ``conv2 = SeqToANNContainer(conv, bn)``), or None."""
    candidates = []
    if conv_name.endswith(".conv2"):
        candidates.append(conv_name[:-len(".conv2")] + ".bn2")
    if conv_name.endswith(".conv2.0"):
        candidates.append(conv_name[:-len(".0")] + ".1")
    for candidate in candidates:
        try:
            module = model.get_submodule(candidate)
        except AttributeError:
            continue
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return module
    return None


def spikeinit_(model, *, rate=0.1, steps=None, input_second_moment=1.0, generator=None, zero_classifier=True,
               set_surrogate=True, stem_steps=None) -> SpikeInitReport:
    """Initialise a model of :mod:`snn_bridge.models` (either library) in place with SpikeInit and
    return a :class:`SpikeInitReport`.

    Reads the neuron (beta/tau, decay_input, threshold, reset, surrogate) from the model's neuron
    layers (all must agree), computes :func:`spikeinit_parameters`, and draws, with the
    torch.Generator ``generator`` (None: torch's global RNG):

      stem            w ~ N(0, sigma_static^2 / fan_in)   (sigma_static for inputs of second moment
                                                           ``input_second_moment``)
      hidden, downsample  w ~ N(0, sigma*^2 / fan_in)
      block_last      SEW: N(0, sigma_sew^2 / fan_in); MS: 0  (with BN: sigma* and the BN weight 0)
      classifier      0 (``zero_classifier``) or N(0, 1 / fan_in); every bias 0

    and sets every neuron's surrogate scale to the solved one (``set_surrogate``). ``steps``: the
    model's T (needed for the soft reset's stem and for SEW without leak). fan_in = c_in k_h k_w."""
    from .models import SpikingConvNet
    if not isinstance(model, SpikingConvNet):
        raise ValueError(f"model must be built by snn_bridge.models (it needs weight_roles and neurons), got "
                         f"{type(model).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    for name in ("zero_classifier", "set_surrogate"):
        if not isinstance(locals()[name], bool):
            raise ValueError(f"{name} must be True or False, got {locals()[name]!r}")
    read = [(name, *_read_neuron(name, module)) for name, module in model.neurons()]
    specs = {spec for _, spec, _, _ in read}
    if len(specs) != 1:
        raise ValueError(f"every neuron must have the same kappa, lambda, threshold and reset for SpikeInit, found "
                         f"{sorted(map(str, specs))}")
    spec = specs.pop()
    surrogates = {s[0] if s else None for _, _, s, _ in read}
    if None in surrogates or len(surrogates) != 1:
        raise ValueError(f"every neuron must use the same atan or piecewise_exp surrogate for SpikeInit, found "
                         f"{sorted(map(str, surrogates))}")
    params = spikeinit_parameters(spec, rate=rate, surrogate=surrogates.pop(), steps=steps,
                                  input_moment=input_second_moment, stem_steps=stem_steps)
    notes = []
    family = model.config.family
    layers = []
    with torch.no_grad():
        for name, module, role in model.weight_roles():
            fan_in = int(module.weight[0].numel())
            bn_zeroed = False
            if role == "stem":
                std = params.sigma_static / math.sqrt(fan_in)
            elif role in ("hidden", "downsample"):
                std = params.sigma / math.sqrt(fan_in)
            elif role == "block_last":
                bn = _block_bn(model, name)
                if bn is not None:
                    std = params.sigma / math.sqrt(fan_in)
                    bn.weight.zero_()
                    bn_zeroed = True
                elif family == "ms":
                    std = 0.0
                else:
                    std = params.sigma_sew / math.sqrt(fan_in)
            else:
                std = 0.0 if zero_classifier else 1.0 / math.sqrt(fan_in)
            if std > 0:
                module.weight.normal_(0.0, std, generator=generator)
            else:
                module.weight.zero_()
            if module.bias is not None:
                module.bias.zero_()
            layers.append({"name": name, "role": role, "fan_in": fan_in, "std": std, "bn_weight_zeroed": bn_zeroed})
    neurons = []
    for name, _, surrogate, setter in read:
        if set_surrogate:
            setter(params.surrogate, params.surrogate_scale)
        neurons.append({"name": name, "surrogate": params.surrogate,
                        "scale": params.surrogate_scale if set_surrogate else surrogate[1]})
    if model.config.bn:
        notes.append("batch norm present: SpikeInit targets networks without it; weights drawn as without BN, each "
                     "block's last BN weight set to 0 (the authors' zero-init of ConvBN)")
    if input_second_moment == 1.0:
        notes.append("stem: input second moment 1 (normalised images, the paper's setting); pass "
                     "input_second_moment = E[x^2] of your inputs otherwise")
    if family == "sew_add":
        notes.append("SEW ADD: the stream carries spike counts (E[s^2] above the rate); sigma* ignores it, as the "
                     "paper does")
    if spec.reset == "subtract" and spec.reset_scale != 1.0:
        notes.append(f"soft reset subtracts {spec.reset_scale:g} theta (SpikingJelly: kappa theta)")
    return SpikeInitReport(parameters=params, layers=layers, neurons=neurons, notes=notes)
