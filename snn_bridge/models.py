"""Convolutional spiking networks as practitioners write them, in snnTorch and in SpikingJelly 2.0.

Every builder returns a ``torch.nn.Module`` for 28x28 single-channel images (``input_shape``) and
``n_classes`` classes. Three families, each with or without batch norm (``bn``), a configurable
number of blocks per stage and one channel width per stage (``channels=(16, 32, 64)`` is the thin
width of SpikeInit's deep ResNets; stage s > 1 halves the resolution, 28 -> 14 -> 7):

* ``sew_add`` / ``sew_iand`` -- SEW-ResNet (Fang et al., NeurIPS 2021). Stem conv3x3-[BN]-LIF;
  basic block ``conv3x3-[BN]-LIF-conv3x3-[BN]-LIF`` whose output spikes A meet the shortcut's
  spikes S by the connect function g:  ADD g = A + S (integer counts flow on), IAND
  g = (1 - A) * S (binary). A stage's first block downsamples (stride 2) and its shortcut is
  conv1x1(stride 2)-[BN]-LIF (SEW's spike shortcut).
* ``ms`` -- MS-ResNet (Hu et al., TNNLS 2024): membrane shortcut. Stem conv3x3-[BN] (no neuron:
  the stream carries currents); pre-activation block ``LIF-conv3x3-[BN]-LIF-conv3x3-[BN]`` whose
  output current is added to the stream; a downsampling shortcut is LIF-conv1x1(stride 2)-[BN].
  Head: LIF, global average pool, Linear.
* ``vgg`` -- plain stack: per stage ``blocks`` x (conv3x3-[BN]-LIF), max pooling 2x2 (after the
  neuron: an OR of spikes) between stages.

Head (every family): ``head="flatten"`` (default) flattens the last stage's spikes into the
classifier Linear, as snnTorch's and SpikingJelly's convolutional examples do; ``head="avgpool"``
puts a global average pool first, as the SEW and MS papers' ImageNet/CIFAR ResNets do. The
default is flatten because a pooled input is a rate (values << 1): in trial runs of the three
ResNet families (4 channels, T = 2, the paper's init ``micheli``, 24 batches of 16 MNIST images,
Adam lr 5e-3) an output LIF fed through the pool was silent at the end (loss ln 10 = 2.303 in
every batch but the first few); with flatten the same runs learn (the learning test of
tests/torch/test_torch_train.py). Use avgpool with ``readout="current_sum"``.

Convolutions have no bias (batch norm or nothing follows them); the classifier Linear has one.
Weights keep PyTorch's default draw until an initialiser (``snn_bridge.train``'s registry,
:func:`snn_bridge.spikeinit.spikeinit_`) sets them.

Input and readout (common to every model): ``model(x)`` takes x of shape (T, B, C, H, W) -- in
the toolkit's trainer the image with pixels in [0, 1] repeated at every step, a static current
fed to the stem convolution (direct coding) -- and returns a (B, n_classes) tensor:

* ``readout="spike_count"`` (default, the toolkit's convention): the Linear feeds an output LIF
  layer and the model returns its spike counts  c_k = sum_t s_k[t];  softmax cross-entropy on
  them, ``F.cross_entropy(model(x), y)``, is snnTorch's ``SF.ce_count_loss()`` (which sums the
  output spikes over T, then applies ``nn.CrossEntropyLoss``);
* ``readout="current_sum"``: no output neuron; the model returns sum_t (W h[t] + b), the Linear's
  output summed over T (SpikingJelly's and SpikeInit's examples average it; the sum is T times
  that mean).

Every call starts from rest (membranes zero): the snnTorch models call
``snntorch.utils.reset(container)`` before the loop over T (as the tutorials do; that utility
acts only when the container's *top level* holds a Leaky -- so each model keeps one at its top
level or resets its ``features`` Sequential -- and then zeroes every Leaky ever created in the
process, through the class-wide ``SpikingNeuron.instances`` list, which also keeps them alive);
the SpikingJelly models call ``functional.reset_net(self)``.

How each library writes the neuron (docs/theory.md §1; the toolkit's neuron is snnTorch's
``Leaky`` with ``reset_delay=True``):

    subtract: u[t] = beta u[t-1] + I[t] - theta s[t-1]
    zero:     u[t] = beta (1 - s[t-1]) u[t-1] + I[t]
    none:     u[t] = beta u[t-1] + I[t],          s[t] = [u[t] > theta]

* snnTorch (single step, looped over T, ``init_hidden=True``):
  ``snn.Leaky(beta=beta, threshold=theta, reset_mechanism=reset, spike_grad=surrogate.atan(alpha),
  init_hidden=True)`` is that neuron exactly (the reset term uses a detached spike).
  ``learn_beta=True`` makes beta a trained parameter.
* SpikingJelly 2.0 (``activation_based``, multi-step ``step_mode='m'``): ``LIFNode(tau, decay_input,
  v_threshold, v_reset)`` charges ``H[t] = V[t-1] - V[t-1]/tau + X[t]`` (decay_input=False) or
  ``H[t] = V[t-1] + (X[t] - V[t-1])/tau`` (decay_input=True, the default), fires
  ``S[t] = [H[t] >= v_threshold]``, and resets ``V[t] = H[t] (1 - S[t]) + v_reset S[t]`` (hard,
  ``v_reset`` a number) or ``V[t] = H[t] - v_threshold S[t]`` (soft, ``v_reset=None``). So the
  mapping is  beta = 1 - 1/tau,  tau = 1 / (1 - beta)  and, with decay_input=True, the input is
  scaled by lambda = 1/tau (SpikeInit's tau = 2: beta = lambda = 0.5). The builders use
  decay_input=False (lambda = 1, the toolkit's current) and ``detach_reset=True`` (snnTorch
  detaches its reset too):
  - reset ``zero``: ``LIFNode(tau=1/(1-beta), decay_input=False, v_threshold=theta, v_reset=0.,
    detach_reset=True)`` IS the toolkit's neuron (u = H): H[t] = beta (1 - S[t-1]) H[t-1] + X[t].
  - reset ``subtract``: soft reset ``v_reset=None`` gives H[t] = beta H[t-1] + X[t] - beta theta
    S[t-1]: the subtracted threshold decays with the membrane, snnTorch's does not. It equals the
    toolkit's subtract neuron only at beta = 1 (``IFNode(v_reset=None)``); for 0 < beta < 1 the
    SpikingJelly model is a (slightly) different neuron, stated in ``describe()["neuron"]``.
  - beta = 1: ``IFNode`` (no leak); ``learn_beta=True``: ``ParametricLIFNode(init_tau=1/(1-beta),
    decay_input=False)`` (beta = 1 - sigmoid(w), trained). beta = 0 (tau = 1) and reset ``none``
    have no SpikingJelly node: ValueError.
  - ties: SpikingJelly fires at H >= theta, snnTorch at u > theta; they differ only when the
    membrane equals the threshold exactly.
* Surrogate: ATan in both, dS/du = (alpha/2) / (1 + (pi alpha (u - theta)/2)^2)
  (``snntorch.surrogate.atan(alpha)`` and ``spikingjelly...surrogate.ATan(alpha)`` are the same
  function; alpha = ``surrogate_scale``, default 2).
* Batch norm: snnTorch models apply ``nn.BatchNorm2d`` at every step (statistics over B, H, W of
  that step; running statistics updated T times per batch); SpikingJelly's ``layer.BatchNorm2d``
  / ``SeqToANNContainer(nn.Conv2d, nn.BatchNorm2d)`` normalise over T, B, H, W at once (tdBN's
  statistics). The two libraries' BN models therefore differ in training, by design of each.

How the code reads (for a model translator): the snnTorch SEW block holds ``conv1, bn1, lif1,
conv2, bn2, lif2[, downsample = Sequential(Conv2d 1x1, BN, Leaky)]`` and returns
``connect(lif2 out, shortcut)``; the MS block holds ``lif1, conv1, bn1, lif2, conv2, bn2[,
downsample = Sequential(Leaky, Conv2d 1x1, BN)]`` and returns branch + shortcut; VGG is
``features = Sequential(Conv2d, BN, Leaky, ..., MaxPool2d, ...)``. SpikingJelly blocks follow
``spikingjelly.activation_based.model.sew_resnet``: ``conv1 = SeqToANNContainer(Conv2d, BN)``,
``sn1``, ``conv2``, ``sn2``, ``downsample = SeqToANNContainer(...)``, ``downsample_sn``; VGG uses
``layer.Conv2d``, ``layer.BatchNorm2d``, neurons, ``layer.MaxPool2d`` in a Sequential; the head
``layer.AdaptiveAvgPool2d``, ``layer.Flatten``, ``layer.Linear``; ``functional.set_step_mode(self,
'm')``. Where BN is off, an ``nn.Identity`` (snnTorch, stems) stands in its place or the
SeqToANNContainer holds the convolution alone. Registration order is forward order.

Each model has ``describe()`` (a dict for logs), ``neurons()`` (name, module) in forward order,
and ``weight_roles()`` (name, module, role) with role in stem / hidden / block_last / downsample /
classifier (what SpikeInit treats differently).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError('snn_bridge.models needs PyTorch, the optional extra: pip install ".[torch]"') from exc

__all__ = ["FAMILIES", "LIBRARIES", "RESETS", "READOUTS", "HEADS", "ROLES", "ModelConfig", "SpikingConvNet",
           "build_model", "sew_resnet", "ms_resnet", "vgg", "sew_connect", "neuron_parameters", "make_neuron"]

FAMILIES = ("sew_add", "sew_iand", "ms", "vgg")
LIBRARIES = ("snntorch", "spikingjelly")
RESETS = ("subtract", "zero", "none")
READOUTS = ("spike_count", "current_sum")
HEADS = ("flatten", "avgpool")
ROLES = ("stem", "hidden", "block_last", "downsample", "classifier")


def _snntorch():
    try:
        import snntorch
        from snntorch import surrogate, utils  # noqa: F401
    except ImportError as exc:
        raise ImportError('library "snntorch" needs snnTorch: pip install snntorch (or ".[torch]")') from exc
    return snntorch


def _spikingjelly():
    try:
        from spikingjelly.activation_based import functional, layer, neuron, surrogate
    except ImportError as exc:
        raise ImportError('library "spikingjelly" needs SpikingJelly 2.0: pip install spikingjelly') from exc
    return functional, layer, neuron, surrogate


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------

def _int_tuple(value, name, length=None):
    """One integer >= 1 or a sequence of them, as a tuple (repeated ``length`` times when one)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = [value]
    else:
        try:
            items = list(value)
        except TypeError:
            raise ValueError(f"{name} must be a positive integer or a sequence of them, got {value!r}") from None
    if not items or any(isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 1 for i in items):
        raise ValueError(f"{name} must be a positive integer or a non-empty sequence of integers >= 1, got {value!r}")
    out = tuple(int(i) for i in items)
    if length is not None and len(out) == 1:
        out = out * length
    if length is not None and len(out) != length:
        raise ValueError(f"{name} must be one integer or one per stage ({length} stages, as channels), got {value!r}")
    return out


