"""``initialize_``: initialise a torch model from the toolkit's description of it, and say what the
theory predicts for it.

The model is translated (:mod:`snn_bridge.translate`) into a ``theory.Network`` whose weight layers
carry the initialiser (``theory.Init(init, **params)``: evaluated per layer for its fan-in, fan-out
and the neuron after it, with the network's T and the neuron's reset where the entry takes them)
and whose batch norms carry ``bn_weight``, ``bn_bias``. Every weight is then drawn from its
layer's resolved law (``net.plan[i].law``, times the layer's gain), every batch-norm affine set,
and the report gives, from the same description:

* per weight layer: fan-in, fan-out, the std drawn, the gain, the neuron it feeds;
* per neuron layer (a Profile row): the temporal mean field (``theory.mean_field``: rate, membrane
  mean and variance per step, infinite width), P(silent) where an exact chain applies
  (``theory.spike_count`` on the T = 1 copy of a plain dense stack), and the backward gain at
  step 1 for the neuron's own surrogate g and scale (docs/theory.md §6):

      weight layer -> neuron:             chi = fan_in sigma^2 E[g'(u - theta)^2],   u ~ N(0, q)
      weight layer -> batch norm -> neuron:  chi = (w^2 / M_in) E[g'(u - theta)^2],  u ~ N(b, w^2)

  (q the predicted membrane variance at step 1, w and b the batch norm's affine values, M_in the
  second moment of the weight layer's input at step 1: batch norm divides by the batch std
  sqrt(fan_in sigma^2 M_in)); None where the neuron's current comes through pooling or a stream;
* for the model: ``theory.trainability`` (the predicted trainable depth; a warning when the
  model is deeper than the transient rule 4 xi_transient, or for a residual network than
  6 xi_c blocks), ``theory.min_width`` for plain dense stacks (a warning for narrower layers),
  and a warning for thresholds above ``theory.critical_threshold()``.

``chi_one=True`` sets each neuron's surrogate scale so that its chi is 1
(``theory.chi_one_scale`` at the predicted step-1 membrane variance; snnTorch: a new closure of the
same surrogate, SpingJelly: the module's alpha).

Residual SEW networks (``residual="near_identity"``): the toolkit's finding (docs/theory.md §9,
theory.regimes.residual's ``sew_add`` rule) is that blocks which start near the identity train at
depth 100: each of the N SEW-ADD blocks fires at

    p_b = budget * r_0 / (N a)

(r_0 the time-averaged rate of the stream entering the first block, a the block's multiplier), so
that the N blocks together raise the stream's mean by about ``budget`` times the stem's rate. In a
torch model the lever is the layer making each branch's last current:
the last convolution's gain, or the batch norm's weight when one sits before the neuron (batch
norm fixes the rate whatever the weight scale). The bridge solves the gains on the mean field of
the translated description in one walk (snn_bridge.translate.BlockGain): at each SEW-ADD block,
in execution order, the gain g_j with  rate(g_j^2 C_j) = p_b  on the walk's own LIF map (C_j the
current of the block's last neuron, given the blocks before it at their solved gains); the
description with those gains is walked again for the report (equal up to the walk's sampling
error for T > 2). Other layers keep the initialiser's law.

MS (membrane-shortcut) networks (``residual="near_identity"`` too): the shortcut adds each
branch's current to the stream, so at the initialiser's scale N branches multiply the stream's
variance by about N + 1 and the neurons reading it fire ever more. Each branch's last layer
(convolution gain or batch-norm weight) is set instead so that its current has the variance
budget V_0 / N (V_0: the stream entering the first block), solved on the same walk
(snn_bridge.translate.BranchGain): the N blocks together add about budget x V_0. (SpikeInit
sets that layer to zero, budget 0.) Models with other blocks, or both kinds, get a ValueError.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised by tests/torch/test_import_error.py
    raise ImportError('snn_bridge needs PyTorch, the optional extra: pip install ".[torch]"') from exc

import snn_validation as validation
import theory
from theory import Encoding, Gaussian, Init, inits
from theory.core.laws import Stable, Uniform

from .neurons import set_surrogate_scale
from .nninit import draw_, fans
from .translate import Design, Policy, UNPAIRED_OPTIONS, record, translate

__all__ = ["initialize_", "InitReport", "LayerReport", "NeuronReport", "BIAS_OPTIONS", "RESIDUAL_OPTIONS",
           "predictions", "backward_gains"]

BIAS_OPTIONS = ("leave", "zero", "init")
RESIDUAL_OPTIONS = ("plain", "near_identity")


@dataclass(frozen=True)
class LayerReport:
    """One weight layer as initialised: ``std`` is the torch weight's std (law std x gain / the
    neuron's input scale), ``gain`` the description's gain (residual design, dropout), ``neuron``
    the name of the neuron whose current it makes directly (or None)."""
    module: str
    kind: str
    fan_in: int
    fan_out: int
    law: str
    std: float
    gain: float
    bias_var: float
    neuron: str | None


@dataclass(frozen=True)
class NeuronReport:
    """One neuron layer (a Profile row): its dynamics, the mean field per step t = 1..T (float64,
    infinite width), P(silent at every step) where an exact chain applies (else None), and the
    one-step backward gain chi (None where not derived, module docstring)."""
    row: int
    module: str
    label: str
    cls: str
    threshold: float
    beta: float
    reset: str
    surrogate: str
    rate: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    p_silent: float | None
    chi: float | None


@dataclass
class InitReport:
    """What :func:`initialize_` did and what the theory predicts (module docstring)."""
    init: str
    network: object
    profile: object
    layers: list
    neurons: list
    streams: list                 # (label, predicted mean per step) per Profile.stream row
    trainability: object | None
    depth: int
    blocks: int
    unpaired: list
    min_width: int | None
    critical_threshold: float
    translation: object = None
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    _bias: str = field(default="zero", repr=False)

    def redraw_(self, generator=None) -> "InitReport":
        """Draw the model's weights again from the same description (a fresh network of the same
        laws: biases and batch norms as initialize_ set them); returns self, whose predictions hold
        for every draw. For several seeds of one initialisation without translating again."""
        if self.translation is None:
            raise ValueError("this report has no translation to draw from")
        _apply(self.translation, self._bias, self.init, generator)
        return self

    def rows(self) -> list[dict]:
        """One dict per neuron layer and step (rate, mem_var, ...) for plotting or a DataFrame."""
        out = []
        for n in self.neurons:
            for t in range(len(n.rate)):
                out.append({"row": n.row, "module": n.module, "step": t + 1, "rate": float(n.rate[t]),
                            "mem_mean": float(n.mem_mean[t]), "mem_var": float(n.mem_var[t]),
                            "p_silent": n.p_silent, "chi": n.chi})
        return out

    def text(self) -> str:
        T = self.network.T
        lines = [f"initialize_: init={self.init!r}, {self.depth} weight layers, {len(self.neurons)} neuron layers, "
                 f"T = {T}, input {self.network.input} ({self.network.encoding.kind})",
                 f"{'weight layer':<28}{'kind':<8}{'fan_in':>7}{'fan_out':>8}{'std':>10}{'gain':>7}  feeds"]
        for r in self.layers:
            lines.append(f"{r.module[-28:]:<28}{r.kind:<8}{r.fan_in:>7}{r.fan_out:>8}{r.std:>10.4g}{r.gain:>7.3g}  "
                         f"{r.neuron or '-'}")
        lines.append(f"{'neuron layer':<28}{'class':<10}{'rate t=1':>9}{'rate':>8}{'mem_var t=1':>12}{'mem_var':>9}"
                     f"{'P(silent)':>10}{'chi':>8}  surrogate")
        for n in self.neurons:
            p = "n/a" if n.p_silent is None else f"{n.p_silent:.3g}"
            c = "n/a" if n.chi is None else f"{n.chi:.3f}"
            lines.append(f"{n.module[-28:]:<28}{n.cls:<10}{n.rate[0]:>9.4f}{np.mean(n.rate):>8.4f}{n.mem_var[0]:>12.4f}"
                         f"{np.mean(n.mem_var):>9.4f}{p:>10}{c:>8}  {n.surrogate}")
        for label, mean in self.streams:
            lines.append(f"stream {label}: mean per step {np.array2string(np.asarray(mean), precision=4)}")
        lines.append("rate, mem_var: mean over the T steps (t=1: the first step); mean field at infinite width")
        chis = [n.chi for n in self.neurons if n.chi is not None]
        if chis and len(chis) == len(self.neurons) and not self.blocks:
            lines.append(f"backward gain over the stack: prod chi = {float(np.prod(chis)):.3g}")
        tr = self.trainability
        if tr is not None:
            if tr.regime == "residual":
                lines.append(f"trainability ({tr.regime}): xi_c = {tr.xi_c:.3g} blocks, predicted trainable depth "
                             f"6 xi_c = {tr.depth:.3g} blocks (this model: {self.blocks})")
            elif np.isfinite(tr.xi_c):
                lines.append(f"trainability ({tr.regime}): xi_c = {tr.xi_c:.3g}, xi_transient = {tr.xi_transient:.3g}; "
                             f"predicted trainable depth 4 xi_transient = {tr.depth_transient:.3g} weight layers "
                             f"(6 xi_c = {tr.depth:.3g}; this model: {self.depth})")
            else:
                lines.append(f"trainability ({tr.regime}): not predicted ({'; '.join(tr.notes)})")
        if self.min_width is not None:
            lines.append(f"theory.min_width({self.depth}) = {self.min_width} (99 % survival)")
        if self.unpaired:
            lines.append(f"unpaired (left as they were): {', '.join(self.unpaired)}")
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    __str__ = text


# ---------------------------------------------------------------------------------------------
# predictions shared with diagnose
# ---------------------------------------------------------------------------------------------

def _input_second(translation, profile, name):
    """E[x^2] at step 1 of what weight layer ``name`` reads (None if not known)."""
    source = translation.reads.get(name)
    if source is None:
        return None
    if source[0] == "input":
        encoding = translation.network.encoding
        return encoding.rate if encoding.spikes else encoding.std ** 2
    return float(profile.rate[translation.neuron_rows + source[1], 0])


def backward_gains(translation, profile, scales=None) -> list:
    """Per neuron row, the one-step chi of the module docstring (None where not derived);
    ``scales``: surrogate scales to use instead of the neurons' own (a list, None entries kept)."""
    entries = {name: entry for (name, _), entry in zip(translation.weights, translation.network.plan)}
    bns = {name: value for name, _, value in translation.batch_norms}
    out = []
    for i, (spec, feed) in enumerate(zip(translation.neurons, translation.feeds)):
        row = translation.neuron_rows + i
        if spec.surrogate is None or feed is None or entries[feed[0]].std is None:
            out.append(None)
            continue
        name, scale = spec.surrogate
        if scales is not None and scales[i] is not None:
            scale = scales[i]
        theta = spec.lif.threshold
        q = float(profile.mem_var[row, 0])
        weight_name, bn_name = feed
        entry = entries[weight_name]
        if bn_name is None:
            out.append(float(theory.chi(name, entry.std, entry.fan_in, theta, q=q, scale=scale)) if entry.std > 0
                       else 0.0)
            continue
        bn = bns[bn_name]
        second = _input_second(translation, profile, weight_name)
        if second is None or second <= 0 or bn.weight == 0:
            out.append(None if second is None else 0.0)
            continue
        out.append(float(theory.chi(name, abs(bn.weight) / math.sqrt(second), 1, theta - bn.bias,
                                    q=bn.weight ** 2, scale=scale)))
    return out


