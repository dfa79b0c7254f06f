"""The paper's weight scale (Micheli et al. 2024), computed in log space.

Keeping the membrane variance at q* from layer to layer, for binary spikes s = [u > theta]
and u ~ N(0, q*), requires (docs/theory.md §2)

    Var[w] = q* / (fan_in * Q(theta / sqrt(q*))),     std = sqrt(Var[w]).

Float64 throughout.
"""
from __future__ import annotations

import numpy as np

import snn_validation as validation
from theory.core.gaussian import log_tail

# Largest log(std) that float64 can hold (log of the largest finite double).
_LOG_MAX = np.log(np.finfo(np.float64).max)


def log_optimal_sigma(threshold, fan_in, target_var=1.0):
    """log std = 1/2 [log q* - log fan_in - log Q(theta/sqrt q*)] (no overflow possible)."""
    threshold = validation.finite(threshold, "threshold")
    fan_in = validation.positive_int(fan_in, "fan_in")
    target_var = validation.positive(target_var, "target_var")
    try:
        np.broadcast_shapes(threshold.shape, fan_in.shape, target_var.shape)
    except ValueError:
        raise ValueError(f"threshold, fan_in and target_var must broadcast together, got shapes "
                         f"{threshold.shape}, {fan_in.shape}, {target_var.shape}") from None
    z = threshold / np.sqrt(target_var)
    log_std = 0.5 * (np.log(target_var) - np.log(fan_in) - log_tail(z))
    if not np.all(np.isfinite(log_std)):
        raise ValueError(f"threshold / sqrt(target_var) = {np.max(z):.3g} is beyond float64's reach: log Q(z) "
                         f"~ -z^2/2 overflows for z above about 1.3e154 (threshold={_first(threshold)}, "
                         f"target_var={_first(target_var)})")
    return log_std


def _first(arr):
    """An array's only value, or its shape, for a message."""
    return f"{float(arr):g}" if np.size(arr) == 1 else f"an array of shape {np.shape(arr)}"


def optimal_sigma(threshold, fan_in, target_var=1.0):
    """Weight std of the paper's initialisation.

        std = sqrt( q* / (fan_in * Q(theta / sqrt(q*))) ),   Q(z) = 1/2 erfc(z / sqrt 2)

    Parameters
    ----------
    threshold : float or array, any finite real (theta).
    fan_in : positive integer or array of them (n, inputs per neuron).
    target_var : float or array > 0, the membrane variance q* to preserve (paper: 1).

    Returns a float for scalar input, otherwise the broadcast float64 array. Computed through
    log Q (scipy.special.log_ndtr), so thresholds far in the tail stay finite and accurate
    (relative error < 1e-12 against 50-digit mpmath); a ValueError is raised only where the
    std exceeds the largest float64 (theta/sqrt(q*) above about 53 for fan_in = 1).

    >>> round(optimal_sigma(1.0, 784), 7)
    0.0896633
    """
    log_std = log_optimal_sigma(threshold, fan_in, target_var)
    if np.any(log_std >= _LOG_MAX):
        raise ValueError(
            "threshold / sqrt(target_var) is too far in the tail: the weight std exceeds the largest float64 "
            f"(log std = {np.max(log_std):.1f} > {_LOG_MAX:.1f}); use log_optimal_sigma"
        )
    return validation.scalar_or_array(np.exp(log_std))


def optimal_weight_var(threshold, fan_in, target_var=1.0):
    """Var[w] = q* / (fan_in Q(theta/sqrt q*)), the square of :func:`optimal_sigma`."""
    return validation.scalar_or_array(np.asarray(optimal_sigma(threshold, fan_in, target_var)) ** 2)
