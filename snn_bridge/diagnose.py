"""``diagnose``: run a model over T steps and put every neuron layer's measured rate and membrane
statistics, and every residual stream, beside the toolkit's theory for the same model.

The model is translated with its current values (:func:`snn_bridge.translate.translate`: each
weight layer N(0, E[w^2]) with its E[b^2], batch norms' affine values, the neurons' dynamics) and
the input's encoding read off ``inputs``; the theory column is ``theory.mean_field`` of that
description (infinite width, float64). Measured (float64 statistics of the model's own values,
per step t = 1..T, over the batch and every unit of the layer, convolution positions included):

    rate[i, t]     mean spike of neuron layer i at step t
    mem_mean, mem_var[i, t]  mean and variance of the membrane as compared with the threshold:
                   snnTorch Leaky: ``mem`` after the step (reset_delay: before the next reset);
                   SpikingJelly: H[t] = charge(V[t-1], X[t]) (its pre-reset membrane, from the
                   node's post-reset V and its input X; snn_bridge.neurons.charge)
    rate_se[i, t]  standard error of rate[i, t] over the batch's samples (one network draw)
    stream[j, t]   residual networks: the mean of the stream entering the first block (j = 0) and
                   after each block, read where the model uses it (a layer's input or output)

The model runs under ``torch.no_grad()`` from rest; its batch-norm running statistics and neuron
states are restored afterwards. Batch norm must be in training mode (batch statistics, as the
theory models it): a model in eval mode is refused with a ValueError.
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
from theory import Encoding

from .initialize import predictions
from .neurons import charge
from .trace import preserved_state
from .translate import UNPAIRED_OPTIONS, record, translate

__all__ = ["diagnose", "Diagnosis", "measure"]


@dataclass
class Diagnosis:
    """Measured and predicted per-neuron-layer, per-step statistics (arrays (layers, T)), and the
    residual streams (arrays (streams, T)); ``predicted_*`` are NaN where the theory gives no
    answer (see notes). ``dead[i]``: layer i emitted no spike at any step."""
    modules: list
    labels: list
    rate: np.ndarray
    rate_se: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    predicted_rate: np.ndarray
    predicted_rate_se: np.ndarray
    predicted_mem_mean: np.ndarray
    predicted_mem_var: np.ndarray
    dead: np.ndarray
    stream_labels: list = field(default_factory=list)
    stream: np.ndarray | None = None
    predicted_stream: np.ndarray | None = None
    notes: list = field(default_factory=list)
    translation: object = None
    profile: object = None

    @property
    def steps(self) -> int:
        return self.rate.shape[1]

    def rows(self) -> list[dict]:
        """One dict per (layer, step), ready for plotting or a DataFrame."""
        out = []
        for i, name in enumerate(self.modules):
            for t in range(self.steps):
                out.append({"layer": i, "module": name, "label": self.labels[i], "step": t + 1,
                            "rate": float(self.rate[i, t]), "rate_theory": float(self.predicted_rate[i, t]),
                            "mem_var": float(self.mem_var[i, t]),
                            "mem_var_theory": float(self.predicted_mem_var[i, t]), "dead": bool(self.dead[i])})
        return out

    def text(self, per_step: bool = False) -> str:
        """Table: per neuron layer the first step and the mean over T of rate and membrane variance,
        measured | theory (``per_step=True``: one line per layer and step), then the streams."""
        lines = [f"diagnose: T = {self.steps}; measured | theory (mean field, infinite width)",
                 f"{'neuron layer':<28}{'step':>5}{'rate':>9}{'theory':>9}{'mem_var':>10}{'theory':>10}"]

        def line(name, step, r, rt, v, vt, flag):
            return f"{name[-28:]:<28}{step:>5}{r:>9.4f}{rt:>9.4f}{v:>10.4f}{vt:>10.4f}{flag}"
        for i, name in enumerate(self.modules):
            flag = "  DEAD" if self.dead[i] else ""
            steps = range(self.steps) if per_step else [0]
            for t in steps:
                lines.append(line(name, str(t + 1), self.rate[i, t], self.predicted_rate[i, t], self.mem_var[i, t],
                                  self.predicted_mem_var[i, t], flag))
            if not per_step:
                lines.append(line("", "mean", self.rate[i].mean(), self.predicted_rate[i].mean(), self.mem_var[i].mean(),
                                  self.predicted_mem_var[i].mean(), flag))
        if self.stream is not None:
            lines.append(f"{'stream (mean)':<28}{'step':>5}{'measured':>9}{'theory':>9}")
            for j, label in enumerate(self.stream_labels):
                lines.append(f"{label[-28:]:<28}{'mean':>5}{np.nanmean(self.stream[j]):>9.4f}"
                             f"{np.mean(self.predicted_stream[j]):>9.4f}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    __str__ = text

    def plot(self, figure=None):
        """A per-layer figure (matplotlib Figure): time-averaged rate and membrane variance of every
        neuron layer, measured (dots) and theory (line), and the residual stream's mean; one thin
        line per step for the theory's rate. Returns the Figure."""
        from matplotlib.figure import Figure
        panels = 3 if self.stream is not None else 2
        fig = figure if figure is not None else Figure(figsize=(4.2 * panels, 3.4), layout="constrained")
        axes = fig.subplots(1, panels)
        x = np.arange(len(self.modules))
        for ax, measured, theory_, name in ((axes[0], self.rate, self.predicted_rate, "rate"),
                                            (axes[1], self.mem_var, self.predicted_mem_var, "membrane variance")):
            for t in range(self.steps):
                ax.plot(x, theory_[:, t], color="0.75", lw=0.8, zorder=1)
            ax.plot(x, theory_.mean(axis=1), color="C0", lw=1.8, label="theory (mean over T)", zorder=2)
            ax.plot(x, measured.mean(axis=1), "o", color="C3", ms=4, label="measured (mean over T)", zorder=3)
            ax.set_xlabel("neuron layer (execution order)")
            ax.set_ylabel(name)
            if name == "rate":
                ax.set_ylim(bottom=0)
        axes[0].legend(fontsize=7)
        axes[0].set_title("grey: theory per step", fontsize=8)
        if self.stream is not None:
            ax = axes[2]
            j = np.arange(len(self.stream_labels))
            ax.plot(j, self.predicted_stream.mean(axis=1), color="C0", lw=1.8, label="theory")
            ax.plot(j, np.nanmean(self.stream, axis=1), "o", color="C3", ms=4, label="measured")
            ax.set_xlabel("residual block (0: the stream entering block 1)")
            ax.set_ylabel("stream mean (mean over T)")
            ax.legend(fontsize=7)
        return fig


