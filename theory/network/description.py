"""One description of a deep spiking network, accepted by every evaluator.

A :class:`Network` is a frozen, validated value: a composition of layer values
(:mod:`theory.network.layers`: weight layers with their weight law, ``LIF`` neurons with their
firing rule, pooling, batch norm, and combinators such as the residual blocks of
:mod:`theory.regimes.residual`), the per-sample input shape, the number of time steps ``T`` and
the input :class:`Encoding`. Every evaluator takes one (``theory.mean_field``,
``theory.spike_count``, ``theory.gram_chain``, ``theory.trainability``, ``simulate.monte_carlo``,
training) and returns one result type per kind of answer (a :class:`~theory.network.profile.Profile`
for activity), so a theory number and its simulation twin are one call apart::

    net = Network(serial(LIF(), Repeat(serial(Dense(2000), LIF(beta=0.5)), 20)), input=2000, T=4)
    net = Network(depth=20, width=2000, neuron=LIF(threshold=1.0, beta=0.5), T=4)   # the same stack
    predicted = theory.mean_field(net)            # infinite width (docs/theory.md §3, §5)
    measured = simulate.monte_carlo(net, draws=8) # the simulator; measured.profile is a Profile
    print(simulate.compare(measured, predicted))

The keyword form ``Network(depth=L, width=..., neuron=..., init=..., sigma_w=..., init_params=...,
bias_var=...)`` builds the plain stack: an input LIF layer (none for Bernoulli spike input) and
L x (Dense, LIF). ``depth`` always counts weight layers.

Weight laws are resolved when the network is built (a registry initialiser is evaluated for each
layer's fan-in, fan-out and the neuron after it, with the network's T and the neuron's reset and
escape noise where the initialiser takes them), once per distinct layer, so a uniform stack of a
million layers costs one evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import snn_validation as validation
from theory.inits import registry as inits
from theory.core.laws import LAWS, Gaussian, as_law
from theory.core.lif import LIF
from theory.network.layers import WEIGHT_LAYERS, Dense, Init, Repeat, Serial, serial

__all__ = ["Encoding", "Network", "PlanEntry", "ENCODINGS", "leaves", "kinds"]

ENCODINGS = ("gaussian", "static", "bernoulli")
# context-dependent parameters an initialiser may take, filled from the network unless given
_CONTEXT = ("T", "reset", "tau")
# at most this many LIF and weight layers in one description (about 1 GB of plan at worst)
MAX_LAYERS = 5_000_000


@dataclass(frozen=True)
class Encoding:
    """The input of the network over T steps, i.i.d. over the input units.

    gaussian:  I_0[t] ~ N(0, std^2) i.i.d. per step and unit
    static:    one I_0 ~ N(0, std^2) per unit, repeated every step (the model of static pixels)
               (real values: the current of a first neuron layer, or an image a first weight layer reads)
    bernoulli: the input is spikes, i.i.d. Bernoulli(rate) per step and unit (the first layer is a
               weight layer)
    """
    kind: str = "gaussian"
    std: float = 1.0
    rate: float | None = None

    def __post_init__(self):
        validation.choice(self.kind, "encoding", ENCODINGS)
        object.__setattr__(self, "std", float(validation.non_negative(self.std, "input_std")))
        if self.kind == "bernoulli":
            if self.rate is None:
                raise ValueError("rate (the input spike rate, in [0, 1]) must be given for a bernoulli encoding")
            object.__setattr__(self, "rate", float(validation.unit_interval(self.rate, "input_rate")))
        elif self.rate is not None:
            raise ValueError(f"rate is only used by the bernoulli encoding, got rate={self.rate!r} "
                             f"with encoding {self.kind!r}")

    @property
    def spikes(self) -> bool:
        return self.kind == "bernoulli"


@dataclass(frozen=True)
class PlanEntry:
    """One weight layer as built: the layer value, its fan-in and fan-out, the neuron after it,
    the resolved law (theory.Gaussian / Uniform / Stable; the layer's gain not included) and the
    per-sample shape of its input."""
    layer: object
    fan_in: int
    fan_out: int
    neuron: LIF | None
    law: object
    in_shape: tuple = ()

    @property
    def std(self):
        """Weight std times the layer's gain (None for alpha-stable weights)."""
        return None if self.law.std is None else self.law.std * self.layer.gain


def leaves(layer, shape):
    """(leaf layer, its input shape) in execution order: Serial and Repeat children in turn,
    a residual block's branch (the block keeps the shape)."""
    children = getattr(layer, "children", None)
    if children is not None:
        for child in children():
            yield from leaves(child, shape)
            shape = child.out_shape(shape)
        return
    branch = getattr(layer, "branch", None)
    if branch is not None:
        yield from leaves(branch, shape)
        return
    yield layer, shape


def kinds(layer) -> set:
    """The types of every value in a description, combinators included (a Repeat's layer once)."""
    found = {type(layer)}
    if isinstance(layer, Repeat):
        return found | kinds(layer.layer)
    for child in getattr(layer, "layers", ()) if isinstance(layer, Serial) else ():
        found |= kinds(child)
    branch = getattr(layer, "branch", None)
    if branch is not None:
        found |= kinds(branch)
    return found


def _check_input(value) -> tuple:
    shape = validation.positive_int(value, "input")
    if shape.ndim == 0:
        return (int(shape),)
    if shape.ndim != 1 or not 1 <= shape.shape[0] <= 3:
        raise ValueError(f"input must be the per-sample shape: n, (C, L) or (C, H, W), got {value!r}")
    return tuple(int(n) for n in shape)


class _Resolver:
    """Weight laws of the layers, memoised by (law, fan-in, fan-out, neuron)."""

    def __init__(self, T):
        self.T = T
        self.memo = {}

    def law(self, weights, fan_in, fan_out, neuron):
        if isinstance(weights, LAWS):
            return weights
        key = (weights, fan_in, fan_out, neuron)
        if key not in self.memo:
            self.memo[key] = self._resolve(weights, fan_in, fan_out, neuron)
        return self.memo[key]

    def _resolve(self, init: Init, fan_in, fan_out, neuron):
        if neuron is None:
            raise ValueError(f"the weight layer with init {init.name!r} has no neuron after it: a description "
                             "ends with a neuron")
        params = dict(init.params)
        accepted = init.entry.params
        context = {"T": self.T, "reset": neuron.reset, "tau": getattr(neuron.firing, "tau", None)}
        for name in _CONTEXT:
            if name in accepted and name not in params and context[name] is not None:
                params[name] = context[name]
        return as_law(inits.distribution(init.name, fan_in, fan_out, neuron.threshold, neuron.beta, **params))


class Network:
    """A network description (module docstring). Frozen: equal descriptions compare and hash equal.

    Network(layers, *, input, T=1, encoding=Encoding())            the composition
    Network(depth=L, width=..., neuron=LIF(), init="micheli", sigma_w=None, init_params=(),
            bias_var=0.0, T=1, encoding=Encoding())                 the plain stack
    """
    __slots__ = ("layers", "input", "T", "encoding", "_plan", "_neurons", "_rows", "_kinds")

    def __init__(self, layers=None, *, input=None, T=1, encoding=None, depth=None, width=None, neuron=None,
                 init=None, sigma_w=None, init_params=None, bias_var=None):
        if encoding is None:
            encoding = Encoding()
        if not isinstance(encoding, Encoding):
            raise ValueError(f"encoding must be a theory.Encoding, got {type(encoding).__name__}")
        T = validation.time_steps(T)
        plain = dict(depth=depth, width=width, neuron=neuron, init=init, sigma_w=sigma_w, init_params=init_params,
                     bias_var=bias_var)
        given = sorted(k for k, v in plain.items() if v is not None)
        if layers is None:
            if depth is None:
                raise ValueError("Network needs layers (a composition, e.g. theory.serial(...)) or the plain "
                                 "stack's depth")
            if input is not None:
                raise ValueError("input must not be given with the plain stack's keywords (width sets it)")
            layers, input = _plain_stack(depth, 1000 if width is None else width,
                                                 LIF() if neuron is None else neuron,
                                                 "micheli" if init is None else init, sigma_w,
                                                 () if init_params is None else init_params,
                                                 0.0 if bias_var is None else bias_var, encoding)
        elif given:
            raise ValueError(f"{given} describe the plain stack and must not be given with layers (the "
                             "composition already says it)")
        elif input is None:
            raise ValueError("input (the per-sample input shape: n, (C, L) or (C, H, W)) must be given with layers")
        if not isinstance(layers, Serial):
            layers = serial(layers)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "input", _check_input(input))
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "encoding", encoding)
        self._build()

    def __setattr__(self, name, value):
        raise AttributeError("a theory.Network is frozen")

    def __reduce__(self):
        # rebuilt from the description (the plan is derived, so it is not pickled)
        return (_rebuild, (self.layers, self.input, self.T, self.encoding))

    def _key(self):
        return (self.layers, self.input, self.T, self.encoding)

    def __eq__(self, other):
        return isinstance(other, Network) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"Network({self.layers!r}, input={self.input!r}, T={self.T}, encoding={self.encoding!r})"

    def _build(self):
        """Checks shapes, pairs every weight layer with the neuron after it, resolves the laws.
        A Repeat whose pass keeps the shape and closes its weight layers is visited once and its
        plan replicated, so a uniform stack of a million layers builds in a moment."""
        state = _BuildState(_Resolver(self.T), self.encoding)
        state.visit(self.layers, self.input)
        state.close()
        if not state.neurons:
            raise ValueError("a network needs at least one neuron (theory.LIF)")
        object.__setattr__(self, "_plan", tuple(state.plan))
        object.__setattr__(self, "_neurons", tuple(state.neurons))
        input_rows = [self.input] if self.encoding.spikes else []
        object.__setattr__(self, "_rows", tuple(input_rows + state.rows))
        object.__setattr__(self, "_kinds", (frozenset(state.kinds), state.adjacent))

    # ------------------------------------------------------------------ what the description says
    @property
    def plan(self) -> tuple:
        """The weight layers as built, in execution order (:class:`PlanEntry`)."""
        return self._plan

    @property
    def neurons(self) -> tuple:
        """Every neuron layer in execution order (branches included)."""
        return self._neurons

    @property
    def row_shapes(self) -> tuple:
        """Per-sample shape of every row of a Profile: the input spikes (bernoulli encoding), then
        every neuron layer's output."""
        return self._rows

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self._plan)

    @property
    def widths(self) -> tuple:
        """Units per sample of every Profile row (n_0 .. n_L for a plain stack)."""
        return tuple(int(np.prod(shape)) for shape in self._rows)

    @property
    def width(self) -> tuple:
        return self.widths

    @property
    def fan_ins(self) -> np.ndarray:
        """Fan-in of each weight layer (int64, (depth,))."""
        return np.array([entry.fan_in for entry in self._plan], dtype=np.int64)

    def weight_stds(self) -> np.ndarray:
        """Weight std (times the layer's gain) of each weight layer (float64, (depth,));
        ValueError for alpha-stable weights, which have no std."""
        stds = [entry.std for entry in self._plan]
        if any(s is None for s in stds):
            raise ValueError("this network has alpha-stable weights, which have no std (their scale is in "
                             "net.plan[i].law.scale)")
        return np.array(stds, dtype=np.float64)

    @property
    def gaussian_weights(self) -> bool:
        """Whether every weight layer's law is Gaussian (the chains are exact only then)."""
        return all(isinstance(entry.law, Gaussian) for entry in self._plan)

    @property
    def neuron(self) -> LIF:
        """The neuron every layer shares; ValueError if the layers differ."""
        if len(set(self._neurons)) != 1:
            raise ValueError(f"the neurons of this network differ ({len(set(self._neurons))} kinds): read net.neurons")
        return self._neurons[0]

    def _common(self, name, values):
        values = set(values)
        if len(values) != 1:
            raise ValueError(f"the weight layers of this network differ in {name}: read net.plan")
        return values.pop()

    @property
    def bias_var(self) -> float:
        """The bias variance every weight layer shares (0 for a network without weight layers)."""
        return self._common("bias_var", [e.layer.bias_var for e in self._plan]) if self._plan else 0.0

    @property
    def init(self):
        """The registry initialiser every weight layer shares (its name), or None (explicit laws)."""
        laws = {e.layer.weights for e in self._plan}
        if len(laws) == 1 and isinstance(next(iter(laws)), Init):
            return next(iter(laws)).name
        return None

    @property
    def init_params(self) -> tuple:
        laws = {e.layer.weights for e in self._plan}
        return next(iter(laws)).params if len(laws) == 1 and isinstance(next(iter(laws)), Init) else ()

    @property
    def params(self) -> dict:
        return dict(self.init_params)

    @property
    def sigma_w(self):
        """The explicit Gaussian stds of the weight layers (a tuple), or None when any layer's
        weights come from an initialiser."""
        if self._plan and all(isinstance(e.layer.weights, Gaussian) for e in self._plan):
            return tuple(e.layer.weights.std * e.layer.gain for e in self._plan)
        return None

    @property
    def plain(self) -> bool:
        """Whether this is a plain stack: [LIF] + (Dense, LIF)* with one deterministic neuron and
        unit gains."""
        kinds, adjacent = self._kinds
        if not kinds <= {LIF, Dense} or adjacent or len(set(self._neurons)) != 1:
            return False
        expected = self.depth + (0 if self.encoding.spikes else 1)
        return (len(self._neurons) == expected and self._neurons[0].deterministic
                and all(e.layer.gain == 1.0 for e in self._plan))


