"""Weight laws and the entry type of the initialiser registry (float64 draws, float32 arrays).

A weight law is what a layer's weights are drawn from: zero-mean normal with a std, zero-mean
uniform on [-a, a] (std a / sqrt 3), or symmetric alpha-stable with a scale (no variance for
alpha < 2). :func:`draw` samples any of them as a float32 array; an :class:`Initialiser` (one
registry entry, :mod:`theory.inits`) maps a layer's fan-in, fan-out, threshold and beta to one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import snn_validation as validation

__all__ = ["Initialiser", "REGIMES", "Gaussian", "Uniform", "Stable", "as_law", "as_generator", "draw"]

# plain: deterministic LIF, feed-forward; escape: stochastic firing (theory.regimes.escape); residual:
# SEW blocks (theory.regimes.residual); heavy_tailed: alpha-stable weights (theory.regimes.heavy_tailed)
REGIMES = ("plain", "escape", "residual", "heavy_tailed")


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


def as_generator(value, name):
    """A numpy.random.Generator from a Generator, SeedSequence, None or an integer seed >= 0;
    ValueError naming ``name`` otherwise."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(value)
    return np.random.default_rng(validation.non_negative_int(value, name))


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


@dataclass(frozen=True)
class Gaussian:
    """w ~ N(0, std^2) i.i.d. (the law the chains are exact for)."""
    std: float

    def __post_init__(self):
        object.__setattr__(self, "std", float(validation.non_negative(self.std, "std")))

    def spec(self) -> dict:
        return {"dist": "normal", "std": self.std}


@dataclass(frozen=True)
class Uniform:
    """w ~ U(-half_width, half_width) i.i.d., std = half_width / sqrt 3 (PyTorch's default shape)."""
    half_width: float

    def __post_init__(self):
        object.__setattr__(self, "half_width", float(validation.non_negative(self.half_width, "half_width")))

    @property
    def std(self) -> float:
        return self.half_width / float(np.sqrt(3.0))

    def spec(self) -> dict:
        return {"dist": "uniform", "low": -self.half_width, "high": self.half_width, "std": self.std}


@dataclass(frozen=True)
class Stable:
    """w = scale X i.i.d., X standard symmetric alpha-stable (characteristic function
    exp(-|t|^alpha)); alpha in (0, 2], no variance for alpha < 2 (std is None)."""
    alpha: float
    scale: float

    def __post_init__(self):
        alpha = float(validation.positive(self.alpha, "alpha"))
        if alpha > 2.0:
            raise ValueError(f"alpha must lie in (0, 2], got {self.alpha!r}")
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "scale", float(validation.positive(self.scale, "scale")))

    @property
    def std(self):
        return None

    def spec(self) -> dict:
        return {"dist": "stable", "alpha": self.alpha, "scale": self.scale}


LAWS = (Gaussian, Uniform, Stable)


def as_law(spec):
    """A law value from a :func:`draw` spec dict ({'dist': 'normal', 'std': s}, ...)."""
    if spec["dist"] == "normal":
        return Gaussian(spec["std"])
    if spec["dist"] == "uniform":
        return Uniform(spec["high"])
    return Stable(spec["alpha"], spec["scale"])
