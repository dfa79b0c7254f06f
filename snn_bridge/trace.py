"""What a torch model computes, recorded while it runs: its layers in execution order and how their
outputs meet (the translator, :mod:`snn_bridge.translate`, reads the record).

The model runs once on a seeded random probe input under ``torch.no_grad()``, with

* a forward hook on every *layer*: a module the bridge recognises (weight layers, batch norm,
  pooling, Flatten, Dropout, Identity, spiking neurons of snnTorch and SpikingJelly) or any other
  module without children (recorded as unknown); a layer's insides are not recorded;
* a ``torch.overrides.TorchFunctionMode`` that sees every tensor operation outside the layers:
  the model's own code (``out + identity``, ``identity * (1 - out)``, ``torch.flatten``,
  ``x[t]``, ``F.max_pool2d``, ...) and containers such as SpikingJelly's ``SeqToANNContainer``.

Each tensor is tied to the node that made it (by identity, held weakly). Operations that only
reshape, index or copy a tensor (view, reshape, flatten, squeeze, ``x[t]``, contiguous, to, ...)
keep the node of their input; every other operation on a recorded tensor is a node. So a model
with a loop over T in its forward, SpikingJelly's multi-step containers and a residual block
written as ``out + identity`` all become the same small graph: the input, the layers, and the
additions and products where paths meet. Only the first time step is recorded (recording stops
when a layer is called a second time in one call of the model); every call is counted.

Calling conventions (``call``): "step" (``model(x[t])`` once per step, the neurons keep their state:
snnTorch's ``init_hidden=True`` in a Sequential), "sequence" (``model(x)`` with x of shape
(T, batch, ...): SpikingJelly's multi-step mode, or a forward that loops over ``x[t]``), "static"
(``model(x)`` with one step's x that the forward repeats for its own number of steps). "auto"
tries them on probe inputs (:func:`detect_call`).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

try:
    import torch
    from torch import nn
    from torch.overrides import TorchFunctionMode
except ImportError as exc:  # pragma: no cover - exercised by tests/torch/test_import_error.py
    raise ImportError('snn_bridge needs PyTorch, the optional extra: pip install ".[torch]"') from exc

from .neurons import is_neuron, reset_state, spikingjelly_module

__all__ = ["Node", "Trace", "classify", "layers_of", "run_trace", "detect_call", "probe_input", "CALLS",
           "reset_model", "preserved_state"]

CALLS = ("step", "sequence", "static")
# operations that keep their input's node: reshaping, indexing and copying
ALIASES = frozenset({
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "unsqueeze", "contiguous",
    "clone", "detach", "to", "float", "double", "half", "type", "type_as", "__getitem__", "expand", "expand_as",
    "repeat", "select", "narrow", "requires_grad_", "unbind", "chunk", "split", "cpu", "cuda",
})
# functional forms of layers, recognised in the model's own code
FUNCTIONAL = {"max_pool1d": "maxpool", "max_pool2d": "maxpool", "_max_pool1d": "maxpool", "_max_pool2d": "maxpool",
              "avg_pool1d": "avgpool", "avg_pool2d": "avgpool", "dropout": "dropout"}


def classify(module) -> str | None:
    """The kind of layer ``module`` is for the bridge: "neuron", "dense", "conv", "batchnorm",
    "maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool", "flatten", "dropout", "identity",
    "unknown" (a module without children that the bridge does not know), or None (a container,
    whose children are recorded)."""
    if is_neuron(module):
        return "neuron"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return "conv"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "batchnorm"
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d)):
        return "maxpool"
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d)):
        return "avgpool"
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
        return "adaptive_avgpool"
    if isinstance(module, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)):
        return "adaptive_maxpool"
    if isinstance(module, nn.Flatten):
        return "flatten"
    if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d)):
        return "dropout"
    if isinstance(module, nn.Identity):
        return "identity"
    sj = spikingjelly_module()
    if sj is not None and type(module).__module__.startswith("spikingjelly") and \
            type(module).__name__ in ("Dropout", "Dropout2d"):
        return "dropout"
    if list(module.children()):
        return None
    return "unknown"


def layers_of(model) -> list:
    """(name, module, kind) of every layer of ``model`` (a recognised module or a module without
    children), in registration order, without descending into a layer."""
    found = []

    def visit(prefix, module):
        kind = classify(module)
        if kind is not None:
            found.append((prefix or "<model>", module, kind))
            return
        for name, child in module.named_children():
            visit(f"{prefix}.{name}" if prefix else name, child)
    visit("", model)
    return found


@dataclass
class Node:
    """One node of the record: the input, a layer call, an operation, or a neuron's extra output
    (its membrane, kind "state")."""
    index: int
    kind: str                  # "input", "layer", "op", "state"
    name: str                  # layer name, or the operation's name
    module: object = None
    category: str | None = None
    inputs: tuple = ()         # node indices of the recorded tensor arguments, in order
    consts: tuple = ()         # the other (non-tensor) arguments of an operation
    in_shape: tuple = ()
    out_shape: tuple = ()

    @property
    def label(self) -> str:
        if self.kind == "layer":
            return f"module {self.name!r} ({type(self.module).__name__})"
        if self.kind == "op":
            return f"operation {self.name!r}"
        return self.name


@dataclass
class Trace:
    """The record of one call of the model (module docstring)."""
    nodes: list = field(default_factory=list)
    calls: dict = field(default_factory=dict)       # layer name -> times called in the whole call
    layers: list = field(default_factory=list)      # (name, module, kind) as layers_of gives

    def consumers(self) -> dict:
        out = {node.index: [] for node in self.nodes}
        for node in self.nodes:
            for i in dict.fromkeys(node.inputs):
                out[i].append(node.index)
        return out


class _Recorder(TorchFunctionMode):
    def __init__(self, trace, stop_when_repeated=True):
        super().__init__()
        self.trace = trace
        self.where = {}
        self.depth = 0
        self.repeating = False
        self.stop = stop_when_repeated
        self.pending = []

    # ---------------------------------------------------------------- tensors -> nodes
    def lookup(self, tensor):
        entry = self.where.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            return entry[1]
        return None

    def tie(self, tensor, index):
        try:
            self.where[id(tensor)] = (weakref.ref(tensor), index)
        except TypeError:   # pragma: no cover - tensors support weak references
            pass

    def add(self, **kwargs):
        node = Node(index=len(self.trace.nodes), **kwargs)
        self.trace.nodes.append(node)
        return node

    # ---------------------------------------------------------------- operations
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth == 0 and not self.repeating:
            self._operation(func, args, kwargs, out)
        return out

    @staticmethod
    def _tensors(values):
        for value in values:
            if isinstance(value, torch.Tensor):
                yield value
            elif isinstance(value, (list, tuple)):
                yield from _Recorder._tensors(value)

    def _operation(self, func, args, kwargs, out):
        outs = list(self._tensors([out]))
        if not outs:
            return
        known = [i for i in (self.lookup(t) for t in self._tensors(list(args) + list(kwargs.values())))
                 if i is not None]
        if not known:
            return
        name = getattr(func, "__name__", str(func))
        if name in ALIASES and len(set(known)) == 1:
            for t in outs:
                self.tie(t, known[0])
            return
        consts = tuple(a for a in args if not isinstance(a, (torch.Tensor, list, tuple)))
        category = FUNCTIONAL.get(name)
        node = self.add(kind="op", name=name, inputs=tuple(known), consts=consts, category=category,
                        out_shape=tuple(outs[0].shape))
        if category is not None:
            node.consts = (args[1:], dict(kwargs))
        for t in outs:
            self.tie(t, node.index)

    # ---------------------------------------------------------------- layers
    def pre_hook(self, name, module, kind):
        def hook(mod, args):
            self.trace.calls[name] = self.trace.calls.get(name, 0) + 1
            if self.trace.calls[name] > 1 and self.stop:
                self.repeating = True
            first = next(self._tensors(args), None)
            self.pending.append((None if first is None else self.lookup(first),
                                 () if first is None else tuple(first.shape)))
            self.depth += 1
        return hook

    def post_hook(self, name, module, kind):
        def hook(mod, args, output):
            self.depth -= 1
            source, in_shape = self.pending.pop()
            if self.repeating:
                return
            outs = list(self._tensors([output]))
            node = self.add(kind="layer", name=name, module=module, category=kind,
                            inputs=() if source is None else (source,), in_shape=in_shape,
                            out_shape=tuple(outs[0].shape) if outs else ())
            if outs:
                self.tie(outs[0], node.index)
                for extra in outs[1:]:
                    state = self.add(kind="state", name=f"{name} (its membrane output)", module=module,
                                     inputs=(node.index,))
                    self.tie(extra, state.index)
        return hook


def reset_model(model) -> None:
    """Every neuron back to rest and SpikingJelly's memory modules reset."""
    sj = spikingjelly_module()
    memory = None
    if sj is not None:
        from spikingjelly.activation_based import base
        memory = base.MemoryModule
    for module in model.modules():
        if is_neuron(module):
            reset_state(module)
        elif memory is not None and isinstance(module, memory):
            module.reset()


