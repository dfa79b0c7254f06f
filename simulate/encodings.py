"""Input encodings for :func:`simulate.run_network`: float32 arrays of shape (T, B, n).

    gaussian_currents   I_0[t] ~ N(0, std^2) i.i.d. over steps, samples and neurons (the
                        theory's setting: the first step has membrane variance std^2)
    static_currents     I_0[t] = x for every t (an image as direct input current)
    bernoulli_spikes    s_0[t] ~ Bernoulli(rate) i.i.d. (Poisson-like spike trains; use with
                        input_is_spikes=True)
    as_currents         validate a user-given (T, B, n) array and cast it to float32

Randomness only from a numpy.random.Generator or an integer seed: the same seed gives the
same array. Draws are made in float64 and rounded to float32.
"""
from __future__ import annotations

import numpy as np

import snn_validation as validation
from theory.inits.registry import as_generator

__all__ = ["gaussian_currents", "static_currents", "bernoulli_spikes", "as_currents", "pixel_currents"]


def _shape(steps, batch, width, bytes_per_entry=0):
    """(T, B, n) from single positive integers; ValueError up front (snn_validation.check_memory)
    when an array of that shape at ``bytes_per_entry`` (the call's working arrays) cannot fit."""
    shape = tuple(int(validation.scalar(value, name, validation.positive_int))
                  for value, name in ((steps, "steps"), (batch, "batch"), (width, "width")))
    validation.check_memory(bytes_per_entry * shape[0] * shape[1] * shape[2],
                            f"steps={shape[0]} x batch={shape[1]} x width={shape[2]}")
    return shape


def gaussian_currents(steps, batch, width, rng, std=1.0) -> np.ndarray:
    """I.i.d. N(0, std^2) currents, float32 (T, B, n). ``rng``: Generator or int seed."""
    shape = _shape(steps, batch, width, 12)          # float64 draws, then float32
    std = validation.scalar(std, "std", validation.non_negative)
    rng = as_generator(rng, "rng")
    return (std * rng.standard_normal(shape)).astype(np.float32)


def static_currents(x, steps) -> np.ndarray:
    """The (B, n) input ``x`` repeated at every one of ``steps`` steps: float32 (T, B, n)."""
    steps = int(validation.scalar(steps, "steps", validation.positive_int))
    x = validation.finite(x, "x")
    if x.ndim != 2 or min(x.shape) < 1:
        raise ValueError(f"x must have shape (B, n) with B, n >= 1, got shape {x.shape}")
    if np.any(np.abs(x) > np.finfo(np.float32).max):
        raise ValueError("x must be representable in float32 (|x| <= 3.4e38)")
    validation.check_memory(4 * steps * x.size, f"steps={steps} x x of shape {x.shape}")
    x = np.asarray(x, dtype=np.float32)
    return np.ascontiguousarray(np.broadcast_to(x, (steps,) + x.shape))


def bernoulli_spikes(rates, steps, batch, width, rng) -> np.ndarray:
    """0/1 spikes, float32 (T, B, n), s ~ Bernoulli(rate) independently per step.

    ``rates`` is a probability per step in [0, 1], broadcastable to (T, B, n): a scalar,
    one per neuron (n,), one per sample and neuron (B, n) (e.g. pixel intensities), ...
    """
    shape = _shape(steps, batch, width, 13)          # float64 uniforms, the comparison, float32
    rates = validation.unit_interval(rates, "rates")
    try:
        rates = np.broadcast_to(rates, shape)
    except ValueError:
        raise ValueError(f"rates must broadcast to (T, B, n) = {shape}, got shape {rates.shape}") from None
    rng = as_generator(rng, "rng")
    return (rng.random(shape) < rates).astype(np.float32)


def as_currents(array) -> np.ndarray:
    """A user array checked to be finite with shape (T, B, n), as contiguous float32."""
    array = validation.finite(array, "array")
    if array.ndim != 3 or min(array.shape) < 1:
        raise ValueError(f"array must have shape (T, B, n) with T, B, n >= 1, got shape {array.shape}")
    if np.any(np.abs(array) > np.finfo(np.float32).max):
        raise ValueError("array must be representable in float32 (|x| <= 3.4e38)")
    return np.ascontiguousarray(array, dtype=np.float32)


def pixel_currents(images, steps) -> np.ndarray:
    """(B, n) uint8 images -> (T, B, n) float32 pixels in [0, 1], the same current at every step
    (the training loop's input, docs/theory.md §8)."""
    if not isinstance(images, np.ndarray) or images.ndim != 2 or images.dtype.kind not in "uif":
        raise ValueError(f"images must be a (B, n) array of pixel values, got "
                         f"{getattr(images, 'shape', type(images).__name__)} {getattr(images, 'dtype', '')}")
    steps = int(validation.scalar(steps, "steps", validation.positive_int))
    x = images.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(np.broadcast_to(x, (steps,) + x.shape))
