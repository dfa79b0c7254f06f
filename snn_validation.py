"""Input validation shared by the whole toolkit (theory, simulate, figures, the bridge; also
reachable as ``snn_validation``).

Every public theory function checks its arguments here so that bad input gives a
ValueError naming the argument and its allowed range, never a NaN downstream.
"""
from __future__ import annotations

import numbers
import os

import numpy as np

# the largest integer a size, count or index may take: every float64 up to it is an exact integer
# (2**53), far beyond any size that fits in memory
MAX_INT = 2 ** 53


def _shown(value) -> str:
    """``value`` for a message: its repr, or for a long one its start (an array's shape named)."""
    if isinstance(value, np.ndarray) and value.size > 6:
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _has_bool(value, depth=0) -> bool:
    """Whether a (nested) list or tuple holds a bool (numpy would take it as 0 or 1)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (list, tuple)) and depth < 8:
        return any(_has_bool(v, depth + 1) for v in value)
    return False


def as_float_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array; ValueError naming ``name`` if not numeric (a bool, a
    string, a complex number, None, a ragged list) or not finite (NaN, infinity, an integer
    beyond float64)."""
    arr = real(value, name, nan=True)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or infinity), got {_shown(value)}")
    return arr


def real(value, name: str, *, nan: bool = False) -> np.ndarray:
    """``value`` as a float64 array whose entries may be infinite (the limits of a special
    function such as a Gaussian tail); NaN only with ``nan=True``. ValueError naming ``name``
    for a bool, a string, a complex number, None or a ragged list. A float or a float64 array
    takes a fast path (no copy)."""
    if type(value) is float or (type(value) is np.ndarray and value.dtype == np.float64):
        arr = np.asarray(value)
        if not nan and np.isnan(arr).any():
            raise ValueError(f"{name} must not be NaN, got {_shown(value)}")
        return arr
    if _has_bool(value) or (isinstance(value, np.ndarray) and value.dtype.kind == "b"):
        raise ValueError(f"{name} must be a real number, got a bool ({_shown(value)})")
    complex_ = isinstance(value, (complex, np.complexfloating))
    try:
        raw = value if isinstance(value, np.ndarray) else np.asarray(value)
        complex_ = complex_ or raw.dtype.kind == "c"
        if raw.dtype.kind not in "iuf":
            # an integer beyond int64 arrives as an object; None (or a list holding it) is refused,
            # not read as NaN
            raw = (np.asarray(raw, dtype=np.float64) if raw.dtype.kind == "O"
                   and not any(x is None for x in raw.flat) else None)
    except (TypeError, ValueError, OverflowError):
        raw = None
    if raw is None:
        kind = "a complex number" if complex_ else _shown(value)
        raise ValueError(f"{name} must be a real number or array of them, got {kind}")
    arr = np.asarray(raw, dtype=np.float64)
    if not nan and np.isnan(arr).any():
        raise ValueError(f"{name} must not be NaN, got {_shown(value)}")
    return arr


def scalar(value, name: str, check=None) -> float:
    """One finite real number (checked by ``check``, e.g. :func:`positive`, when given) as a
    Python float; ValueError naming ``name`` for an array of several values (or of one value
    inside brackets) where one number belongs."""
    arr = (check or as_float_array)(value, name)
    if np.ndim(arr) != 0:
        raise ValueError(f"{name} must be a single number, got {'an array of shape ' + str(np.shape(arr))}")
    return float(arr)


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
    """Positive integer (array) up to 2**53; integral floats such as 784.0 are accepted, a
    fraction (1.7), a bool or a string is not."""
    arr = as_float_array(value, name)
    if np.any(arr < 1) or np.any(arr != np.floor(arr)) or np.any(arr > MAX_INT):
        raise ValueError(f"{name} must be a positive integer (1, 2, ..., 2**53), got {_shown(value)}")
    return arr


