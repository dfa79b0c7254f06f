"""Layer values: the pieces a network description is composed of (docs/theory.md §1, §11).

A network is a composition of small frozen values (the model is neural-tangents' stax): weight
layers carrying their weight law, neurons (``theory.LIF``, with its firing rule), pooling and
normalisation layers, and combinators (:func:`serial`, :class:`Repeat`, and the residual blocks
of :mod:`theory.regimes.residual`). One description gives both the finite network (the
simulator draws it) and its theory (every evaluator walks it); each layer holds its own
infinite-width rule (``mean_field``), so a new layer kind is one class plus its tests.

    serial(LIF(), Dense(1000), LIF(), Dense(1000), LIF())          a plain stack (input layer first)
    serial(Conv(12, 5), MaxPool(2), LIF(), Conv(64, 5), MaxPool(2), LIF(), Flatten(), Dense(10), LIF())

Shapes are per sample: (n,) for dense layers, (C, L) or (C, H, W) for convolutions. The
weights of a layer are a registry initialiser (a name or :class:`Init` with its parameters,
evaluated for the layer's fan-in, fan-out and the neuron after it) or an explicit law
(``theory.Gaussian(std)``, ``Uniform``, ``Stable``); ``gain`` multiplies every weight.

Mean-field rules (infinite width / channels; M = E[x x^T] the raw second moment of the input
units over the T steps, m their mean, n the fan-in, sigma the weight std times the gain):

    Dense, Conv   C = n sigma^2 M + bias_var            (the current's covariance, zero mean)
                  shared = n sigma^2 m m^T + bias_var   (each unit's own offset: all samples share it)
                  Conv only: two positions of one channel share the kernel, so their currents have
                  covariance X = n sigma^2 M_x + bias_var, M_x = E[x_i x_j^T] of two distinct input
                  units of one channel; a padded border unit with v of the K kernel taps inside the
                  map has variance (v / K) C (the ``spread`` of the current)
    AvgPool(k)    currents: C' = C / K + (1 - 1/K) X, X' = X;  spikes: M' = M / K + (1 - 1/K) M_x
    MaxPool(k)    currents (before the neuron): the max of K exchangeable Gaussian paths (sampled);
                  spikes (after the neuron): the OR of K units, sampled jointly from their currents
    BatchNorm     per channel y = weight (x - mean_c) / sqrt(var_c + eps) + bias, batch statistics
                  over (T, batch, positions) ("time") or per step ("step"): the shared offset goes,
                  the rest is scaled (docs/theory.md §11)
    LIF           the temporal LIF map of theory.meanfield.temporal (per unit class), and for two
                  distinct units the pair map of theory.meanfield.pair
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

import snn_validation as validation
from theory.inits import registry as inits
from theory.core.laws import LAWS, Gaussian
from theory.network import rules

__all__ = ["Init", "Dense", "Conv", "MaxPool", "AvgPool", "BatchNorm", "Flatten", "Serial", "serial", "Repeat",
           "weight_law", "WEIGHT_LAYERS"]


@dataclass(frozen=True)
class Init:
    """A registry initialiser with its own parameters, evaluated per layer (fan-in, fan-out, the
    neuron after the layer). Parameters the network knows (``T``, ``reset``, ``tau``) are filled
    from it unless given here: ``Init("micheli_temporal")`` in a T = 4 network with zero reset is
    solved for T = 4 and the zero reset."""
    name: str = "micheli"
    params: tuple = ()

    def __init__(self, name="micheli", params=(), **kwargs):
        validation.choice(name, "init", inits.names())
        given = dict(params) if not isinstance(params, dict) else dict(params)
        given.update(kwargs)
        allowed = inits.get(name).params
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise ValueError(f"params for init {name!r} must be among {list(allowed)}, got {unknown}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", tuple(sorted(given.items())))

    @property
    def entry(self):
        return inits.get(self.name)


def weight_law(weights):
    """A layer's ``weights`` argument as a value: a registry name -> :class:`Init`; an Init, a
    Gaussian, Uniform or Stable law stays; a number -> Gaussian(std)."""
    if isinstance(weights, str):
        return Init(weights)
    if isinstance(weights, (Init,) + LAWS):
        return weights
    if isinstance(weights, (int, float, np.floating, np.integer)) and not isinstance(weights, (bool, np.bool_)):
        return Gaussian(float(weights))
    raise ValueError(f"weights must be an initialiser name, theory.Init, theory.Gaussian/Uniform/Stable or a "
                     f"std, got {weights!r}")


def _pair(value, name, dims):
    """An int or a tuple of ``dims`` ints >= 0 (kernel, stride, padding)."""
    if isinstance(value, (tuple, list)):
        if len(value) != dims:
            raise ValueError(f"{name} must be an integer or {dims} integers, got {value!r}")
        return tuple(validation.non_negative_int(v, name) for v in value)
    return (validation.non_negative_int(value, name),) * dims


@dataclass(frozen=True)
class Dense:
    """A fully connected weight layer: I = x @ W + b, W (fan_in, width) i.i.d. from ``weights``,
    b ~ N(0, bias_var) per unit; every weight times ``gain``."""
    width: int
    weights: object = "micheli"
    bias_var: float = 0.0
    gain: float = 1.0

    def __post_init__(self):
        width = validation.positive_int(self.width, "width")
        if np.ndim(width) != 0:
            raise ValueError(f"width must be one integer, got {self.width!r}")
        object.__setattr__(self, "width", int(width))
        object.__setattr__(self, "weights", weight_law(self.weights))
        object.__setattr__(self, "bias_var", float(validation.non_negative(self.bias_var, "bias_var")))
        object.__setattr__(self, "gain", float(validation.positive(self.gain, "gain")))

    def out_shape(self, shape):
        if len(shape) != 1:
            raise ValueError(f"Dense needs a flat input (add Flatten() after a convolution), got shape {shape}")
        return (self.width,)

    def fans(self, shape):
        return int(shape[0]), self.width

    def mean_field(self, signal, ctx):
        return rules.dense(self, signal, ctx)


@dataclass(frozen=True)
class Conv:
    """A convolution over 1 or 2 spatial dimensions (torch's Conv1d/Conv2d, zero padding):
    I[c, p] = sum_{c_in, k} W[c, c_in, k] x[c_in, stride p + k - padding] + b[c]; fan-in
    c_in prod(kernel); weights i.i.d. from ``weights``, every weight times ``gain``."""
    channels: int
    kernel: object = 3
    stride: object = 1
    padding: object = 0
    weights: object = "micheli"
    bias_var: float = 0.0
    gain: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "channels", int(validation.positive_int(self.channels, "channels")))
        for name, least in (("kernel", 1), ("stride", 1), ("padding", 0)):
            value = getattr(self, name)
            if isinstance(value, (tuple, list)):
                if len(value) not in (1, 2):
                    raise ValueError(f"{name} must be an integer or 1 or 2 integers, got {value!r}")
                value = tuple(validation.non_negative_int(v, name) for v in value)
            else:
                value = validation.non_negative_int(value, name)
            if min(value if isinstance(value, tuple) else (value,)) < least:
                raise ValueError(f"{name} must be >= {least}, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "weights", weight_law(self.weights))
        object.__setattr__(self, "bias_var", float(validation.non_negative(self.bias_var, "bias_var")))
        object.__setattr__(self, "gain", float(validation.positive(self.gain, "gain")))

    def geometry(self, shape):
        """(kernel, stride, padding) as tuples over the input's spatial dimensions (an integer
        applies to every dimension, as in torch)."""
        dims = len(shape) - 1
        if dims not in (1, 2):
            raise ValueError(f"Conv needs input (channels, L) or (channels, H, W), got shape {tuple(shape)}")
        out = []
        for name in ("kernel", "stride", "padding"):
            value = getattr(self, name)
            if isinstance(value, tuple):
                if len(value) != dims:
                    raise ValueError(f"Conv {name} {value} has {len(value)} dimensions, its input {dims} "
                                     f"(shape {tuple(shape)})")
                out.append(value)
            else:
                out.append((value,) * dims)
        return tuple(out)

    def out_shape(self, shape):
        kernel, stride, padding = self.geometry(shape)
        sizes = []
        for size, k, s, p in zip(shape[1:], kernel, stride, padding):
            out = (size + 2 * p - k) // s + 1
            if out < 1:
                raise ValueError(f"Conv kernel {kernel} (padding {padding}) is larger than its input {tuple(shape[1:])}")
            sizes.append(out)
        return (self.channels,) + tuple(sizes)

    def fans(self, shape):
        taps = int(np.prod(self.geometry(shape)[0]))
        return int(shape[0]) * taps, self.channels * taps

    def mean_field(self, signal, ctx):
        return rules.conv(self, signal, ctx)


@dataclass(frozen=True)
class _Pool:
    kernel: object = 2
    stride: object = None

    def __post_init__(self):
        dims = len(self.kernel) if isinstance(self.kernel, (tuple, list)) else None
        object.__setattr__(self, "kernel", self.kernel if dims is None else tuple(self.kernel))
        k = self.kernel if dims is None else self.kernel
        for value in (k if isinstance(k, tuple) else (k,)):
            if validation.positive_int(value, "kernel") < 1:
                raise ValueError(f"kernel must be >= 1, got {self.kernel!r}")
        if self.stride is not None and self.stride != self.kernel:
            raise ValueError(f"stride must equal the kernel (non-overlapping windows, the libraries' default), "
                             f"got stride {self.stride!r} for kernel {self.kernel!r}")

    def window(self, shape):
        dims = len(shape) - 1
        if dims < 1:
            raise ValueError(f"{type(self).__name__} needs input (channels, L) or (channels, H, W), got shape {shape}")
        return _pair(self.kernel, "kernel", dims)

    def out_shape(self, shape):
        window = self.window(shape)
        sizes = tuple(size // k for size, k in zip(shape[1:], window))
        if min(sizes) < 1:
            raise ValueError(f"{type(self).__name__} window {window} is larger than its input {shape[1:]}")
        return (shape[0],) + sizes


@dataclass(frozen=True)
class MaxPool(_Pool):
    """Max over non-overlapping windows (torch's MaxPool, stride = kernel). Before a neuron it
    pools currents (snnTorch's tutorial CSNN order), after a neuron spikes (an OR)."""

    def mean_field(self, signal, ctx):
        return rules.max_pool(self, signal, ctx)


@dataclass(frozen=True)
class AvgPool(_Pool):
    """Mean over non-overlapping windows (torch's AvgPool, stride = kernel)."""

    def mean_field(self, signal, ctx):
        return rules.avg_pool(self, signal, ctx)


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation of a current with batch statistics (training mode):
    y = weight (x - mean_c) / sqrt(var_c + eps) + bias per channel (per unit of a dense layer),
    the statistics over (T, batch, positions) (``over="time"``: SpikingJelly's
    SeqToANNContainer(BatchNorm), tdBN) or per step (``over="step"``: a BatchNorm applied step by step)."""
    weight: float = 1.0
    bias: float = 0.0
    eps: float = 1e-5
    over: str = "time"

    def __post_init__(self):
        object.__setattr__(self, "weight", float(validation.finite(self.weight, "weight")))
        object.__setattr__(self, "bias", float(validation.finite(self.bias, "bias")))
        object.__setattr__(self, "eps", float(validation.non_negative(self.eps, "eps")))
        validation.choice(self.over, "over", ("time", "step"))

    def out_shape(self, shape):
        return tuple(shape)

    def mean_field(self, signal, ctx):
        return rules.batch_norm(self, signal, ctx)


@dataclass(frozen=True)
class Flatten:
    """(C, H, W) -> (C H W,) per sample (torch's Flatten after the batch dimension)."""

    def out_shape(self, shape):
        return (int(np.prod(shape)),)

    def mean_field(self, signal, ctx):
        return rules.flatten(self, signal, ctx)


@dataclass(frozen=True)
class Serial:
    """Layers applied one after the other (:func:`serial` builds one, flattening nested ones)."""
    layers: tuple = field(default_factory=tuple)

    def out_shape(self, shape):
        for layer in self.layers:
            shape = layer.out_shape(shape)
        return shape

    def children(self):
        return self.layers

    def mean_field(self, signal, ctx):
        for layer in self.layers:
            signal = ctx.apply(layer, signal)
        return signal


def serial(*layers) -> Serial:
    """The composition of ``layers`` in order (a Serial inside is spliced in)."""
    flat = []
    for layer in layers:
        if isinstance(layer, Serial):
            flat.extend(layer.layers)
        elif isinstance(layer, (list, tuple)):
            flat.extend(serial(*layer).layers)
        else:
            flat.append(layer)
    return Serial(tuple(flat))


@dataclass(frozen=True)
class Repeat:
    """``layer`` applied ``times`` times (a 1000-block network without 1000 copies)."""
    layer: object
    times: int

    def __post_init__(self):
        object.__setattr__(self, "times", int(validation.non_negative_int(self.times, "times")))

    def out_shape(self, shape):
        for _ in range(self.times if self.times < 2 else 1):
            shape = self.layer.out_shape(shape)
        if self.times >= 2 and self.layer.out_shape(shape) != shape:
            raise ValueError(f"Repeat needs a layer that keeps its shape, got {shape} -> {self.layer.out_shape(shape)}")
        return shape

    def children(self):
        return (self.layer,) * self.times

    def mean_field(self, signal, ctx):
        for _ in range(self.times):
            signal = ctx.apply(self.layer, signal)
        return signal


WEIGHT_LAYERS = (Dense, Conv)