def predictions(translation, *, samples=20000, seed=0):
    """(Profile, notes): the mean field of the translation's network, or a NaN Profile-like
    answer with a note when the theory refuses the description."""
    try:
        return theory.mean_field(translation.network, samples=samples, seed=seed), []
    except ValueError as exc:
        return None, [f"no mean-field prediction: {exc}"]


def _p_silent(net):
    if not net.plain or not all(isinstance(e.law, Gaussian) for e in net.plan):
        return None
    one_step = theory.Network(net.layers, input=net.input, T=1, encoding=net.encoding)
    return theory.spike_count(one_step).silent


# ---------------------------------------------------------------------------------------------
# the near-identity design of residual SEW blocks
# ---------------------------------------------------------------------------------------------

def _near_identity(make, budget, samples, seed):
    """(translation, profile, gains, notes) of the near-identity design (module docstring): one
    walk with snn_bridge.translate.BlockGain before every SEW-ADD block's last neuron solves the
    gains in execution order; the description with those gains is walked again for the report."""
    design = Design(budget=budget, samples=min(samples, 8000), seed=seed)
    translation = make({}, design)
    kinds = {(kind, connect) for kind, connect, *_ in translation.block_last}
    if not translation.blocks or kinds not in ({("sew", "add")}, {("ms", None)}):
        raise ValueError(f"residual='near_identity' designs SEW-ADD blocks (the sew_add rule of "
                         f"theory.regimes.residual) or MS blocks, one kind per model; this model has "
                         f"{translation.blocks} residual block(s) of kinds {sorted(str(k) for k in kinds)}")
    if any(last is None for _, _, _, last, _ in translation.block_last):
        raise ValueError("residual='near_identity': a block's branch does not end with a weight layer or batch norm "
                         "right before its neuron")
    theory.mean_field(translation.network, samples=samples, seed=seed)
    gains = dict(design.solved)
    translation = make(gains, None)
    profile = theory.mean_field(translation.network, samples=samples, seed=seed)
    target = next(iter(design.targets.values()))
    if kinds == {("ms", None)}:
        return translation, profile, gains, [
            f"near_identity: {len(gains)} MS blocks, each branch's current designed to the variance budget V_0 / N = "
            f"{target:.4g} (V_0 the variance of the stream entering the first block)"]
    notes = [f"near_identity: {len(gains)} SEW-ADD blocks, each designed to fire at budget r_0 / N = {target:.4g} "
             f"(r_0 = {float(np.mean(profile.stream[0])):.4g}, the stream entering the first block)"]
    if len(gains) >= 20 and any(m == 1.0 for _, _, m, _, _ in translation.block_last):
        notes.append("near_identity with branch multiplier 1: each block fires at r_0 / N, far in its current's tail, "
                     "and a stream above the design (finite width) raises every later block's rate, so the excess "
                     "grows over the blocks (measured: 100 dense blocks of width 1000, T = 4: the stream reached 3.4 "
                     "instead of 0.26); blocks written x + a * branch(x) with a = 1/sqrt(N), as the toolkit's residual "
                     "trainer has them, kept it (width 256: 0.266 against 0.263; tests/torch/test_bridge_models.py)")
    return translation, profile, gains, notes


