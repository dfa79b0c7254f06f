"""Registry of weight initialisers: the paper's and the ANN/SNN baselines (docs/theory.md §7).

Each entry maps a layer's (fan_in, fan_out, threshold, beta, own parameters) to the weight
distribution, zero-mean normal or uniform, and its std. ``sample_weights`` draws float32
(fan_in, fan_out) matrices from it; ``predict`` runs :func:`theory.meanfield.propagate` with
the entry's std, so every initialiser's per-layer prediction comes from the same map.

One entry is not Gaussian-like: ``stable`` (heavy-tailed route, docs/theory.md §9,
:mod:`theory.heavy_tailed`) draws symmetric alpha-stable weights, dist "stable", whose variance
is infinite for alpha < 2. Its registry function returns the stable SCALE gamma (characteristic
function exp(-|gamma t|^alpha)), not a std. ``weight_std`` and ``predict`` refuse it with a
ValueError (a std and the Gaussian length map do not exist for it), and so does every consumer
built on them (theory.Network, the Gram and spike-count chains, torch_init); ``distribution``
returns {'dist': 'stable', 'alpha': alpha, 'scale': gamma} and ``sample_weights`` draws it.
The rate and correlation maps of stable weights are :mod:`theory.heavy_tailed`'s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import validation
from .closed_form import optimal_sigma
from .gaussian import density, tail
from .meanfield import Propagation, propagate

__all__ = ["Initialiser", "INITIALISERS", "register", "names", "get", "weight_std",
           "distribution", "sample_weights", "draw", "predict"]


@dataclass(frozen=True)
class Initialiser:
    """One registry entry. ``std(fan_in, fan_out, threshold, beta, **params)`` -> float."""
    name: str
    formula: str
    source: str
    std: Callable[..., float]
    dist: str = "normal"          # "normal", "uniform" or "stable" (zero mean / symmetric)
    params: tuple = ()            # names of the entry's own keyword parameters
    regime: str = "plain"         # the network it is derived for (REGIMES); figures of the plain
                                  # deterministic LIF stack show only "plain" entries


INITIALISERS: dict[str, Initialiser] = {}
# plain: deterministic LIF, feed-forward; escape: stochastic firing (theory.escape); residual:
# SEW blocks (theory.residual); heavy_tailed: alpha-stable weights (theory.heavy_tailed)
REGIMES = ("plain", "escape", "residual", "heavy_tailed")


def register(name, formula, source, dist="normal", params=(), regime="plain"):
    """Decorator adding a std function to the registry (later modules register theirs too)."""
    validation.choice(regime, "regime", REGIMES)

    def wrap(func):
        INITIALISERS[name] = Initialiser(name, formula, source, func, dist, tuple(params), regime)
        return func
    return wrap


@register("micheli", "std = 1/sqrt(n Q(theta))  [q* = target_var: sqrt(q*/(n Q(theta/sqrt q*)))]",
          "Micheli, Booij, van Gemert, Tomen 2024, arXiv 2410.00580", params=("target_var",))
def _micheli(fan_in, fan_out, threshold, beta, target_var=1.0):
    """The paper's init: Var[w] = q* / (n Q(theta/sqrt q*)), keeps Var[u] = q* across layers."""
    return optimal_sigma(threshold, fan_in, target_var)


@register("micheli_reset",
          "Var[w] = [1 - beta^2 - theta^2 p(1-p) + 2 beta theta phi(theta)/p] / (n p), p = Q(theta)",
          "Micheli et al. 2024, authors' public code (leak/reset variant)")
def _micheli_reset(fan_in, fan_out, threshold, beta):
    """Authors' leak/reset variant. It uses E[u | u > theta] = phi/p where the covariance
    phi(theta) would be exact (docs/theory.md §5): a baseline, not a derivation."""
    p = float(tail(threshold))
    numerator = 1.0 - beta**2 - threshold**2 * p * (1.0 - p) + 2.0 * beta * threshold * float(density(threshold)) / p
    if numerator <= 0:
        raise ValueError(
            f"micheli_reset gives a non-positive weight variance for threshold={threshold}, beta={beta} "
            f"(numerator {numerator:.3g}); the formula is defined only where it is positive")
    return float(np.sqrt(numerator / (fan_in * p)))


