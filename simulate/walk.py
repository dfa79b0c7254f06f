"""The simulator of a network description: draw a finite network from it and run it forward.

``draw(net, batch, rng)`` draws the weights of every weight layer from its resolved law (in the
order of ``net.plan``), then the biases of the layers that have a bias variance, then the input
of ``batch`` samples from the encoding: for a plain stack exactly the draws
``simulate.monte_carlo`` always made. ``forward(net, weights, biases, inputs)`` walks the
description with the float32 kernels (simulate.kernels for neurons and dense layers,
simulate.conv_kernels for convolution, pooling and batch norm) and returns per recorded row
(the input spikes of a bernoulli encoding, then every neuron layer) the rate, the membrane
mean and variance per step, and the spike counts: the statistics ``simulate.run_network``
reports, bit for bit on a plain stack (the same kernels in the same order).

Layouts: activations (T, B, *shape) (shape per sample: (n,) or (C, L) or (C, H, W)); dense
weights (fan_in, fan_out) as the toolkit's; convolution weights (C_out, C_in, *kernel) as torch's.
Stochastic (escape) firing draws its spikes from the counter-based stream of simulate.kernels,
keyed by ``noise_seed`` and the row of the neuron.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.core.laws import draw as draw_law
from theory.core.lif import LIF
from theory.network.blocks import MS, SEW
from theory.network.description import Network
from theory.network.layers import AvgPool, BatchNorm, Conv, Dense, Flatten, MaxPool, Repeat, Serial

import simulate.encodings as encodings
import simulate.kernels as kernels
from .network import PARALLEL_WORK, lif_statistics

__all__ = ["WalkResult", "draw", "draw_weights", "forward"]


@dataclass(frozen=True)
class WalkResult:
    """Per recorded row r and step t (float64): rate, mem_mean, mem_var (rows, T) as in
    simulate.NetworkResult; active (rows, T, B) int32 spike counts per sample; stream (blocks + 1,
    T) the residual stream's mean per step (None without residual blocks); out (T, B, *shape) the
    last layer's output."""
    rate: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    active: np.ndarray
    stream: np.ndarray | None
    out: np.ndarray
    spikes: list | None = None


def draw_weights(net: Network, rng: np.random.Generator) -> list:
    """The weights of every weight layer, in the order of ``net.plan``, from its resolved law
    (float64 draws cast to float32, as theory.inits.sample_weights draws), times its gain in
    float32: dense (fan_in, width), convolutions (C_out, C_in, *kernel)."""
    weights = []
    for entry in net.plan:
        layer = entry.layer
        shape = (entry.fan_in, layer.width) if isinstance(layer, Dense) else \
            (layer.channels, entry.in_shape[0]) + layer.geometry(entry.in_shape)[0]
        w = draw_law(entry.law.spec(), shape, rng)
        if layer.gain != 1.0:
            w = np.float32(layer.gain) * w
        weights.append(w)
    return weights


def draw(net: Network, batch: int, rng: np.random.Generator):
    """(weights, biases, inputs) of one finite network and batch (module docstring)."""
    weights = draw_weights(net, rng)
    biases = []
    for entry in net.plan:
        layer = entry.layer
        n = layer.width if isinstance(layer, Dense) else layer.channels
        biases.append((np.sqrt(layer.bias_var) * rng.standard_normal(n)).astype(np.float32)
                      if layer.bias_var > 0 else None)
    steps, width, encoding = net.T, int(np.prod(net.input)), net.encoding
    if encoding.kind == "gaussian":
        inputs = encodings.gaussian_currents(steps, batch, width, rng, encoding.std)
    elif encoding.kind == "static":
        inputs = encodings.static_currents((encoding.std * rng.standard_normal((batch, width))).astype(np.float32),
                                           steps)
    else:
        inputs = encodings.bernoulli_spikes(encoding.rate, steps, batch, width, rng)
    return weights, biases, np.ascontiguousarray(inputs.reshape((steps, batch) + tuple(net.input)))