# ---------------------------------------------------------------------------------------------
# initialize_
# ---------------------------------------------------------------------------------------------

def _encoding(encoding, input_std, input_rate):
    if isinstance(encoding, Encoding):
        return encoding
    validation.choice(encoding, "encoding", ("gaussian", "static", "bernoulli"))
    return Encoding(encoding, std=input_std, rate=input_rate)


def _law_text(law):
    if isinstance(law, Gaussian):
        return "normal"
    if isinstance(law, Uniform):
        return "uniform"
    return type(law).__name__.lower()


def initialize_(model, init="micheli", *, input_shape=None, T=1, encoding="gaussian", input_std=1.0,
                input_rate=None, call="auto", bias="zero", bn_weight=1.0, bn_bias=0.0, residual="plain", budget=1.0,
                chi_one=False, generator=None, unpaired="error", trainable_depth=True, warn=True, samples=20000,
                seed=0, **params) -> InitReport:
    """Initialise every weight layer (and batch-norm affine) of ``model`` from the toolkit's
    description of it, in place, and return an :class:`InitReport` (module docstring).

    model: an snnTorch or SpikingJelly model (anything :func:`snn_bridge.translate.translate`
    reads). init: a registry name (``theory.inits.names()``), ``params`` its parameters (e.g.
    target_var); T, the network's steps (initialisers that take T or a reset get the network's and
    the neuron's). input_shape: per-sample shape (inferred for a model beginning with a Linear).
    encoding: "gaussian" (i.i.d. N(0, input_std^2) per step: currents into a first neuron, or
    values into a first weight layer), "static" (one draw repeated: static images; input_std^2 =
    E[x^2] of the pixels), "bernoulli" (input spikes at input_rate), or a theory.Encoding.
    call: "auto", "step", "sequence", "static" (snn_bridge.trace).

    bias: "zero" (default; the derivations have no bias), "leave" (kept; the description uses
    each layer's E[b^2]) or "init" (pytorch_default's U(-1/sqrt(fan_in), 1/sqrt(fan_in)), zero for
    the other entries). bn_weight, bn_bias: every batch norm's affine values (tdBN: bn_weight =
    alpha * threshold). residual: "plain" or "near_identity" (SEW-ADD blocks, ``budget``).
    chi_one: set each neuron's surrogate scale for chi = 1. unpaired: "error" or "list" (weight
    layers with no neuron after them are left untouched). trainable_depth: run theory.trainability
    (about a second for a plain stack). samples, seed: the mean field's paths.
    """
    validation.choice(init, "init", inits.names())
    law = Init(init, **params)
    validation.choice(bias, "bias", BIAS_OPTIONS)
    validation.choice(residual, "residual", RESIDUAL_OPTIONS)
    validation.choice(unpaired, "unpaired", UNPAIRED_OPTIONS)
    bn_weight = float(validation.finite(bn_weight, "bn_weight"))
    bn_bias = float(validation.finite(bn_bias, "bn_bias"))
    budget = float(validation.positive(budget, "budget"))
    encoding = _encoding(encoding, input_std, input_rate)
    recording = record(model, input_shape, call)

    def bias_var(name, module):
        b = getattr(module, "bias", None)
        if b is None or name in policy.unpaired:
            return 0.0 if b is None else float(b.detach().double().pow(2).mean())
        if bias == "leave":
            return float(b.detach().double().pow(2).mean())
        if bias == "init" and init == "pytorch_default":
            return 1.0 / (3.0 * fans(module.weight)[0])
        return 0.0

    def weights(name, module):
        if name in policy.unpaired:
            return Gaussian(math.sqrt(float(module.weight.detach().double().pow(2).mean())))
        return law

    def batch_norm(name, module):
        return bn_weight, bn_bias

    policy = Policy(weights, bias_var, batch_norm, initialised=lambda name: name not in policy.unpaired)

    def make(gains, design=None):
        policy.gains = dict(gains)
        policy.design = design
        return translate(model, recording.input_shape, T, encoding, policy=policy, call=recording.call,
                         unpaired=unpaired, recording=recording)

    notes = []
    if residual == "near_identity":
        translation, profile, gains, design_notes = _near_identity(make, budget, samples, seed)
        notes += design_notes
    else:
        translation = make({})
        profile = None
    notes = list(translation.notes) + notes
    net = translation.network
    _apply(translation, bias, init, generator)
    if profile is None:
        profile, more = predictions(translation, samples=samples, seed=seed)
        notes += more
    report = _report(model, init, translation, profile, params, chi_one, trainable_depth, warn, notes)
    report._bias = bias
    return report