@register("kaiming", "std = sqrt(2/n)", "He, Zhang, Ren, Sun 2015")
def _kaiming(fan_in, fan_out, threshold, beta):
    """He init for ReLU: Var[w] = 2/n."""
    return float(np.sqrt(2.0 / fan_in))


@register("xavier", "std = sqrt(2/(n_in + n_out))", "Glorot & Bengio 2010")
def _xavier(fan_in, fan_out, threshold, beta):
    """Glorot normal: Var[w] = 2/(fan_in + fan_out)."""
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


@register("lecun", "std = sqrt(1/n)", "LeCun, Bottou, Orr, Mueller 1998")
def _lecun(fan_in, fan_out, threshold, beta):
    """LeCun normal: Var[w] = 1/n."""
    return float(np.sqrt(1.0 / fan_in))


@register("pytorch_default", "w ~ U(-1/sqrt(n), 1/sqrt(n)), std = 1/sqrt(3n)",
          "torch.nn.Linear default (kaiming_uniform with a = sqrt 5)", dist="uniform")
def _pytorch_default(fan_in, fan_out, threshold, beta):
    """torch.nn.Linear's default: uniform on +-1/sqrt(n), i.e. std 1/sqrt(3n)."""
    return float(1.0 / np.sqrt(3.0 * fan_in))


@register("fluctuation",
          "std = theta sqrt(1-beta^2) / (xi sqrt(n nu))  (discrete-time, no reset, Bernoulli(nu) inputs)",
          "Rossbroich, Gygax & Zenke 2022 (stork)", params=("xi", "nu"))
def _fluctuation(fan_in, fan_out, threshold, beta, xi=1.0, nu=None):
    """Fluctuation-driven init: the stationary membrane std of u[t] = beta u[t-1] + sum w s,
    sqrt(n nu / (1-beta^2)) std_w, is set to theta/xi. Defaults: xi = 1 (threshold one std
    above the mean) and nu = Q(theta), the input rate the paper's fixed point has."""
    xi = float(validation.positive(xi, "xi"))
    nu = float(tail(threshold)) if nu is None else float(validation.unit_interval(nu, "nu"))
    if nu == 0.0:
        raise ValueError("nu must be > 0 (an input rate of 0 gives an infinite weight std)")
    if beta >= 1.0:
        raise ValueError("beta must be < 1 for the fluctuation init (no stationary variance at beta = 1)")
    _nonzero_threshold("fluctuation", threshold)
    return float(abs(threshold) * np.sqrt(1.0 - beta**2) / (xi * np.sqrt(fan_in * nu)))


@register("ding", "std = sqrt(2) theta / (lambda sqrt(n))", "Ding et al. 2022", params=("lam",))
def _ding(fan_in, fan_out, threshold, beta, lam=1.0):
    """Ding et al.'s threshold-scaled Kaiming: std = sqrt(2) theta / (lambda sqrt n), lambda = 1 default."""
    lam = float(validation.positive(lam, "lam"))
    _nonzero_threshold("ding", threshold)
    return float(np.sqrt(2.0) * abs(threshold) / (lam * np.sqrt(fan_in)))


@register("stable",
          "w ~ symmetric alpha-stable, scale gamma = G / n^(1/alpha); G = gain, or by default the G whose "
          "one-step large-n rate fixed point is `rate` (default Q(theta)): G = theta / (r^(1/alpha) "
          "Q_alpha^-1(r)); alpha = 1: Cauchy, G = theta tan(pi r) / r",
          "Kusmierz, Ogawa & Toyoizumi 2020 (heavy-tailed couplings); this toolkit, docs/theory.md §9",
          dist="stable", params=("alpha", "rate", "gain"), regime="heavy_tailed")
