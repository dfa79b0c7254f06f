"""Input validation shared by the whole toolkit (theory, simulate, figures, the bridge; also
reachable as ``snn_validation``).

Every public theory function checks its arguments here so that bad input gives a
ValueError naming the argument and its allowed range, never a NaN downstream.
"""
from __future__ import annotations

import numbers

import numpy as np


def as_float_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array; ValueError naming ``name`` if not numeric or not finite."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a finite real number, got a bool ({value!r})")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number or array of them, got {value!r}") from None
    if arr.dtype == bool or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or infinity), got {value!r}")
    return arr


def finite(value, name: str) -> np.ndarray:
    """Any finite real (array)."""
    return as_float_array(value, name)


def positive(value, name: str) -> np.ndarray:
    """Finite and > 0."""
    arr = as_float_array(value, name)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 and finite, got {value!r}")
    return arr


def non_negative(value, name: str) -> np.ndarray:
    """Finite and >= 0."""
    arr = as_float_array(value, name)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 and finite, got {value!r}")
    return arr


def positive_int(value, name: str) -> np.ndarray:
    """Positive integer (array); integral floats such as 784.0 are accepted."""
    arr = as_float_array(value, name)
    if np.any(arr < 1) or np.any(arr != np.floor(arr)):
        raise ValueError(f"{name} must be a positive integer (1, 2, ...), got {value!r}")
    return arr


def non_negative_int(value, name: str) -> int:
    """Scalar integer >= 0 (depths, step counts)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if not (isinstance(value, numbers.Real) and float(value).is_integer()):
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def time_steps(value, name: str = "T") -> int:
    """Number of time steps: an integer >= 1."""
    steps = non_negative_int(value, name)
    if steps < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {steps}")
    return steps


def unit_interval(value, name: str, *, closed_right: bool = True) -> np.ndarray:
    """In [0, 1] (or [0, 1) with ``closed_right=False``): leak factors, rates, correlations."""
    arr = as_float_array(value, name)
    upper_bad = arr > 1 if closed_right else arr >= 1
    if np.any(arr < 0) or np.any(upper_bad):
        rng = "[0, 1]" if closed_right else "[0, 1)"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return arr


def choice(value, name: str, allowed) -> str:
    """One of ``allowed`` (strings)."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value


def scalar_or_array(arr: np.ndarray):
    """A 0-d result back as a Python float, otherwise the array."""
    arr = np.asarray(arr)
    return float(arr) if arr.ndim == 0 else arr


def layer_widths(width, depth: int) -> np.ndarray:
    """Widths n_0 .. n_depth (int64) from one integer (every layer) or depth + 1 integers."""
    widths = positive_int(width, "width").astype(np.int64)
    if widths.ndim == 0:
        return np.full(depth + 1, int(widths), dtype=np.int64)
    if widths.shape != (depth + 1,):
        raise ValueError(f"width must be an integer or a sequence of depth + 1 = {depth + 1} widths "
                         f"(n_0 .. n_L), got {widths.shape[0] if widths.ndim == 1 else widths.shape} entries")
    return widths


def per_layer(value, depth: int, name: str, check) -> np.ndarray:
    """``value`` checked by ``check`` (e.g. :func:`non_negative`) as ``depth`` float64 values: a
    scalar is repeated; a sequence must have length ``depth``."""
    arr = np.asarray(check(value, name), dtype=np.float64)
    if arr.ndim == 0:
        return np.full(depth, float(arr))
    if arr.shape != (depth,):
        raise ValueError(f"{name} must be a scalar or a sequence of length depth={depth}, got shape {arr.shape}")
    return arr