class _Spikes:
    """Binary activations with their blocked active-index lists (simulate.kernels' layout)."""

    def __init__(self, values, index=None, count=None):
        self.values = values
        if index is None:
            flat = values.reshape(values.shape[:2] + (-1,))
            width = flat.shape[2]
            index = np.empty(flat.shape, np.int32)
            count = np.empty(((width + kernels.BLOCK - 1) // kernels.BLOCK,) + flat.shape[:2], np.int32)
            kernels.gather_active(np.ascontiguousarray(flat), index, count)
        self.index, self.count = index, count


class _Walk:
    def __init__(self, net, weights, biases, noise_seed, sample_offset, record=False):
        self.net = net
        self.recorded = [] if record else None
        self.params = iter(zip(net.plan, weights, biases))
        self.noise_seed, self.sample_offset = int(noise_seed), int(sample_offset)
        self.rows, self.stream = [], []

    def weights(self, layer):
        entry, weight, bias = next(self.params)
        if entry.layer is not layer:
            raise RuntimeError("the walk and the plan disagree on the order of the weight layers")
        return weight, bias

    def run(self, layer, x):
        if isinstance(layer, Serial):
            for child in layer.layers:
                x = self.run(child, x)
            return x
        if isinstance(layer, Repeat):
            for _ in range(layer.times):
                x = self.run(layer.layer, x)
            return x
        if isinstance(layer, LIF):
            return self.lif(layer, x)
        if isinstance(layer, Dense):
            return self.dense(layer, x)
        if isinstance(layer, Conv):
            return self.conv(layer, x)
        if isinstance(layer, Flatten):
            values = x.values if isinstance(x, _Spikes) else x
            flat = values.reshape(values.shape[:2] + (-1,))
            return _Spikes(flat, x.index, x.count) if isinstance(x, _Spikes) else flat
        if isinstance(layer, (MaxPool, AvgPool)):
            return self.pool(layer, x)
        if isinstance(layer, BatchNorm):
            return self.batch_norm(layer, x)
        if isinstance(layer, SEW):
            return self.sew(layer, x)
        if isinstance(layer, MS):
            return self.ms(layer, x)
        raise ValueError(f"the simulator has no rule for {type(layer).__name__}")

    # ------------------------------------------------------------------ neurons and dense layers
    def lif(self, neuron: LIF, currents):
        if isinstance(currents, _Spikes) or currents.dtype != np.float32:
            raise ValueError("a LIF neuron needs a float32 current (put a weight layer before it)")
        steps, batch = currents.shape[:2]
        shape = currents.shape[2:]
        drive = np.ascontiguousarray(currents.reshape(steps, batch, -1))
        row = len(self.rows)
        spikes, index, count, stats = lif_statistics(drive, neuron, self.noise_seed, row, self.sample_offset)
        self.rows.append(stats)
        if self.recorded is not None:
            self.recorded.append(spikes.reshape((steps, batch) + shape))
        return _Spikes(spikes.reshape((steps, batch) + shape), index, count)

    def dense(self, layer, x):
        weight, bias = self.weights(layer)
        has_bias = bias is not None
        bias_arg = bias if has_bias else np.zeros(0, np.float32)
        if isinstance(x, _Spikes):
            steps, batch = x.values.shape[:2]
            out = np.empty((steps, batch, weight.shape[1]), np.float32)
            kernels.dense_currents(weight, bias_arg, has_bias, x.index.reshape(steps, batch, -1), x.count, out)
            return out
        steps, batch = x.shape[:2]
        out = np.empty((steps * batch, weight.shape[1]), np.float32)
        kernels.dense_values(np.ascontiguousarray(x.reshape(steps * batch, -1), dtype=np.float32), weight, bias_arg,
                             has_bias, out)
        return out.reshape(steps, batch, -1)

    # ------------------------------------------------------------------ convolution, pooling, batch norm
    def conv(self, layer, x):
        import simulate.conv_kernels as C
        weight, bias = self.weights(layer)
        values = x.values if isinstance(x, _Spikes) else x
        _, stride, padding = layer.geometry(values.shape[2:])
        one_d = len(stride) == 1
        if one_d:
            stride, padding = stride[0], padding[0]
        if isinstance(x, _Spikes):
            run = C.conv1d_spikes if one_d else C.conv2d_spikes
            return run(x.values, weight, bias, stride, padding)
        run = C.conv1d_dense if one_d else C.conv2d_dense
        return run(x, weight, bias, stride, padding)

    def pool(self, layer, x):
        import simulate.conv_kernels as C
        values = x.values if isinstance(x, _Spikes) else x
        kernel = layer.window(values.shape[2:])
        run = C.max_pool if isinstance(layer, MaxPool) else C.avg_pool
        out = run(np.ascontiguousarray(values), kernel[0] if len(kernel) == 1 else kernel)
        return _Spikes(np.ascontiguousarray(out)) if out.dtype == np.uint8 else out

    def batch_norm(self, layer, x):
        import simulate.conv_kernels as C
        if isinstance(x, _Spikes):
            raise ValueError("BatchNorm is simulated on currents (put it between a weight layer and a neuron)")
        channels = x.shape[2]
        normalised, _, _ = C.batch_norm(x, np.full(channels, layer.weight, np.float32),
                                        np.full(channels, layer.bias, np.float32), eps=layer.eps,
                                        per_step=layer.over == "step")
        return normalised

    # ------------------------------------------------------------------ residual blocks
    def sew(self, block, x):
        if isinstance(x, _Spikes):
            stream = x.values
        else:
            stream = x
        if not self.stream:                     # the stream entering the first block
            self.stream.append(stream.reshape(stream.shape[0], -1).mean(axis=1, dtype=np.float64))
        branch = self.run(block.branch, x)
        if not isinstance(branch, _Spikes):
            raise ValueError("a SEW block's branch must end with a neuron")
        spikes = branch.values
        if block.connect == "add":
            a = np.float32(block.multiplier)
            out = stream.astype(np.float32) + (spikes if a == 1.0 else a * spikes.astype(np.float32))
        elif block.connect == "iand":
            out = (stream * (1 - spikes)).astype(stream.dtype)
        else:
            out = (stream * spikes).astype(stream.dtype)
        self.stream.append(out.reshape(out.shape[0], -1).mean(axis=1, dtype=np.float64))
        if out.dtype == np.uint8:
            return _Spikes(np.ascontiguousarray(out))
        return np.ascontiguousarray(out, dtype=np.float32)

    def ms(self, block, x):
        if isinstance(x, _Spikes):
            raise ValueError("an MS block reads a current stream")
        if not self.stream:
            self.stream.append(x.reshape(x.shape[0], -1).mean(axis=1, dtype=np.float64))
        out = x + self.run(block.branch, x)
        self.stream.append(out.reshape(out.shape[0], -1).mean(axis=1, dtype=np.float64))
        return out


def forward(net: Network, weights, biases, inputs, *, noise_seed=0, sample_offset=0,
            record_spikes=False) -> WalkResult:
    """Run ``net`` with the drawn parameters on ``inputs`` (T, B, *input) (module docstring)."""
    walk = _Walk(net, weights, biases, noise_seed, sample_offset, record_spikes)
    rows = []
    if net.encoding.spikes:
        x = _Spikes(np.ascontiguousarray(inputs, dtype=np.uint8))
        flat = inputs.reshape(inputs.shape[:2] + (-1,)).astype(np.float64)
        rate = flat.mean(axis=(1, 2))
        rows.append((rate, rate.copy(), flat.reshape(flat.shape[0], -1).var(axis=1),
                     flat.sum(axis=2).astype(np.int32)))
    else:
        x = np.ascontiguousarray(inputs, dtype=np.float32)
    out = walk.run(net.layers, x)
    rows += walk.rows
    rate, mem_mean, mem_var, active = (np.array([r[i] for r in rows]) for i in range(4))
    stream = np.array(walk.stream) if walk.stream else None
    recorded = None
    if record_spikes:
        recorded = ([np.ascontiguousarray(inputs, dtype=np.uint8)] if net.encoding.spikes else []) + walk.recorded
    return WalkResult(rate, mem_mean, mem_var, active, stream, out.values if isinstance(out, _Spikes) else out,
                      recorded)


# the simulator's threshold for parallel kernels (re-exported for the benchmarks)
PARALLEL = PARALLEL_WORK
