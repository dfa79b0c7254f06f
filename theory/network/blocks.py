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
           covariances and shared offsets add.

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
from theory.network.signal import UNIFORM, Signal, current, spikes
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
        m, M, p, B = signal.mean, signal.moment, x.mean, x.moment
        both = np.outer(m, p) + np.outer(p, m)
        cross = None
        if self.connect == "add":
            a = self.multiplier
            mean, second = m + a * p, M + a * both + a * a * B
            if signal.cross is not None and x.cross is not None:
                cross = signal.cross + a * both + a * a * x.cross
        elif self.connect == "iand":
            keep = 1.0 - p[:, None] - p[None, :]
            mean, second = m * (1.0 - p), M * (keep + B)
            if signal.cross is not None and x.cross is not None:
                cross = signal.cross * (keep + x.cross)
        else:
            mean, second = m * p, M * B
            if signal.cross is not None and x.cross is not None:
                cross = signal.cross * x.cross
        ctx.record_stream(mean)
        return spikes(signal.shape, mean, second, cross)


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
            ctx.record_stream(signal.mean)
        ctx.block = 1 if ctx.block is None else ctx.block + 1
        y = ctx.apply(self.branch, signal)
        if y.kind != "current" or y.sampler is not None:
            raise ValueError("an MS block's branch must end with a Gaussian current (a weight layer or batch norm)")

        def averaged(s):
            factor = sum(f * v for f, v in s.spread)
            return s.moment if factor == 1.0 else factor * s.moment

        def add(a, b):
            return None if a is None or b is None else a + b
        ctx.record_stream(signal.mean + y.mean)
        return Signal("current", signal.shape, signal.mean + y.mean, averaged(signal) + averaged(y),
                      add(signal.cross, y.cross), add(signal.shared, y.shared), UNIFORM)


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
