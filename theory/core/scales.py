"""Depth scales from per-layer factors (docs/theory.md §3, §6, §9), float64.

A quantity multiplied by a factor f per layer changes by e over 1/|ln f| layers:

    gain_scale(f)        = 1 / |ln f|          (0 at f = 0, inf at f = 1, NaN for NaN):
                           xi_grad from the backward gain chi, xi_c from a correlation slope
    correlation_scale(s) = -1 / ln s  for 0 < s < 1, inf for s >= 1 (no decay), 0 at s = 0, NaN for NaN:
                           the decay scale of the pair map's leading mode
"""
from __future__ import annotations

import numpy as np

__all__ = ["gain_scale", "correlation_scale"]


def gain_scale(factor) -> float:
    """1 / |ln factor| (see the module docstring)."""
    if not np.isfinite(factor):
        return float("nan")
    if factor <= 0.0:
        return 0.0
    return float("inf") if factor == 1.0 else float(1.0 / abs(np.log(factor)))


def correlation_scale(slope) -> float:
    """-1 / ln slope for a decaying mode (see the module docstring)."""
    if not np.isfinite(slope):
        return float("nan")
    if slope >= 1.0:
        return float("inf")
    return 0.0 if slope == 0.0 else float(-1.0 / np.log(slope))