def _real(value, name):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """Every setting of a model built here (validated by :meth:`validate`; see the module docstring)."""
    family: str
    library: str = "snntorch"
    blocks: tuple = (2, 2, 2)
    channels: tuple = (16, 32, 64)
    bn: bool = False
    beta: float = 0.5
    threshold: float = 1.0
    reset: str = "subtract"
    surrogate_scale: float = 2.0
    readout: str = "spike_count"
    head: str = "flatten"
    learn_beta: bool = False
    n_classes: int = 10
    input_shape: tuple = (1, 28, 28)

    def validate(self) -> "ModelConfig":
        for name, allowed in (("family", FAMILIES), ("library", LIBRARIES), ("reset", RESETS),
                              ("readout", READOUTS), ("head", HEADS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        channels = _int_tuple(self.channels, "channels")
        blocks = _int_tuple(self.blocks, "blocks", length=len(channels))
        for name in ("bn", "learn_beta"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        beta = _real(self.beta, "beta")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must lie in [0, 1], got {self.beta!r}")
        threshold = _real(self.threshold, "threshold")
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold!r}")
        scale = _real(self.surrogate_scale, "surrogate_scale")
        if scale <= 0:
            raise ValueError(f"surrogate_scale must be > 0 (the ATan alpha), got {self.surrogate_scale!r}")
        n_classes = _int_tuple(self.n_classes, "n_classes")
        if len(n_classes) != 1 or n_classes[0] < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {self.n_classes!r}")
        shape = _int_tuple(self.input_shape, "input_shape")
        if len(shape) != 3:
            raise ValueError(f"input_shape must be (channels, height, width), got {self.input_shape!r}")
        if self.library == "spikingjelly":
            if beta == 0.0:
                raise ValueError("beta must lie in (0, 1] with library 'spikingjelly' (LIFNode needs tau = 1/(1 - beta) "
                                 "> 1; beta = 0 has no SpikingJelly node), got 0")
            if self.reset == "none":
                raise ValueError("reset must be 'subtract' or 'zero' with library 'spikingjelly' (its nodes always "
                                 "reset), got 'none'")
            if self.learn_beta and beta == 1.0:
                raise ValueError("beta must be < 1 with learn_beta and library 'spikingjelly' (ParametricLIFNode "
                                 "needs init_tau = 1/(1 - beta) finite), got 1")
        size = shape[1:]
        for _ in range(len(channels) - 1):
            size = tuple((s + 1) // 2 if self.family != "vgg" else s // 2 for s in size)
            if min(size) < 1:
                raise ValueError(f"input_shape {self.input_shape!r} is too small for {len(channels)} stages "
                                 f"(each stage after the first halves the resolution)")
        return ModelConfig(family=self.family, library=self.library, blocks=blocks, channels=channels, bn=self.bn,
                           beta=beta, threshold=threshold, reset=self.reset, surrogate_scale=scale,
                           readout=self.readout, head=self.head, learn_beta=self.learn_beta, n_classes=n_classes[0],
                           input_shape=shape)


def neuron_parameters(config: ModelConfig) -> dict:
    """The neuron the model's library builds for ``config``: class name and keyword arguments,
    and the update it runs (see the module docstring)."""
    c = config
    if c.library == "snntorch":
        text = {"subtract": "u[t] = beta u[t-1] + I[t] - theta s[t-1] (the toolkit's neuron)",
                "zero": "u[t] = beta (1 - s[t-1]) u[t-1] + I[t] (the toolkit's neuron)",
                "none": "u[t] = beta u[t-1] + I[t] (the toolkit's neuron)"}[c.reset]
        return {"class": "snntorch.Leaky", "kwargs": {"beta": c.beta, "threshold": c.threshold,
                                                      "reset_mechanism": c.reset, "learn_beta": c.learn_beta,
                                                      "init_hidden": True},
                "update": text + ", s[t] = [u[t] > theta]"}
    v_reset = 0.0 if c.reset == "zero" else None
    if c.beta == 1.0:
        cls, kwargs = "IFNode", {}
    else:
        tau = 1.0 / (1.0 - c.beta)
        cls, kwargs = ("ParametricLIFNode", {"init_tau": tau}) if c.learn_beta else ("LIFNode", {"tau": tau})
        kwargs["decay_input"] = False
    kwargs.update({"v_threshold": c.threshold, "v_reset": v_reset, "detach_reset": True, "step_mode": "m"})
    if c.reset == "zero":
        text = "H[t] = beta (1 - S[t-1]) H[t-1] + X[t] (the toolkit's zero-reset neuron)"
    elif c.beta == 1.0:
        text = "H[t] = H[t-1] + X[t] - theta S[t-1] (the toolkit's subtract neuron at beta = 1)"
    else:
        text = ("H[t] = beta H[t-1] + X[t] - beta theta S[t-1] (SpikingJelly's soft reset: the subtracted threshold "
                "decays; the toolkit's subtract neuron subtracts theta)")
    return {"class": f"spikingjelly.activation_based.neuron.{cls}", "kwargs": kwargs,
            "update": text + ", S[t] = [H[t] >= theta]"}


# ---------------------------------------------------------------------------------------------
# shared behaviour
# ---------------------------------------------------------------------------------------------

def sew_connect(out, identity, connect):
    """SEW's element-wise connect g(A, S) of the block's spikes A = ``out`` and the shortcut's
    S = ``identity``: ADD A + S, IAND (1 - A) * S (SpikingJelly's ``sew_function(x=S, y=A)``)."""
    if connect == "ADD":
        return out + identity
    if connect == "IAND":
        return identity * (1.0 - out)
    raise ValueError(f"connect must be 'ADD' or 'IAND', got {connect!r}")


def _head_features(c: ModelConfig) -> int:
    """Inputs of the classifier: channels (global average pool) or channels x final H x W (flatten);
    each later stage halves H and W (stride-2 convolutions round up, 2x2 max pooling rounds down)."""
    if c.head == "avgpool":
        return c.channels[-1]
    size = c.input_shape[1:]
    for _ in range(len(c.channels) - 1):
        size = tuple(s // 2 if c.family == "vgg" else (s + 1) // 2 for s in size)
    return c.channels[-1] * size[0] * size[1]


class SpikingConvNet(nn.Module):
    """Base class of every model of this module: ``describe()``, ``neurons()``, ``weight_roles()``
    and the input check; ``config`` holds the :class:`ModelConfig`."""

    config: ModelConfig
    _stem_name: str

    def _check_input(self, x):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor of shape (T, B, C, H, W), got {type(x).__name__}")
        if x.dim() != 5 or tuple(x.shape[2:]) != tuple(self.config.input_shape) or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x must have shape (T, B, {', '.join(map(str, self.config.input_shape))}) with T, B >= 1, "
                             f"got {tuple(x.shape)}")

    def _is_neuron(self, module) -> bool:
        raise NotImplementedError

    def neurons(self) -> list:
        """(name, module) of every spiking neuron layer, in registration (= forward) order."""
        return [(name, m) for name, m in self.named_modules() if self._is_neuron(m)]

    def weight_roles(self) -> list:
        """(name, module, role) of every Conv2d / Linear, in forward order. Roles: ``stem`` (the
        convolution of the analog image), ``block_last`` (a residual block's last convolution),
        ``downsample`` (a shortcut's 1x1 convolution), ``classifier`` (the Linear), ``hidden``."""
        rows = []
        for name, m in self.named_modules():
            if not isinstance(m, (nn.Conv2d, nn.Linear)):
                continue
            parts = name.split(".")
            if name == "fc":
                role = "classifier"
            elif name == self._stem_name:
                role = "stem"
            elif "downsample" in parts:
                role = "downsample"
            elif self.config.family != "vgg" and "conv2" in parts:
                role = "block_last"
            else:
                role = "hidden"
            rows.append((name, m, role))
        return rows

    def describe(self) -> dict:
        """A JSON-ready record for logs: family, library, blocks, channels, bn, neuron settings,
        readout, layer and parameter counts."""
        record = asdict(self.config)
        record["blocks"] = list(self.config.blocks)
        record["channels"] = list(self.config.channels)
        record["input_shape"] = list(self.config.input_shape)
        record["surrogate"] = f"atan(alpha={self.config.surrogate_scale:g})"
        neuron = neuron_parameters(self.config)
        record["neuron"] = f"{neuron['class']}: {neuron['update']}"
        record["weight_layers"] = len(self.weight_roles())
        record["neuron_layers"] = len(self.neurons())
        record["parameters"] = int(sum(p.numel() for p in self.parameters()))
        return record


# ---------------------------------------------------------------------------------------------
# snnTorch
# ---------------------------------------------------------------------------------------------

def _leaky(c: ModelConfig):
    snn = _snntorch()
    return snn.Leaky(beta=c.beta, threshold=c.threshold, reset_mechanism=c.reset,
                     spike_grad=snn.surrogate.atan(alpha=c.surrogate_scale), init_hidden=True,
                     learn_beta=c.learn_beta)


def _bn_or_identity(c: ModelConfig, channels):
    return nn.BatchNorm2d(channels) if c.bn else nn.Identity()


class SnnSEWBlock(nn.Module):
    """SEW basic block, one time step: conv3x3-[BN]-Leaky-conv3x3-[BN]-Leaky, connect with the
    shortcut (identity, or conv1x1-[BN]-Leaky when the shape changes)."""

    def __init__(self, c: ModelConfig, in_channels, channels, stride, connect):
        super().__init__()
        self.connect = connect
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn_or_identity(c, channels)
        self.lif1 = _leaky(c)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = _bn_or_identity(c, channels)
        self.lif2 = _leaky(c)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                            _bn_or_identity(c, channels), _leaky(c))

    def forward(self, x):
        out = self.lif1(self.bn1(self.conv1(x)))
        out = self.lif2(self.bn2(self.conv2(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return sew_connect(out, identity, self.connect)


class SnnMSBlock(nn.Module):
    """MS (membrane shortcut) block, one time step: Leaky-conv3x3-[BN]-Leaky-conv3x3-[BN], added
    to the stream (identity, or Leaky-conv1x1-[BN] when the shape changes)."""

    def __init__(self, c: ModelConfig, in_channels, channels, stride):
        super().__init__()
        self.lif1 = _leaky(c)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn_or_identity(c, channels)
        self.lif2 = _leaky(c)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = _bn_or_identity(c, channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(_leaky(c), nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                            _bn_or_identity(c, channels))

    def forward(self, x):
        out = self.bn1(self.conv1(self.lif1(x)))
        out = self.bn2(self.conv2(self.lif2(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


class SnnResNet(SpikingConvNet):
    """SEW- or MS-ResNet in snnTorch: single-step modules looped over T."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self._stem_name = "conv0"
        ms = c.family == "ms"
        self.conv0 = nn.Conv2d(c.input_shape[0], c.channels[0], 3, padding=1, bias=False)
        self.bn0 = _bn_or_identity(c, c.channels[0])
        if not ms:
            self.lif0 = _leaky(c)
        stages, in_channels = [], c.channels[0]
        for s, (n_blocks, width) in enumerate(zip(c.blocks, c.channels)):
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(SnnMSBlock(c, in_channels, width, stride) if ms else
                              SnnSEWBlock(c, in_channels, width, stride, "ADD" if c.family == "sew_add" else "IAND"))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        if ms:
            self.lif_head = _leaky(c)
        self.pool = nn.AdaptiveAvgPool2d((1, 1)) if c.head == "avgpool" else nn.Identity()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(_head_features(c), c.n_classes)
        if c.readout == "spike_count":
            self.lif_out = _leaky(c)

    def _is_neuron(self, module):
        return isinstance(module, _snntorch().Leaky)

    def forward(self, x):
        """x (T, B, C, H, W) -> (B, n_classes): output spike counts or summed Linear outputs."""
        self._check_input(x)
        _snntorch().utils.reset(self)      # the top level holds lif0 (SEW) or lif_head (MS)
        total = 0
        for t in range(x.shape[0]):
            h = self.bn0(self.conv0(x[t]))
            if self.config.family != "ms":
                h = self.lif0(h)
            h = self.layers(h)
            if self.config.family == "ms":
                h = self.lif_head(h)
            h = self.fc(self.flatten(self.pool(h)))
            if self.config.readout == "spike_count":
                h = self.lif_out(h)
            total = total + h
        return total


class SnnVGG(SpikingConvNet):
    """Plain VGG-style stack in snnTorch (``features`` Sequential as in the snnTorch CSNN tutorial,
    pooling after the neuron), looped over T."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self._stem_name = "features.0"
        layers, in_channels = [], c.input_shape[0]
        for s, (n_blocks, width) in enumerate(zip(c.blocks, c.channels)):
            if s > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(n_blocks):
                layers += [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), _bn_or_identity(c, width),
                           _leaky(c)]
                in_channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((1, 1)) if c.head == "avgpool" else nn.Identity()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(_head_features(c), c.n_classes)
        if c.readout == "spike_count":
            self.lif_out = _leaky(c)

    def _is_neuron(self, module):
        return isinstance(module, _snntorch().Leaky)

    def forward(self, x):
        """x (T, B, C, H, W) -> (B, n_classes): output spike counts or summed Linear outputs."""
        self._check_input(x)
        _snntorch().utils.reset(self.features)     # its top level holds Leaky layers
        total = 0
        for t in range(x.shape[0]):
            h = self.fc(self.flatten(self.pool(self.features(x[t]))))
            if self.config.readout == "spike_count":
                h = self.lif_out(h)
            total = total + h
        return total


# ---------------------------------------------------------------------------------------------
# SpikingJelly (activation_based, multi-step)
# ---------------------------------------------------------------------------------------------

def _node(c: ModelConfig):
    _, _, neuron, surrogate = _spikingjelly()
    spec = neuron_parameters(c)
    kwargs = dict(spec["kwargs"], surrogate_function=surrogate.ATan(alpha=c.surrogate_scale))
    cls = getattr(neuron, spec["class"].rsplit(".", 1)[1])
    return cls(**kwargs)


def _sj_conv_bn(c: ModelConfig, in_channels, channels, kernel, stride):
    _, layer, _, _ = _spikingjelly()
    conv = nn.Conv2d(in_channels, channels, kernel, stride=stride, padding=kernel // 2, bias=False)
    return layer.SeqToANNContainer(conv, nn.BatchNorm2d(channels)) if c.bn else layer.SeqToANNContainer(conv)


class SjSEWBlock(nn.Module):
    """SEW basic block, multi-step (as spikingjelly.activation_based.model.sew_resnet.BasicBlock):
    conv1 = SeqToANNContainer(conv3x3[, BN]), sn1, conv2, sn2; shortcut downsample + downsample_sn."""

    def __init__(self, c: ModelConfig, in_channels, channels, stride, connect):
        super().__init__()
        self.connect = connect
        self.conv1 = _sj_conv_bn(c, in_channels, channels, 3, stride)
        self.sn1 = _node(c)
        self.conv2 = _sj_conv_bn(c, channels, channels, 3, 1)
        self.sn2 = _node(c)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = _sj_conv_bn(c, in_channels, channels, 1, stride)
            self.downsample_sn = _node(c)

    def forward(self, x):
        out = self.sn1(self.conv1(x))
        out = self.sn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample_sn(self.downsample(x))
        return sew_connect(out, identity, self.connect)


class SjMSBlock(nn.Module):
    """MS block, multi-step: sn1, conv1 = SeqToANNContainer(conv3x3[, BN]), sn2, conv2; the
    stream adds the branch's current; downsample = Sequential(node, SeqToANNContainer(conv1x1[, BN]))."""

    def __init__(self, c: ModelConfig, in_channels, channels, stride):
        super().__init__()
        self.sn1 = _node(c)
        self.conv1 = _sj_conv_bn(c, in_channels, channels, 3, stride)
        self.sn2 = _node(c)
        self.conv2 = _sj_conv_bn(c, channels, channels, 3, 1)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(_node(c), _sj_conv_bn(c, in_channels, channels, 1, stride))

    def forward(self, x):
        out = self.conv1(self.sn1(x))
        out = self.conv2(self.sn2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


class SjResNet(SpikingConvNet):
    """SEW- or MS-ResNet in SpikingJelly, multi-step (T, B, ...) throughout."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        functional, layer, _, _ = _spikingjelly()
        self.config = c
        self._stem_name = "conv0"
        ms = c.family == "ms"
        self.conv0 = layer.Conv2d(c.input_shape[0], c.channels[0], 3, padding=1, bias=False)
        self.bn0 = layer.BatchNorm2d(c.channels[0]) if c.bn else nn.Identity()
        if not ms:
            self.sn0 = _node(c)
        stages, in_channels = [], c.channels[0]
        for s, (n_blocks, width) in enumerate(zip(c.blocks, c.channels)):
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(SjMSBlock(c, in_channels, width, stride) if ms else
                              SjSEWBlock(c, in_channels, width, stride, "ADD" if c.family == "sew_add" else "IAND"))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        if ms:
            self.sn_head = _node(c)
        self.pool = layer.AdaptiveAvgPool2d((1, 1)) if c.head == "avgpool" else nn.Identity()
        self.flatten = layer.Flatten(start_dim=1)
        self.fc = layer.Linear(_head_features(c), c.n_classes)
        if c.readout == "spike_count":
            self.sn_out = _node(c)
        functional.set_step_mode(self, step_mode="m")

    def _is_neuron(self, module):
        return isinstance(module, _spikingjelly()[2].BaseNode)

    def forward(self, x):
        """x (T, B, C, H, W) -> (B, n_classes): output spike counts or summed Linear outputs."""
        self._check_input(x)
        _spikingjelly()[0].reset_net(self)
        h = self.bn0(self.conv0(x))
        if self.config.family != "ms":
            h = self.sn0(h)
        h = self.layers(h)
        if self.config.family == "ms":
            h = self.sn_head(h)
        h = self.fc(self.flatten(self.pool(h)))
        if self.config.readout == "spike_count":
            h = self.sn_out(h)
        return h.sum(0)


class SjVGG(SpikingConvNet):
    """Plain VGG-style stack in SpikingJelly (as its convolutional examples): layer.Conv2d,
    layer.BatchNorm2d, neuron, ..., layer.MaxPool2d between stages; layer.Flatten, layer.Linear."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        functional, layer, _, _ = _spikingjelly()
        self.config = c
        self._stem_name = "features.0"
        layers, in_channels = [], c.input_shape[0]
        for s, (n_blocks, width) in enumerate(zip(c.blocks, c.channels)):
            if s > 0:
                layers.append(layer.MaxPool2d(2, 2))
            for _ in range(n_blocks):
                layers += [layer.Conv2d(in_channels, width, 3, padding=1, bias=False),
                           layer.BatchNorm2d(width) if c.bn else nn.Identity(), _node(c)]
                in_channels = width
        self.features = nn.Sequential(*layers)
        self.pool = layer.AdaptiveAvgPool2d((1, 1)) if c.head == "avgpool" else nn.Identity()
        self.flatten = layer.Flatten(start_dim=1)
        self.fc = layer.Linear(_head_features(c), c.n_classes)
        if c.readout == "spike_count":
            self.sn_out = _node(c)
        functional.set_step_mode(self, step_mode="m")

    def _is_neuron(self, module):
        return isinstance(module, _spikingjelly()[2].BaseNode)

    def forward(self, x):
        """x (T, B, C, H, W) -> (B, n_classes): output spike counts or summed Linear outputs."""
        self._check_input(x)
        _spikingjelly()[0].reset_net(self)
        h = self.fc(self.flatten(self.pool(self.features(x))))
        if self.config.readout == "spike_count":
            h = self.sn_out(h)
        return h.sum(0)


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------

def make_neuron(config: ModelConfig):
    """One neuron layer of ``config``'s library as the models build it (snnTorch ``Leaky`` with
    init_hidden=True, or the SpikingJelly node of :func:`neuron_parameters`, multi-step)."""
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be a ModelConfig, got {type(config).__name__}")
    config = config.validate()
    return _leaky(config) if config.library == "snntorch" else _node(config)


def build_model(family, library="snntorch", *, blocks=2, channels=(16, 32, 64), bn=False, beta=0.5,
                threshold=1.0, reset="subtract", surrogate_scale=2.0, readout="spike_count", head="flatten",
                learn_beta=False, n_classes=10, input_shape=(1, 28, 28)):
    """Build a ``family`` network (sew_add, sew_iand, ms, vgg) in ``library`` (snntorch,
    spikingjelly). ``blocks``: blocks per stage (one integer for every stage, or one per stage);
    ``channels``: one width per stage. Neuron: ``beta``, ``threshold``, ``reset``
    (subtract/zero/none), ATan surrogate of scale ``surrogate_scale``. ``readout``: spike_count or
    current_sum; ``head``: flatten (default) or avgpool (global average pool) before the
    classifier (module docstring). ValueError naming the first argument out of range; ImportError
    naming the package when the library is not installed."""
    config = ModelConfig(family=family, library=library, blocks=blocks, channels=channels, bn=bn, beta=beta,
                         threshold=threshold, reset=reset, surrogate_scale=surrogate_scale, readout=readout,
                         head=head, learn_beta=learn_beta, n_classes=n_classes, input_shape=input_shape).validate()
    if config.library == "snntorch":
        _snntorch()
        return SnnVGG(config) if config.family == "vgg" else SnnResNet(config)
    _spikingjelly()
    return SjVGG(config) if config.family == "vgg" else SjResNet(config)


def sew_resnet(connect="ADD", library="snntorch", **kwargs):
    """SEW-ResNet with connect function ``ADD`` or ``IAND`` (keywords of :func:`build_model`)."""
    if connect not in ("ADD", "IAND"):
        raise ValueError(f"connect must be 'ADD' or 'IAND', got {connect!r}")
    return build_model("sew_add" if connect == "ADD" else "sew_iand", library, **kwargs)


def ms_resnet(library="snntorch", **kwargs):
    """MS-ResNet (membrane shortcut; keywords of :func:`build_model`)."""
    return build_model("ms", library, **kwargs)


def vgg(library="snntorch", **kwargs):
    """Plain VGG-style stack (keywords of :func:`build_model`)."""
    return build_model("vgg", library, **kwargs)
