"""PyTorch / snnTorch bridge: initialise and diagnose a user's own model with the toolkit's theory.

Optional module (``pip install ".[torch]"``): ``import theory`` never imports it, and importing it
without PyTorch raises an ImportError naming the extra. snnTorch is imported only by
:func:`initialize_` and :func:`diagnose`; the ``torch.nn.init``-style functions need torch alone.

Conventions. A torch weight has shape (fan_out, fan_in, *kernel) (Linear: (out, in); Conv:
(c_out, c_in / groups, k_1, ...)): the transpose of the toolkit's (fan_in, fan_out) matrices, so
``simulate.run_network`` takes ``linear.weight.T``. Fans are torch's own:

    fan_in = shape[1] * prod(kernel),   fan_out = shape[0] * prod(kernel)

The neuron is snnTorch's ``Leaky`` with ``reset_delay=True`` (its default), which is exactly the
model of docs/theory.md §1 (checked against snntorch/_neurons/leaky.py 0.9.0 and 1.0.0 and tested
spike for spike against ``simulate.run_network``):

    subtract: u[t] = beta u[t-1] + I[t] - theta s[t-1]
    zero:     u[t] = beta (1 - s[t-1]) u[t-1] + I[t]
    none:     u[t] = beta u[t-1] + I[t],            s[t] = [u[t] > theta]  (strict >)

Predictions are float64 (the theory); the torch model runs in its own dtype (float32 here).

- ``init_(tensor, name, ...)``: draws from registry entry ``name`` (theory.inits) in place.
- ``initialize_(model, init=...)``: pairs each Linear/Conv with the Leaky that follows it,
  initialises it for that neuron's threshold, beta and reset, and returns an :class:`InitReport`
  (one-step mean field, exact finite-width chain, surrogate backward gain chi).
- ``diagnose(model, inputs)``: runs the model over T steps with hooks and tabulates the measured
  per-layer, per-step rate and membrane variance beside the temporal mean field.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised by tests/torch/test_import_error.py
    raise ImportError(
        'snn_bridge needs PyTorch and snnTorch, the optional extra: pip install ".[torch]"'
    ) from exc

from theory import inits
import snn_validation as validation
from theory.chains.spike_count import min_width, spike_count_chain
from theory.core.gaussian import firing_probability
from theory.gradients.onestep import chi as chi_gain
from theory.meanfield.maps import critical_threshold, propagate
from theory.core.surrogates import surrogate_grad
from theory.meanfield.temporal import propagate_temporal

__all__ = ["fans", "init_", "micheli_normal_", "initialize_", "diagnose", "InitReport", "LayerReport",
           "Diagnosis", "read_surrogate"]

WEIGHT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# shape-only modules that leave every value unchanged (anything else between a weight layer and
# its neuron changes the statistics the theory predicts, so it is refused, never guessed)
PASSTHROUGH_TYPES = (nn.Flatten, nn.Unflatten, nn.Identity)
BIAS_OPTIONS = ("leave", "zero", "init")
UNPAIRED_OPTIONS = ("error", "list")
# snnTorch surrogate factory (snntorch.surrogate.<name>) -> (theory.core.surrogates name, closure
# variable holding the scale); the formulas and default scales are the same (theory/core/surrogates.py)
SNNTORCH_SURROGATES = {
    "atan": ("atan", "alpha"),
    "fast_sigmoid": ("fast_sigmoid", "slope"),
    "sigmoid": ("sigmoid", "slope"),
    "triangular": ("triangular", "threshold"),
    "straight_through_estimator": ("straight_through", None),
}


def _snntorch():
    try:
        import snntorch
    except ImportError as exc:
        raise ImportError('snn_bridge.initialize_/diagnose need snnTorch: pip install ".[torch]"') from exc
    return snntorch


# ---------------------------------------------------------------------------------------------
# torch.nn.init-style functions
# ---------------------------------------------------------------------------------------------

def fans(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a torch weight of shape (fan_out, fan_in, *kernel):
    fan_in = shape[1] * prod(kernel), fan_out = shape[0] * prod(kernel) (as torch.nn.init)."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() < 2:
        raise ValueError(f"tensor must have at least 2 dimensions (fan_out, fan_in, *kernel), "
                         f"got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    fan_in, fan_out = int(tensor.shape[1]) * receptive, int(tensor.shape[0]) * receptive
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"tensor must have fan_in >= 1 and fan_out >= 1, got shape {tuple(tensor.shape)}")
    return fan_in, fan_out


def init_(tensor, name, *, threshold=1.0, beta=0.0, generator=None, **params):
    """Fill ``tensor`` in place from registry entry ``name`` and return it (torch.nn.init style).

    w ~ N(0, std^2) or U(-sqrt(3) std, sqrt(3) std) as the entry says, with
    std = theory.inits.weight_std(name, fan_in, fan_out, threshold, beta, **params) and the fans of
    :func:`fans` (conv kernels: fan_in = c_in * k_1 * ... ). ``generator``: a torch.Generator for
    reproducible draws. Runs under torch.no_grad(); the draw is in the tensor's own dtype.
    """
    fan_in, fan_out = fans(tensor)
    if not tensor.is_floating_point():
        raise ValueError(f"tensor must have a floating dtype, got {tensor.dtype}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    spec = inits.distribution(name, fan_in, fan_out, threshold, beta, **params)
    if spec["dist"] not in ("normal", "uniform"):
        raise ValueError(f"name {name!r} draws {spec['dist']} weights, which init_ does not support (normal and "
                         "uniform only); draw them with theory.inits.sample_weights and copy them in")
    with torch.no_grad():
        if spec["dist"] == "uniform":
            tensor.uniform_(spec["low"], spec["high"], generator=generator)
        else:
            tensor.normal_(0.0, spec["std"], generator=generator)
    return tensor


def micheli_normal_(tensor, threshold=1.0, target_var=1.0, generator=None):
    """The paper's init in place: w ~ N(0, q* / (fan_in Q(theta / sqrt q*))), q* = target_var."""
    return init_(tensor, "micheli", threshold=threshold, generator=generator, target_var=target_var)


