"""snn_bridge.models: the SEW-/MS-ResNet and VGG builders in snnTorch and SpikingJelly.

What is checked: shapes, records and roles; every call starts from rest; neurons and weight
layers are registered in the order the forward pass uses them; the two libraries compute the
same network spike for spike where the module docstring says their neurons are the same (zero
reset for any beta, subtract reset at beta = 1), and differ where it says they differ (soft reset
at beta < 1); the surrogate-gradient BPTT of the two independent implementations agrees; the
SpikingJelly neuron mapping (tau = 1/(1 - beta), decay_input=False) against the toolkit's update
written out in NumPy. Deterministic (seeded), no statistical tolerance.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
from torch import nn  # noqa: E402

from snn_bridge.models import FAMILIES, build_model, ms_resnet, neuron_parameters, sew_resnet, vgg  # noqa: E402

TINY = dict(blocks=1, channels=(3, 4))


def _libraries():
    libs = ["snntorch"]
    try:
        import spikingjelly.activation_based  # noqa: F401
        libs.append("spikingjelly")
    except ImportError:
        pass
    return libs


def _sj():
    return pytest.importorskip("spikingjelly")


def _input(T=3, B=4, seed=0, size=28):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(B, 1, size, size, generator=g)
    return image.unsqueeze(0).expand(T, B, 1, size, size)


# Exact arithmetic for the library-agreement checks. Images on a 2^-4 grid and weights on a 2^-8
# grid make every convolution, pooling sum and shortcut sum exact in float32 whatever the
# summation order (partial sums are multiples of 2^-12 below 2^4), and beta in {0.5, 0.75, 1}
# keeps the leaky updates exact too (T = 4: membranes on a 2^-18 grid at worst). A threshold
# 1 + 2^-20 lies on none of these grids, so no membrane ties it (where snnTorch's > and
# SpikingJelly's >= differ). Without this, float32 rounding that depends on the batch layout
# (one library convolves T*B images at once, the other B per step) or on the CPU's kernels (CI's
# generic pass) flips a spike now and then, and a flipped spike changes the counts.
EXACT_THRESHOLD = 1.0 + 2.0 ** -20


def _exact_input(T=4, B=6, seed=0, size=28):
    return torch.floor(_input(T, B, seed, size) * 16) / 16


def _copy_weights(a, b, seed=1, gain=3.0, grid=None):
    """Same random weights (std gain / sqrt(fan_in)) in two models of the same architecture,
    rounded to multiples of ``grid`` when given."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for (_, ma, ra), (_, mb, rb) in zip(a.weight_roles(), b.weight_roles(), strict=True):
            assert ra == rb and ma.weight.shape == mb.weight.shape
            w = torch.randn(ma.weight.shape, generator=g) * (gain / math.sqrt(ma.weight[0].numel()))
            if grid is not None:
                w = torch.round(w / grid) * grid
            ma.weight.copy_(w)
            mb.weight.copy_(w)
            if ma.bias is not None:
                ma.bias.zero_()
                mb.bias.zero_()


