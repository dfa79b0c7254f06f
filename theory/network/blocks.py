"""Residual blocks as combinators, and builders of the residual networks (docs/theory.md §9, §11).

    SEW(branch, connect, multiplier)  spike-element-wise block (Fang et al., NeurIPS 2021): the
        branch (ending with a neuron) reads the stream h and the block emits g(h, x), x = branch(h):
            "add"   h + a x     (SEW's ADD; with a = 1 an integer spike count per unit and step)
            "iand"  h (1 - x)   (h AND NOT x; binary h)
            "and"   h x
    MS(branch)  membrane-shortcut block (MS-ResNet, Hu et al., TNNLS 2024): the stream h is a
        current, the branch starts with a neuron and ends with a current, h' = h + branch(h).

Infinite-width rules (m, M, M_x: the stream's mean, second moment and two-unit cross moment;
p, B, B_x the branch output's). At infinite width a unit's branch output is independent of its
own stream value (its current sums n inputs, the unit's own one among them), so

    add:   m' = m + a p,   M' = M + a (m p^T + p m^T) + a^2 B,   M_x' = M_x + a (m p^T + p m^T) + a^2 B_x
    iand:  m' = m (1 - p), M'[t, t'] = M[t, t'] (1 - p_t - p_t' + B[t, t'])  (M_x' the same with M_x, B_x)
    and:   m' = m p,       M' = M o B,   M_x' = M_x o B_x
    MS:    the branch's current is Gaussian and independent of h: means, covariances, two-unit
           covariances and shared offsets add (a branch ending in batch norm over time whose
           offsets vary over the steps is a scale mixture of Gaussians: taken as the Gaussian of
           the same moments).

The dense SEW-ADD theory with its initialiser (sew_add: the per-layer stds that start every block
near the identity) is theory.regimes.residual's; :func:`sew_network` builds that network as one
description.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import snn_validation as validation
from theory.core.laws import Gaussian
from theory.core.lif import LIF
from theory.network.description import Encoding, Network
from theory.network.layers import Dense, Init, Serial, serial
from theory.network import rules
from theory.network.signal import Field, Signal, current, spikes
from theory.regimes.residual import block_count, sew_stds

__all__ = ["SEW", "MS", "CONNECTS", "sew_network"]

CONNECTS = ("add", "iand", "and")


def _branch(branch) -> Serial:
    return branch if isinstance(branch, Serial) else serial(branch)


@dataclass(frozen=True)
class SEW:
    """Spike-element-wise residual block (module docstring)."""
    branch: object
    connect: str = "add"
    multiplier: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "branch", _branch(self.branch))
        validation.choice(self.connect, "connect", CONNECTS)
        object.__setattr__(self, "multiplier", float(validation.positive(self.multiplier, "multiplier")))
        if self.connect != "add" and self.multiplier != 1.0:
            raise ValueError(f"multiplier must be 1 with connect {self.connect!r} (a logical connect of binary "
                             f"spikes), got {self.multiplier}")

    def out_shape(self, shape):
        out = self.branch.out_shape(shape)
        if tuple(out) != tuple(shape):
            raise ValueError(f"a SEW block's branch must keep the shape, got {shape} -> {out}")
        return tuple(shape)

    def mean_field(self, signal, ctx):
        if signal.kind != "spikes":
            raise ValueError("a SEW block reads spikes (put a neuron before it)")
        if ctx.block is None:
            ctx.record_stream(signal.mean)              # the stream entering the first block
        ctx.block = 1 if ctx.block is None else ctx.block + 1
        x = ctx.apply(self.branch, signal)
        if x.kind != "spikes":
            raise ValueError("a SEW block's branch must end with a neuron")
        cross = None
        if signal.cross is not None and x.cross is not None:
            cross = self._combine(signal.mean, signal.cross, x.mean, x.cross)
        if signal.positions is None and x.positions is None:
            mean, second = self._moments(signal.mean, signal.moment, x.mean, x.moment)
            ctx.record_stream(mean)
            return spikes(signal.shape, mean, second, cross)
        (m, M, _), (p, B, _) = rules.positions(signal), rules.positions(x)
        mean, second = self._moments(m, M, p, B)
        ctx.record_stream(mean.mean(axis=0))
        return spikes(signal.shape, None, None, cross, positions=Field(mean, second))

    def _moments(self, m, M, p, B):
        """The block's output mean and second moment from the stream's (m, M) and the branch's
        (p, B) (module docstring), for one law or position by position (leading axis)."""
        return m + self.multiplier * p if self.connect == "add" else (m * (1.0 - p) if self.connect == "iand"
                                                                       else m * p), self._combine(m, M, p, B)

    def _combine(self, m, M, p, B):
        outer = lambda x, y: x[..., :, None] * y[..., None, :]            # noqa: E731
        if self.connect == "add":
            a = self.multiplier
            return M + a * (outer(m, p) + outer(p, m)) + a * a * B
        if self.connect == "iand":
            return M * (1.0 - p[..., :, None] - p[..., None, :] + B)
        return M * B


@dataclass(frozen=True)
class MS:
    """Membrane-shortcut residual block (module docstring)."""
    branch: object

    def __post_init__(self):
        object.__setattr__(self, "branch", _branch(self.branch))

    def out_shape(self, shape):
        out = self.branch.out_shape(shape)
        if tuple(out) != tuple(shape):
            raise ValueError(f"an MS block's branch must keep the shape, got {shape} -> {out}")
        return tuple(shape)

    def mean_field(self, signal, ctx):
        if signal.kind != "current" or signal.sampler is not None:
            raise ValueError("an MS block reads a Gaussian current stream (the output of a weight layer)")
        if ctx.block is None:
            ctx.record_stream(signal.mean, entry=signal)
        ctx.block = 1 if ctx.block is None else ctx.block + 1
        y = ctx.apply(self.branch, signal)
        if y.kind != "current":
            raise ValueError("an MS block's branch must end with a current (a weight layer or batch norm)")
        if y.sampler is not None:
            # batch norm over time with a time-varying offset gives each channel its own scale: a
            # scale mixture of Gaussians, taken here as the Gaussian of the same moments
            y = Signal("current", y.shape, y.mean, y.moment, y.cross, np.zeros_like(y.moment))

        def add(a, b):
            return None if a is None or b is None else a + b
        if signal.positions is None and y.positions is None:
            ctx.record_stream(signal.mean + y.mean)
            return Signal("current", signal.shape, signal.mean + y.mean, signal.moment + y.moment,
                          add(signal.cross, y.cross), add(signal.shared, y.shared))
        (m, C, S), (n, D, R) = rules.positions(signal), rules.positions(y)
        shared = None if S is None or R is None else S + R
        ctx.record_stream((m + n).mean(axis=0))
        return current(signal.shape, None, None, add(signal.cross, y.cross), None, Field(m + n, C + D, shared))


def sew_network(blocks, width=100, *, block_layers=1, connect="add", multiplier=None, inputs=784, classes=10,
                neuron=None, T=8, encoding=None, init="sew_add", budget=1.0, samples=4000, seed=0) -> Network:
    """The residual spiking MLP of the training loop as one description: an input LIF layer of
    ``inputs`` units, a stem Dense(width) + LIF, ``blocks`` SEW blocks whose branch is
    ``block_layers`` x (Dense(width), LIF), and Dense(classes) + LIF.

    ``multiplier`` a (default 1/sqrt(blocks) for "add", 1 otherwise). ``init="sew_add"``: the
    per-layer Gaussian stds of theory.regimes.residual.sew_stds (the stem the paper's, each block's
    last layer at the rate that raises the stream's mean by ``budget`` times the stem's rate over
    all blocks, solved on the temporal mean field at T with a static input of the encoding's std);
    any other registry name: that initialiser in every layer. ``encoding`` default static N(0, 1)."""
    blocks = validation.non_negative_int(blocks, "blocks")
    neuron = LIF(1.0, 0.5) if neuron is None else neuron
    encoding = Encoding("static") if encoding is None else encoding
    a = (1.0 / np.sqrt(blocks) if connect == "add" and blocks else 1.0) if multiplier is None else multiplier
    depth = 3 + blocks * int(validation.positive_int(block_layers, "block_layers"))
    block_count(depth, block_layers)
    if init == "sew_add":
        if connect != "add":
            raise ValueError("init 'sew_add' is derived for connect 'add'")
        stds = sew_stds(depth, width, block_layers, neuron.threshold, budget, inputs, classes, neuron.beta, T=T,
                        reset=neuron.reset, input_std=encoding.std, samples=samples, seed=seed, branch_scale=a)
        laws = [Gaussian(s) for s in stds]
    else:
        laws = [Init(init)] * (depth - 1)
    body = []
    for block in range(blocks):
        first = 1 + block * block_layers
        branch = serial(*[(Dense(width, laws[first + i]), neuron) for i in range(block_layers)])
        body.append(SEW(branch, connect, a))
    layers = serial(neuron, Dense(width, laws[0]), neuron, *body, Dense(classes, laws[-1]), neuron)
    return Network(layers, input=inputs, T=T, encoding=encoding)
