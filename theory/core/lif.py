"""The LIF neuron, written once: parameters, the reset table and the membrane update.

Model (docs/theory.md §1; snnTorch ``Leaky`` with ``reset_delay=True``). Per step t = 1..T,
from rest u[0] = 0, s[0] = 0, with I[t] the input current and the reset driven by the
PREVIOUS step's spike:

    subtract (code 0): u[t] = (beta u[t-1] + I[t]) - theta s[t-1]
    zero     (code 1): u[t] = beta (u[t-1] - s[t-1] u[t-1]) + I[t]   (= beta (1 - s[t-1]) u[t-1] + I[t])
    none     (code 2): u[t] = beta u[t-1] + I[t]
    subtract_leaky (code 3): u[t] = beta (u[t-1] - theta s[t-1]) + I[t]  (the subtracted threshold
                       decays with the membrane: SpikingJelly's soft reset, v_reset=None)
    s[t] = 1 if u[t] > theta else 0                                   (strict >)

:func:`membrane` is the one implementation of the update. It uses only arithmetic on its
arguments (no Python branching on values, no constants of another float type), so the SAME
function runs on float64 NumPy arrays in the theory, on float32 arrays in the reference
simulator, and compiles unchanged under ``numba.njit`` in the simulation and training kernels
(``simulate.kernels``, ``simulate.bptt_kernels``), where the reset code is a literal so that
the branch folds away and the loop vectorises. The zero reset is written u - s u rather than
(1 - s) u so that float32 arguments never meet a float64 literal: for s in {0, 1} both are
exact and equal (up to the sign of a zero), so every simulator keeps its float32 bit pattern.
"""
from __future__ import annotations

from dataclasses import dataclass

from numba import njit

import snn_validation as validation

__all__ = ["LIF", "Firing", "Deterministic", "RESETS", "reset_code", "membrane", "membrane_compiled"]

# the reset table: name -> integer code used by the kernels (its position here)
RESETS = ("subtract", "zero", "none", "subtract_leaky")


def reset_code(reset) -> int:
    """Integer code of a reset name (0 subtract, 1 zero, 2 none, 3 subtract_leaky); ValueError for
    other names."""
    validation.choice(reset, "reset", RESETS)
    return RESETS.index(reset)


def membrane(u_prev, s_prev, current, beta, threshold, code):
    """u[t] from u[t-1], s[t-1] and I[t] for reset ``code`` (module docstring).

    Works elementwise on scalars or arrays of one float type (float32 in simulation, float64 in
    theory); ``code`` is an int from :func:`reset_code`. Pass ``current = 0`` to get the
    leak-and-reset part alone (exact: adding zero changes no value).
    """
    if code == 0:
        return (beta * u_prev + current) - threshold * s_prev
    if code == 1:
        return beta * (u_prev - s_prev * u_prev) + current
    if code == 3:
        return beta * (u_prev - threshold * s_prev) + current
    return beta * u_prev + current


# the same function compiled for Numba kernels (inlined, so a literal reset code folds away)
membrane_compiled = njit(cache=True, inline="always")(membrane)


@dataclass(frozen=True)
class Firing:
    """A firing rule: how the membrane u[t] becomes the spike s[t]. A value, not a flag: the
    deterministic rule here, stochastic (escape-noise) firing in :mod:`theory.regimes.escape`."""


@dataclass(frozen=True)
class Deterministic(Firing):
    """s[t] = 1 if u[t] > theta else 0 (strict >): snnTorch's ``Leaky``."""


@dataclass(frozen=True)
class LIF:
    """A LIF neuron's parameters: ``threshold`` theta (finite), ``beta`` (leak factor in [0, 1]),
    ``reset`` ("subtract", "zero", "none" or "subtract_leaky") and the ``firing`` rule (default
    :class:`Deterministic`). Validated on construction; frozen."""
    threshold: float = 1.0
    beta: float = 0.0
    reset: str = "subtract"
    firing: Firing = Deterministic()

    def __post_init__(self):
        object.__setattr__(self, "threshold", validation.scalar(self.threshold, "threshold"))
        object.__setattr__(self, "beta", validation.scalar(self.beta, "beta", validation.unit_interval))
        validation.choice(self.reset, "reset", RESETS)
        if not isinstance(self.firing, Firing):
            raise ValueError(f"firing must be a firing rule (theory.Deterministic() or theory.Escape(tau)), "
                             f"got {self.firing!r}")

    @property
    def reset_code(self) -> int:
        return RESETS.index(self.reset)

    def out_shape(self, shape):
        """A neuron layer keeps its input's shape (one neuron per current)."""
        return tuple(shape)

    @property
    def deterministic(self) -> bool:
        """Whether the firing rule is the deterministic threshold."""
        return isinstance(self.firing, Deterministic)
