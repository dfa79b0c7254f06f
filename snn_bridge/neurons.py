"""The spiking neuron layers of snnTorch and SpikingJelly 2.0, read as the toolkit's ``theory.LIF``.

The toolkit's neuron (docs/theory.md §1; theory.core.lif) is snnTorch's ``Leaky`` with
``reset_delay=True``. Per step t, from rest, with the input current I[t]:

    subtract:        u[t] = beta u[t-1] + I[t] - theta s[t-1]
    zero:            u[t] = beta (1 - s[t-1]) u[t-1] + I[t]
    none:            u[t] = beta u[t-1] + I[t]
    subtract_leaky:  u[t] = beta (u[t-1] - theta s[t-1]) + I[t]
    s[t] = [u[t] > theta]

snnTorch ``Leaky(beta, threshold, reset_mechanism)`` (beta clamped to [0, 1] as Leaky does) is
that neuron with reset "subtract", "zero" or "none". SpikingJelly 2.0 (``activation_based``)
charges H[t] from the post-reset V[t-1], fires S[t] = [H[t] >= theta] and resets
V[t] = H[t] (1 - S[t]) + v_reset S[t] (hard) or V[t] = H[t] - theta S[t] (soft, v_reset=None):

    LIFNode(tau, decay_input=False): H[t] = V[t-1] - (V[t-1] - v_reset) / tau + X[t]
    LIFNode(tau, decay_input=True):  H[t] = V[t-1] + (X[t] - (V[t-1] - v_reset)) / tau
    IFNode:                          H[t] = V[t-1] + X[t]
    ParametricLIFNode(init_tau, decay_input): LIFNode with 1/tau = sigmoid(w) (w trained)

so with u = H, beta = 1 - 1/tau (IFNode: 1), the input scaled by lambda = 1/tau when
decay_input=True (1 otherwise: the translator puts lambda on the layer that makes the current),
hard reset with v_reset = 0 is the reset "zero" and the soft reset is "subtract_leaky" (the
subtracted threshold decays with the membrane). v_reset other than 0 and None is refused (the
toolkit's zero reset returns to 0). SpikingJelly fires at H >= theta, the theory at u > theta: the
same for continuous currents.

Surrogates: snnTorch's closures ``snntorch.surrogate.<factory>(scale)`` (atan, fast_sigmoid,
sigmoid, triangular, straight_through_estimator) and SpikingJelly's modules ``surrogate.ATan(alpha)``
and ``surrogate.Sigmoid(alpha)`` have the formulas of theory.core.surrogates with scale = the
factory's parameter (tests/torch check the libraries' backward against them). Others: unknown
(no backward gain).
"""
from __future__ import annotations

from dataclasses import dataclass

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised by tests/torch/test_import_error.py
    raise ImportError('snn_bridge needs PyTorch, the optional extra: pip install ".[torch]"') from exc

import theory

__all__ = ["NeuronSpec", "read_neuron", "is_neuron", "read_surrogate", "set_surrogate_scale", "reset_state", "charge",
           "post_reset",
           "SNNTORCH_SURROGATES", "SPIKINGJELLY_SURROGATES", "snntorch_module", "spikingjelly_module"]

# snnTorch surrogate factory (snntorch.surrogate.<name>) -> (theory.core.surrogates name, closure
# variable holding the scale); the formulas and default scales are the same (theory/core/surrogates.py)
SNNTORCH_SURROGATES = {
    "atan": ("atan", "alpha"),
    "fast_sigmoid": ("fast_sigmoid", "slope"),
    "sigmoid": ("sigmoid", "slope"),
    "triangular": ("triangular", "threshold"),
    "straight_through_estimator": ("straight_through", None),
}
# SpikingJelly surrogate module class -> theory.core.surrogates name (scale = the module's alpha)
SPIKINGJELLY_SURROGATES = {"ATan": "atan", "Sigmoid": "sigmoid"}
SPIKINGJELLY_NODES = ("LIFNode", "IFNode", "ParametricLIFNode")


def snntorch_module():
    """The snntorch package, or None when it is not installed."""
    try:
        import snntorch
    except ImportError:
        return None
    return snntorch


def spikingjelly_module():
    """spikingjelly.activation_based's (neuron, layer, surrogate, functional), or None."""
    try:
        from spikingjelly.activation_based import functional, layer, neuron, surrogate
    except ImportError:
        return None
    return neuron, layer, surrogate, functional