def _encoding(x, static, notes):
    """The theory's encoding of inputs x (T, B, ...) float64."""
    binary = bool(((x == 0) | (x == 1)).all())
    if binary and not static:
        notes.append(f"input: i.i.d. Bernoulli spikes at rate {float(x.mean()):.4g}")
        return Encoding("bernoulli", rate=float(x.mean()))
    second = float(x.pow(2).mean())
    mean, std = float(x.mean()), float(x.std())
    kind = "static" if static else "gaussian"
    if abs(mean) > 0.1 * max(std, 1e-12):
        notes.append(f"input: mean {mean:.3g}, std {std:.3g}; the theory's input is zero-mean {kind} with std "
                     f"sqrt(E[x^2]) = {math.sqrt(second):.3g} (exact for a first weight layer's current variance at "
                     f"infinite width; the inputs' shared offset and their correlations across units are not modelled)")
    return Encoding(kind, std=math.sqrt(second))


def measure(model, translation, recording, run, T):
    """Run ``run()`` (the model over T steps) with hooks and return the measured arrays
    (rate, rate_se, mem_mean, mem_var, spikes_total, stream) of :class:`Diagnosis`."""
    neurons = translation.neurons
    L = len(neurons)
    rate, rate_se = np.zeros((L, T)), np.zeros((L, T))
    mem_mean, mem_var = np.zeros((L, T)), np.zeros((L, T))
    total = np.zeros(L)
    calls = recording.trace.calls
    seen = [0] * L
    S = len(translation.streams)
    stream = np.full((S, T), np.nan)
    stream_seen = [0] * S
    previous = [None] * L
    inputs = [None] * L

    def steps_of(name):
        return T if recording.call == "sequence" and calls.get(name, 1) == 1 else 1

    def split(tensor, name):
        return _per_step(tensor, steps_of(name))

    def neuron_pre(i):
        def hook(module, args):
            inputs[i] = args[0].detach().double()
        return hook

    def neuron_post(i):
        spec = neurons[i]

        def hook(module, args, output):
            spk = output[0] if isinstance(output, tuple) else output
            s = split(spk, spec.name)                           # (steps, B, units)
            if spec.library == "snntorch":
                mem = output[1] if isinstance(output, tuple) and len(output) > 1 else module.mem
                h = split(mem, spec.name)
            else:
                x = split(inputs[i], spec.name)
                v = previous[i] if previous[i] is not None else torch.zeros_like(x[0])
                if s.shape[0] > 1:
                    after = _per_step(module.v_seq, s.shape[0])          # post-reset V[t], (steps, B, units)
                else:
                    after = _per_step(torch.as_tensor(module.v).expand_as(spk), 1)
                hs = []
                for t in range(s.shape[0]):
                    hs.append(charge(spec, v, x[t]))
                    v = after[t]
                previous[i] = v
                h = torch.stack(hs)
            for k in range(s.shape[0]):
                t = seen[i] + k
                if t >= T:
                    continue
                per_sample = s[k].mean(dim=1)
                rate[i, t] = float(per_sample.mean())
                rate_se[i, t] = float(per_sample.std() / math.sqrt(per_sample.numel())) if per_sample.numel() > 1 else 0.0
                mem_mean[i, t] = float(h[k].mean())
                mem_var[i, t] = float(h[k].var(unbiased=False))
                total[i] += float(s[k].sum())
            seen[i] += s.shape[0]
        return hook

    def stream_hook(j, name, where):
        def record_value(tensor):
            values = split(tensor, name)
            for k in range(values.shape[0]):
                t = stream_seen[j] + k
                if t < T:
                    stream[j, t] = float(values[k].mean())
            stream_seen[j] += values.shape[0]
        if where == "output":
            return "post", lambda module, args, output: record_value(output[0] if isinstance(output, tuple) else output)
        return "pre", lambda module, args: record_value(args[0])

    modules = dict(model.named_modules())
    modules["<model>"] = model
    handles = []
    stored = []
    try:
        for i, spec in enumerate(neurons):
            if spec.library == "spikingjelly":
                handles.append(spec.module.register_forward_pre_hook(neuron_pre(i)))
                if steps_of(spec.name) > 1:
                    stored.append((spec.module, spec.module.store_v_seq))
                    spec.module.store_v_seq = True
            handles.append(spec.module.register_forward_hook(neuron_post(i)))
        for j, (label, where, name) in enumerate(translation.streams):
            if name is None:
                continue
            kind, hook = stream_hook(j, name, where)
            module = modules[name]
            handles.append(module.register_forward_pre_hook(hook) if kind == "pre" else module.register_forward_hook(hook))
        with preserved_state(model), torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
        for module, value in stored:
            module.store_v_seq = value
    if any(n < T for n in seen):
        raise ValueError(f"the model's neurons ran {min(seen)} steps, not T = {T}: check call and the inputs' shape")
    return rate, rate_se, mem_mean, mem_var, total, (stream if S else None)


