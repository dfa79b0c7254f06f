"""A torch model (snnTorch, SpikingJelly 2.0) as the toolkit's description, ``theory.Network``.

:func:`translate` records one call of the model (:mod:`snn_bridge.trace`), reads the record as a
composition and returns a :class:`Translation`: the ``theory.Network`` and, in the order the
description has them, the torch weight layers (``net.plan``), neurons (the Profile's rows),
batch norms and residual streams. Every theory of the toolkit then applies to the model.

What is recognised (anything else on the path from the input to the neurons is a ValueError
naming the module or operation):

    torch / SpikingJelly ``layer.*``          description
    Linear                                    Dense(out_features)   (a Flatten is inserted before it)
    Conv1d, Conv2d (groups 1, dilation 1)     Conv(out_channels, kernel, stride, padding)
    BatchNorm1d/2d (batch statistics)         BatchNorm(weight, bias, eps, over): "time" when one call
                                              sees all T steps (SpikingJelly multi-step,
                                              SeqToANNContainer: tdBN), "step" when called every step
    MaxPool1d/2d, AvgPool1d/2d, F.max_pool2d, MaxPool(k), AvgPool(k): stride = kernel, no padding;
    Adaptive{Avg,Max}Pool (size divisible)    adaptive ones with kernel = input size / output size
    Flatten, torch.flatten, views             Flatten() (shape only)
    Dropout (p)                               eval mode or p = 0: nothing. Training mode: the next
                                              weight layer's gain times 1/sqrt(1 - p) (second moment
                                              of the kept units; exact for one mask shared over the
                                              steps before a layer without batch norm, approximate
                                              for a fresh mask per step; noted)
    Identity, SeqToANNContainer, Sequential,  containers and no-ops: their contents
    any module with children
    snntorch.Leaky; SpikingJelly LIFNode,     LIF(threshold, beta, reset) (snn_bridge.neurons); a
    IFNode, ParametricLIFNode (either step    decay_input=True node scales its current by 1/tau: the
    mode)                                     layer making that current gets the factor
    a fork whose two paths meet in            residual blocks (the branch: the longer path):
      h + x,  x spikes (a neuron ends x)        SEW(branch, "add")       (SEW ADD; h + a x: multiplier a)
      h * (1 - x)                               SEW(branch, "iand")
      h * x                                     SEW(branch, "and")
      h + y,  y a current                       MS(branch)               (membrane shortcut)
    with a layer path on the shortcut too     ProjectionSEW / ProjectionMS (below)
    (a downsampling block: conv1x1 [BN] LIF)

Not modelled, refused by name: other neurons (snnTorch Synaptic, Alpha, RLeaky, ...; SpikingJelly's
other nodes), Conv3d, grouped or dilated convolutions, overlapping or padded pooling, batch norm
in evaluation mode (diagnose; running statistics), ReLU and other functions between layers,
concatenations, a neuron's membrane output used as a current. Weight layers with no neuron
after them (a readout) or followed by another weight layer before any neuron are *unpaired*:
``unpaired="error"`` refuses them, ``"list"`` leaves them out of the initialisation (a readout
after the last neuron is left out of the description, which it does not affect; one inside is
described with its current weights).

Downsampling blocks (the shortcut is a layer path, not the identity): the theory's SEW and MS
blocks have an identity shortcut. At infinite width the shortcut's and the branch's outputs are
independent (independent weights read the same stream), so the block is the theory's connect
rule applied to the shortcut's output instead of the stream: :class:`ProjectionSEW` and
:class:`ProjectionMS` are composition values of this module that walk both paths and hand the
combination to ``theory.SEW`` / ``theory.MS``'s own rule (one rule, not a copy). They describe
these blocks for ``theory.mean_field``; ``theory.trainability`` and the simulator do not know
them (the bridge says so). Moving them into theory.network.blocks is a request in the report.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised by tests/torch/test_import_error.py
    raise ImportError('snn_bridge needs PyTorch, the optional extra: pip install ".[torch]"') from exc

import snn_validation as validation
import theory
from theory import AvgPool, BatchNorm, Conv, Dense, Encoding, Flatten, Gaussian, MaxPool, MS, SEW, Network, serial

from .neurons import NeuronSpec, read_neuron
from .trace import CALLS, detect_call, probe_input, run_trace

__all__ = ["Translation", "translate", "record", "Recording", "Design", "BlockGain", "BranchGain", "ProjectionSEW", "ProjectionMS", "Policy", "measured_policy",
           "MODEL_KINDS", "UNPAIRED_OPTIONS", "describe_input"]

UNPAIRED_OPTIONS = ("error", "list")
# layer kinds that the description models (what makes a path from the input "lead somewhere")
MODEL_KINDS = frozenset({"neuron", "dense", "conv", "batchnorm", "maxpool", "avgpool", "adaptive_avgpool",
                         "adaptive_maxpool"})
WEIGHT_KINDS = frozenset({"dense", "conv"})
ADD_OPS = frozenset({"add", "__add__", "__radd__", "add_", "__iadd__"})
MUL_OPS = frozenset({"mul", "__mul__", "__rmul__", "mul_", "__imul__"})


# ---------------------------------------------------------------------------------------------
# composition values for blocks with a layer path on the shortcut
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rewind:
    """A shape-only marker: the description's builder visits a projection block's branch, then
    this (back to the block's input shape), then the shortcut, so that both read the block's input."""
    shape: tuple

    def out_shape(self, shape):
        return tuple(self.shape)


class _Given:
    """The walker's context as theory.SEW / theory.MS see it inside a projection block: their
    branch is already walked (``apply`` hands its output back); the stream goes to the walker."""

    def __init__(self, ctx, output):
        self._ctx, self._output, self.block = ctx, output, ctx.block

    def apply(self, layer, signal):
        return self._output

    def record_stream(self, mean, entry=None):
        self._ctx.record_stream(mean, entry)


@dataclass(frozen=True)
class ProjectionSEW:
    """SEW block with a layer path on the shortcut: h' = g(shortcut(h), branch(h)), g the connect
    of theory.SEW ("add": y + a x, "iand": y (1 - x), "and": y x), y the shortcut's spikes, x the
    branch's. Mean field: both paths walked from h; at infinite width x and y are independent, so
    theory.SEW's rule with y in place of the stream is exact."""
    branch: object
    shortcut: object
    connect: str
    multiplier: float
    in_shape: tuple

    def children(self):
        return (self.branch, _Rewind(self.in_shape), self.shortcut)

    def out_shape(self, shape):
        out = self.shortcut.out_shape(shape)
        if tuple(self.branch.out_shape(shape)) != tuple(out):
            raise ValueError(f"a residual block's branch and shortcut must give the same shape, got "
                             f"{self.branch.out_shape(shape)} and {out}")
        return tuple(out)

    def mean_field(self, signal, ctx):
        if ctx.block is None:
            ctx.record_stream(signal.mean)
            ctx.block = 0
        ctx.block += 1
        x = ctx.apply(self.branch, signal)
        y = ctx.apply(self.shortcut, signal)
        return SEW(self.branch, self.connect, self.multiplier).mean_field(y, _Given(ctx, x))


@dataclass(frozen=True)
class ProjectionMS:
    """MS block with a layer path on the shortcut (LIF, conv1x1, [BN]): h' = shortcut(h) +
    branch(h), two independent Gaussian currents at infinite width (theory.MS's rule)."""
    branch: object
    shortcut: object
    in_shape: tuple

    def children(self):
        return (self.branch, _Rewind(self.in_shape), self.shortcut)

    def out_shape(self, shape):
        return ProjectionSEW.out_shape(self, shape)

    def mean_field(self, signal, ctx):
        if ctx.block is None:
            ctx.record_stream(signal.mean, entry=signal)
            ctx.block = 0
        ctx.block += 1
        x = ctx.apply(self.branch, signal)
        y = ctx.apply(self.shortcut, signal)
        return MS(self.branch).mean_field(y, _Given(ctx, x))


@dataclass
class Design:
    """The near-identity design of SEW-ADD or MS blocks (snn_bridge.initialize): ``budget``, the
    number of designed blocks N (filled in by the translator), the solved gains (torch name -> g)
    and each block's target (a rate for SEW-ADD, a current variance for MS)."""
    budget: float
    samples: int = 4000
    seed: int = 0
    blocks: int = 0
    solved: dict = field(default_factory=dict)
    targets: dict = field(default_factory=dict)


class _Law:
    """The walker's context with a weight layer's law already taken from the plan."""

    def __init__(self, ctx, law):
        self._ctx, self._law = ctx, law

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def law(self, layer):
        return self._law


class _Probe:
    """The walker's context as a trial evaluation inside :class:`BlockGain` sees it: the weight
    layer's law already taken from the plan, the neuron's moments kept instead of recorded, and
    copies of the walker's random generators, so that every trial draws the numbers the walk
    itself will draw next (the trial at the solved gain is the walk's own evaluation)."""

    def __init__(self, ctx, law):
        self._ctx, self._law = ctx, law
        self.rng, self.aux = copy.deepcopy(ctx.rng), copy.deepcopy(ctx.aux)
        self.moments = None

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def law(self, layer):
        return self._law

    def normals(self):
        return type(self._ctx).normals(self)

    def lif_moments(self, neuron, mean, cov, normals):
        return type(self._ctx).lif_moments(self, neuron, mean, cov, normals)

    def record_neuron(self, neuron, moments, cov):
        self.moments = moments

    def record_stream(self, mean, entry=None):
        pass


def _scaled(inner, g):
    """A weight layer with its gain times g, or a batch norm with its weight times g."""
    if isinstance(inner, BatchNorm):
        return replace(inner, weight=inner.weight * g)
    return replace(inner, gain=inner.gain * g)


class _DesignedGain:
    """What BlockGain and BranchGain share: they wrap ``inner`` (a weight layer or batch norm),
    read its law from the walk, and apply and record the gain they solve."""

    def children(self):
        return (self.inner,)

    def out_shape(self, shape):
        return self.inner.out_shape(shape)

    def _inner_law(self, ctx):
        return ctx.law(self.inner) if isinstance(self.inner, (Dense, Conv)) else None

    def _apply(self, g, target, signal, ctx, law):
        self.design.solved[self.name] = g
        self.design.targets[self.name] = target
        return _scaled(self.inner, g).mean_field(signal, _Law(ctx, law) if law is not None else ctx)


@dataclass(frozen=True)
class BlockGain(_DesignedGain):
    """A design-time composition value around the layer making a SEW-ADD block's last current
    (a weight layer or batch norm, ``inner``): during the walk (theory.mean_field) it finds the
    gain g of that layer (weight layer: its gain; batch norm: its weight) for which the neuron after
    it fires at the time-averaged rate p_b = budget r_0 / (N a) (r_0: the walk's stream entering
    the first block, a the block's multiplier), applies it, and records g. Each trial runs the
    theory's own rules (the layer's, then theory.network.rules.lif) on the block's input with
    copies of the walk's random generators, so the walk then gives that rate exactly; one walk
    solves every block in execution order, each on the stream that the blocks before it make at
    their solved gains (the walk of the final description, the same numbers, is the report's)."""
    inner: object
    name: str
    neuron: object
    multiplier: float
    design: Design = field(compare=False, hash=False)

    def mean_field(self, signal, ctx):
        from theory.network.rules import lif as lif_rule
        design, neuron = self.design, self.neuron
        r0 = float(np.mean(ctx.stream[0]))
        target = design.budget * r0 / (design.blocks * self.multiplier)
        if not 0.0 < target < 0.5:
            raise ValueError(f"budget {design.budget} gives a block rate {target:.4g} outside (0, 1/2)")
        law = self._inner_law(ctx)

        def excess(log_g):
            probe = _Probe(ctx, law)
            lif_rule(neuron, _scaled(self.inner, math.exp(log_g)).mean_field(signal, probe), probe)
            return float(np.mean(probe.moments.rate)) - target
        lo, hi = math.log(1e-4), math.log(1e3)
        if excess(lo) >= 0.0 or excess(hi) <= 0.0:
            raise ValueError(f"module {self.name!r}: no gain gives the block rate {target:.4g}")
        return self._apply(math.exp(optimize.brentq(excess, lo, hi, xtol=1e-6)), target, signal, ctx, law)


@dataclass(frozen=True)
class BranchGain(_DesignedGain):
    """A design-time composition value around the layer making an MS block's branch current
    (a weight layer or batch norm, ``inner``): the membrane shortcut adds that current to the
    stream, so N blocks started near the identity add a small share of the stream's own variance.
    During the walk it sets the layer's gain g (weight layer: its gain; batch norm: its weight) so
    that the branch's current has the time-averaged variance

        g^2 D_j = budget * V_0 / N,

    V_0 the time-averaged variance of the stream entering the first block, D_j the branch's
    variance at g = 1 given the blocks before it at their solved gains (evaluated with copies of
    the walk's random generators; the variance scales as g^2, so the trial at g = 1 solves it).
    Over the N blocks the stream's variance then grows by about budget x V_0 (plus what the
    projection blocks' shortcuts make), instead of by N times a branch at the initialiser's scale."""
    inner: object
    name: str
    design: Design = field(compare=False, hash=False)

    def mean_field(self, signal, ctx):
        design = self.design
        entry = getattr(ctx, "entry", None)
        if entry is None or entry.kind != "current":
            raise ValueError(f"module {self.name!r}: the MS design needs the current stream entering the first block")
        target = design.budget * float(np.mean(np.diagonal(entry.moment))) / design.blocks
        law = self._inner_law(ctx)
        variance = float(np.mean(np.diagonal(self.inner.mean_field(signal, _Probe(ctx, law)).moment)))
        if not (variance > 0.0 and target > 0.0):
            raise ValueError(f"module {self.name!r}: the branch's current has variance {variance:.4g} and the stream "
                             f"{target * design.blocks / max(design.budget, 1e-300):.4g}; no gain makes their ratio")
        return self._apply(math.sqrt(target / variance), target, signal, ctx, law)


# ---------------------------------------------------------------------------------------------
# what the description holds for each layer: a policy
# ---------------------------------------------------------------------------------------------

@dataclass
class Policy:
    """How the translator fills in values the model's structure does not fix.

    weights(name, module) -> the layer's weight law (theory.Init, Gaussian, ...);
    bias_var(name, module) -> E[b^2]; batch_norm(name, module) -> (weight, bias);
    initialised(name) -> whether the bridge sets this layer (a decay_input=True neuron's 1/tau is
    then compensated in the torch values instead of entering the description);
    gains: torch name -> an extra factor (weight layers: gain; batch norm: weight)."""
    weights: object
    bias_var: object
    batch_norm: object
    initialised: object = lambda name: False
    gains: dict = field(default_factory=dict)
    unpaired: set = field(default_factory=set)
    design: object = None


def _mean_square(tensor) -> float:
    return float(tensor.detach().double().pow(2).mean()) if tensor is not None and tensor.numel() else 0.0


def _uniform_value(tensor, what, name, notes):
    values = tensor.detach().double().reshape(-1)
    if values.numel() == 0:
        return 1.0 if what == "weight" else 0.0
    if float(values.max() - values.min()) > 1e-12 * max(1.0, float(values.abs().max())):
        notes.append(f"{name}: the batch norm's {what}s differ between channels; the theory takes one value, "
                     f"their mean {float(values.mean()):.4g}")
    return float(values.mean())


def measured_policy(notes) -> Policy:
    """The model as it is: each weight layer N(0, E[w^2]) (the theory's zero-mean i.i.d. law with
    the layer's own second moment), its E[b^2], each batch norm's affine values."""
    def weights(name, module):
        return Gaussian(math.sqrt(_mean_square(module.weight)))

    def bias_var(name, module):
        return _mean_square(getattr(module, "bias", None))

    def batch_norm(name, module):
        if not module.affine:
            return 1.0, 0.0
        return (_uniform_value(module.weight, "weight", name, notes), _uniform_value(module.bias, "bias", name, notes))
    return Policy(weights, bias_var, batch_norm)


# ---------------------------------------------------------------------------------------------
# the record as a composition
# ---------------------------------------------------------------------------------------------

@dataclass
class _Block:
    op: str                     # "add" or "mul"
    branch: list
    shortcut: list | None
    fork: object
    join: object


class _Reader:
    """Reads the trace's graph from the input: chains of layers, and blocks where a fork's two
    paths meet in an addition or a product."""

    def __init__(self, trace):
        self.trace = trace
        self.nodes = trace.nodes
        self.consumers = trace.consumers()
        useful = [False] * len(self.nodes)
        reaches_neuron = [False] * len(self.nodes)
        for node in reversed(self.nodes):
            core = (node.kind == "layer" and node.category in MODEL_KINDS) or \
                   (node.kind == "op" and node.category in ("maxpool", "avgpool"))
            later = self.consumers[node.index]
            useful[node.index] = core or any(useful[c] for c in later)
        # a residual join at the end of the model (its output read by nothing the theory models)
        # (its inputs: useful nodes, or an operation on them such as IAND's 1 - x)
        for node in self.nodes:
            if node.kind != "op" or len(set(node.inputs)) < 2 or not (node.name in ADD_OPS or node.name in MUL_OPS):
                continue
            direct = [i for i in node.inputs if not useful[i]]
            if all(self.nodes[i].kind == "op" and self.nodes[i].inputs and all(useful[j] for j in self.nodes[i].inputs)
                   for i in direct):
                for i in direct + [node.index]:
                    useful[i] = True
            reaches_neuron[node.index] = (node.kind == "layer" and node.category == "neuron") or \
                any(reaches_neuron[c] for c in later)
        self.useful, self.reaches_neuron = useful, reaches_neuron

    def _next(self, index):
        return [c for c in self.consumers[index] if self.useful[c]]

    def has_neuron(self, item) -> bool:
        if isinstance(item, _Block):
            return any(self.has_neuron(i) for i in item.branch + (item.shortcut or []))
        node = self.nodes[item]
        return node.kind == "layer" and node.category == "neuron"

    def is_join(self, index):
        node = self.nodes[index]
        return node.kind == "op" and len(set(node.inputs)) >= 2

    def chain(self, index):
        """Items following node ``index`` up to (not including) a join, and that join (or None)."""
        items = []
        while True:
            nxt = self._next(index)
            if not nxt:
                return items, None
            if len(nxt) == 1:
                if self.is_join(nxt[0]):
                    return items, nxt[0]
                items.append(nxt[0])
                index = nxt[0]
                continue
            arms = []
            for start in nxt:
                if self.is_join(start):
                    arms.append(([], start))
                else:
                    rest, join = self.chain(start)
                    arms.append(([start] + rest, join))
            joins = {join for _, join in arms}
            where = self.nodes[index].label
            if len(arms) != 2 or len(joins) != 1 or None in joins:
                raise ValueError(f"the output of {where} is read by {len(arms)} paths that do not meet in one addition "
                                 f"or product: only residual blocks of two paths (a branch and a shortcut) are "
                                 f"modelled")
            join = joins.pop()
            node = self.nodes[join]
            op = "add" if node.name in ADD_OPS else "mul" if node.name in MUL_OPS else None
            if op is None:
                raise ValueError(f"unsupported operation {node.name!r} joining the two paths from {where}: residual "
                                 f"blocks meet in an addition (SEW ADD, MS) or a product (SEW IAND/AND)")
            (a, _), (b, _) = arms
            if not a and not b:
                raise ValueError(f"both paths from {where} are empty")
            if not a or not b:
                branch, shortcut = (b, None) if not a else (a, None)
            else:
                size_a, size_b = self._size(a), self._size(b)
                if size_a == size_b:
                    raise ValueError(f"the two paths from {where} have as many layers ({size_a}): the bridge cannot "
                                     f"tell the branch from the shortcut (the shortcut is the shorter path)")
                branch, shortcut = (a, b) if size_a > size_b else (b, a)
            items.append(_Block(op, branch, shortcut, self.nodes[index], node))
            index = join

    def _size(self, items):
        return sum(self._size(i.branch) + self._size(i.shortcut or []) if isinstance(i, _Block) else 1 for i in items)


# ---------------------------------------------------------------------------------------------
# the composition as a description
# ---------------------------------------------------------------------------------------------

@dataclass
class Translation:
    """A model read as the toolkit's description (module docstring).

    network      theory.Network
    weights      [(torch name, module)] in the order of ``network.plan``
    neurons      [NeuronSpec] in the order of the Profile's neuron rows (after the input row of a
                 bernoulli encoding)
    batch_norms  [(torch name, module, theory.BatchNorm)] in description order
    streams      residual networks: one (label, where, torch name) per Profile.stream row (the stream
                 entering the first block, then after each block): where = "output" / "input" of
                 that torch layer is the stream's value
    compensation torch name -> lambda: layers the bridge initialises whose neuron scales its current
                 by lambda (decay_input=True); their torch values are the description's / lambda
    unpaired     names of weight layers with no neuron after them (left untouched)
    blocks       number of residual blocks; sew_add_blocks those with connect "add"
    feeds        per neuron row: (weight layer name, batch norm name or None) making its current
                 directly, or None (pooling, a residual stream, the input)
    reads        weight layer name -> ("row", r) when it reads neuron row r's spikes directly,
                 ("input",) the input, else None
    block_last   per residual block (description order): (kind "sew"/"ms", connect, multiplier,
                 torch name of the layer making the branch's last current, its neuron's row or None)
    call, steps  the calling convention and (call "static") the model's own T
    over         torch name -> "time"/"step" for each batch norm
    own_blocks   whether the description holds this module's Projection blocks
    notes        what was approximated
    """
    network: object
    weights: list
    neurons: list
    batch_norms: list
    streams: list
    compensation: dict
    unpaired: list
    blocks: int
    sew_add_blocks: int
    block_last: list
    call: str
    steps: int | None
    over: dict
    own_blocks: bool
    input_scale: float
    feeds: list = field(default_factory=list)
    reads: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def neuron_rows(self) -> int:
        """Row of the first neuron in a Profile (1 after the input spikes of a bernoulli encoding)."""
        return 1 if self.network.encoding.spikes else 0


def describe_input(input_shape):
    shape = validation.positive_int(input_shape, "input_shape")
    if shape.ndim == 0:
        return (int(shape),)
    if shape.ndim != 1 or not 1 <= shape.shape[0] <= 3:
        raise ValueError(f"input_shape must be the per-sample shape: n, (C, L) or (C, H, W), got {input_shape!r}")
    return tuple(int(n) for n in shape)


class _Builder:
    def __init__(self, reader, trace, policy, encoding, call, notes):
        self.reader, self.trace, self.policy, self.call, self.notes = reader, trace, policy, call, notes
        self.encoding = encoding
        self.input_scale = 1.0
        self.weights, self.neurons, self.batch_norms, self.streams = [], [], [], []
        self.compensation, self.block_last, self.over = {}, [], {}
        self.feeds, self.reads = [], {}
        self.blocks = self.sew_add = self.ms = 0
        self.own = False
        self.depth = 0
        self.pending_gain = 1.0
        self.first_block = True
        self.plan_names = set()

    # ----------------------------------------------------------------- helpers
    def _tap(self, index):
        """Where a node's value can be read in a later run: a layer's output, else the input of the
        first layer that reads it."""
        node = self.reader.nodes[index]
        if node.kind == "layer":
            return "output", node.name
        for c in self.reader.consumers[index]:
            if self.reader.nodes[c].kind == "layer":
                return "input", self.reader.nodes[c].name
        return None, None

    def _bn_over(self, name):
        if self.call != "sequence":
            return "step"
        calls = self.trace.calls.get(name, 1)
        return "time" if calls == 1 else "step"

    # ----------------------------------------------------------------- items
    def build(self, items, shape, kind):
        """Description entries [(value, torch name or None)] for ``items`` read from an input of
        per-sample ``shape`` and kind ("current" / "spikes"); returns (entries, shape, kind)."""
        entries = []
        for item in items:
            if isinstance(item, _Block):
                value, shape, kind = self._block(item, shape, kind)
                entries.append((value, None))
                continue
            node = self.reader.nodes[item]
            if node.kind == "state":
                raise ValueError(f"{node.name} is used as an input of a later layer; the theory reads a neuron's "
                                 f"spikes only")
            if node.kind == "op" and node.category is None:
                raise ValueError(f"unsupported operation {node.name!r} between layers (after "
                                 f"{self._before(node)}): the bridge models layers, and residual additions and "
                                 f"products of two paths")
            new, shape, kind = self._layer(node, shape, kind, entries)
            entries.extend(new)
        return entries, shape, kind

    def _before(self, node):
        inputs = [self.reader.nodes[i].label for i in node.inputs]
        return ", ".join(inputs) if inputs else "the input"

    def _layer(self, node, shape, kind, entries):
        category, module, name = node.category, node.module, node.name
        where = node.label
        if category == "unknown":
            raise ValueError(f"unsupported module {name!r} ({type(module).__name__}): the bridge models Linear, Conv1d/2d, "
                             f"BatchNorm1d/2d, Max/AvgPool (stride = kernel), Flatten, Dropout and the spiking neurons of "
                             f"snnTorch (Leaky) and SpikingJelly (LIFNode, IFNode, ParametricLIFNode), in sequences and "
                             f"residual blocks")
        if category in ("identity",):
            return [], shape, kind
        if category == "flatten":
            return ([(Flatten(), name)] if len(shape) > 1 else []), (int(math.prod(shape)),), kind
        if category == "dropout":
            p = float(module.p if module is not None else self._functional_p(node))
            if module is not None and not module.training or p == 0.0:
                return [], shape, kind
            if p >= 1.0:
                raise ValueError(f"{where}: dropout with p = 1 silences everything")
            self.pending_gain /= math.sqrt(1.0 - p)
            self.notes.append(f"{name}: dropout p = {p:g} in training mode, modelled as the next weight layer's gain "
                              f"1/sqrt(1 - p) (exact for one mask shared over the steps before a layer without batch "
                              f"norm; a fresh mask per step is approximated)")
            return [], shape, kind
        if category == "neuron":
            spec = read_neuron(name, module)
            if kind != "current":
                raise ValueError(f"{where} reads spikes: a neuron needs a current (a weight layer or batch norm before "
                                 f"it); stacked neuron layers are not modelled")
            self._input_scale(spec, entries)
            self.feeds.append(self._feed(entries))
            self.neurons.append(spec)
            return [(spec.lif, name)], shape, "spikes"
        if category in WEIGHT_KINDS:
            self.reads[name] = self._source(entries)
            return self._weight(node, shape, kind)
        if category == "batchnorm":
            if kind != "current":
                raise ValueError(f"{where} normalises spikes: batch norm is modelled on a current (after a weight layer)")
            if module.num_features != shape[0]:
                raise ValueError(f"{where} has {module.num_features} features but its input has shape {shape} "
                                 f"(check input_shape)")
            weight, bias = self.policy.batch_norm(name, module)
            weight *= self.policy.gains.get(name, 1.0)
            over = self._bn_over(name)
            self.over[name] = over
            value = BatchNorm(weight, bias, float(module.eps), over)
            self.batch_norms.append((name, module, value))
            return [(value, name)], shape, kind
        if category in ("maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool"):
            value = self._pool(node, shape)
            return [(value, name)], value.out_shape(shape), kind
        raise ValueError(f"unsupported {where}")   # pragma: no cover - every category is handled above

    @staticmethod
    def _functional_p(node):
        args, kwargs = node.consts
        p = kwargs.get("p", args[0] if args else 0.5)
        training = kwargs.get("training", args[1] if len(args) > 1 else True)
        return p if training else 0.0

    def _pool(self, node, shape):
        name, module, where = node.name, node.module, node.label
        dims = len(shape) - 1
        if dims < 1:
            raise ValueError(f"{where} pools a flat input of shape {shape}")
        maximum = node.category in ("maxpool", "adaptive_maxpool")
        if node.category.startswith("adaptive"):
            out = module.output_size
            out = (out,) * dims if not isinstance(out, (tuple, list)) else tuple(out)
            kernel = []
            for size, o in zip(shape[1:], out):
                o = size if o is None else int(o)
                if size % o:
                    raise ValueError(f"{where}: output size {o} does not divide the input size {size}; the theory pools "
                                     f"non-overlapping windows of one size")
                kernel.append(size // o)
            kernel = tuple(kernel)
        else:
            if module is not None:
                kernel, stride, padding = module.kernel_size, module.stride, module.padding
                dilation = getattr(module, "dilation", 1)
                ceil = module.ceil_mode
            else:
                args, kwargs = node.consts
                names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
                given = dict(zip(names, args))
                given.update({k: v for k, v in kwargs.items() if k in names})
                kernel = given["kernel_size"]
                stride, padding = given.get("stride") or kernel, given.get("padding", 0)
                dilation, ceil = given.get("dilation", 1), given.get("ceil_mode", False)

            def tup(v):
                return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims
            kernel, stride = tup(kernel), tup(stride if stride is not None else kernel)
            if stride != kernel or any(tup(padding)) or any(d != 1 for d in tup(dilation)) or ceil:
                raise ValueError(f"{where}: kernel {kernel}, stride {stride}, padding {padding}: the theory pools "
                                 f"non-overlapping windows without padding (stride = kernel; theory.MaxPool/AvgPool)")
        kernel = kernel[0] if len(set(kernel)) == 1 else kernel
        return MaxPool(kernel) if maximum else AvgPool(kernel)

    def _weight(self, node, shape, kind):
        name, module, where = node.name, node.module, node.label
        entries = []
        gain = self.pending_gain * self.policy.gains.get(name, 1.0)
        self.pending_gain = 1.0
        law = self.policy.weights(name, module)
        bias_var = self.policy.bias_var(name, module)
        if isinstance(module, nn.Linear):
            if len(shape) > 1:
                entries.append((Flatten(), None))
                shape = (int(math.prod(shape)),)
            if module.in_features != shape[0]:
                raise ValueError(f"{where} has {module.in_features} inputs but receives {shape[0]} per sample (check "
                                 f"input_shape)")
            value = Dense(module.out_features, law, bias_var, gain)
        else:
            dims = 1 if isinstance(module, nn.Conv1d) else 2
            if len(shape) != dims + 1:
                raise ValueError(f"{where} is a {dims}-d convolution but its input has per-sample shape {shape} (check "
                                 f"input_shape)")
            if module.in_channels != shape[0]:
                raise ValueError(f"{where} has {module.in_channels} input channels but receives {shape[0]} (check "
                                 f"input_shape)")
            if module.groups != 1 or any(d != 1 for d in module.dilation) or module.padding_mode != "zeros":
                raise ValueError(f"{where}: groups {module.groups}, dilation {module.dilation}, padding_mode "
                                 f"{module.padding_mode!r}: the theory's convolution has groups 1, dilation 1 and zero "
                                 f"padding")
            padding = module.padding
            if isinstance(padding, str):
                if padding == "valid":
                    padding = (0,) * dims
                elif all(k % 2 == 1 for k in module.kernel_size) and all(s == 1 for s in module.stride):
                    padding = tuple(k // 2 for k in module.kernel_size)
                else:
                    raise ValueError(f"{where}: padding 'same' with an even kernel or a stride is not modelled")
            value = Conv(module.out_channels, tuple(module.kernel_size), tuple(module.stride), tuple(padding), law,
                         bias_var, gain)
        self.weights.append((name, module))
        entries.append((value, name))
        return entries, value.out_shape(shape), "current"

    def _source(self, entries):
        """What a weight layer reads: ("row", r) spikes straight from neuron row r, ("input",) the
        network's input, else None."""
        values = [v for v, _ in entries if not isinstance(v, Flatten)]
        if values and isinstance(values[-1], theory.LIF):
            return ("row", len(self.neurons) - 1)
        if not values and not self.neurons and not self.weights and not entries_outside(self):
            return ("input",)
        return None

    @staticmethod
    def _feed(entries):
        """(weight layer name, batch norm name or None) making a neuron's current directly, or None."""
        if entries and isinstance(entries[-1][0], (Dense, Conv)):
            return entries[-1][1], None
        if len(entries) >= 2 and isinstance(entries[-1][0], BatchNorm) and isinstance(entries[-2][0], (Dense, Conv)):
            return entries[-2][1], entries[-1][1]
        return None

    def _input_scale(self, spec: NeuronSpec, entries):
        scale = spec.input_scale
        if scale == 1.0:
            return
        for i in range(len(entries) - 1, -1, -1):
            value, name = entries[i]
            if isinstance(value, (MaxPool, AvgPool, Flatten)):
                continue
            if isinstance(value, (Dense, Conv, BatchNorm)) and name is not None:
                if self.policy.initialised(name):
                    self.compensation[name] = scale
                elif isinstance(value, BatchNorm):
                    entries[i] = (replace(value, weight=value.weight * scale, bias=value.bias * scale), name)
                    self.batch_norms = [(n, m, entries[i][0] if n == name else v) for n, m, v in self.batch_norms]
                else:
                    entries[i] = (replace(value, gain=value.gain * scale), name)
                return
            break
        if not entries and not self.neurons and not self.weights:
            self.input_scale *= scale
            return
        raise ValueError(f"module {spec.name!r}: decay_input=True scales its input by 1/tau, which the bridge puts on "
                         f"the weight layer or batch norm right before the neuron; this neuron reads a residual stream "
                         f"(use decay_input=False there)")

    def _block(self, block: _Block, shape, kind):
        fork_tap = self._tap(block.fork.index)
        if self.first_block:
            self.streams.append(("stream in", *fork_tap))
            self.first_block = False
        multiplier, connect = 1.0, None
        if block.op == "add":
            multiplier = self._multiplier(block)
        else:
            connect = self._logic(block)
        start = len(self.neurons)
        self.depth += 1
        branch, out_shape, out_kind = self.build(block.branch, shape, kind)
        branch_rows = list(range(start, len(self.neurons)))
        shortcut = None
        if block.shortcut is not None:
            shortcut, s_shape, s_kind = self.build(block.shortcut, shape, kind)
        self.depth -= 1
        if shortcut is not None and s_kind != out_kind:
                raise ValueError(f"the two paths meeting at {block.join.label} give a {out_kind} and a {s_kind}")
        self.blocks += 1
        branch_value = serial(*[v for v, _ in branch])
        if block.op == "add" and out_kind == "spikes":
            connect = "add"
            self.sew_add += 1
        elif block.op == "mul":
            if out_kind != "spikes":
                raise ValueError(f"{block.join.label} multiplies currents; SEW's IAND/AND multiply spikes")
        else:
            connect = "ms"
            if multiplier != 1.0:
                raise ValueError(f"{block.join.label}: a membrane shortcut with a branch multiplier {multiplier:g} is not "
                                 f"modelled (theory.MS adds the branch's current as it is)")
        last = self._last_current(branch, connect == "ms")
        if connect == "add" and self.policy.design is not None and last is not None:
            at = max(i for i, (v, _) in enumerate(branch) if isinstance(v, theory.LIF))
            where = next(i for i, (_, n) in enumerate(branch) if n == last)
            branch[where] = (BlockGain(branch[where][0], last, branch[at][0], multiplier, self.policy.design), last)
            branch_value = serial(*[v for v, _ in branch])
        if connect == "ms":
            self.ms += 1
            if self.policy.design is not None and last is not None:
                where = next(i for i, (_, n) in enumerate(branch) if n == last)
                branch[where] = (BranchGain(branch[where][0], last, self.policy.design), last)
                branch_value = serial(*[v for v, _ in branch])
        if connect == "ms":
            if shortcut is None:
                value = MS(branch_value)
            else:
                value = ProjectionMS(branch_value, serial(*[v for v, _ in shortcut]), tuple(shape))
                self.own = True
            self.block_last.append(("ms", None, 1.0, last, None))
        else:
            if shortcut is None:
                value = SEW(branch_value, connect, multiplier)
            else:
                value = ProjectionSEW(branch_value, serial(*[v for v, _ in shortcut]), connect, multiplier,
                                      tuple(shape))
                self.own = True
            self.block_last.append(("sew", connect, multiplier, last, branch_rows[-1] if branch_rows else None))
        self.streams.append((f"block {self.blocks}", *self._tap(block.join.index)))
        return value, out_shape, out_kind

    @staticmethod
    def _last_current(entries, current):
        """Torch name of the layer making the branch's last current (MS: the branch's output;
        SEW: the input of its last neuron), or None."""
        i = len(entries) - 1
        if not current:
            while i >= 0 and not isinstance(entries[i][0], theory.LIF):
                i -= 1
            i -= 1
        while i >= 0:
            value, name = entries[i]
            if isinstance(value, (Dense, Conv, BatchNorm)):
                return name
            if not isinstance(value, (MaxPool, AvgPool, Flatten)):
                return None
            i -= 1
        return None

    def _end_op(self, block):
        end = block.branch[-1] if block.branch else None
        if end is None or isinstance(end, _Block):
            return None
        node = self.reader.nodes[end]
        return node if node.kind == "op" else None

    def _multiplier(self, block):
        node = self._end_op(block)
        if node is not None and node.name in MUL_OPS:
            consts = [c for c in node.consts if isinstance(c, (int, float)) and not isinstance(c, bool)]
            if len(consts) == 1 and len(set(node.inputs)) == 1:
                block.branch = block.branch[:-1]
                return float(consts[0])
        return 1.0

    def _logic(self, block):
        node = self._end_op(block)
        if node is not None and node.name in ("__rsub__", "rsub") and \
                [float(c) for c in node.consts if isinstance(c, (int, float))] == [1.0]:
            block.branch = block.branch[:-1]
            return "iand"
        return "and"


def entries_outside(builder) -> bool:
    """Whether anything was built before the current serial (a block's branch, not the top)."""
    return builder.depth > 0


def _up_to_last_neuron(reader, items):
    """The items up to the last one holding a neuron: what follows (a readout) changes no neuron."""
    last = max((i for i, item in enumerate(items) if reader.has_neuron(item)), default=-1)
    return items[:last + 1]


def _paired(reader, index):
    """Whether a neuron follows weight layer ``index`` on some path before another weight layer."""
    seen, stack = set(), list(reader.consumers[index])
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        node = reader.nodes[i]
        if node.kind == "layer" and node.category == "neuron":
            return True
        if node.kind == "layer" and node.category in WEIGHT_KINDS:
            continue
        stack.extend(reader.consumers[i])
    return False


@dataclass
class Recording:
    """One recorded call of a model (snn_bridge.trace) with its calling convention."""
    trace: object
    call: str
    steps: int | None
    input_shape: tuple


def record(model, input_shape=None, call="auto", batch=3) -> Recording:
    """Record ``model`` on a probe input (snn_bridge.trace): "sequence" models with T = 2 (so that
    a batch norm's calls per step are counted), others one step."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    validation.choice(call, "call", ("auto",) + CALLS)
    if input_shape is None:
        input_shape = _infer_input(model)
    input_shape = describe_input(input_shape)
    steps = None
    if call == "auto":
        call, steps = detect_call(model, input_shape)
    probe_steps = 2 if call == "sequence" else 1
    trace = run_trace(model, probe_input(model, call, input_shape, probe_steps, batch))
    if call == "static":
        counts = {trace.calls.get(n, 0) for n, _, k in trace.layers if k == "neuron"}
        steps = counts.pop() if len(counts) == 1 else steps
    return Recording(trace, call, steps, input_shape)


def translate(model, input_shape=None, T=1, encoding=None, *, policy=None, call="auto", unpaired="error",
              recording=None) -> Translation:
    """Read ``model`` as a theory.Network (module docstring).

    input_shape: per-sample input shape (n, (C, L) or (C, H, W)); None infers it from a first
    Linear (or a first neuron followed by a Linear). T, encoding: the description's steps and
    input (theory.Encoding; default gaussian N(0, 1)). ``policy`` (:class:`Policy`): what the
    description holds for weights, biases and batch norm (default: the model's current values,
    :func:`measured_policy`). ``call``: "auto", "step", "sequence" or "static" (snn_bridge.trace).
    ``unpaired``: "error" or "list" (module docstring)."""
    validation.choice(unpaired, "unpaired", UNPAIRED_OPTIONS)
    T = validation.time_steps(T)
    encoding = Encoding() if encoding is None else encoding
    if not isinstance(encoding, Encoding):
        raise ValueError(f"encoding must be a theory.Encoding, got {type(encoding).__name__}")
    notes = []
    if recording is None:
        recording = record(model, input_shape, call)
    trace, call, steps, input_shape = recording.trace, recording.call, recording.steps, recording.input_shape
    if call == "static":
        if steps is not None and steps != T:
            raise ValueError(f"T must be the model's own number of steps, {steps} (its forward repeats one step's input "
                             f"{steps} times), got {T}")
    reader = _Reader(trace)
    policy = measured_policy(notes) if policy is None else policy
    weights = [n for n in trace.nodes if n.kind == "layer" and n.category in WEIGHT_KINDS]
    unpaired_names = [n.name for n in weights if not _paired(reader, n.index)]
    policy.unpaired = set(unpaired_names)
    if unpaired_names and unpaired == "error":
        names = ", ".join(f"{n.name!r} ({type(n.module).__name__})" for n in weights if n.name in unpaired_names)
        raise ValueError(f"no neuron follows module(s) {names} before the output or another weight layer; pass "
                         f"unpaired='list' to leave them untouched and listed")
    items, _ = reader.chain(0)
    if not any(n.kind == "layer" and n.category == "neuron" for n in trace.nodes):
        raise ValueError("model must contain at least one spiking neuron layer on the path from its input")
    items = _up_to_last_neuron(reader, items)
    builder = _Builder(reader, trace, policy, encoding, call, notes)
    start_kind = "spikes" if encoding.spikes else "current"
    entries, _, _ = builder.build(items, input_shape, start_kind)
    if builder.pending_gain != 1.0:
        notes.append("a dropout after the last weight layer changes nothing the description predicts")
    inside = [n for n in unpaired_names if n in {name for _, name in entries}]
    if inside:
        notes.append(f"unpaired layer(s) {inside} inside the model are described with their current weights")
    if builder.input_scale != 1.0:
        encoding = replace(encoding, std=encoding.std * builder.input_scale)
    if policy.design is not None:
        policy.design.blocks = builder.sew_add or builder.ms
    try:
        network = Network(serial(*[v for v, _ in entries]), input=input_shape, T=T, encoding=encoding)
    except ValueError as exc:
        raise ValueError(f"the model's description is refused by the theory: {exc}") from exc
    return Translation(network=network, weights=builder.weights, neurons=builder.neurons,
                       batch_norms=builder.batch_norms, streams=builder.streams if builder.blocks else [],
                       compensation=builder.compensation, unpaired=unpaired_names, blocks=builder.blocks,
                       sew_add_blocks=builder.sew_add, block_last=builder.block_last, call=call, steps=steps,
                       over=builder.over, own_blocks=builder.own, input_scale=builder.input_scale,
                       feeds=builder.feeds, reads=builder.reads, notes=notes)


def _infer_input(model):
    from .trace import layers_of
    for name, module, kind in layers_of(model):
        if kind == "dense":
            return (module.in_features,)
        if kind in ("conv", "batchnorm", "maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool", "unknown"):
            break
    raise ValueError("input_shape must be given (the per-sample input shape, e.g. (1, 28, 28)): it can be inferred "
                     "only for a model whose first weight layer is a Linear")