@dataclass(frozen=True)
class NeuronSpec:
    """One neuron layer read as the toolkit's neuron.

    lif          theory.LIF(threshold, beta, reset)
    input_scale  lambda: the neuron integrates lambda x of its input x (SpikingJelly decay_input=True:
                 1/tau; else 1)
    library      "snntorch" or "spikingjelly"; cls the class name
    multistep    SpikingJelly step_mode 'm' (one call takes all T steps)
    surrogate    (theory surrogate name, scale) or None (unknown or disabled); surrogate_text says which
    """
    name: str
    module: object
    library: str
    cls: str
    lif: object
    input_scale: float
    multistep: bool
    surrogate: tuple | None
    surrogate_text: str


def _scalar(value, what, name):
    value = torch.as_tensor(value).detach()
    if value.numel() != 1:
        raise ValueError(f"module {name!r}: {what} must be one number per layer for the theory, "
                         f"got a tensor of shape {tuple(value.shape)}")
    return float(value.reshape(()).double())


def read_surrogate(spike_grad):
    """(theory.core.surrogates name, scale) of an snnTorch surrogate closure or a SpikingJelly
    surrogate module, or None when unknown.

    snnTorch surrogates are closures ``snntorch.surrogate.<factory>(scale).<locals>.inner``; the
    five of :data:`SNNTORCH_SURROGATES` have the same formula and scaling in theory.core.surrogates.
    SpikingJelly: ``surrogate.ATan(alpha)`` and ``surrogate.Sigmoid(alpha)``. Others
    (spike_rate_escape, SFS, PiecewiseQuadratic, custom functions, ...) return None: chi unknown."""
    sj = spikingjelly_module()
    if sj is not None and isinstance(spike_grad, sj[2].SurrogateFunctionBase):
        name = SPIKINGJELLY_SURROGATES.get(type(spike_grad).__name__)
        if name is None or not getattr(spike_grad, "spiking", True):
            return None
        return name, float(spike_grad.alpha)
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


def is_neuron(module) -> str | None:
    """"snntorch" / "spikingjelly" if ``module`` is a spiking neuron layer of that library (any
    kind, supported or not), else None."""
    snn = snntorch_module()
    if snn is not None and isinstance(module, snn.SpikingNeuron):
        return "snntorch"
    sj = spikingjelly_module()
    if sj is not None:
        base = sj[0].BaseNode
        simple = getattr(sj[0], "SimpleBaseNode", base)
        if isinstance(module, (base, simple)):
            return "spikingjelly"
    return None


def _surrogate_text(surrogate, raw):
    if surrogate is not None:
        return f"{surrogate[0]}({surrogate[1]:g})"
    return f"unknown ({getattr(raw, '__qualname__', type(raw).__name__)})"


def _read_snntorch(name, neuron) -> NeuronSpec:
    snn = snntorch_module()
    if type(neuron) is not snn.Leaky:
        raise ValueError(f"unsupported module {name!r} ({type(neuron).__name__}): the theory's neuron is snnTorch's "
                         f"Leaky (a {type(neuron).__name__} has other dynamics, e.g. Synaptic's second-order synaptic "
                         f"current); SpikingJelly's LIFNode, IFNode and ParametricLIFNode are supported too")
    if getattr(neuron, "inhibition", False):
        raise ValueError(f"module {name!r}: Leaky(inhibition=True) is not modelled by the theory")
    if getattr(neuron, "state_quant", False):
        raise ValueError(f"module {name!r}: Leaky(state_quant=...) is not modelled by the theory")
    graded = _scalar(getattr(neuron, "graded_spikes_factor", 1.0), "graded_spikes_factor", name)
    if graded != 1.0:
        raise ValueError(f"module {name!r}: graded_spikes_factor must be 1 (binary spikes), got {graded}")
    if not getattr(neuron, "reset_delay", True):
        raise ValueError(f"module {name!r}: Leaky(reset_delay=False) resets within the step; the theory's neuron "
                         f"(docs/theory.md §1) resets at the next step (reset_delay=True, snnTorch's default)")
    threshold = _scalar(neuron.threshold, "threshold", name)
    beta = min(max(_scalar(neuron.beta, "beta", name), 0.0), 1.0)     # Leaky clamps beta to [0, 1]
    reset = neuron.reset_mechanism
    if reset not in ("subtract", "zero", "none"):
        raise ValueError(f"module {name!r}: reset_mechanism must be 'subtract', 'zero' or 'none', got {reset!r}")
    if getattr(neuron, "surrogate_disable", False):
        surrogate, text = None, "disabled"
    else:
        surrogate = read_surrogate(neuron.spike_grad)
        text = _surrogate_text(surrogate, neuron.spike_grad)
    return NeuronSpec(name, neuron, "snntorch", "Leaky", theory.LIF(threshold, beta, reset), 1.0, False, surrogate,
                      text)


