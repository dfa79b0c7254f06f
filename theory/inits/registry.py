"""Registry of weight initialisers: the paper's and the ANN/SNN baselines (docs/theory.md §7).

Each entry maps a layer's (fan_in, fan_out, threshold, beta, own parameters) to the weight
distribution, zero-mean normal or uniform, and its std. ``sample_weights`` draws float32
(fan_in, fan_out) matrices from it; ``predict`` runs :func:`theory.meanfield.maps.propagate` with
the entry's std, so every initialiser's per-layer prediction comes from the same map.

One entry is not Gaussian-like: ``stable`` (heavy-tailed route, docs/theory.md §9,
:mod:`theory.regimes.heavy_tailed`) draws symmetric alpha-stable weights, dist "stable", whose variance
is infinite for alpha < 2. Its registry function returns the stable SCALE gamma (characteristic
function exp(-|gamma t|^alpha)), not a std. ``weight_std`` and ``predict`` refuse it with a
ValueError (a std and the Gaussian length map do not exist for it), and so does every consumer
built on them (theory.Network, the Gram and spike-count chains, torch_init); ``distribution``
returns {'dist': 'stable', 'alpha': alpha, 'scale': gamma} and ``sample_weights`` draws it.
The rate and correlation maps of stable weights are :mod:`theory.regimes.heavy_tailed`'s.
"""
from __future__ import annotations

import numpy as np

import snn_validation as validation
from theory.core.closed_form import optimal_sigma
from theory.core.gaussian import density, tail
from theory.core.laws import REGIMES, Initialiser, as_generator, draw
import theory.inits.temporal as temporal_init
from theory.meanfield.maps import Propagation, propagate
from theory.regimes import escape, heavy_tailed, residual

__all__ = ["Initialiser", "INITIALISERS", "register", "names", "get", "weight_std",
           "distribution", "sample_weights", "draw", "predict"]


def _micheli(fan_in, fan_out, threshold, beta, target_var=1.0):
    """The paper's init: Var[w] = q* / (n Q(theta/sqrt q*)), keeps Var[u] = q* across layers."""
    return optimal_sigma(threshold, fan_in, target_var)


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


def _kaiming(fan_in, fan_out, threshold, beta):
    """He init for ReLU: Var[w] = 2/n."""
    return float(np.sqrt(2.0 / fan_in))


def _xavier(fan_in, fan_out, threshold, beta):
    """Glorot normal: Var[w] = 2/(fan_in + fan_out)."""
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


def _lecun(fan_in, fan_out, threshold, beta):
    """LeCun normal: Var[w] = 1/n."""
    return float(np.sqrt(1.0 / fan_in))


def _pytorch_default(fan_in, fan_out, threshold, beta):
    """torch.nn.Linear's default: uniform on +-1/sqrt(n), i.e. std 1/sqrt(3n)."""
    return float(1.0 / np.sqrt(3.0 * fan_in))


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


def _ding(fan_in, fan_out, threshold, beta, lam=1.0):
    """Ding et al.'s threshold-scaled Kaiming: std = sqrt(2) theta / (lambda sqrt n), lambda = 1 default."""
    lam = float(validation.positive(lam, "lam"))
    _nonzero_threshold("ding", threshold)
    return float(np.sqrt(2.0) * abs(threshold) / (lam * np.sqrt(fan_in)))


def _nonzero_threshold(name, threshold):
    """Initialisers whose std is proportional to |theta| would give all-zero weights at 0."""
    if threshold == 0.0:
        raise ValueError(f"threshold must be != 0 for the {name!r} init (its std is proportional to "
                         "|threshold|, so threshold 0 gives all-zero weights)")



# the registry, explicit: the plain initialisers above, then each regime's own entry (its module
# holds the std function, the formula and the source; docs/theory.md §7, §9)
PLAIN = (
    Initialiser("micheli", "std = 1/sqrt(n Q(theta))  [q* = target_var: sqrt(q*/(n Q(theta/sqrt q*)))]",
          "Micheli, Booij, van Gemert, Tomen 2024, arXiv 2410.00580", params=("target_var",), std=_micheli),
    Initialiser("micheli_reset",
          "Var[w] = [1 - beta^2 - theta^2 p(1-p) + 2 beta theta phi(theta)/p] / (n p), p = Q(theta)",
          "Micheli et al. 2024, authors' public code (leak/reset variant)", std=_micheli_reset),
    Initialiser("kaiming", "std = sqrt(2/n)", "He, Zhang, Ren, Sun 2015", std=_kaiming),
    Initialiser("xavier", "std = sqrt(2/(n_in + n_out))", "Glorot & Bengio 2010", std=_xavier),
    Initialiser("lecun", "std = sqrt(1/n)", "LeCun, Bottou, Orr, Mueller 1998", std=_lecun),
    Initialiser("pytorch_default", "w ~ U(-1/sqrt(n), 1/sqrt(n)), std = 1/sqrt(3n)",
          "torch.nn.Linear default (kaiming_uniform with a = sqrt 5)", dist="uniform", std=_pytorch_default),
    Initialiser("fluctuation",
          "std = theta sqrt(1-beta^2) / (xi sqrt(n nu))  (discrete-time, no reset, Bernoulli(nu) inputs)",
          "Rossbroich, Gygax & Zenke 2022 (stork)", params=("xi", "nu"), std=_fluctuation),
    Initialiser("ding", "std = sqrt(2) theta / (lambda sqrt(n))", "Ding et al. 2022", params=("lam",), std=_ding),
)
INITIALISERS: dict[str, Initialiser] = {entry.name: entry for entry in PLAIN + (
    heavy_tailed.INITIALISER, temporal_init.INITIALISER, residual.INITIALISER, escape.INITIALISER)}


