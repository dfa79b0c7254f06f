"""snn_bridge.translate: what the bridge reads from a torch model, in snnTorch and SpikingJelly.

Structural checks (deterministic): each recognised pattern gives the description it should (layer
values, batch-norm statistics over time or per step, residual blocks and their connect, the
neuron's dynamics and input scale), calling conventions are detected, surrogates are read with
the libraries' own backward, and what the theory does not model is refused naming the module."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import theory  # noqa: E402
from snn_bridge import diagnose, initialize_, translate  # noqa: E402
from snn_bridge.neurons import read_surrogate, snntorch_module, spikingjelly_module  # noqa: E402
from snn_bridge.translate import ProjectionSEW  # noqa: E402

from .patterns import build  # noqa: E402

pytestmark = pytest.mark.extra
needs_snntorch = pytest.mark.skipif(snntorch_module() is None, reason="needs snntorch")
needs_sj = pytest.mark.skipif(spikingjelly_module() is None, reason="needs spikingjelly")
LIBRARIES = [pytest.param("snntorch", marks=needs_snntorch), pytest.param("spikingjelly", marks=needs_sj)]


def _kinds(layers):
    return [type(v).__name__ for v in layers]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("pattern, expected", [
    ("dense", ["LIF", "Dense", "LIF", "Dense", "LIF", "Dense", "LIF"]),
    ("conv", ["Conv", "LIF", "Conv", "LIF", "Conv", "LIF"]),
    ("maxpool_current", ["Conv", "MaxPool", "LIF", "Conv", "MaxPool", "LIF"]),
    ("maxpool_spikes", ["Conv", "LIF", "MaxPool", "Conv", "LIF"]),
    ("avgpool", ["Conv", "LIF", "AvgPool", "Conv", "LIF"]),
    ("batchnorm", ["Conv", "BatchNorm", "LIF", "Conv", "BatchNorm", "LIF"]),
    ("sew_add", ["Conv", "LIF", "SEW", "SEW"]),
    ("sew_iand", ["Conv", "LIF", "SEW", "SEW"]),
    ("ms", ["Conv", "MS", "MS", "LIF"]),
    ("projection", ["Conv", "LIF", "ProjectionSEW", "SEW"]),
])
def test_patterns_translate(pattern, expected, library):
    model, shape = build(pattern, library, channels=8, width=50)
    tr = translate(model, shape, T=2)
    assert _kinds(tr.network.layers.layers) == expected
    assert tr.call == ("step" if library == "snntorch" else "sequence")
    assert len(tr.weights) == tr.network.depth
    blocks = [v for v in tr.network.layers.layers if isinstance(v, (theory.SEW, theory.MS, ProjectionSEW))]
    if pattern.startswith("sew"):
        assert {b.connect for b in blocks} == {pattern[4:]}
        assert _kinds(blocks[0].branch.layers) == ["Conv", "LIF", "Conv", "LIF"]
    if pattern == "ms":
        assert _kinds(blocks[0].branch.layers) == ["LIF", "Conv", "LIF", "Conv"]
    if pattern == "projection":
        assert _kinds(blocks[0].shortcut.layers) == ["Conv", "LIF"] and blocks[0].shortcut.layers[0].stride == (2, 2)
        assert tr.own_blocks and len(tr.streams) == 3
    if pattern == "batchnorm":
        assert set(tr.over.values()) == {"step" if library == "snntorch" else "time"}
    lif = tr.network.neurons[0]
    assert (lif.threshold, lif.beta) == (1.0, 0.5)
    assert lif.reset == ("subtract" if library == "snntorch" else "subtract_leaky")
    profile = theory.mean_field(tr.network, samples=2000)
    assert profile.rate.shape == (len(tr.neurons), 2)


@needs_sj
def test_spikingjelly_neurons():
    """LIFNode (decay_input False/True, hard/soft), IFNode, ParametricLIFNode, single-step mode."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate
    cases = [
        (neuron.LIFNode(tau=4.0, decay_input=False, v_threshold=0.7, v_reset=0.0), (0.7, 0.75, "zero"), 1.0),
        (neuron.LIFNode(tau=4.0, decay_input=True, v_threshold=0.7, v_reset=None), (0.7, 0.75, "subtract_leaky"), 4.0),
        (neuron.IFNode(v_threshold=1.0, v_reset=None), (1.0, 1.0, "subtract_leaky"), 1.0),
        (neuron.ParametricLIFNode(init_tau=2.0, decay_input=True), (1.0, 0.5, "zero"), 2.0),
    ]
    for node, (threshold, beta, reset), compensation in cases:
        for mode in ("s", "m"):
            model = nn.Sequential(layer.Linear(100, 100, bias=False), node)
            functional.set_step_mode(model, mode)
            report = initialize_(model, T=2, warn=False, trainable_depth=False)
            lif = report.network.neurons[0]
            assert lif.reset == reset and lif.threshold == pytest.approx(threshold) and lif.beta == pytest.approx(beta)
            assert report.translation.call == ("step" if mode == "s" else "sequence")
            # decay_input=True: the drawn std is the registry's times tau, so that the current is the registry's
            assert report.layers[0].std == pytest.approx(theory.optimal_sigma(threshold, 100) * compensation)
            assert float(model[0].weight.detach().std()) == pytest.approx(report.layers[0].std, rel=0.05)
    bad = nn.Sequential(layer.Linear(10, 10), neuron.LIFNode(v_reset=-0.5))
    with pytest.raises(ValueError, match="v_reset must be 0"):
        translate(bad, (10,))
    qif = nn.Sequential(layer.Linear(10, 10), neuron.QIFNode())
    with pytest.raises(ValueError, match=r"unsupported module '1' \(QIFNode\)"):
        translate(qif, (10,))
    assert read_surrogate(surrogate.ATan(alpha=3.0)) == ("atan", 3.0)
    assert read_surrogate(surrogate.Sigmoid(alpha=5.0)) == ("sigmoid", 5.0)
    assert read_surrogate(surrogate.PiecewiseQuadratic()) is None