# ---------------------------------------------------------------------------------------------
# reading a model
# ---------------------------------------------------------------------------------------------

def read_surrogate(spike_grad):
    """(theory.core.surrogates name, scale) of an snnTorch surrogate closure, or None when unknown.

    snnTorch surrogates are closures ``snntorch.surrogate.<factory>(scale).<locals>.inner``; the
    five in :data:`SNNTORCH_SURROGATES` have the same formula and scaling in theory.core.surrogates.
    Others (spike_rate_escape, SFS, SSO, LSO, custom_surrogate, ...) return None: chi unknown."""
    qualname = getattr(spike_grad, "__qualname__", "")
    module = getattr(spike_grad, "__module__", "")
    factory = qualname.split(".<locals>")[0]
    if module != "snntorch.surrogate" or ".<locals>." not in qualname or factory not in SNNTORCH_SURROGATES:
        return None
    name, variable = SNNTORCH_SURROGATES[factory]
    if variable is None:
        return name, 1.0
    cells = dict(zip(spike_grad.__code__.co_freevars, spike_grad.__closure__ or ()))
    if variable not in cells:
        return None
    return name, float(cells[variable].cell_contents)


@dataclass(frozen=True)
class _Neuron:
    name: str
    module: object
    threshold: float
    beta: float
    reset: str
    reset_delay: bool
    surrogate: tuple | None      # (theory name, scale) or None
    surrogate_text: str


def _scalar(value, what, name):
    value = torch.as_tensor(value).detach()
    if value.numel() != 1:
        raise ValueError(f"module {name!r}: {what} must be one number per layer for the theory, "
                         f"got a tensor of shape {tuple(value.shape)}")
    return float(value.reshape(()).double())


def _read_neuron(name, neuron) -> _Neuron:
    if getattr(neuron, "inhibition", False):
        raise ValueError(f"module {name!r}: Leaky(inhibition=True) is not modelled by the theory")
    if getattr(neuron, "state_quant", False):
        raise ValueError(f"module {name!r}: Leaky(state_quant=...) is not modelled by the theory")
    graded = _scalar(getattr(neuron, "graded_spikes_factor", 1.0), "graded_spikes_factor", name)
    if graded != 1.0:
        raise ValueError(f"module {name!r}: graded_spikes_factor must be 1 (binary spikes), got {graded}")
    threshold = _scalar(neuron.threshold, "threshold", name)
    beta = min(max(_scalar(neuron.beta, "beta", name), 0.0), 1.0)     # Leaky clamps beta to [0, 1]
    reset = neuron.reset_mechanism
    if reset not in ("subtract", "zero", "none"):
        raise ValueError(f"module {name!r}: reset_mechanism must be 'subtract', 'zero' or 'none', got {reset!r}")
    if getattr(neuron, "surrogate_disable", False):
        surrogate, text = None, "disabled"
    else:
        surrogate = read_surrogate(neuron.spike_grad)
        text = f"{surrogate[0]}({surrogate[1]:g})" if surrogate else (
            f"unknown ({getattr(neuron.spike_grad, '__qualname__', type(neuron.spike_grad).__name__)})")
    return _Neuron(name, neuron, threshold, beta, reset, bool(getattr(neuron, "reset_delay", True)),
                   surrogate, text)