def _stable(fan_in, fan_out, threshold, beta, alpha=1.0, rate=None, gain=None):
    """Heavy-tailed init: w_ij i.i.d. symmetric alpha-stable with scale gamma = G n^(-1/alpha)
    (the current of k active inputs is stable with scale gamma k^(1/alpha) = G (k/n)^(1/alpha)).
    G = ``gain`` if given; else the rate-preserving G of :func:`theory.heavy_tailed.gain_for_rate`
    at ``rate`` (default Q(theta), the paper's fixed-point rate). Returns gamma (a scale, not a std)."""
    from .heavy_tailed import check_alpha, gain_for_rate

    alpha = check_alpha(alpha)
    if gain is not None and rate is not None:
        raise ValueError("rate and gain of the 'stable' init are alternatives: give at most one")
    if gain is None:
        gain = gain_for_rate(float(tail(threshold)) if rate is None else rate, alpha, threshold)
    gain = float(validation.positive(gain, "gain"))
    return float(gain / fan_in ** (1.0 / alpha))


def _nonzero_threshold(name, threshold):
    """Initialisers whose std is proportional to |theta| would give all-zero weights at 0."""
    if threshold == 0.0:
        raise ValueError(f"threshold must be != 0 for the {name!r} init (its std is proportional to "
                         "|threshold|, so threshold 0 gives all-zero weights)")


def names(regime=None) -> list[str]:
    """Registered initialiser names; with ``regime`` (one of REGIMES) only that regime's."""
    if regime is None:
        return list(INITIALISERS)
    validation.choice(regime, "regime", REGIMES)
    return [name for name, entry in INITIALISERS.items() if entry.regime == regime]


def get(name: str) -> Initialiser:
    """The registry entry; ValueError listing the known names otherwise."""
    if name not in INITIALISERS:
        raise ValueError(f"name must be one of {sorted(INITIALISERS)}, got {name!r}")
    return INITIALISERS[name]


def _layer_args(fan_in, fan_out, threshold, beta):
    fan_in = int(validation.positive_int(fan_in, "fan_in"))
    fan_out = int(validation.positive_int(fan_out, "fan_out"))
    threshold = float(validation.finite(threshold, "threshold"))
    beta = float(validation.unit_interval(beta, "beta"))
    return fan_in, fan_out, threshold, beta


def weight_std(name, fan_in, fan_out=None, threshold=1.0, beta=0.0, **params) -> float:
    """Std of initialiser ``name`` for one layer (fan_out defaults to fan_in)."""
    entry = get(name)
    if entry.dist == "stable":
        raise ValueError(f"initialiser {name!r} draws alpha-stable weights, whose variance is infinite for "
                         "alpha < 2: it has no weight std (use inits.distribution(...)['scale'] and "
                         "theory.heavy_tailed for its rate and correlation maps)")
    return _entry_value(entry, fan_in, fan_out, threshold, beta, params)


def _entry_value(entry, fan_in, fan_out, threshold, beta, params):
    """The entry's std (or, for dist 'stable', its scale), checked finite and > 0."""
    name = entry.name
    unknown = set(params) - set(entry.params)
    if unknown:
        raise ValueError(f"params for {name!r} must be among {list(entry.params)}, got {sorted(unknown)}")
    args = _layer_args(fan_in, fan_in if fan_out is None else fan_out, threshold, beta)
    std = float(entry.std(*args, **params))
    if not np.isfinite(std) or std <= 0.0:
        raise ValueError(f"initialiser {name!r} gives weight std {std} for fan_in={args[0]}, fan_out={args[1]}, "
                         f"threshold={args[2]}, beta={args[3]}, params={params}: it needs a finite std > 0")
    return std


