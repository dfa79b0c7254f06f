"""Batch norm before the neuron (docs/theory.md §11): with batch statistics the forward pass does
not depend on the scale of the weights before it, the backward pass does. In snnTorch + torch
autograd: scaling a convolution's weights by g leaves every spike unchanged, divides the
convolution's weight gradient by g and leaves the gradient reaching the layer below unchanged."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")


def _run(scale, T=3):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False)
    norm = torch.nn.BatchNorm2d(16, eps=1e-12)
    neuron = snn.Leaky(beta=0.5, threshold=1.0, init_hidden=True)
    with torch.no_grad():
        conv.weight.mul_(scale)
    x = torch.randn(T, 16, 8, 10, 10, requires_grad=True)
    out = []
    for t in range(T):
        out.append(neuron(norm(conv(x[t]))))
    spikes = torch.stack(out)
    # a loss through the surrogate: the spike count of every unit, weighted by fixed numbers
    weights = torch.linspace(-1, 1, spikes[0].numel()).reshape(spikes[0].shape)
    (spikes.sum(0) * weights).sum().backward()
    return spikes.detach().numpy(), conv.weight.grad.norm().item(), x.grad.norm().item()


def test_spikes_do_not_depend_on_the_weight_scale_and_the_weight_gradient_does():
    base_spikes, base_wgrad, base_xgrad = _run(1.0)
    assert 0.05 < base_spikes.mean() < 0.5
    for scale in (0.5, 2.0):
        spikes, wgrad, xgrad = _run(scale)
        assert np.array_equal(spikes, base_spikes) or np.mean(spikes != base_spikes) < 1e-3   # float32 near-ties
        assert wgrad * scale == pytest.approx(base_wgrad, rel=1e-3)
        assert xgrad == pytest.approx(base_xgrad, rel=1e-3)
