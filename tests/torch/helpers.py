"""Shared builders for the torch tests (imported after pytest.importorskip("torch"/"snntorch"))."""
import numpy as np
import snntorch as snn
import torch
from torch import nn


def mlp(depth, width, beta=0.5, threshold=1.0, reset="subtract", bias=True, n_in=None, **leaky):
    """Input Leaky (layer 0) then depth x (Linear, Leaky): the toolkit's stack in snnTorch."""
    layers = [snn.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset, init_hidden=True, **leaky)]
    fan_in = width if n_in is None else n_in
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width, bias=bias),
                   snn.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset, init_hidden=True, **leaky)]
        fan_in = width
    return nn.Sequential(*layers)


def linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def run_torch(model, currents):
    """Run ``model`` over currents (T, B, n) step by step; every Leaky's spikes and membranes
    as float32 numpy arrays of shape (T, B, n_l), in registration order."""
    neurons = [m for m in model.modules() if isinstance(m, snn.Leaky)]
    spikes = [[] for _ in neurons]
    mems = [[] for _ in neurons]
    handles = []
    for i, neuron in enumerate(neurons):
        def hook(module, args, output, i=i):
            spikes[i].append(output.detach().numpy().copy())
            mems[i].append(module.mem.detach().numpy().copy())
        handles.append(neuron.register_forward_hook(hook))
    for neuron in neurons:
        neuron.mem = torch.zeros(0)
    try:
        with torch.no_grad():
            for t in range(currents.shape[0]):
                model(currents[t])
    finally:
        for h in handles:
            h.remove()
    return [np.stack(s) for s in spikes], [np.stack(m) for m in mems]


def toolkit_weights(model):
    """The toolkit's (fan_in, fan_out) float32 matrices: the transpose of Linear.weight."""
    return [np.ascontiguousarray(m.weight.detach().numpy().T) for m in linears(model)]


def toolkit_biases(model):
    return [None if m.bias is None else m.bias.detach().numpy().copy() for m in linears(model)]