def register(entry: Initialiser) -> Initialiser:
    """Add a user's own :class:`Initialiser` to the registry (an explicit call; nothing in the
    toolkit registers by import). ValueError if the name is taken or the regime unknown."""
    if not isinstance(entry, Initialiser):
        raise ValueError(f"entry must be a theory.inits.Initialiser, got {type(entry).__name__}")
    validation.choice(entry.regime, "regime", REGIMES)
    if entry.name in INITIALISERS:
        raise ValueError(f"name {entry.name!r} is already registered; choose another")
    INITIALISERS[entry.name] = entry
    return entry


def names(regime=None) -> list[str]:
    """Registered initialiser names; with ``regime`` (one of REGIMES) only that regime's."""
    if regime is None:
        return list(INITIALISERS)
    validation.choice(regime, "regime", REGIMES)
    return [name for name, entry in INITIALISERS.items() if entry.regime == regime]


def get(name: str) -> Initialiser:
    """The registry entry; ValueError listing the known names otherwise."""
    return INITIALISERS[validation.choice(name, "name", INITIALISERS)]


def _layer_args(fan_in, fan_out, threshold, beta):
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    fan_out = int(validation.scalar(fan_out, "fan_out", validation.positive_int))
    threshold = validation.scalar(threshold, "threshold")
    beta = validation.scalar(beta, "beta", validation.unit_interval)
    return fan_in, fan_out, threshold, beta


def weight_std(name, fan_in, fan_out=None, threshold=1.0, beta=0.0, **params) -> float:
    """Std of initialiser ``name`` for one layer (fan_out defaults to fan_in)."""
    entry = get(name)
    if entry.dist == "stable":
        raise ValueError(f"initialiser {name!r} draws alpha-stable weights, whose variance is infinite for "
                         "alpha < 2: it has no weight std (use inits.distribution(...)['scale'] and "
                         "theory.regimes.heavy_tailed for its rate and correlation maps)")
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
        scale = _entry_value(entry, fan_in, fan_out, threshold, beta, params)
        return {"dist": "stable", "alpha": float(heavy_tailed.check_alpha(params.get("alpha", 1.0))), "scale": scale}
    std = weight_std(name, fan_in, fan_out, threshold, beta, **params)
    if get(name).dist == "uniform":
        half = std * np.sqrt(3.0)
        return {"dist": "uniform", "low": -half, "high": half, "std": std}
    return {"dist": "normal", "std": std}


def sample_weights(name, fan_in, fan_out, rng, threshold=1.0, beta=0.0, **params) -> np.ndarray:
    """Draw a float32 (fan_in, fan_out) weight matrix from initialiser ``name``.

    ``rng`` is a numpy.random.Generator (or an int seed). Draws are made in float64 and
    cast, so the same seed gives the same matrix on every platform numpy supports.
    """
    rng = as_generator(rng, "rng")
    spec = distribution(name, fan_in, fan_out, threshold, beta, **params)
    return draw(spec, (int(fan_in), int(fan_out)), rng)


def predict(name, depth, width, threshold=1.0, beta=0.0, q0=1.0, bias_var=0.0, **params) -> Propagation:
    """Mean-field per-layer variance and rate for a homogeneous stack (fan_in = fan_out = width)
    initialised with ``name``; the same :func:`propagate` as every other prediction. The
    'stable' init has no such prediction (ValueError): its maps are theory.regimes.heavy_tailed's."""
    if get(name).dist == "stable":
        raise ValueError(f"initialiser {name!r} (alpha-stable weights) has no Gaussian length map: use "
                         "theory.regimes.heavy_tailed.propagate_rate / propagate_pair")
    std = weight_std(name, width, width, threshold, beta, **params)
    return propagate(depth, std, width, threshold, q0=q0, bias_var=bias_var)