class _BuildState:
    """What Network._build accumulates while it visits the description."""

    def __init__(self, resolver, encoding):
        self.resolver, self.encoding = resolver, encoding
        self.plan, self.pending, self.neurons, self.rows = [], [], [], []
        self.kinds, self.adjacent, self.previous, self.count = set(), False, None, 0

    def visit(self, layer, shape):
        if isinstance(layer, Repeat):
            return self._repeat(layer, shape)
        children = getattr(layer, "children", None)
        if children is not None:
            for child in children():
                shape = self.visit(child, shape)
            return shape
        branch = getattr(layer, "branch", None)
        if branch is not None:
            self.visit(branch, shape)
            return layer.out_shape(shape)
        return self._leaf(layer, shape)

    def _repeat(self, layer, shape):
        """Two passes visited (the second checks the boundary between passes), then, when a pass
        keeps the shape and leaves no weight layer without its neuron, the second pass's plan
        replicated for the rest."""
        out = shape
        for done in range(layer.times):
            if done == 2 and out == tuple(shape) and not self.pending:
                copies = layer.times - 2
                plan, neurons, rows = self.plan[marks[0]:], self.neurons[marks[1]:], self.rows[marks[2]:]
                self._count((self.count - marks[3]) * copies)
                self.plan.extend(plan * copies)
                self.neurons.extend(neurons * copies)
                self.rows.extend(rows * copies)
                return out
            marks = (len(self.plan), len(self.neurons), len(self.rows), self.count)
            out = self.visit(layer.layer, out)
        return out

    def _count(self, more):
        self.count += more
        if self.count > MAX_LAYERS:
            raise ValueError(f"the description has more than {MAX_LAYERS} layers: refused up front (its plan "
                             "alone would need several GB)")

    def _leaf(self, leaf, shape):
        self._count(1)
        if self.previous is None:
            if self.encoding.spikes and isinstance(leaf, LIF):
                raise ValueError("a bernoulli encoding gives input spikes: the first layer must not be a neuron")
            if not self.encoding.spikes and not isinstance(leaf, (LIF,) + WEIGHT_LAYERS):
                raise ValueError(f"a {self.encoding.kind} encoding gives real-valued input: the first layer must be "
                                 f"a neuron (theory.LIF, the input is its current) or a weight layer (the input is "
                                 f"an image), got {type(leaf).__name__}")
        if not hasattr(leaf, "out_shape"):
            raise ValueError(f"{leaf!r} is not a layer value")
        out = leaf.out_shape(shape)                     # raises on a shape mismatch, naming the layer
        kind = type(leaf)
        self.kinds.add(kind)
        if self.previous is not None and ((self.previous is Dense) != (kind is LIF)):
            self.adjacent = True
        self.previous = kind
        if isinstance(leaf, WEIGHT_LAYERS):
            self.pending.append((leaf,) + leaf.fans(shape) + (tuple(shape),))
        elif isinstance(leaf, LIF):
            self.neurons.append(leaf)
            self.rows.append(tuple(shape))
            for layer, fan_in, fan_out, in_shape in self.pending:
                self.plan.append(PlanEntry(layer, fan_in, fan_out, leaf,
                                           self.resolver.law(layer.weights, fan_in, fan_out, leaf), in_shape))
            self.pending = []
        return out

    def close(self):
        for layer, fan_in, fan_out, in_shape in self.pending:
            self.plan.append(PlanEntry(layer, fan_in, fan_out, None,
                                       self.resolver.law(layer.weights, fan_in, fan_out, None), in_shape))
        self.pending = []