def _per_step(tensor, steps):
    """(steps, batch, units) float64 view of a layer's tensor: ``steps`` leading steps (T, B, ...)
    or (T B, ...), or one step (B, ...)."""
    values = tensor.detach().double()
    if steps == 1:
        return values.reshape(1, values.shape[0], -1)
    if values.shape[0] == steps:
        return values.reshape(steps, values.shape[1], -1)
    return values.reshape(steps, values.shape[0] // steps, -1)


def diagnose(model, inputs, steps=None, *, call="auto", unpaired="error", verbose=True, samples=20000, seed=0,
             warn=True, predict=True) -> Diagnosis:
    """Run ``model`` over T steps from rest, measure every neuron layer's per-step rate and
    membrane statistics (and residual streams), and put the theory beside them (module docstring).

    inputs: a tensor (T, batch, ...) of T steps (``steps=None``), or one step's input (batch, ...)
    repeated ``steps`` times (a static input). How the model is called (``call``, default "auto",
    snn_bridge.trace): "step" calls ``model(inputs[t])`` per step, "sequence" calls
    ``model(inputs)`` once (multi-step SpikingJelly models, forwards that loop over T), "static"
    calls ``model(one step)`` once for a forward that repeats its input itself (give
    ``steps`` = its number of steps). ``unpaired`` as in initialize_ ("list": measure anyway).
    ``verbose`` prints :meth:`Diagnosis.text`; ``predict=False`` measures only (the theory columns
    NaN: a quick look during training). Returns a :class:`Diagnosis` (``.plot()`` draws it).
    """
    validation.choice(unpaired, "unpaired", UNPAIRED_OPTIONS)
    if not isinstance(inputs, torch.Tensor):
        raise ValueError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    notes = []
    if steps is None:
        if inputs.dim() < 2:
            raise ValueError(f"inputs must have shape (T, batch, ...) when steps is None, got {tuple(inputs.shape)}")
        T, static = int(inputs.shape[0]), False
        shape = tuple(inputs.shape[2:])
        x = inputs.detach().double()
        static = bool(T > 1 and all(torch.equal(inputs[0], inputs[t]) for t in range(1, T)))
    else:
        T = int(validation.positive_int(steps, "steps"))
        static = True
        shape = tuple(inputs.shape[1:])
        if warn and inputs.dim() >= 3 and int(inputs.shape[0]) == T and call != "static":
            warnings.warn(f"inputs' first axis has length steps = {T}: with steps given, inputs is ONE step's input "
                          f"repeated {T} times; if that axis is time, call diagnose(model, inputs) without steps",
                          stacklevel=2)
        x = inputs.detach().double().unsqueeze(0)
    if T < 1:
        raise ValueError("inputs must hold at least one step")
    if not shape:
        raise ValueError(f"inputs must have a batch axis and a per-sample shape, got {tuple(inputs.shape)}")
    recording = record(model, shape, call)
    encoding = _encoding(x, static, notes)
    translation = translate(model, shape, T, encoding, call=recording.call, unpaired=unpaired, recording=recording)
    notes = translation.notes + notes
    for name, module, _ in translation.batch_norms:
        if not module.training:
            raise ValueError(f"module {name!r} (batch norm) is in evaluation mode (running statistics); the theory models "
                             f"batch statistics: call model.train() before diagnose (its running statistics are restored "
                             f"afterwards)")
    if recording.call == "static" and steps is None:
        raise ValueError(f"the model repeats one step's input itself (call 'static', {recording.steps} steps): pass one "
                         f"step's input and steps={recording.steps}")

    def run():
        if recording.call == "step":
            for t in range(T):
                model(inputs if steps is not None else inputs[t])
        elif recording.call == "sequence":
            model(inputs if steps is None else inputs.unsqueeze(0).expand(T, *inputs.shape))
        else:
            model(inputs)

    try:
        rate, rate_se, mem_mean, mem_var, total, stream = measure(model, translation, recording, run, T)
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"the model failed on the inputs (call {recording.call!r}): {exc}") from exc
    profile, more = predictions(translation, samples=samples, seed=seed) if predict else (None, [])
    notes += more
    first = translation.neuron_rows
    L = len(translation.neurons)
    nan = np.full((L, T), np.nan)
    if profile is not None:
        rows = slice(first, first + L)
        predicted = (profile.rate[rows], profile.rate_se[rows], profile.mem_mean[rows], profile.mem_var[rows])
        labels = list(profile.labels[rows]) if profile.labels else [f"LIF {i}" for i in range(L)]
        predicted_stream = profile.stream
    else:
        predicted = (nan, nan, nan, nan)
        labels = [f"LIF {i}" for i in range(L)]
        predicted_stream = None if stream is None else np.full_like(stream, np.nan)
    if any(spec.library == "spikingjelly" for spec in translation.neurons):
        notes.append("SpikingJelly fires at H >= threshold, the theory at u > threshold (equal for continuous currents)")
    result = Diagnosis(modules=[s.name for s in translation.neurons], labels=labels, rate=rate, rate_se=rate_se,
                       mem_mean=mem_mean, mem_var=mem_var, predicted_rate=predicted[0], predicted_rate_se=predicted[1],
                       predicted_mem_mean=predicted[2], predicted_mem_var=predicted[3], dead=total == 0,
                       stream_labels=[label for label, *_ in translation.streams], stream=stream,
                       predicted_stream=predicted_stream, notes=notes, translation=translation, profile=profile)
    if verbose:
        print(result.text())
    return result