def non_negative_int(value, name: str) -> int:
    """Scalar integer >= 0 (depths, step counts, seeds, indices) as a Python int; integral floats
    such as 3.0 are accepted, a fraction (0.7), a bool, an array or a string is not."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer >= 0, got a bool ({value!r})")
    if not isinstance(value, numbers.Integral):
        if not (isinstance(value, numbers.Real) and float(value).is_integer() and abs(float(value)) <= MAX_INT):
            raise ValueError(f"{name} must be an integer >= 0 (a float only up to 2**53), got {_shown(value)}")
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
    """One of ``allowed`` (strings; a value of another type, e.g. a list or an array holding
    such a string, is refused, never compared element-wise)."""
    allowed = tuple(allowed)
    try:
        found = any((isinstance(value, str) and value == a) if isinstance(a, str)
                    else (value is a or (type(value) is type(a) and bool(value == a))) for a in allowed)
    except (TypeError, ValueError):
        found = False
    if not found:
        raise ValueError(f"{name} must be one of {sorted(allowed, key=str)}, got {_shown(value)}")
    return value


def _memory_text(nbytes) -> str:
    for unit, size in (("EiB", 2 ** 60), ("PiB", 2 ** 50), ("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if nbytes >= size:
            amount = nbytes / size
            return f"{amount:.3g} {unit}" if amount < 1e6 else f"{float(nbytes):.3g} bytes"
    return f"{nbytes / 1024:.3g} KiB"


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping, as the system reports it: the
    smaller of MemAvailable (/proc/meminfo; elsewhere the free physical pages, os.sysconf) and
    what the cgroup (container) limit leaves. None where neither is known."""
    found = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            pass
    try:
        with open("/sys/fs/cgroup/memory.max") as handle:
            limit = handle.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as handle:
                found.append(int(limit) - int(handle.read().strip()))
    except (OSError, ValueError):
        pass
    return max(0, min(found)) if found else None


def check_memory(nbytes, what: str) -> None:
    """ValueError before a call allocates ``nbytes`` (an estimate of its largest arrays) when
    that exceeds :func:`available_memory`: the message names ``what`` (the arguments that set the
    size, e.g. "width=10000000 x chains=64 x T=10") and both amounts. Nothing happens where the
    available memory is unknown; a call that fits may still fail if other processes take the
    memory first."""
    nbytes = float(nbytes)
    if nbytes <= 2 ** 26:           # 64 MiB: never worth asking
        return
    available = available_memory()
    if available is not None and nbytes > available:
        raise ValueError(f"{what} needs about {_memory_text(nbytes)} of memory, more than the "
                         f"{_memory_text(available)} available: choose smaller sizes")


def scalar_or_array(arr: np.ndarray):
    """A 0-d result back as a Python float, otherwise the array."""
    arr = np.asarray(arr)
    return float(arr) if arr.ndim == 0 else arr


def layer_widths(width, depth: int) -> np.ndarray:
    """Widths n_0 .. n_depth (int64) from one integer (every layer) or depth + 1 integers."""
    widths = positive_int(width, "width").astype(np.int64)
    if widths.ndim == 0:
        check_memory(8 * (depth + 1), f"depth={depth}")
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
        check_memory(8 * depth, f"depth={depth}")
        return np.full(depth, float(arr))
    if arr.shape != (depth,):
        raise ValueError(f"{name} must be a scalar or a sequence of length depth={depth}, got shape {arr.shape}")
    return arr


def float32_array(array, name: str) -> np.ndarray:
    """``array`` as a C-contiguous float32 array of finite values (the simulators' dtype);
    ValueError naming ``name`` for booleans, complex or non-numeric values, and for NaN, infinity
    or magnitudes beyond float32 (|x| > 3.4e38)."""
    if isinstance(array, np.ndarray) and array.dtype == np.bool_:
        raise ValueError(f"{name} must be a real-valued array, got a bool array")
    if np.iscomplexobj(array):
        raise ValueError(f"{name} must be real, got complex values")
    try:
        with np.errstate(over="ignore"):      # overflow to inf is reported just below
            out = np.ascontiguousarray(array, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array, got {type(array).__name__}") from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must be finite in float32 (no NaN, infinity or |x| > 3.4e38)")
    return out