class preserved_state:
    """Context manager: the model's batch-norm buffers (running statistics) and its neurons'
    states are as before when the block ends (probe and diagnostic runs leave no trace)."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.buffers = [(m, {k: v.clone() for k, v in m._buffers.items() if v is not None})
                        for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        reset_model(self.model)
        return self

    def __exit__(self, *exc):
        for module, saved in self.buffers:
            for key, value in saved.items():
                module._buffers[key].copy_(value)
        reset_model(self.model)
        return False


def probe_input(model, call, input_shape, steps, batch, seed=0):
    """A seeded N(0, 1) probe input in the model's dtype and device for ``call``."""
    parameter = next(model.parameters(), None)
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    device = parameter.device if parameter is not None else torch.device("cpu")
    shape = (steps, batch) + tuple(input_shape) if call == "sequence" else (batch,) + tuple(input_shape)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype=dtype, device=device)


def run_trace(model, x, *, stop_when_repeated=True) -> Trace:
    """Run ``model(x)`` once under no_grad with the recorder (module docstring); the model's
    batch-norm statistics and neuron states are restored afterwards."""
    trace = Trace(layers=layers_of(model))
    recorder = _Recorder(trace, stop_when_repeated)
    handles = []
    for name, module, kind in trace.layers:
        handles.append(module.register_forward_pre_hook(recorder.pre_hook(name, module, kind)))
        handles.append(module.register_forward_hook(recorder.post_hook(name, module, kind)))
    try:
        with preserved_state(model), torch.no_grad():
            recorder.add(kind="input", name="the input", out_shape=tuple(x.shape))
            recorder.tie(x, 0)
            with recorder:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    return trace