def _apply(translation, bias, init, generator):
    """Draw the weights and set biases and batch norms from the description (module docstring)."""
    net = translation.network
    for (name, module), entry in zip(translation.weights, net.plan):
        if name in translation.unpaired:
            continue
        scale = entry.layer.gain / translation.compensation.get(name, 1.0)
        law = entry.law
        if isinstance(law, Stable):
            raise ValueError(f"module {name!r}: alpha-stable weights are not drawn by the bridge")
        spec = law.spec()
        if spec["dist"] == "normal":
            spec = {"dist": "normal", "std": spec["std"] * scale}
        else:
            spec = {"dist": "uniform", "low": spec["low"] * scale, "high": spec["high"] * scale}
        try:
            draw_(module.weight, spec, generator)
        except ValueError as exc:
            raise ValueError(f"module {name!r}: {exc}") from exc
        b = getattr(module, "bias", None)
        if b is not None:
            with torch.no_grad():
                if bias == "zero" or (bias == "init" and init != "pytorch_default"):
                    b.zero_()
                elif bias == "init":
                    bound = 1.0 / math.sqrt(fans(module.weight)[0])
                    b.uniform_(-bound, bound, generator=generator)
    for name, module, value in translation.batch_norms:
        factor = translation.compensation.get(name, 1.0)
        if not module.affine:
            if value.weight != 1.0 or value.bias != 0.0:
                raise ValueError(f"module {name!r}: a batch norm without affine parameters cannot take weight "
                                 f"{value.weight:g}, bias {value.bias:g}")
            continue
        with torch.no_grad():
            module.weight.fill_(value.weight / factor)
            module.bias.fill_(value.bias / factor)


