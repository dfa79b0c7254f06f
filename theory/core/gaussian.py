"""Gaussian tails, densities and bivariate orthant probabilities, in float64.

Q(z) = P(Z > z) = 1/2 erfc(z / sqrt 2) for Z ~ N(0, 1). Tails are computed in log space
with ``scipy.special.log_ndtr`` so that thresholds far in the tail (z = 30 and beyond, where
Q underflows double precision) still give finite, accurate weight scales.
"""
from __future__ import annotations

import numpy as np
from scipy import special

import snn_validation as validation

# Gauss-Legendre nodes for the orthant integral (smooth integrand after r = sin(angle)).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)


def tail(z):
    """Q(z) = P(Z > z) = 1/2 erfc(z/sqrt 2), standard normal upper tail (float64; Q(-inf) = 1,
    Q(inf) = 0, NaN stays NaN). ValueError naming z for a bool, a string, a complex number or None."""
    return special.ndtr(-validation.real(z, "z", nan=True))


def log_tail(z):
    """log Q(z), accurate for z far in the tail (log_ndtr(-z)); the argument checks of :func:`tail`."""
    return special.log_ndtr(-validation.real(z, "z", nan=True))


def density(z):
    """phi(z) = exp(-z^2/2) / sqrt(2 pi) (0 at +-inf, without an overflow warning for |z| beyond
    1e154); the argument checks of :func:`tail`."""
    z = validation.real(z, "z", nan=True)
    with np.errstate(over="ignore"):
        return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def firing_probability(threshold, q):
    """P(u > theta) for u ~ N(0, q):  Q(theta / sqrt(q)).

    q = 0 means u = 0 exactly, so the neuron fires iff theta < 0 (strict >).
    Works elementwise on broadcast arrays, float64.
    """
    threshold = validation.real(threshold, "threshold", nan=True)
    q = validation.real(q, "q", nan=True)
    if np.isnan(threshold).any() or np.isnan(q).any() or (q < 0).any():
        raise ValueError(f"firing_probability needs a threshold that is not NaN and a variance q >= 0, got "
                         f"threshold={threshold!r}, q={q!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = threshold / np.sqrt(q)
    z = np.where(q > 0, z, np.where(threshold < 0, -np.inf, np.inf))
    return tail(z)


def orthant(z, c):
    """P(X > z, Y > z) for standard bivariate normal (X, Y) with correlation c in [-1, 1].

    Plackett's identity d/dc P = exp(-z^2/(1+c)) / (2 pi sqrt(1-c^2)) integrated from 0:

        P(z, c) = Q(z)^2 + 1/(2 pi) * int_0^{arcsin c} exp(-z^2 / (1 + sin a)) da

    (the substitution r = sin a removes the endpoint singularity). 64-point Gauss-Legendre,
    accurate to ~1e-15 for |z| < 10. Vectorised over broadcast z, c.
    """
    z = validation.real(z, "z", nan=True)
    c = validation.real(c, "c", nan=True)
    if np.isnan(z).any() or np.isnan(c).any() or (np.abs(c) > 1.0 + 1e-12).any():
        raise ValueError(f"orthant needs z not NaN and a correlation c in [-1, 1], got z={z!r}, c={c!r}")
    c = np.clip(c, -1.0, 1.0)   # round-off beyond +-1 only
    z, c = np.broadcast_arrays(z, c)
    upper = np.arcsin(c)[..., None]
    angles = 0.5 * upper * (_GL_NODES + 1.0)
    with np.errstate(divide="ignore", over="ignore"):
        integrand = np.exp(-(z[..., None] ** 2) / (1.0 + np.sin(angles)))
    integral = 0.5 * upper[..., 0] * np.sum(_GL_WEIGHTS * integrand, axis=-1)
    return tail(z) ** 2 + integral / (2.0 * np.pi)


_MAX_NODES = 2000


def gauss_hermite_expectation(func, q, n_nodes: int = 101):
    """E[func(u)] for u ~ N(0, q) by Gauss-Hermite quadrature (probabilists' nodes).

    Suitable for smooth func (surrogate derivatives); not for step functions, whose
    expectations have closed forms here.
    """
    if not callable(func):
        raise ValueError(f"func must be a function of u (numpy arrays in, out), got {type(func).__name__}")
    if isinstance(n_nodes, (bool, np.bool_)) or not isinstance(n_nodes, (int, np.integer)) \
            or not 1 <= n_nodes <= _MAX_NODES:
        raise ValueError(f"n_nodes must be an integer in [1, {_MAX_NODES}] (the nodes come from an eigenvalue "
                         f"solve of that size), got {n_nodes!r}")
    q = validation.non_negative(q, "q")
    validation.check_memory(8 * n_nodes * (q.size + 1), f"n_nodes={n_nodes} x q of size {q.size}")
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / np.sqrt(2.0 * np.pi)
    u = np.sqrt(q)[..., None] * nodes
    return np.sum(weights * func(u), axis=-1)
