"""One result type for activity: what an evaluator says about a network, row by row.

The rows are the network's recorded layers in execution order: the input spikes (bernoulli
encoding), then every neuron layer's output (branches of residual blocks included); for a plain
stack row l is layer l = 0 .. L. Theory and simulation return the same type, so
``simulate.compare`` puts any two side by side.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Profile"]


@dataclass(frozen=True)
class Profile:
    """What an evaluator says about a :class:`~theory.Network`, per row and step t = 1..T.

    rate, mem_mean, mem_var  (rows, T) float64: E[s[t]] and the mean and variance of the membrane
                             u[t] as compared with the threshold; NaN where the evaluator does not
                             predict the quantity (the chains track spikes only; input spikes have
                             no membrane)
    rate_se, mem_mean_se, mem_var_se  standard errors of the same (0 where exact, e.g. the
                             closed-form mean field at T <= 2 or the spike-count chain)
    silent                   (rows,) probability (theory) or fraction of draws (simulation) that
                             the row emits no spike at any step; NaN where not predicted
    source                   "mean field", "spike-count chain", "Gram chain" or "simulation"
    detail                   the evaluator's own full result
    stream                   residual networks: per block the stream's mean per step,
                             (blocks + 1, T) (the stem, then after each block); None otherwise
    labels                   a short name per row ("input", "LIF 3", "block 2 LIF 1", ...)
    """
    network: object
    source: str
    rate: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    rate_se: np.ndarray
    mem_mean_se: np.ndarray
    mem_var_se: np.ndarray
    silent: np.ndarray
    detail: object = field(default=None, repr=False, compare=False)
    stream: np.ndarray | None = field(default=None, repr=False, compare=False)
    labels: tuple = field(default=(), repr=False, compare=False)

    QUANTITIES = ("rate", "mem_mean", "mem_var")

    @property
    def time_averaged_rate(self) -> np.ndarray:
        """(1/T) sum_t rate[row, t], shape (rows,)."""
        return self.rate.mean(axis=1)