def _report(model, init, translation, profile, params, chi_one, trainable_depth, warn, notes) -> InitReport:
    net = translation.network
    T = net.T
    messages = []
    feeds = {feed[0]: spec.name for spec, feed in zip(translation.neurons, translation.feeds) if feed is not None}
    layers = []
    for (name, module), entry in zip(translation.weights, net.plan):
        fan_in, fan_out = fans(module.weight)
        std = float(module.weight.detach().double().std()) if name in translation.unpaired else \
            (entry.std / translation.compensation.get(name, 1.0) if entry.std is not None else float("nan"))
        layers.append(LayerReport(name, type(module).__name__, fan_in, fan_out, _law_text(entry.law), std,
                                  entry.layer.gain, entry.layer.bias_var, feeds.get(name)))
    nan = np.full(T, np.nan)
    silent = None
    if profile is not None:
        try:
            silent = _p_silent(net)
        except ValueError as exc:
            notes.append(f"P(silent): {exc}")
    if silent is None:
        notes.append("P(silent): the exact chain applies to plain dense stacks (Linear and one kind of neuron) only")
    scales = None
    if chi_one and profile is not None:
        scales = _chi_one(translation, profile, notes)
    chis = backward_gains(translation, profile, scales) if profile is not None else [None] * len(translation.neurons)
    neurons = []
    for i, spec in enumerate(translation.neurons):
        row = translation.neuron_rows + i
        if scales is not None and scales[i] is not None:
            set_surrogate_scale(spec, scales[i])
            surrogate = f"{spec.surrogate[0]}({scales[i]:.4g}), set for chi = 1"
        else:
            surrogate = spec.surrogate_text
        label = profile.labels[row] if profile is not None and profile.labels else f"LIF {i}"
        neurons.append(NeuronReport(
            row=row, module=spec.name, label=label, cls=spec.cls, threshold=spec.lif.threshold, beta=spec.lif.beta,
            reset=spec.lif.reset, surrogate=surrogate,
            rate=profile.rate[row] if profile is not None else nan, mem_mean=profile.mem_mean[row] if profile is not None else nan,
            mem_var=profile.mem_var[row] if profile is not None else nan,
            p_silent=None if silent is None else float(silent[row]), chi=chis[i]))
    if any(c is None for c in chis):
        notes.append("chi: one step, for a neuron fed by a weight layer or weight layer + batch norm reading spikes or "
                     "the input (n/a: pooling, residual streams, unknown surrogates)")
    streams = []
    if profile is not None and profile.stream is not None:
        streams = [(label, profile.stream[j]) for j, (label, *_rest) in enumerate(translation.streams)]
    theta_c = float(theory.critical_threshold(float(params.get("target_var", 1.0))))
    for theta in sorted({s.lif.threshold for s in translation.neurons}):
        if theta > theta_c:
            messages.append(f"threshold {theta:g} is above theory.critical_threshold() = {theta_c:.4f}: the paper's "
                            f"fixed point is unstable and activity runs away from it")
    needed = _min_width(net, init, params, messages, notes) if profile is not None else None
    tr = None
    if trainable_depth:
        tr = _trainability(translation, notes)
        if tr is not None:
            if tr.regime == "residual" and np.isfinite(tr.depth) and translation.blocks > tr.depth:
                messages.append(f"the model has {translation.blocks} residual blocks, more than the predicted trainable "
                                f"depth 6 xi_c = {tr.depth:.3g} blocks")
            elif tr.regime != "residual":
                rule = tr.depth_transient if np.isfinite(tr.depth_transient) else tr.depth
                if np.isfinite(rule) and net.depth > rule:
                    messages.append(f"the model has {net.depth} weight layers, more than the predicted trainable depth "
                                    f"{rule:.3g} (theory.trainability: 4 xi_transient, docs/theory.md §9)")
    if warn:
        for message in messages:
            warnings.warn(message, stacklevel=3)
    return InitReport(init=init, network=net, profile=profile, layers=layers, neurons=neurons, streams=streams,
                      trainability=tr, depth=net.depth, blocks=translation.blocks, unpaired=list(translation.unpaired),
                      min_width=needed, critical_threshold=theta_c, translation=translation, notes=notes,
                      warnings=messages)


