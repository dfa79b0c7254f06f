"""Surrogate derivatives of the spike step, snnTorch semantics and default scalings.

Each function is dS/du evaluated at ``x = u - threshold`` with one scale parameter, written
with array operations only (no Python branching on values), so the SAME function works on
float64 numpy arrays (theory) and compiles unchanged with ``numba.njit`` for the training
kernels (float32 or float64 scalars and arrays). Checked against snntorch/surrogate.py:

    atan            (alpha/2) / (1 + (pi alpha x / 2)^2)            alpha = 2   (snnTorch default)
    fast_sigmoid    1 / (k |x| + 1)^2                               k = 25
    sigmoid         k e^{-k x} / (1 + e^{-k x})^2                   k = 25
    triangular      +theta_s for x < 0, -theta_s for x >= 0         theta_s = 1
    straight_through 1                                              (scale unused)

``sigmoid`` is evaluated as k e^{-k|x|} / (1 + e^{-k|x|})^2 (the expression is even in x), so
it never overflows. ``triangular`` is snnTorch's literal ``Triangular.backward``: a constant
``threshold`` whose SIGN FLIPS at the threshold (not a tent function); kept as snnTorch has it
because the authors' ablation used snnTorch, with the quirk documented here.
"""
from __future__ import annotations

import numpy as np

__all__ = ["atan", "fast_sigmoid", "sigmoid", "triangular", "straight_through", "smooth_step", "probit",
           "SURROGATES", "surrogate_grad", "surrogate_code"]


def atan(x, scale):
    """ATan surrogate: dS/du = (alpha/2) / (1 + (pi alpha x / 2)^2), alpha = ``scale``."""
    return (0.5 * scale) / (1.0 + (0.5 * np.pi * scale * x) ** 2)


def fast_sigmoid(x, scale):
    """Fast sigmoid (SuperSpike): dS/du = 1 / (k |x| + 1)^2, k = ``scale``."""
    return 1.0 / (scale * np.abs(x) + 1.0) ** 2


def sigmoid(x, scale):
    """Logistic derivative: dS/du = k e^{-k x} / (1 + e^{-k x})^2, k = ``scale`` (overflow-safe)."""
    e = np.exp(-scale * np.abs(x))
    return scale * e / (1.0 + e) ** 2


def triangular(x, scale):
    """snnTorch ``Triangular``: dS/du = +scale for x < 0, -scale for x >= 0 (sic)."""
    return scale * (1.0 - 2.0 * (x >= 0.0))


def straight_through(x, scale):
    """Straight-through estimator: dS/du = 1 (``scale`` ignored)."""
    return 0.0 * x + 1.0


def smooth_step(x, scale):
    """Logistic step S = 1 / (1 + e^{-k x}), k = ``scale``: the forward of the smooth test mode,
    whose exact derivative is :func:`sigmoid`. Overflow-safe via e^{-k|x|}."""
    e = np.exp(-scale * np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def probit(x, scale):
    """Probit (escape-noise) derivative: dS/du = k phi(k x), phi the standard normal density,
    k = ``scale`` = 1/tau. It is the derivative of the escape function Phi(x / tau) of
    stochastic firing (docs/theory.md §9 "Stochastic firing"), the exact gradient of a neuron's expected spike
    (Gygax & Zenke 2025). Not an snnTorch surrogate: it is the backward pass of escape firing,
    where the training code uses it with k = 1/tau; as a surrogate of deterministic firing it is
    a Gaussian bump of width 1/k."""
    return scale * np.exp(-0.5 * (scale * x) ** 2) * (1.0 / np.sqrt(2.0 * np.pi))


# name -> (function, default scale); the order fixes the integer codes the kernels dispatch on
SURROGATES = {
    "atan": (atan, 2.0),
    "fast_sigmoid": (fast_sigmoid, 25.0),
    "sigmoid": (sigmoid, 25.0),
    "triangular": (triangular, 1.0),
    "straight_through": (straight_through, 1.0),
    "probit": (probit, 2.0),
}


def surrogate_code(name: str) -> int:
    """Integer code of a surrogate (its position in :data:`SURROGATES`), for Numba dispatch."""
    import snn_validation as validation

    return list(SURROGATES).index(validation.choice(name, "surrogate", SURROGATES))


def surrogate_grad(name: str, x, scale=None):
    """dS/du of surrogate ``name`` at x = u - threshold (float64 numpy); ``scale`` defaults to
    snnTorch's default for that surrogate. ValueError for unknown names or a bad scale."""
    import snn_validation as validation

    surrogate_code(name)
    func, default = SURROGATES[name]
    scale = default if scale is None else validation.scalar(scale, "scale", validation.positive)
    x = validation.finite(x, "x")
    return validation.scalar_or_array(func(x, scale))