@dataclass(frozen=True)
class _Structure:
    input_neuron: _Neuron | None
    pairs: list                  # [(weight name, weight module, _Neuron)]
    unpaired: list               # [(name, module)] weight layers with no Leaky after them
    only_trailing_unpaired: bool  # every unpaired layer comes after the last pair (a readout)


def _structure(model) -> _Structure:
    """Walk ``model.named_modules()`` (registration order = forward order for nn.Sequential and
    for modules that define their layers in the order they use them) and pair layers."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    Leaky = _snntorch().Leaky
    input_neuron, pairs, unpaired = None, [], []
    pending = None               # (name, weight) waiting for its neuron
    last = None                  # "weight" / "neuron" / None
    unpaired_before_last_pair = 0
    for name, module in model.named_modules():
        label = name or "<model>"
        if isinstance(module, WEIGHT_TYPES):
            if pending is not None:
                unpaired.append(pending)
            pending, last = (label, module), "weight"
        elif isinstance(module, Leaky):
            neuron = _read_neuron(label, module)
            if pending is not None:
                pairs.append((pending[0], pending[1], neuron))
                unpaired_before_last_pair = len(unpaired)
                pending = None
            elif last is None:
                input_neuron = neuron
            else:
                raise ValueError(f"module {label!r} (Leaky) follows another Leaky with no Linear/Conv "
                                 f"layer between: a stack of Leaky layers is not modelled by the theory")
            last = "neuron"
        elif isinstance(module, PASSTHROUGH_TYPES) or module is model:
            if module is model and list(module.parameters(recurse=False)):
                raise ValueError(f"module {label!r} ({type(module).__name__}) holds its own parameters; "
                                 f"supported layers: Linear, Conv1d/2d/3d followed by snntorch.Leaky")
        elif list(module.children()):
            if list(module.parameters(recurse=False)):
                raise ValueError(f"module {label!r} ({type(module).__name__}) holds its own parameters; "
                                 f"supported layers: Linear, Conv1d/2d/3d followed by snntorch.Leaky")
        else:
            raise ValueError(
                f"unsupported module {label!r} ({type(module).__name__}): snn_bridge models "
                f"Linear/Conv1d/Conv2d/Conv3d layers each followed by an snntorch.Leaky (Flatten, Unflatten "
                f"and Identity may sit between); anything else changes the statistics the theory predicts")
    if pending is not None:
        unpaired.append(pending)
    if not pairs:
        raise ValueError("model must contain at least one Linear/Conv layer followed by an snntorch.Leaky; "
                         f"found none (unpaired weight layers: {[n for n, _ in unpaired]})")
    return _Structure(input_neuron, pairs, unpaired, only_trailing_unpaired=unpaired_before_last_pair == 0)


def _check_unpaired(structure, unpaired):
    if structure.unpaired and unpaired == "error":
        names = ", ".join(f"{n!r} ({type(m).__name__})" for n, m in structure.unpaired)
        raise ValueError(f"no snntorch.Leaky follows module(s) {names}; pass unpaired='list' to leave "
                         f"them untouched and listed")


# ---------------------------------------------------------------------------------------------
# initialize_
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerReport:
    """One weight layer l = 1..depth and its neuron. Predictions are float64, one time step from
    rest: q = mem_var = Var[u_l] of the length map, rate = Q(theta_l / sqrt q_l), p_silent =
    P(k_l = 0) of the exact spike-count chain (None where the chain does not apply), chi =
    fan_in std^2 E[g'(u_l - theta_l)^2] with u_l ~ N(0, q_l) for the neuron's surrogate g'
    (None when the surrogate is unknown)."""
    layer: int
    module: str
    kind: str
    neuron: str
    fan_in: int
    fan_out: int
    width: int | None            # neurons of the layer (Linear: out_features; Conv: None)
    threshold: float
    beta: float
    reset: str
    dist: str
    std: float
    bias_var: float
    rate: float
    mem_var: float
    p_silent: float | None
    surrogate: str
    chi: float | None


@dataclass
class InitReport:
    """What :func:`initialize_` did and what the theory predicts for the model (one step)."""
    init: str
    depth: int
    layers: list
    input_neuron: str | None
    input_rate: float | None
    unpaired: list
    min_width: int | None
    critical_threshold: float
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def rows(self) -> list[dict]:
        """One dict per layer (the fields of :class:`LayerReport`)."""
        return [dict(vars(layer)) for layer in self.layers]

    def text(self) -> str:
        head = f"initialize_: init={self.init!r}, depth {self.depth}"
        if self.input_neuron is not None:
            head += f", input layer {self.input_neuron!r} (rate {self.input_rate:.4f})"
        lines = [head,
                 f"{'layer':>5} {'module':<14} {'fan_in':>7} {'std':>9} {'rate':>7} {'mem_var':>8} "
                 f"{'P(silent)':>9} {'chi':>6}  surrogate"]
        for r in self.layers:
            p = "n/a" if r.p_silent is None else f"{r.p_silent:.3g}"
            c = "unknown" if r.chi is None else f"{r.chi:.3f}"
            lines.append(f"{r.layer:>5} {r.module[-14:]:<14} {r.fan_in:>7} {r.std:>9.5f} {r.rate:>7.4f} "
                         f"{r.mem_var:>8.4f} {p:>9} {c:>6}  {r.surrogate}")
        if self.unpaired:
            lines.append(f"unpaired (left as they were): {', '.join(self.unpaired)}")
        if self.layers and self.layers[-1].chi is not None:
            chis = [r.chi for r in self.layers]
            lines.append(f"backward gain over the stack: prod chi = {float(np.prod(chis)):.3g}")
        if self.min_width is not None:
            lines.append(f"theory.min_width({self.depth}) = {self.min_width} (99 % survival)")
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    __str__ = text


def _bias_mean_square(module) -> float:
    bias = getattr(module, "bias", None)
    if bias is None:
        return 0.0
    return float(bias.detach().double().pow(2).mean())


@lru_cache(maxsize=64)
def _min_width_cached(depth, threshold, init, beta, q0, max_width, params):
    try:
        return int(min_width(depth, threshold, max_width=max_width, init=init, beta=beta, q0=q0, **dict(params)))
    except ValueError:
        return None


def _chi_for(surrogate, std, fan_in, threshold, q):
    if surrogate is None:
        return None
    name, scale = surrogate
    if q > 0:
        return float(chi_gain(name, std, fan_in, threshold, q=q, scale=scale))
    # u = 0 exactly: E[g'(u - theta)^2] = g'(-theta)^2
    return float(fan_in * std**2 * surrogate_grad(name, -threshold, scale) ** 2)


def initialize_(model, init="micheli", *, bias="zero", generator=None, q0=1.0, input_mean_square=1.0,
                unpaired="error", warn=True, **params) -> InitReport:
    """Initialise every Linear/Conv layer of ``model`` that an snntorch.Leaky follows, for that
    neuron's threshold and beta (and its reset, for initialisers that take one), in place.

    Pairing walks ``model.named_modules()`` in registration order: a weight layer pairs with the
    next Leaky; Flatten/Unflatten/Identity may sit between; a leading Leaky is the input layer
    (layer 0, driven by the input currents, as in ``simulate.run_network``). Any other module is
    refused with a ValueError naming it. ``unpaired``: "error" (default) raises for a weight layer
    with no Leaky after it; "list" leaves it untouched and lists it in the report.

    bias: "zero" (default; the theory's derivation has no bias), "leave" (keep the current
    biases; the predictions use each layer's mean square bias as bias_var), or "init" (the
    initialiser's own bias rule: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for pytorch_default, which is
    torch's rule; zero for every other registry entry, whose derivations assume no bias).

    Predictions (float64, one step from rest, infinite width unless said):
        q_l = fan_in_l std_l^2 r_{l-1} + bias_var_l,  rate_l = r_l = Q(theta_l / sqrt q_l)
    (theory.propagate one layer at a time), starting from r_0 = Q(theta_0 / sqrt q0) for an input
    Leaky fed N(0, q0) currents, or from r_0 = ``input_mean_square`` = E[x^2] of raw inputs when
    the model begins with a weight layer. P(silent) per layer from theory.spike_count_chain
    (Linear stacks with one threshold; biases as i.i.d. N(0, mean bias_var)); chi from
    theory.chi at q_l. Warnings (warnings.warn, also kept in the report): a layer narrower than
    theory.min_width(depth, threshold, init=init, q0=q0) (Linear stacks with one threshold; it
    assumes the toolkit's stack, an input Leaky fed N(0, q0) currents), a
    threshold above theory.critical_threshold(target_var).

    ``params`` go to the initialiser (e.g. target_var for micheli); an initialiser that takes a
    ``reset`` gets the neuron's unless given. Returns :class:`InitReport`.
    """
    if init not in inits.names():
        raise ValueError(f"init must be one of {inits.names()}, got {init!r}")
    entry = inits.get(init)
    validation.choice(bias, "bias", BIAS_OPTIONS)
    validation.choice(unpaired, "unpaired", UNPAIRED_OPTIONS)
    q0 = float(validation.non_negative(q0, "q0"))
    input_mean_square = float(validation.non_negative(input_mean_square, "input_mean_square"))
    structure = _structure(model)
    _check_unpaired(structure, unpaired)

    notes, messages = [], []
    stds, rows_args, used_params = [], [], []
    for layer, (name, weight_module, neuron) in enumerate(structure.pairs, start=1):
        weight = weight_module.weight
        fan_in, fan_out = fans(weight)
        layer_params = dict(params)
        if "reset" in entry.params and "reset" not in layer_params:
            layer_params["reset"] = neuron.reset
        try:
            init_(weight, init, threshold=neuron.threshold, beta=neuron.beta, generator=generator, **layer_params)
        except ValueError as exc:
            raise ValueError(f"module {name!r}: {exc}") from exc
        std = inits.weight_std(init, fan_in, fan_out, neuron.threshold, neuron.beta, **layer_params)
        if weight_module.bias is not None:
            with torch.no_grad():
                if bias == "zero" or (bias == "init" and init != "pytorch_default"):
                    weight_module.bias.zero_()
                elif bias == "init":
                    bound = 1.0 / math.sqrt(fan_in)
                    weight_module.bias.uniform_(-bound, bound, generator=generator)
        width = int(weight_module.out_features) if isinstance(weight_module, nn.Linear) else None
        stds.append(std)
        used_params.append(layer_params)
        rows_args.append((layer, name, type(weight_module).__name__, neuron, fan_in, fan_out, width, std,
                          _bias_mean_square(weight_module)))

    depth = len(rows_args)
    thresholds = [args[3].threshold for args in rows_args]
    all_linear = all(args[6] is not None for args in rows_args)
    first_is_input = structure.input_neuron is not None
    predictions_ok = not structure.unpaired or structure.only_trailing_unpaired
    if not predictions_ok:
        notes.append("an unpaired layer sits inside the stack: no predictions")

    # mean field, one step, one layer at a time (theory.propagate)
    q, rate = [], []
    if first_is_input:
        theta0 = structure.input_neuron.threshold
        input_rate = float(firing_probability(theta0, q0))
        prev_q, prev_theta = q0, theta0
    else:
        input_rate = None
    for i, (layer, name, kind, neuron, fan_in, fan_out, width, std, bias_var) in enumerate(rows_args):
        if i == 0 and not first_is_input:
            q_l = fan_in * std**2 * input_mean_square + bias_var
        else:
            q_l = float(propagate(1, std, fan_in, prev_theta, q0=prev_q, bias_var=bias_var).q[1])
        q.append(q_l)
        rate.append(float(firing_probability(neuron.threshold, q_l)))
        prev_q, prev_theta = q_l, neuron.threshold

    # exact finite-width chain (Linear stacks, one threshold)
    p_silent = [None] * depth
    uniform_threshold = len(set(thresholds + ([structure.input_neuron.threshold] if first_is_input else []))) == 1
    if predictions_ok and all_linear and uniform_threshold:
        bias_vars = [args[8] for args in rows_args]
        chain_bias = float(np.mean(bias_vars))
        if any(bias_vars):
            notes.append(f"chain: biases taken as i.i.d. N(0, {chain_bias:.3g}) (mean of the layers' bias mean squares)")
        if first_is_input:
            widths = [int(rows_args[0][4])] + [args[6] for args in rows_args]
            chain = spike_count_chain(depth, widths, thresholds[0], sigma_w=stds, q0=q0, bias_var=chain_bias)
            p_silent = [float(x) for x in chain.silent[1:]]
        else:
            widths = [args[6] for args in rows_args]
            chain = spike_count_chain(depth - 1, widths, thresholds[0], sigma_w=stds[1:] if depth > 1 else 1.0, q0=q[0],
                                      bias_var=chain_bias)
            p_silent = [float(x) for x in chain.silent]
        if not chain.gaussian_weights or entry.dist != "normal":
            notes.append(f"chain: exact for Gaussian weights only; {init!r} draws {entry.dist} weights (approximate)")
    elif predictions_ok:
        notes.append("P(silent): the spike-count chain needs a Linear stack with one threshold (n/a here)")

    layers = []
    for i, (layer, name, kind, neuron, fan_in, fan_out, width, std, bias_var) in enumerate(rows_args):
        layers.append(LayerReport(
            layer=layer, module=name, kind=kind, neuron=neuron.name, fan_in=fan_in, fan_out=fan_out,
            width=width, threshold=neuron.threshold, beta=neuron.beta, reset=neuron.reset, dist=entry.dist,
            std=std, bias_var=bias_var, rate=rate[i] if predictions_ok else float("nan"),
            mem_var=q[i] if predictions_ok else float("nan"), p_silent=p_silent[i], surrogate=neuron.surrogate_text,
            chi=_chi_for(neuron.surrogate, std, fan_in, neuron.threshold, q[i]) if predictions_ok else None))
    if any(r.chi is None for r in layers) and predictions_ok:
        notes.append("chi unknown where the surrogate is not one of snntorch.surrogate's atan, fast_sigmoid, "
                     "sigmoid, triangular, straight_through_estimator (or is disabled)")
    if any(not n.reset_delay for *_, n in structure.pairs):
        notes.append("a Leaky has reset_delay=False: one-step predictions hold, the temporal theory "
                     "(reset_delay=True) does not")
    if not all_linear:
        notes.append("convolutions: mean field per neuron with fan_in = c_in * kernel (padding edges "
                     "have fewer inputs); no width check")

    # warnings: width below min_width, threshold above critical
    target_var = float(params.get("target_var", 1.0))
    theta_c = float(critical_threshold(target_var))
    needed = None
    if predictions_ok and all_linear and uniform_threshold:
        widest = max(args[6] for args in rows_args)
        max_width = max(8 * widest, 1024)
        key_params = tuple(sorted(used_params[0].items()))
        beta0 = rows_args[0][3].beta
        needed = _min_width_cached(depth, thresholds[0], init, beta0, q0, max_width, key_params)
        narrow = [args for args in rows_args if needed is None or args[6] < needed]
        if narrow:
            bound = f"= {needed}" if needed is not None else f"> {max_width} (none up to {max_width} reaches it)"
            messages.append(
                f"{len(narrow)} layer(s) ({', '.join(a[1] for a in narrow[:4])}{', ...' if len(narrow) > 4 else ''}) "
                f"narrower than theory.min_width({depth}, threshold={thresholds[0]:g}, init={init!r}) {bound}: "
                f"P(silent at the last layer) = {p_silent[-1]:.3g}")
    for theta in sorted(set(thresholds)):
        if theta > theta_c:
            messages.append(f"threshold {theta:g} is above theory.critical_threshold({target_var:g}) = {theta_c:.4f}: "
                            f"the paper's fixed point is unstable and activity runs away from it")
    if warn:
        for message in messages:
            warnings.warn(message, stacklevel=2)
    return InitReport(init=init, depth=depth, layers=layers,
                      input_neuron=structure.input_neuron.name if first_is_input else None,
                      input_rate=input_rate, unpaired=[n for n, _ in structure.unpaired], min_width=needed,
                      critical_threshold=theta_c, notes=notes, warnings=messages)


# ---------------------------------------------------------------------------------------------
# diagnose
# ---------------------------------------------------------------------------------------------

@dataclass
class Diagnosis:
    """Measured and predicted per-neuron-layer, per-step statistics (arrays (layers, T)).

    rate[i, t]: mean spike of layer i at step t over batch and neurons; mem_var[i, t]: variance of
    its membrane u[t] (after the update, before the next step's reset) over batch and neurons,
    float64 statistics of the model's values; predicted_*: temporal mean field
    (theory.propagate_temporal, NaN where it does not apply, see notes); dead[i]: no spike at any
    step. ``layer[i]`` is the toolkit's layer index (0 = input Leaky)."""
    modules: list
    layer: list
    rate: np.ndarray
    mem_var: np.ndarray
    predicted_rate: np.ndarray
    predicted_mem_var: np.ndarray
    dead: np.ndarray
    notes: list = field(default_factory=list)

    @property
    def steps(self) -> int:
        return self.rate.shape[1]

    def rows(self) -> list[dict]:
        """One dict per (layer, step), ready for plotting or a DataFrame."""
        out = []
        for i, name in enumerate(self.modules):
            for t in range(self.steps):
                out.append({"layer": self.layer[i], "module": name, "step": t + 1,
                            "rate": float(self.rate[i, t]), "rate_theory": float(self.predicted_rate[i, t]),
                            "mem_var": float(self.mem_var[i, t]),
                            "mem_var_theory": float(self.predicted_mem_var[i, t]), "dead": bool(self.dead[i])})
        return out

    def text(self, per_step: bool = False) -> str:
        """Table: per layer, the time-averaged rate and membrane variance, measured | theory
        (``per_step=True``: one line per layer and step)."""
        lines = [f"diagnose: T = {self.steps}; measured | theory (temporal mean field, infinite width)",
                 f"{'layer':>5} {'neuron':<14}{'step':>5} {'rate':>8} {'theory':>8} {'mem_var':>9} {'theory':>9}"]
        for i, name in enumerate(self.modules):
            flag = "  DEAD" if self.dead[i] else ""
            if per_step:
                for t in range(self.steps):
                    lines.append(f"{self.layer[i]:>5} {name[-14:]:<14}{t + 1:>5} {self.rate[i, t]:>8.4f} "
                                 f"{self.predicted_rate[i, t]:>8.4f} {self.mem_var[i, t]:>9.4f} "
                                 f"{self.predicted_mem_var[i, t]:>9.4f}{flag}")
            else:
                lines.append(f"{self.layer[i]:>5} {name[-14:]:<14}{'mean':>5} {self.rate[i].mean():>8.4f} "
                             f"{self.predicted_rate[i].mean():>8.4f} {self.mem_var[i].mean():>9.4f} "
                             f"{self.predicted_mem_var[i].mean():>9.4f}{flag}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    __str__ = text


def _reset_states(neurons):
    """Back to rest: an empty membrane makes Leaky start from zeros of the input's shape."""
    for neuron in neurons:
        neuron.mem = torch.zeros(0, dtype=neuron.mem.dtype, device=neuron.mem.device)


def diagnose(model, inputs, steps=None, *, unpaired="error", verbose=True, samples=20000, seed=0) -> Diagnosis:
    """Run ``model`` for T steps from rest with forward hooks on every snntorch.Leaky, measure the
    per-layer, per-step rate and membrane variance, and put the theory beside them.

    inputs: a tensor (T, batch, ...) fed one step at a time (``steps=None``), or one step's input
    (batch, ...) fed ``steps`` times (static input). The model is called as ``model(inputs[t])``
    per step; its Leaky neurons keep their state between calls (``init_hidden=True`` or the
    default stored ``mem``) and are reset to rest first. Runs under torch.no_grad().

    Theory (float64): theory.propagate_temporal with the model's per-layer weight gains
    fan_in E[w^2], the stack's threshold, beta and reset, and a constant-in-time bias variance
    (mean over layers of E[b^2]). Input process: a leading Leaky gets the inputs as currents,
    i.i.d. over steps (``encoding="gaussian"``, measured mean and std) or repeated ("static");
    a model beginning with a weight layer gets Bernoulli(mean) spikes when the inputs are 0/1
    and vary over steps, otherwise layer 1's current is taken as Gaussian with variance
    fan_in E[w^2] E[x^2] + E[b^2], i.i.d. over steps or static (assumption stated in the notes).
    Predictions are NaN (with a note) for stacks with differing thresholds, betas or resets,
    non-trailing unpaired layers, or reset_delay=False. ``unpaired`` as in :func:`initialize_`
    ("list": measure anyway; a trailing readout keeps the theory column). ``verbose`` prints
    :meth:`Diagnosis.text`.
    """
    validation.choice(unpaired, "unpaired", UNPAIRED_OPTIONS)
    structure = _structure(model)
    _check_unpaired(structure, unpaired)
    if not isinstance(inputs, torch.Tensor):
        raise ValueError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if steps is None:
        if inputs.dim() < 2:
            raise ValueError(f"inputs must have shape (T, batch, ...) when steps is None, got {tuple(inputs.shape)}")
        T, static = int(inputs.shape[0]), False
        step_input = lambda t: inputs[t]
    else:
        T = int(validation.positive_int(steps, "steps"))
        static = True
        step_input = lambda t: inputs
        if inputs.dim() >= 3 and int(inputs.shape[0]) == T:
            warnings.warn(f"inputs' first axis has length steps = {T}: with steps given, inputs is ONE step's "
                          f"input fed {T} times; if that axis is time, call diagnose(model, inputs) without steps",
                          stacklevel=2)
    if T < 1:
        raise ValueError("inputs must hold at least one step")
    if not static and T > 1:
        static = bool(all(torch.equal(inputs[0], inputs[t]) for t in range(1, T)))

    neurons = ([structure.input_neuron] if structure.input_neuron is not None else []) + \
              [neuron for *_, neuron in structure.pairs]
    L = len(neurons)
    rate = np.zeros((L, T))
    mem_var = np.zeros((L, T))
    spikes_total = np.zeros(L)
    calls = []
    step = {"t": 0}

    def hook_for(i):
        def hook(module, args, output):
            spk = output[0] if isinstance(output, tuple) else output
            t = step["t"]
            if t == 0:
                calls.append(i)
            mem = module.mem.detach().double()
            rate[i, t] = float(spk.detach().double().mean())
            mem_var[i, t] = float(mem.var(unbiased=False)) if mem.numel() else float("nan")
            spikes_total[i] += float(spk.detach().double().sum())
        return hook

    handles = [n.module.register_forward_hook(hook_for(i)) for i, n in enumerate(neurons)]
    try:
        _reset_states([n.module for n in neurons])
        with torch.no_grad():
            for t in range(T):
                step["t"] = t
                try:
                    model(step_input(t))
                except (TypeError, RuntimeError) as exc:
                    raise ValueError(
                        f"model(inputs[t]) failed at step {t + 1}: {exc}. diagnose calls the model once per "
                        f"step with one step's input; snntorch.Leaky inside nn.Sequential needs "
                        f"init_hidden=True") from exc
    finally:
        for handle in handles:
            handle.remove()
        _reset_states([n.module for n in neurons])
    if calls != list(range(L)):
        order = [neurons[i].name for i in calls]
        raise ValueError(f"model's forward calls its Leaky neurons in the order {order}, not in the order they "
                         f"are registered ({[n.name for n in neurons]}): pairing needs the registration order "
                         f"to be the forward order (each neuron called once per step)")

    notes = []
    if any(not isinstance(module, nn.Linear) for _, module, _ in structure.pairs):
        notes.append("convolutions: theory per neuron with fan_in = c_in * kernel (padding edges have fewer inputs)")
    predicted_rate, predicted_var = _diagnose_theory(structure, neurons, inputs, T, static, samples, seed, notes)
    first_layer = 0 if structure.input_neuron is not None else 1
    result = Diagnosis(modules=[n.name for n in neurons], layer=list(range(first_layer, first_layer + L)),
                       rate=rate, mem_var=mem_var, predicted_rate=predicted_rate, predicted_mem_var=predicted_var,
                       dead=spikes_total == 0, notes=notes)
    if verbose:
        print(result.text())
    return result


def _diagnose_theory(structure, neurons, inputs, T, static, samples, seed, notes):
    L = len(neurons)
    nan = np.full((L, T), np.nan)
    if structure.unpaired and not structure.only_trailing_unpaired:
        notes.append("an unpaired layer sits inside the stack: no theory column")
        return nan, nan.copy()
    dynamics = {(n.threshold, n.beta, n.reset) for n in neurons}
    if len(dynamics) > 1:
        notes.append("the neurons differ in threshold, beta or reset: the temporal theory here takes one; no theory column")
        return nan, nan.copy()
    if any(not n.reset_delay for n in neurons) and T > 1:
        notes.append("reset_delay=False: the theory (reset_delay=True) does not apply beyond step 1; no theory column")
        return nan, nan.copy()
    threshold, beta, reset = dynamics.pop()
    gains, fan_ins, bias_vars = [], [], []
    for _, module, _ in structure.pairs:
        w = module.weight.detach().double()
        fan_in, _ = fans(w)
        gains.append(float(w.pow(2).mean()) * fan_in)
        fan_ins.append(fan_in)
        bias_vars.append(_bias_mean_square(module))
    sigmas = [math.sqrt(g / n) for g, n in zip(gains, fan_ins)]
    bias_var = float(np.mean(bias_vars))
    if len(set(np.round(bias_vars, 12))) > 1:
        notes.append(f"theory: one bias variance for every layer, the mean E[b^2] = {bias_var:.3g}")
    x = inputs.detach().double()
    kwargs = dict(threshold=threshold, beta=beta, reset=reset, bias_var=bias_var, samples=samples, seed=seed)
    encoding = "static" if static else "gaussian"
    if structure.input_neuron is not None:
        result = propagate_temporal(len(sigmas), T, sigmas, fan_ins, encoding=encoding,
                                    input_std=float(x.std(unbiased=False)), input_mean=float(x.mean()), **kwargs)
        return result.rate, result.mem_var
    is_binary = bool(((x == 0) | (x == 1)).all())
    if is_binary and not static and T > 1:
        result = propagate_temporal(len(sigmas), T, sigmas, fan_ins, encoding="bernoulli",
                                    input_rate=float(x.mean()), **kwargs)
        notes.append("theory: inputs taken as i.i.d. Bernoulli(mean) spikes")
        return result.rate[1:], result.mem_var[1:]
    first_var = gains[0] * float(x.pow(2).mean()) + bias_vars[0]
    if not static and T > 1:
        notes.append("theory: layer 1's current taken as Gaussian, independent over steps (inputs vary over steps)")
    kwargs["bias_var"] = float(np.mean(bias_vars[1:])) if len(bias_vars) > 1 else 0.0
    result = propagate_temporal(len(sigmas) - 1, T, sigmas[1:], fan_ins[1:], encoding=encoding,
                                input_std=math.sqrt(first_var), input_mean=0.0, **kwargs)
    return result.rate, result.mem_var