@pytest.mark.parametrize("library", ["snntorch", "spikingjelly"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("bn", [False, True])
def test_shapes_records_and_rest(family, library, bn):
    if library == "spikingjelly":
        _sj()
    model = build_model(family, library, blocks=(1, 2), channels=(3, 5), bn=bn)
    x = _input()
    y1 = model(x)
    y2 = model(x)
    assert y1.shape == (4, 10)
    assert torch.equal(y1, y2), "a second call must start from rest"
    assert ((y1 >= 0) & (y1 <= 3) & (y1 == y1.round())).all(), "spike counts over T = 3"
    record = model.describe()
    assert record["family"] == family and record["library"] == library and record["bn"] is bn
    assert record["blocks"] == [1, 2] and record["channels"] == [3, 5]
    assert record["neuron_layers"] == len(model.neurons()) and record["weight_layers"] == len(model.weight_roles())
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    roles = [role for _, _, role in model.weight_roles()]
    assert roles[0] == "stem" and roles[-1] == "classifier"
    if family == "vgg":
        assert set(roles[1:-1]) == {"hidden"} and len(roles) == 3 + 1
    else:
        # 3 blocks (1 + 2), each with a last convolution; one downsampling shortcut (stage 2)
        assert roles.count("block_last") == 3 and roles.count("downsample") == 1
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert (n_bn > 0) is bn


@pytest.mark.parametrize("library", ["snntorch", "spikingjelly"])
@pytest.mark.parametrize("family", FAMILIES)
def test_registration_order_is_forward_order(family, library):
    """A translator walks named_modules(): neuron and weight layers must be registered in the
    order one forward step calls them."""
    if library == "spikingjelly":
        _sj()
    model = build_model(family, library, blocks=(2, 1), channels=(3, 4))
    calls = {"neuron": [], "weight": []}
    handles = []
    for name, module in model.neurons():
        handles.append(module.register_forward_hook(lambda m, a, o, name=name: calls["neuron"].append(name)))
    for name, module, _ in model.weight_roles():
        handles.append(module.register_forward_hook(lambda m, a, o, name=name: calls["weight"].append(name)))
    model(_input(T=1))
    for h in handles:
        h.remove()
    assert calls["neuron"] == [name for name, _ in model.neurons()]
    assert calls["weight"] == [name for name, _, _ in model.weight_roles()]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("reset,beta,same", [("zero", 0.5, True), ("zero", 0.75, True), ("subtract", 1.0, True),
                                             ("subtract", 0.5, False)])
def test_libraries_agree_where_the_neurons_are_the_same(family, reset, beta, same):
    """Same weights, same input: snnTorch's and SpikingJelly's models give the same output spike
    counts for zero reset (any beta) and subtract at beta = 1, as the module docstring says; with
    subtract at beta = 0.5 SpikingJelly's soft reset (which subtracts beta theta) gives other
    counts. Exact arithmetic and a threshold no membrane ties (EXACT_THRESHOLD), so equality is
    not at the mercy of float32 rounding."""
    _sj()
    kwargs = dict(TINY, reset=reset, beta=beta, channels=(6, 8), threshold=EXACT_THRESHOLD)
    a, b = build_model(family, "snntorch", **kwargs), build_model(family, "spikingjelly", **kwargs)
    _copy_weights(a, b, grid=2.0 ** -8)
    x = _exact_input(T=4, B=6)
    ya, yb = a(x), b(x)
    assert ya.sum() > 0, "the check needs output spikes"
    assert torch.equal(ya, yb) is same


@pytest.mark.parametrize("family", FAMILIES)
def test_surrogate_gradients_agree_between_libraries(family):
    """The training path proper (spikes forward, ATan surrogate backward, reset detached): the
    gradients of the cross-entropy on spike counts w.r.t. every weight agree between the two
    libraries' independent implementations (zero reset, no BN), to float32 rounding. A wrong
    surrogate scale, an undetached reset or a missing time step changes them by far more. The
    forward pass is exact (EXACT_THRESHOLD), so both backward passes see the same spikes."""
    _sj()
    kwargs = dict(TINY, reset="zero", beta=0.75, channels=(6, 8), threshold=EXACT_THRESHOLD)
    a, b = build_model(family, "snntorch", **kwargs), build_model(family, "spikingjelly", **kwargs)
    _copy_weights(a, b, grid=2.0 ** -8)
    x, y = _exact_input(T=4, B=6), torch.tensor([0, 1, 2, 3, 4, 5])
    for model in (a, b):
        torch.nn.functional.cross_entropy(model(x), y).backward()
    grads_a = [m.weight.grad for _, m, _ in a.weight_roles()]
    grads_b = [m.weight.grad for _, m, _ in b.weight_roles()]
    assert sum(float(g.abs().sum()) for g in grads_a) > 0
    for ga, gb in zip(grads_a, grads_b, strict=True):
        # float32 sums in another order: absolute slack 1e-5 of the layer's largest gradient
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-5 * float(ga.abs().max()))


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("beta", [0.5, 0.9, 1.0])
def test_spikingjelly_node_mapping(reset, beta):
    """The node of neuron_parameters against its documented update in NumPy: zero reset
    H = beta (1 - S) H + X; soft reset H = beta H + X - beta theta S; fires at H >= theta."""
    _sj()
    from snn_bridge.models import ModelConfig, make_neuron
    config = ModelConfig(family="vgg", library="spikingjelly", beta=beta, threshold=0.8, reset=reset).validate()
    node = make_neuron(config)
    x = torch.randn(12, 500, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    spikes = node(x).numpy()
    h = np.zeros(500)
    s = np.zeros(500)
    for t in range(12):
        if reset == "zero":
            h = beta * (1 - s) * h + x[t].numpy()
        else:
            h = beta * h + x[t].numpy() - beta * 0.8 * s
        s = (h >= 0.8).astype(float)
        np.testing.assert_array_equal(spikes[t], s)
    assert spikes.sum() > 0
    spec = neuron_parameters(config)
    assert spec["kwargs"]["detach_reset"] is True
    if beta < 1:
        assert spec["kwargs"]["tau"] == pytest.approx(1 / (1 - beta)) and spec["kwargs"]["decay_input"] is False


def test_snntorch_neuron_is_the_toolkit_neuron():
    """snnTorch Leaky as built here against docs/theory.md §1 (subtract reset, u > theta)."""
    from snn_bridge.models import ModelConfig, make_neuron
    leaky = make_neuron(ModelConfig(family="vgg", beta=0.6, threshold=0.9))
    x = torch.randn(10, 300, generator=torch.Generator().manual_seed(4))
    u, s = np.zeros(300, dtype=np.float32), np.zeros(300, dtype=np.float32)
    for t in range(10):
        out = leaky(x[t]).numpy()
        u = np.float32(0.6) * u + x[t].numpy() - np.float32(0.9) * s
        s = (u > np.float32(0.9)).astype(np.float32)
        np.testing.assert_array_equal(out, s)


@pytest.mark.parametrize("library", ["snntorch", "spikingjelly"])
def test_readouts_and_heads(library):
    if library == "spikingjelly":
        _sj()
    x = _input(T=2)
    counts = build_model("ms", library, **TINY)
    summed = build_model("ms", library, **TINY, readout="current_sum", head="avgpool")
    assert summed.fc.in_features == 4 and counts.fc.in_features == 4 * 14 * 14
    assert not any("out" in name for name, _ in summed.neurons())
    out = summed(x)
    assert out.shape == (4, 10) and not torch.equal(out, out.round()), "summed currents are not counts"
    with torch.no_grad():
        summed.fc.weight.zero_()
        summed.fc.bias.fill_(0.25)
    assert torch.allclose(summed(x), torch.full((4, 10), 0.5)), "sum over T = 2 steps of the bias"


def test_named_builders():
    assert sew_resnet("IAND", **TINY).config.family == "sew_iand"
    assert ms_resnet(**TINY).config.family == "ms"
    assert vgg(**TINY).config.family == "vgg"
    with pytest.raises(ValueError, match="connect"):
        sew_resnet("AND")


@pytest.mark.parametrize("kwargs,match", [
    (dict(family="resnet"), "family"),
    (dict(family="vgg", library="torch"), "library"),
    (dict(family="vgg", channels=(4, 0)), "channels"),
    (dict(family="vgg", channels="16,32"), "channels"),
    (dict(family="vgg", blocks=(1, 2, 3), channels=(4, 4)), "blocks"),
    (dict(family="vgg", beta=1.5), "beta"),
    (dict(family="vgg", threshold=0.0), "threshold"),
    (dict(family="vgg", surrogate_scale=-1.0), "surrogate_scale"),
    (dict(family="vgg", reset="hard"), "reset"),
    (dict(family="vgg", readout="membrane"), "readout"),
    (dict(family="vgg", head="max"), "head"),
    (dict(family="vgg", channels=(2,) * 6), "input_shape"),
    (dict(family="vgg", library="spikingjelly", beta=0.0), "beta"),
    (dict(family="vgg", library="spikingjelly", reset="none"), "reset"),
    (dict(family="vgg", library="spikingjelly", learn_beta=True, beta=1.0), "beta"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    if kwargs.get("library") == "spikingjelly":
        _sj()
    family = kwargs.pop("family")
    with pytest.raises(ValueError, match=match):
        build_model(family, **kwargs)


def test_bad_input_shape():
    model = build_model("vgg", **TINY)
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, 1, 28, 28\)"):
        model(torch.rand(4, 1, 28, 28))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.rand(2, 4, 1, 32, 32))


@pytest.mark.parametrize("library", ["snntorch", "spikingjelly"])
def test_learn_beta_trains_the_leak(library):
    if library == "spikingjelly":
        _sj()
    model = build_model("vgg", library, **TINY, learn_beta=True)
    names = [n for n, p in model.named_parameters() if n.endswith(".beta") or n.endswith(".w")]
    assert len(names) == len(model.neurons())
    torch.nn.functional.cross_entropy(model(_input(T=3)), torch.arange(4)).backward()
    grads = [p.grad for n, p in model.named_parameters() if n in names]
    assert any(g is not None and float(g.abs()) > 0 for g in grads)