def detect_call(model, input_shape) -> tuple[str, int | None]:
    """("step" | "sequence" | "static", the model's own T for "static" else None), found on probe
    inputs (module docstring): SpikingJelly multi-step neurons mean "sequence"; otherwise one
    step's input (batch 3) is tried: every neuron called once -> "step", k times (k != 3) ->
    "static" with T = k; failing that (or k = 3, which a loop over the batch axis would also
    give), a (T = 2, batch 3) input with every neuron called twice -> "sequence"."""
    neurons = [m for _, m, kind in layers_of(model) if kind == "neuron"]
    if not neurons:
        raise ValueError("model must contain at least one spiking neuron layer (snntorch.Leaky or SpikingJelly's "
                         "LIFNode / IFNode / ParametricLIFNode); found none")
    if any(getattr(m, "step_mode", "s") == "m" for m in neurons):
        return "sequence", None
    names = [name for name, _, kind in layers_of(model) if kind == "neuron"]
    failures = []

    def counts(call, steps):
        trace = run_trace(model, probe_input(model, call, input_shape, steps, 3), stop_when_repeated=False)
        return {trace.calls.get(n, 0) for n in names}

    try:
        seen = counts("step", 1)
    except Exception as exc:      # noqa: BLE001 - any failure means: not this convention
        failures.append(f"one step's input (3, {', '.join(map(str, input_shape))}): {type(exc).__name__}: {exc}")
        seen = None
    if seen == {1}:
        return "step", None
    if seen is not None and len(seen) == 1 and next(iter(seen)) not in (0, 3):
        return "static", next(iter(seen))
    try:
        seq = counts("sequence", 2)
    except Exception as exc:      # noqa: BLE001
        failures.append(f"a sequence (2, 3, {', '.join(map(str, input_shape))}): {type(exc).__name__}: {exc}")
        seq = None
    if seq == {2}:
        return "sequence", None
    if seen is not None and len(seen) == 1 and next(iter(seen)) == 3:
        return "static", 3
    raise ValueError("could not tell how to call the model (pass call='step', 'sequence' or 'static'): "
                     + ("; ".join(failures) if failures else f"neuron call counts {seen} (one step), {seq} (T = 2)"))