def _chi_one(translation, profile, notes):
    entries = {name: entry for (name, _), entry in zip(translation.weights, translation.network.plan)}
    scales = []
    for i, (spec, feed) in enumerate(zip(translation.neurons, translation.feeds)):
        if spec.surrogate is None or feed is None or feed[1] is not None or spec.surrogate[0] == "straight_through":
            scales.append(None)
            continue
        entry = entries[feed[0]]
        row = translation.neuron_rows + i
        q = float(profile.mem_var[row, 0])
        scale = theory.chi_one_scale(spec.surrogate[0], entry.std, entry.fan_in, spec.lif.threshold, q=q) \
            if entry.std and q > 0 else None
        scales.append(None if scale is None else float(scale))
    if any(s is None for s in scales):
        notes.append("chi_one: scales set where chi is derived for a weight layer right before the neuron (one step); "
                     "others keep theirs")
    return scales


def _min_width(net, init, params, messages, notes):
    if not net.plain or net.encoding.spikes:
        return None
    neuron = net.neuron
    widths = net.widths[1:]
    max_width = max(8 * max(widths), 1024)
    try:
        needed = int(theory.min_width(net.depth, neuron.threshold, max_width=max_width, init=init, beta=neuron.beta,
                                      q0=net.encoding.std ** 2, **params))
    except (ValueError, TypeError) as exc:
        notes.append(f"min_width: {exc}")
        return None
    narrow = [w for w in widths if w < needed]
    if narrow:
        messages.append(f"{len(narrow)} layer(s) narrower than theory.min_width({net.depth}, threshold="
                        f"{neuron.threshold:g}, init={init!r}) = {needed}: the last layer may be silent")
    return needed


def _trainability(translation, notes):
    if translation.own_blocks:
        notes.append("trainability: blocks with a layer path on the shortcut are not in theory.trainability")
        return None
    spec = next((s for s in translation.neurons if s.surrogate is not None), None)
    surrogate, scale = spec.surrogate if spec is not None else ("atan", 2.0)
    try:
        return theory.trainability(translation.network, surrogate=surrogate, scale=scale)
    except ValueError as exc:
        notes.append(f"trainability: {exc}")
        return None