def _rebuild(layers, input, T, encoding):
    return Network(layers, input=input, T=T, encoding=encoding)


def _plain_stack(depth, width, neuron, init, sigma_w, init_params, bias_var, encoding):
    """The layers, input and recorded keywords of the keyword form (module docstring)."""
    if isinstance(depth, (bool, np.bool_)):
        raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
    depth = validation.non_negative_int(depth, "depth")
    if depth + 1 > MAX_LAYERS // 2:
        raise ValueError(f"depth must be below {MAX_LAYERS // 2} (a plan of that many layers needs several GB), "
                         f"got {depth}")
    widths = [int(n) for n in validation.layer_widths(width, depth)]
    if not isinstance(neuron, LIF):
        raise ValueError(f"neuron must be a theory.LIF, got {type(neuron).__name__}")
    bias_var = float(validation.non_negative(bias_var, "bias_var"))
    params = dict(init_params)
    if sigma_w is None:
        if isinstance(init, str):
            validation.choice(init, "init", inits.names())
            law = Init(init, params)
        elif isinstance(init, (Init,) + LAWS):
            if params:
                raise ValueError("init_params go with an initialiser name; an Init carries its own parameters")
            law = init
        else:
            raise ValueError(f"init must be an initialiser name, a theory.Init or a weight law, got {init!r}")
        weights = [law] * depth
    else:
        if params:
            raise ValueError("init_params must not be given with sigma_w (explicit Gaussian stds)")
        sigma = np.asarray(validation.non_negative(sigma_w, "sigma_w"), dtype=np.float64)
        if sigma.ndim == 0:
            sigma = np.full(depth, float(sigma))
        if sigma.shape != (depth,):
            raise ValueError(f"sigma_w must be a number or a sequence of depth = {depth} values, got shape {sigma.shape}")
        weights = [Gaussian(float(s)) for s in sigma]
    head = [] if encoding.spikes else [neuron]
    if depth and len(set(widths[1:])) == 1 and len(set(weights)) == 1:
        body = [Repeat(serial(Dense(widths[1], weights[0], bias_var), neuron), depth)]
    else:
        body = [layer for n, w in zip(widths[1:], weights) for layer in (Dense(n, w, bias_var), neuron)]
    return serial(*head, *body), widths[0]