def distribution(name, fan_in, fan_out=None, threshold=1.0, beta=0.0, **params) -> dict:
    """{'dist': 'normal', 'std': s}, {'dist': 'uniform', 'low': -a, 'high': a, 'std': s} or
    {'dist': 'stable', 'alpha': alpha, 'scale': gamma} (no 'std': infinite for alpha < 2)."""
    entry = get(name)
    if entry.dist == "stable":
        from .heavy_tailed import check_alpha

        scale = _entry_value(entry, fan_in, fan_out, threshold, beta, params)
        return {"dist": "stable", "alpha": float(check_alpha(params.get("alpha", 1.0))), "scale": scale}
    std = weight_std(name, fan_in, fan_out, threshold, beta, **params)
    if get(name).dist == "uniform":
        half = std * np.sqrt(3.0)
        return {"dist": "uniform", "low": -half, "high": half, "std": std}
    return {"dist": "normal", "std": std}


def as_generator(value, name):
    """A numpy.random.Generator from a Generator, SeedSequence, None or an integer seed >= 0;
    ValueError naming ``name`` otherwise."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(value)
    return np.random.default_rng(validation.non_negative_int(value, name))


def sample_weights(name, fan_in, fan_out, rng, threshold=1.0, beta=0.0, **params) -> np.ndarray:
    """Draw a float32 (fan_in, fan_out) weight matrix from initialiser ``name``.

    ``rng`` is a numpy.random.Generator (or an int seed). Draws are made in float64 and
    cast, so the same seed gives the same matrix on every platform numpy supports.
    """
    rng = as_generator(rng, "rng")
    spec = distribution(name, fan_in, fan_out, threshold, beta, **params)
    return draw(spec, (int(fan_in), int(fan_out)), rng)


def draw(spec, shape, rng) -> np.ndarray:
    """float32 array of ``shape`` from a :func:`distribution` law, drawn in float64 and cast:

    normal   std * standard_normal;   uniform   uniform(low, high);
    stable   scale * X, X standard symmetric alpha-stable (characteristic function exp(-|t|^alpha)):
             alpha = 1: numpy's standard_cauchy; otherwise Chambers-Mallows-Stuck with
             V ~ U(-pi/2, pi/2) (the whole array first), then E ~ Exp(1):
             X = sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / E)^((1 - alpha)/alpha).
    ValueError if a stable draw overflows float32 (alpha so small that |w| > 3.4e38)."""
    if spec["dist"] == "uniform":
        return rng.uniform(spec["low"], spec["high"], size=shape).astype(np.float32)
    if spec["dist"] == "normal":
        return (spec["std"] * rng.standard_normal(shape)).astype(np.float32)
    if spec["dist"] != "stable":
        raise ValueError(f"spec['dist'] must be 'normal', 'uniform' or 'stable', got {spec['dist']!r}")
    alpha = float(spec["alpha"])
    if alpha == 1.0:
        x = rng.standard_cauchy(shape)
    else:
        v = rng.uniform(-0.5 * np.pi, 0.5 * np.pi, size=shape)
        e = rng.standard_exponential(shape)
        x = np.sin(alpha * v) / np.cos(v) ** (1.0 / alpha) * (np.cos((1.0 - alpha) * v) / e) ** ((1.0 - alpha) / alpha)
    with np.errstate(over="ignore"):
        out = (spec["scale"] * x).astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"alpha = {alpha} gives weights beyond float32's range (|w| > 3.4e38) at scale "
                         f"{spec['scale']:.3g}: use a larger alpha")
    return out


def predict(name, depth, width, threshold=1.0, beta=0.0, q0=1.0, bias_var=0.0, **params) -> Propagation:
    """Mean-field per-layer variance and rate for a homogeneous stack (fan_in = fan_out = width)
    initialised with ``name``; the same :func:`propagate` as every other prediction. The
    'stable' init has no such prediction (ValueError): its maps are theory.heavy_tailed's."""
    if get(name).dist == "stable":
        raise ValueError(f"initialiser {name!r} (alpha-stable weights) has no Gaussian length map: use "
                         "theory.heavy_tailed.propagate_rate / propagate_pair")
    std = weight_std(name, width, width, threshold, beta, **params)
    return propagate(depth, std, width, threshold, q0=q0, bias_var=bias_var)