@needs_sj
@pytest.mark.parametrize("factory, name", [("ATan", "atan"), ("Sigmoid", "sigmoid")])
def test_spikingjelly_surrogates_are_the_theorys(factory, name):
    """SpikingJelly's backward through the spike equals theory.core.surrogates' derivative."""
    from spikingjelly.activation_based import surrogate
    from theory.core.surrogates import surrogate_grad
    fn = getattr(surrogate, factory)(alpha=3.0)
    x = torch.linspace(-2, 2, 101, dtype=torch.float64, requires_grad=True)
    fn(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), surrogate_grad(name, x.detach().numpy(), 3.0), rtol=1e-6, atol=1e-9)


@needs_snntorch
def test_calling_conventions_and_functional_layers():
    """A forward that loops over a static image itself (the snnTorch tutorial's class style, with
    F.max_pool2d and explicit membranes) is "static"; a Sequential is "step"."""
    import snntorch as snn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self, steps=3):
            super().__init__()
            self.steps = steps
            self.conv1 = nn.Conv2d(1, 8, 5)
            self.lif1 = snn.Leaky(beta=0.5)
            self.fc = nn.Linear(8 * 12 * 12, 10)
            self.lif2 = snn.Leaky(beta=0.5)

        def forward(self, x):
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            out = []
            for _ in range(self.steps):
                spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x), 2), mem1)
                spk2, mem2 = self.lif2(self.fc(spk1.flatten(1)), mem2)
                out.append(spk2)
            return torch.stack(out)

    model = Net()
    tr = translate(model, (1, 28, 28), T=3)
    assert tr.call == "static" and tr.steps == 3
    assert _kinds(tr.network.layers.layers) == ["Conv", "MaxPool", "LIF", "Flatten", "Dense", "LIF"]
    with pytest.raises(ValueError, match="model's own number of steps, 3"):
        translate(model, (1, 28, 28), T=4)
    initialize_(model, input_shape=(1, 28, 28), T=3, encoding="static", warn=False)
    table = diagnose(model, torch.randn(16, 1, 28, 28), steps=3, verbose=False)
    assert table.rate.shape == (2, 3) and np.all(np.isfinite(table.predicted_rate))
    np.testing.assert_allclose(table.mem_var[0, 0], table.predicted_mem_var[0, 0], rtol=0.25)