def _read_spikingjelly(name, node) -> NeuronSpec:
    neuron_module = spikingjelly_module()[0]
    cls = type(node).__name__
    if cls not in SPIKINGJELLY_NODES or type(node) is not getattr(neuron_module, cls):
        raise ValueError(f"unsupported module {name!r} ({cls}): of SpikingJelly's neurons the theory models "
                         f"{', '.join(SPIKINGJELLY_NODES)} (docs/theory.md §1)")
    threshold = _scalar(node.v_threshold, "v_threshold", name)
    if node.v_reset is None:
        reset = "subtract_leaky"
    else:
        v_reset = _scalar(node.v_reset, "v_reset", name)
        if v_reset != 0.0:
            raise ValueError(f"module {name!r}: v_reset must be 0 (hard reset to rest, the theory's 'zero' reset) or "
                             f"None (soft reset, 'subtract_leaky'), got {v_reset}")
        reset = "zero"
    if cls == "IFNode":
        beta, scale = 1.0, 1.0
    else:
        inverse_tau = (float(torch.sigmoid(node.w.detach().double())) if cls == "ParametricLIFNode"
                       else 1.0 / float(node.tau))
        beta = 1.0 - inverse_tau
        scale = inverse_tau if node.decay_input else 1.0
    surrogate = read_surrogate(node.surrogate_function)
    text = _surrogate_text(surrogate, node.surrogate_function)
    return NeuronSpec(name, node, "spikingjelly", cls, theory.LIF(threshold, beta, reset), scale,
                      getattr(node, "step_mode", "s") == "m", surrogate, text)


def read_neuron(name, module) -> NeuronSpec:
    """The :class:`NeuronSpec` of a neuron module; ValueError naming the module when the theory
    does not model it (other neuron kinds, per-neuron thresholds or leaks, graded spikes, ...)."""
    library = is_neuron(module)
    if library == "snntorch":
        return _read_snntorch(name, module)
    if library == "spikingjelly":
        return _read_spikingjelly(name, module)
    raise ValueError(f"module {name!r} ({type(module).__name__}) is not a spiking neuron layer")


def set_surrogate_scale(spec: NeuronSpec, scale: float) -> None:
    """Give the neuron's surrogate the scale ``scale`` (same surrogate kind): snnTorch gets a new
    closure ``snntorch.surrogate.<factory>(scale)``, SpikingJelly's module its ``alpha``."""
    if spec.surrogate is None:
        raise ValueError(f"module {spec.name!r}: its surrogate is unknown, so its scale cannot be set")
    name = spec.surrogate[0]
    if spec.library == "spikingjelly":
        spec.module.surrogate_function.alpha = float(scale)
        return
    factory = {v[0]: k for k, v in SNNTORCH_SURROGATES.items()}[name]
    variable = SNNTORCH_SURROGATES[factory][1]
    if variable is None:
        raise ValueError(f"module {spec.name!r}: the {name} surrogate has no scale")
    spec.module.spike_grad = getattr(snntorch_module().surrogate, factory)(**{variable: float(scale)})


def reset_state(module) -> None:
    """Back to rest: snnTorch Leaky's stored membrane emptied (it restarts from zeros of the
    input's shape), SpikingJelly's memories reset."""
    library = is_neuron(module)
    if library == "snntorch":
        mem = getattr(module, "mem", None)
        if isinstance(mem, torch.Tensor):
            module.mem = torch.zeros(0, dtype=mem.dtype, device=mem.device)
    elif library == "spikingjelly":
        module.reset()


def charge(spec: NeuronSpec, v_prev, x):
    """SpikingJelly's H[t] from the post-reset V[t-1] and the input X[t] (module docstring),
    float64: the membrane compared with the threshold."""
    node = spec.module
    if spec.cls == "IFNode":
        return v_prev + x
    inverse_tau = 1.0 - spec.lif.beta
    v_reset = 0.0 if node.v_reset is None else float(node.v_reset)
    if node.decay_input:
        return v_prev + (x - (v_prev - v_reset)) * inverse_tau
    return v_prev - (v_prev - v_reset) * inverse_tau + x


def post_reset(spec: NeuronSpec, h, s):
    """SpikingJelly's V[t] from H[t] and S[t] (float64)."""
    if spec.lif.reset == "zero":
        return h * (1.0 - s)
    return h - spec.lif.threshold * s
