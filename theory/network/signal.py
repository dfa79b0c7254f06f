"""What the infinite-width theory carries from one layer to the next (float64).

At infinite width (dense layers) or infinitely many channels (convolutions), every unit of a
layer's output has the same law over the T steps, and the theory needs only a few moments of it
(docs/theory.md §3, §5, §11):

    kind "current": a zero-mean-weights current, a Gaussian process over t = 1..T given by
        mean      (T,)    E[x[t]]
        moment    (T, T)  Cov[x[t], x[t']]                          (covariance)
        cross     (T, T)  Cov[x_i[t], x_j[t']] of two distinct units of one channel and one input
                          (spatial neighbours sharing a kernel; 0 for a dense layer), or None
        shared    (T, T)  Cov of the part every input sample shares (the unit's own offset
                          sum_k w_k E[x_k] plus its bias): what batch norm removes
        positions None where every position of a map has the same law; else a :class:`Field` of
                          the per-position mean, moment and shared part (P positions): a padded
                          convolution's border units have fewer inputs, and the difference travels
                          inwards layer after layer; mean/moment/shared are then the averages
        sampler   None for a Gaussian current; else sampler(rng, paths) -> (paths, 2, T) joint draws
                          of two distinct units (a max-pooled current is not Gaussian)
    kind "spikes" (0/1 spikes, or the integer/real-valued stream of a residual block):
        mean      (T,)    E[x[t]]                                   (the rate for spikes)
        moment    (T, T)  E[x[t] x[t']]                             (raw second moment)
        cross     (T, T)  E[x_i[t] x_j[t']] of two distinct units of one channel, or None
        source    the Gaussian current and neuron that produced the spikes (pooling after the
                  neuron needs the joint law of several units, not only their pair moments)

``shape`` is the per-sample unit shape: (n,) for a dense layer, (C, L) or (C, H, W) for
convolutions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Signal", "Field", "current", "spikes"]


@dataclass(frozen=True)
class Field:
    """Per-position statistics of a map's units (positions flattened, row-major): mean (P, T),
    moment (P, T, T) (a current's covariance, or spikes' raw second moment), shared (P, T, T) or
    None (a current's offset part); pair None or pair(p, q) -> (T, T), the cross-covariance of
    the currents of two distinct units of one channel at positions p and q (a padded
    convolution's border units share fewer taps with their neighbours: pooling needs it)."""
    mean: np.ndarray
    moment: np.ndarray
    shared: np.ndarray | None = None
    pair: object = field(default=None, compare=False)

    @property
    def positions(self) -> int:
        return self.mean.shape[0]

    def averages(self):
        """(mean, moment, shared) averaged over the positions."""
        shared = None if self.shared is None else self.shared.mean(axis=0)
        return self.mean.mean(axis=0), self.moment.mean(axis=0), shared


@dataclass(frozen=True)
class Signal:
    """See the module docstring."""
    kind: str
    shape: tuple
    mean: np.ndarray
    moment: np.ndarray
    cross: np.ndarray | None = None
    shared: np.ndarray | None = None
    positions: Field | None = field(default=None, compare=False)
    sampler: object = field(default=None, compare=False)
    source: object = field(default=None, compare=False)

    @property
    def T(self) -> int:
        return self.mean.shape[0]

    @property
    def units(self) -> int:
        """Units per sample (the fan-in a following dense layer sees)."""
        return int(np.prod(self.shape))

    @property
    def channels(self) -> int:
        return int(self.shape[0])

    @property
    def receptive(self) -> int:
        """Units per channel position: 1 (dense) or the spatial size."""
        return int(np.prod(self.shape[1:])) if len(self.shape) > 1 else 1

    def second(self) -> np.ndarray:
        """E[x[t] x[t']] (for a current: covariance + mean mean^T)."""
        if self.kind == "current":
            return self.moment + np.outer(self.mean, self.mean) if np.any(self.mean) else self.moment
        return self.moment

    def cross_second(self) -> np.ndarray:
        """E[x_i[t] x_j[t']] of two distinct units of one channel (i.i.d. units: mean mean^T)."""
        if self.cross is None:
            raise ValueError("this signal does not carry the moments of two distinct units (cross)")
        if self.kind == "current":
            return self.cross + np.outer(self.mean, self.mean) if np.any(self.mean) else self.cross
        return self.cross


def current(shape, mean, cov, cross=None, shared=None, positions=None, sampler=None) -> Signal:
    """A current; with ``positions`` (a Field) the given mean/cov/shared are replaced by its averages."""
    if positions is not None:
        mean, cov, shared = positions.averages()
    return Signal("current", tuple(shape), np.asarray(mean, dtype=np.float64), np.asarray(cov, dtype=np.float64),
                  cross, shared, positions, sampler)


def spikes(shape, mean, second, cross=None, source=None, positions=None) -> Signal:
    """Spikes (or a stream); with ``positions`` the given mean/second are replaced by its averages."""
    if positions is not None:
        mean, second, _ = positions.averages()
    return Signal("spikes", tuple(shape), np.asarray(mean, dtype=np.float64), np.asarray(second, dtype=np.float64),
                  cross, None, positions, None, source)