@needs_snntorch
def test_dropout_and_identity():
    import snntorch as snn
    model = nn.Sequential(snn.Leaky(beta=0.5, init_hidden=True), nn.Dropout(0.2), nn.Linear(500, 500),
                          nn.Identity(), snn.Leaky(beta=0.5, init_hidden=True))
    model.train()
    tr = translate(model, (500,))
    assert tr.network.layers.layers[1].gain == pytest.approx(1 / math.sqrt(0.8)) and any("dropout" in n for n in tr.notes)
    model.eval()
    assert translate(model, (500,)).network.layers.layers[1].gain == 1.0


@needs_snntorch
def test_unsupported_modules_are_named():
    import snntorch as snn

    def leaky():
        return snn.Leaky(beta=0.5, init_hidden=True)

    class Concat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.lif = nn.Linear(10, 10), nn.Linear(10, 10), leaky()
            self.fc, self.out = nn.Linear(20, 10), leaky()

        def forward(self, x):
            x = self.lif(self.a(x))
            return self.out(self.fc(torch.cat([x, self.b(x)], dim=1)))

    class Membrane(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(10, 10), snn.Leaky(beta=0.5, output=True, init_hidden=True)
            self.fc2, self.lif2 = nn.Linear(10, 10), leaky()

        def forward(self, x):
            spk, mem = self.lif1(self.fc1(x))
            return self.lif2(self.fc2(mem))

    cases = [
        (nn.Sequential(nn.Conv3d(1, 4, 3), leaky()), (1, 6, 6, 6), "input_shape must be"),
        (nn.Sequential(nn.Conv2d(1, 4, 3), leaky(), nn.MaxPool2d(3, 2, 1), nn.Conv2d(4, 4, 3), leaky()), (1, 12, 12),
         r"module '2' \(MaxPool2d\): kernel \(3, 3\), stride \(2, 2\), padding 1"),
        (nn.Sequential(nn.Conv2d(1, 4, 3, groups=1, dilation=2), leaky()), (1, 12, 12), "dilation"),
        (nn.Sequential(nn.Linear(10, 10), nn.Tanh(), leaky()), (10,), r"unsupported module '1' \(Tanh\)"),
        (Concat(), (10,), "'cat'"),
        (Membrane(), (10,), "membrane output"),
    ]
    for model, shape, match in cases:
        with pytest.raises(ValueError, match=match):
            initialize_(model, input_shape=shape, unpaired="list", warn=False)


@needs_sj
def test_ms_stream_with_decay_input_is_refused():
    model, shape = build("ms", "spikingjelly", channels=4, decay_input=True)
    with pytest.raises(ValueError, match="reads a residual stream"):
        translate(model, shape)


@needs_sj
def test_batch_norm_in_eval_mode_is_refused_by_diagnose_and_state_is_restored():
    model, shape = build("batchnorm", "spikingjelly", channels=8, bn_over="container")
    tr = translate(model, shape, T=2)
    assert set(tr.over.values()) == {"time"}
    initialize_(model, input_shape=shape, T=2, warn=False)
    bn = model[0][1]
    before = bn.running_mean.clone()
    diagnose(model, torch.randn(2, 8, *shape), verbose=False)
    assert torch.equal(bn.running_mean, before)
    model.eval()
    with pytest.raises(ValueError, match="evaluation mode"):
        diagnose(model, torch.randn(2, 8, *shape), verbose=False)


@needs_snntorch
def test_unpaired_readout_and_input_shape():
    import snntorch as snn
    model = nn.Sequential(nn.Conv2d(1, 4, 3), snn.Leaky(beta=0.5, init_hidden=True), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 10))
    readout = model[3].weight.clone()
    with pytest.raises(ValueError, match="input_shape must be given"):
        initialize_(model, warn=False)
    with pytest.raises(ValueError, match=r"'3' \(Linear\).*unpaired='list'"):
        initialize_(model, input_shape=(1, 8, 8), warn=False)
    report = initialize_(model, input_shape=(1, 8, 8), unpaired="list", warn=False)
    assert report.unpaired == ["3"] and torch.equal(model[3].weight, readout)
    assert _kinds(report.network.layers.layers) == ["Conv", "LIF"]
    with pytest.raises(ValueError, match="could not tell how to call the model.*to have 1 channels"):
        initialize_(model, input_shape=(4, 8, 8), unpaired="list", warn=False)
