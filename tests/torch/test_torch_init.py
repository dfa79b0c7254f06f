"""snn_bridge: registry inits as torch functions, initialize_ on snnTorch models, diagnose.

Statistical tests are seeded (deterministic on one machine); each states its false-positive rate,
i.e. the probability that a correct implementation fails it for a fresh seed.
"""
import warnings

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
from torch import nn  # noqa: E402

import simulate  # noqa: E402
import theory  # noqa: E402
from theory import inits  # noqa: E402
from theory import torch_init  # noqa: E402
from snn_bridge import diagnose, fans, init_, initialize_, micheli_normal_, read_surrogate  # noqa: E402

from .helpers import linears, mlp, run_torch, toolkit_biases, toolkit_weights  # noqa: E402

# registry parameters that keep every entry cheap (micheli_temporal: T = 2 uses exact quadrature)
FAST_PARAMS = {"micheli_temporal": {"T": 2}}
SHAPES = {"linear": (400, 300), "conv2d": (64, 16, 3, 3)}


# ------------------------------------------------------------------------------------------------
# init_ for every registry entry
# ------------------------------------------------------------------------------------------------

def test_fans_follow_torch_including_conv_kernels():
    assert fans(torch.empty(400, 300)) == (300, 400)
    assert fans(nn.Conv2d(16, 64, 3).weight) == (16 * 9, 64 * 9)
    assert fans(nn.Conv1d(8, 4, 5, groups=2).weight) == (4 * 5, 4 * 5)
    ref = nn.init._calculate_fan_in_and_fan_out
    for shape in [(7, 3), (64, 16, 3, 3), (5, 2, 3, 4, 2)]:
        assert fans(torch.empty(shape)) == ref(torch.empty(shape))


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
@pytest.mark.parametrize("name", [n for n in inits.names() if inits.get(n).dist != "stable"])
def test_init_draws_the_registry_std(name, shape_name):
    """Sample second moment against weight_std(name, fan_in, fan_out) with the conv fans.

    Normal entries: N mean(w^2) / std^2 ~ chi-square(N) exactly (zero mean known); two-sided
    interval at 1e-4. Uniform entries: the support is exactly +-sqrt(3) std (max |w| within a
    10/N relative margin of the bound fails with prob e^-10) and mean(w^2) is tested by a
    z-test with Var[w^2] = 4 a^4 / 45 at 1e-4. False-positive rate per case < 2e-4 (36 cases:
    < 1 % for the family). A wrong fan (e.g. c_in instead of c_in k^2) moves std by 3x: fails."""
    shape = SHAPES[shape_name]
    tensor = torch.empty(shape, dtype=torch.float32)
    params = FAST_PARAMS.get(name, {})
    out = init_(tensor, name, threshold=1.0, beta=0.5, generator=torch.Generator().manual_seed(1), **params)
    assert out is tensor
    fan_in, fan_out = fans(tensor)
    std = inits.weight_std(name, fan_in, fan_out, 1.0, 0.5, **params)
    w = tensor.double().numpy().ravel()
    n = w.size
    second = float(np.mean(w**2))
    if inits.get(name).dist == "normal":
        lo, hi = stats.chi2.ppf([5e-5, 1 - 5e-5], n) / n
        assert lo * std**2 <= second <= hi * std**2, (name, np.sqrt(second), std)
    else:
        half = np.sqrt(3.0) * std
        assert np.max(np.abs(w)) <= half * (1 + 1e-6)
        assert np.max(np.abs(w)) >= half * (1 - 10.0 / n)
        z = (second - half**2 / 3) / np.sqrt(4 * half**4 / 45 / n)
        assert abs(z) < stats.norm.ppf(1 - 5e-5), (name, z)


def test_init_refuses_stable_weights():
    """init_ draws normal and uniform laws only: the alpha-stable entry is refused with a ValueError."""
    with pytest.raises(ValueError, match="stable"):
        init_(torch.empty(20, 30), "stable", threshold=1.0)


def test_conv_std_uses_the_kernel_fan_in():
    conv = nn.Conv2d(16, 64, 3)
    micheli_normal_(conv.weight, generator=torch.Generator().manual_seed(0))
    sample = float(conv.weight.detach().double().pow(2).mean().sqrt())
    right, wrong = theory.optimal_sigma(1.0, 16 * 9), theory.optimal_sigma(1.0, 16)
    assert abs(sample / right - 1) < 0.05 and abs(sample / wrong - 1) > 0.5


def test_generator_reproducibility_and_micheli_normal():
    a = micheli_normal_(torch.empty(50, 40), threshold=1.2, generator=torch.Generator().manual_seed(7))
    b = init_(torch.empty(50, 40), "micheli", threshold=1.2, generator=torch.Generator().manual_seed(7))
    c = micheli_normal_(torch.empty(50, 40), threshold=1.2, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    m1, m2 = mlp(3, 50), mlp(3, 50)
    initialize_(m1, generator=torch.Generator().manual_seed(3), warn=False)
    initialize_(m2, generator=torch.Generator().manual_seed(3), warn=False)
    for x, y in zip(linears(m1), linears(m2)):
        assert torch.equal(x.weight, y.weight)


def test_init_runs_without_grad_tracking_on_parameters():
    layer = nn.Linear(30, 20)
    init_(layer.weight, "kaiming")
    assert layer.weight.requires_grad and layer.weight.grad_fn is None


def test_init_bad_input():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init_(torch.empty(10), "micheli")
    with pytest.raises(ValueError, match="floating"):
        init_(torch.empty(4, 4, dtype=torch.int64), "micheli")
    with pytest.raises(ValueError, match="name must be one of"):
        init_(torch.empty(4, 4), "he")
    with pytest.raises(ValueError, match="generator"):
        init_(torch.empty(4, 4), "micheli", generator=3)
    with pytest.raises(ValueError, match="params"):
        init_(torch.empty(4, 4), "kaiming", target_var=2.0)


# ------------------------------------------------------------------------------------------------
# surrogates: the snnTorch closures map onto theory.core.surrogates with the same scaling
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("factory, kwargs, name, scale", [
    ("atan", {}, "atan", 2.0), ("atan", {"alpha": 3.0}, "atan", 3.0),
    ("fast_sigmoid", {"slope": 10}, "fast_sigmoid", 10.0), ("sigmoid", {}, "sigmoid", 25.0),
    ("triangular", {}, "triangular", 1.0), ("straight_through_estimator", {}, "straight_through", 1.0),
])
def test_read_surrogate_matches_snntorch_backward(factory, kwargs, name, scale):
    """The mapped theory surrogate equals snnTorch's autograd derivative at 41 points."""
    from snntorch import surrogate
    spike_grad = getattr(surrogate, factory)(**kwargs)
    assert read_surrogate(spike_grad) == (name, scale)
    x = torch.linspace(-1.0, 1.0, 41, dtype=torch.float64).requires_grad_()
    spike_grad(x).sum().backward()
    expected = theory.core.surrogates.surrogate_grad(name, x.detach().numpy(), scale)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_unknown_surrogate_reports_chi_unknown():
    from snntorch import surrogate
    assert read_surrogate(surrogate.spike_rate_escape()) is None
    assert read_surrogate(lambda x: x) is None
    model = mlp(2, 700, spike_grad=surrogate.spike_rate_escape())
    report = initialize_(model, warn=False, trainable_depth=False)
    assert all(neuron.chi is None for neuron in report.neurons)
    assert any(note.startswith("chi:") for note in report.notes)
    assert "unknown" in report.text()


# ------------------------------------------------------------------------------------------------
# initialize_: pairing, report, warnings, errors
# ------------------------------------------------------------------------------------------------

def test_report_matches_the_theory_functions():
    """Report values are those of theory.propagate / spike_count_chain / chi for the same stack."""
    from snntorch import surrogate
    model = mlp(5, 800, beta=0.3, threshold=0.9, spike_grad=surrogate.fast_sigmoid(slope=25))
    report = initialize_(model, init="micheli", warn=False, trainable_depth=False)
    theta = float(torch.tensor(0.9))             # the neuron holds its threshold in float32
    std = theory.optimal_sigma(theta, 800)
    mf = theory.propagate(5, std, 800, theta)
    chain = theory.spike_count_chain(5, 800, theta)
    assert report.depth == 5 and report.neurons[0].module == "0" and report.network.plain
    for i, (layer, neuron) in enumerate(zip(report.layers, report.neurons[1:]), start=1):
        assert layer.fan_in == 800 and layer.fan_out == 800 and neuron.threshold == pytest.approx(0.9)
        assert neuron.beta == pytest.approx(0.3) and neuron.reset == "subtract" and layer.neuron == neuron.module
        assert layer.std == pytest.approx(std, rel=1e-12)
        assert neuron.rate[0] == pytest.approx(mf.rate[i], rel=1e-9)
        assert neuron.mem_var[0] == pytest.approx(mf.q[i], rel=1e-9)
        assert neuron.p_silent == pytest.approx(chain.silent[i], rel=1e-9, abs=1e-300)
        assert neuron.chi == pytest.approx(theory.chi("fast_sigmoid", std, 800, theta, q=mf.q[i], scale=25.0), rel=1e-6)
    for lin in linears(model):
        assert torch.count_nonzero(lin.bias) == 0          # bias="zero" default
    rows = report.rows()
    assert len(rows) == 6 and rows[1]["module"] == "2" and rows[1]["step"] == 1


def test_reset_is_passed_to_initialisers_that_take_one():
    model = mlp(2, 200, beta=0.9, reset="zero")
    report = initialize_(model, init="micheli_temporal", T=2, warn=False, trainable_depth=False)
    beta = float(torch.tensor(0.9))
    expected = inits.weight_std("micheli_temporal", 200, 200, 1.0, beta, T=2, reset="zero")
    assert report.layers[0].std == pytest.approx(expected)
    assert expected != pytest.approx(inits.weight_std("micheli_temporal", 200, 200, 1.0, beta, T=2, reset="subtract"))


def test_bias_options():
    model = mlp(2, 100)
    before = [lin.bias.clone() for lin in linears(model)]
    initialize_(model, bias="leave", warn=False)
    assert all(torch.equal(b, lin.bias) for b, lin in zip(before, linears(model)))
    report = initialize_(model, init="pytorch_default", bias="init", generator=torch.Generator().manual_seed(0),
                         warn=False)
    bias = linears(model)[0].bias
    assert torch.count_nonzero(bias) == 100 and float(bias.detach().abs().max()) <= 1 / np.sqrt(100)
    assert report.layers[0].bias_var == pytest.approx(1 / (3 * 100))      # the law's E[b^2], for every draw
    initialize_(model, init="kaiming", bias="init", warn=False)
    assert torch.count_nonzero(linears(model)[0].bias) == 0
    with pytest.raises(ValueError, match="bias"):
        initialize_(model, bias="random")
    with pytest.raises(ValueError, match="init must be one of"):
        initialize_(model, init="he")


def test_warns_narrow_layers_and_supercritical_threshold():
    with pytest.warns(UserWarning, match=r"narrower than theory.min_width\(20"):
        report = initialize_(mlp(20, 100), trainable_depth=False)
    assert report.min_width == theory.min_width(20, 1.0) and report.neurons[-1].p_silent > 0.3
    with pytest.warns(UserWarning, match="critical_threshold"):
        initialize_(mlp(2, 2000, threshold=1.5), trainable_depth=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = initialize_(mlp(3, 1000), trainable_depth=False)     # wide enough, subcritical: silent
    assert report.warnings == []


def test_model_beginning_with_a_linear_layer():
    """No input Leaky: layer 1's variance is fan_in std^2 E[x^2]; the chain starts at layer 1."""
    model = nn.Sequential(nn.Linear(784, 500), snn.Leaky(beta=0.5, init_hidden=True),
                          nn.Linear(500, 500), snn.Leaky(beta=0.5, init_hidden=True))
    report = initialize_(model, input_std=np.sqrt(0.1), warn=False, trainable_depth=False)
    assert report.neurons[0].module == "1" and len(report.neurons) == 2
    s1, s2 = theory.optimal_sigma(1.0, 784), theory.optimal_sigma(1.0, 500)
    q1 = 784 * s1**2 * 0.1
    assert report.neurons[0].mem_var[0] == pytest.approx(q1)
    assert report.neurons[1].mem_var[0] == pytest.approx(500 * s2**2 * theory.firing_probability(1.0, q1))
    assert report.neurons[1].p_silent is None         # the exact chain starts from an input neuron layer


def test_conv_model_pairs_through_flatten():
    model = nn.Sequential(snn.Leaky(beta=0.5, init_hidden=True), nn.Conv2d(3, 16, 3, padding=1),
                          snn.Leaky(beta=0.5, init_hidden=True), nn.Flatten(), nn.Linear(16 * 8 * 8, 10),
                          snn.Leaky(beta=0.5, init_hidden=True))
    report = initialize_(model, input_shape=(3, 8, 8), warn=False)
    assert [r.kind for r in report.layers] == ["Conv2d", "Linear"]
    assert report.layers[0].fan_in == 27 and report.layers[0].std == pytest.approx(theory.optimal_sigma(1.0, 27))
    assert report.neurons[1].p_silent is None and any("P(silent)" in n for n in report.notes)
    assert report.network.layers.layers[3] == theory.Flatten()
    table = diagnose(model, torch.randn(3, 8, 3, 8, 8), verbose=False)
    assert table.rate.shape == (3, 3) and np.all(np.isfinite(table.predicted_rate))


class Unordered(nn.Module):
    """Registers fc2 before fc1 but calls fc1 first: the bridge follows the execution order."""

    def __init__(self):
        super().__init__()
        self.lif0 = snn.Leaky(beta=0.5, init_hidden=True)
        self.fc2 = nn.Linear(50, 50)
        self.lif2 = snn.Leaky(beta=0.5, init_hidden=True)
        self.fc1 = nn.Linear(50, 50)
        self.lif1 = snn.Leaky(beta=0.5, init_hidden=True)

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(self.lif0(x)))))


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10), snn.Leaky(beta=0.5, init_hidden=True)), r"no neuron follows module\(s\) '0'"),
    (nn.Sequential(nn.Linear(10, 10), snn.Leaky(beta=0.5, init_hidden=True), nn.Linear(10, 2)), r"module\(s\) '2' \(Linear\)"),
    (nn.Sequential(nn.Linear(10, 10), nn.ReLU(), snn.Leaky(beta=0.5, init_hidden=True)), r"unsupported module '1' \(ReLU\)"),
    (nn.Sequential(nn.Linear(10, 10), snn.Leaky(beta=0.5, init_hidden=True), snn.Leaky(beta=0.5, init_hidden=True)), r"'2' \(Leaky\) reads spikes"),
    (nn.Sequential(nn.Linear(10, 10), snn.Synaptic(alpha=0.5, beta=0.5, init_hidden=True)), r"unsupported module '1' \(Synaptic\)"),
    (nn.Sequential(nn.Linear(10, 10), snn.Leaky(beta=torch.full((10,), 0.5), init_hidden=True)), r"'1': beta must be one number"),
    (nn.Sequential(nn.Linear(10, 10), snn.Leaky(beta=0.5, graded_spikes_factor=2.0, init_hidden=True)), r"'1': graded_spikes_factor"),
    (nn.Sequential(nn.Linear(10, 10), snn.Leaky(beta=0.5, reset_delay=False, init_hidden=True)), r"'1': Leaky\(reset_delay=False\)"),
    (nn.Sequential(nn.ReLU(), nn.Linear(10, 10), snn.Leaky(beta=0.5, init_hidden=True)), r"unsupported module '0' \(ReLU\)"),
    (nn.Sequential(nn.Linear(10, 10)), "at least one spiking neuron layer"),
])
def test_bad_models_name_the_module(model, match):
    with pytest.raises(ValueError, match=match):
        initialize_(model, input_shape=(10,), warn=False)
    with pytest.raises(ValueError, match=match):
        diagnose(model, torch.zeros(2, 3, 10), verbose=False)


def test_unpaired_list_leaves_the_readout_untouched():
    model = nn.Sequential(snn.Leaky(beta=0.5, init_hidden=True), nn.Linear(500, 500),
                          snn.Leaky(beta=0.5, init_hidden=True), nn.Linear(500, 10))
    readout = model[3].weight.clone()
    with pytest.raises(ValueError, match="unpaired='list'"):
        initialize_(model, warn=False, trainable_depth=False)
    report = initialize_(model, unpaired="list", warn=False)
    assert report.unpaired == ["3"] and torch.equal(model[3].weight, readout)
    assert report.neurons[1].rate[0] == pytest.approx(theory.stable_fixed_point(
        theory.optimal_sigma(1.0, 500), 500, 1.0).rate)


def test_the_execution_order_not_the_registration_order():
    model = Unordered()
    report = initialize_(model, warn=False, trainable_depth=False)
    assert [n.module for n in report.neurons] == ["lif0", "lif1", "lif2"]
    assert [layer.module for layer in report.layers] == ["fc1", "fc2"]
    table = diagnose(model, torch.randn(2, 4, 50), verbose=False)
    assert table.modules == ["lif0", "lif1", "lif2"]


# ------------------------------------------------------------------------------------------------
# the snnTorch model against the toolkit's simulator and theory
# ------------------------------------------------------------------------------------------------

TIE = 1e-5   # |u - theta| below this counts as a float32 near-tie (see test docstring)


def _compare_layerwise(model, currents, beta, threshold, reset):
    """Each layer's spikes from simulate.run_network fed torch's spikes of the layer below must
    equal torch's, except on (batch, neuron) traces that come within TIE of the threshold at
    some step. Returns (number of excluded traces, end-to-end spikes of run_network)."""
    spikes, mems = run_torch(model, torch.from_numpy(currents))
    weights, biases = toolkit_weights(model), toolkit_biases(model)
    full = simulate.run_network(weights, currents, beta=beta, threshold=threshold, reset=reset, biases=biases,
                                record_spikes=True)
    ties = 0
    near = np.any(np.abs(mems[0] - threshold) <= TIE, axis=0)
    ties += int(near.sum())
    assert np.array_equal(full.spikes[0][:, ~near], spikes[0][:, ~near].astype(np.uint8))
    for l in range(1, len(spikes)):
        one = simulate.run_network([weights[l - 1]], spikes[l - 1], beta=beta, threshold=threshold, reset=reset,
                                   biases=[biases[l - 1]], input_is_spikes=True, record_spikes=True)
        near = np.any(np.abs(mems[l] - threshold) <= TIE, axis=0)          # (B, n) traces
        ties += int(near.sum())
        mismatch = one.spikes[1] != spikes[l].astype(np.uint8)
        assert not np.any(mismatch[:, ~near]), f"layer {l}: {int(mismatch[:, ~near].sum())} spikes differ"
    return ties, spikes, mems, full


def _float32_error(model, spikes, mems):
    """max |u_torch - u_float64| at step 1 (u = s_{l-1} @ W + b recomputed in float64)."""
    worst = 0.0
    for l, lin in enumerate(linears(model), start=1):
        w = lin.weight.detach().double().numpy()
        b = lin.bias.detach().double().numpy() if lin.bias is not None else 0.0
        exact = spikes[l - 1][0].astype(np.float64) @ w.T + b
        worst = max(worst, float(np.max(np.abs(mems[l][0] - exact))))
    return worst


def test_spikes_equal_run_network_depth20_width1000():
    """A depth-20, width-1000 snnTorch MLP initialised by initialize_ gives, at T = 1, the same
    spikes as simulate.run_network on the same weights (transposed) and input currents.

    Near-ties: torch's Linear (MKL sgemm, blocked sums) and the simulator (sums of weight rows
    in input order) round differently in float32; torch's membrane is asserted within TIE / 4
    of its float64 value (the simulator's rounding is of the same size), so the two differ by
    less than TIE and a spike can differ only where |u - theta| <= 1e-5 (TIE). Layer by layer (the simulator fed torch's own spikes of the layer
    below) every trace farther than TIE from the threshold must agree exactly; end to end
    (run_network from the input currents alone) every layer must agree exactly unless a near-tie
    occurred at or below it, in which case the first differing layer must differ only at
    near-tie traces. Deterministic: no false positives."""
    model = mlp(20, 1000, beta=0.5)
    initialize_(model, generator=torch.Generator().manual_seed(11), warn=False)
    currents = np.random.default_rng(5).standard_normal((1, 64, 1000)).astype(np.float32)
    ties, spikes, mems, full = _compare_layerwise(model, currents, 0.5, 1.0, "subtract")
    assert _float32_error(model, spikes, mems) < TIE / 4
    first_tie = next((l for l in range(21) if np.any(np.abs(mems[l] - 1.0) <= TIE)), 21)
    for l in range(21):
        differ = full.spikes[l] != spikes[l].astype(np.uint8)
        if not differ.any():
            continue
        assert l >= first_tie, f"layer {l} differs end to end with no near-tie at or below it"
        near = np.any(np.abs(mems[l] - 1.0) <= TIE, axis=0)
        assert not differ[:, ~near].any(), f"first differing layer {l} differs away from near-ties"
        break
    assert np.mean(spikes[20]) > 0.1            # the comparison is not between two silent networks


@pytest.mark.parametrize("reset, beta", [("subtract", 0.5), ("zero", 0.9), ("none", 0.5), ("subtract", 0.0)])
def test_leaky_dynamics_equal_run_network_over_time(reset, beta):
    """Over T = 8 steps, with torch's default (nonzero) biases kept: snnTorch Leaky (reset_delay
    True) and run_network have the same semantics for every reset (near-ties as above)."""
    torch.manual_seed(0)
    model = mlp(4, 300, beta=beta, reset=reset, threshold=0.8)
    initialize_(model, bias="leave", generator=torch.Generator().manual_seed(2), warn=False)
    currents = np.random.default_rng(1).standard_normal((8, 32, 300)).astype(np.float32)
    ties, spikes, *_ = _compare_layerwise(model, currents, beta, 0.8, reset)
    assert np.mean(spikes[4]) > 0.01


def _rates_over_seeds(depth, width, seeds, batch):
    model = mlp(depth, width, beta=0.5)
    rates = []
    report = None
    for seed in seeds:
        report = initialize_(model, generator=torch.Generator().manual_seed(seed), warn=False, trainable_depth=False)
        x = torch.randn(batch, width, generator=torch.Generator().manual_seed(10_000 + seed))
        table = diagnose(model, x, steps=1, verbose=False)
        rates.append(table.rate[:, 0])
    return np.array(rates), report


def _check_rates_against_mean_field(depth, width, seeds, batch, alpha=1e-3):
    """Per layer, the mean over networks (fresh weights and inputs per seed) of the measured rate
    against a Student-t interval (Bonferroni over the depth + 1 layers; family false-positive
    rate alpha for each of the two checks):

    - the exact finite-width expectation (theory.spike_count_chain's rate_mean for the same
      stack) lies inside the interval: the sharp check;
    - the report's mean-field rate (what initialize_ tells the user) lies inside the interval
      widened by the finite-width bias |chain - mean field|, which the chain computes (it can
      exceed the Monte Carlo interval at width 1000, so mean field alone is not the right
      centre for a sharp test; the bias is asserted below 3 % of the rate).
    Power: drawing every layer with 1.02 x the reported std makes the slow version fail.
    """
    rates, report = _rates_over_seeds(depth, width, seeds, batch)
    s = len(seeds)
    predicted = np.array([n.rate[0] for n in report.neurons])
    mean = rates.mean(axis=0)
    se = rates.std(axis=0, ddof=1) / np.sqrt(s)
    t = stats.t.ppf(1 - alpha / (2 * (depth + 1)), s - 1)
    chain = theory.spike_count_chain(depth, width, 1.0, sigma_w=[r.std for r in report.layers])
    bias = np.abs(chain.rate_mean - predicted)
    assert np.all(bias < 0.03 * predicted)
    outside = np.abs(mean - chain.rate_mean) > t * se
    assert not outside.any(), (np.nonzero(outside), mean, chain.rate_mean, t * se)
    outside = np.abs(mean - predicted) > t * se + bias
    assert not outside.any(), (np.nonzero(outside), mean, predicted, t * se)
    return mean, se, t


def test_mlp_rates_at_T1_match_mean_field_fast():
    """Depth 20, width 1000, 6 networks x 100 inputs (family false-positive rate 1e-3)."""
    _check_rates_against_mean_field(20, 1000, range(6), 100)


@pytest.mark.slow
def test_mlp_rates_at_T1_match_mean_field():
    """Depth 20, width 1000, 24 networks x 200 inputs (family false-positive rate 1e-3)."""
    _check_rates_against_mean_field(20, 1000, range(100, 124), 200)


def test_wrong_init_fails_the_rate_check():
    """Power: the same check with Kaiming weights (rates die) must reject the micheli prediction."""
    model = mlp(20, 1000, beta=0.5)
    micheli = initialize_(model, warn=False, trainable_depth=False)
    initialize_(model, init="kaiming", warn=False, trainable_depth=False)
    table = diagnose(model, torch.randn(100, 1000, generator=torch.Generator().manual_seed(0)), steps=1,
                     verbose=False)
    assert table.rate[10, 0] < micheli.neurons[10].rate[0] / 2


# ------------------------------------------------------------------------------------------------
# diagnose
# ------------------------------------------------------------------------------------------------

def test_diagnose_reports_a_dead_layer():
    """Layer 3's weights are zeroed (no biases): layers 3..6 are dead; the theory says rate 0 there."""
    model = mlp(6, 400, bias=False)
    initialize_(model, warn=False, trainable_depth=False)
    with torch.no_grad():
        linears(model)[2].weight.zero_()
    table = diagnose(model, torch.randn(4, 64, 400, generator=torch.Generator().manual_seed(0)), verbose=False)
    assert table.dead.tolist() == [False, False, False, True, True, True, True]
    assert np.all(table.rate[3:] == 0) and np.all(table.predicted_rate[3:] == 0)
    assert np.all(table.rate[:3].mean(axis=1) > 0.05)
    assert table.text().count("DEAD") == 8


def _rms(model):
    """The model's own weight scales sqrt(E[w^2]) per layer (what diagnose's theory uses)."""
    return [float(lin.weight.detach().double().pow(2).mean().sqrt()) for lin in linears(model)]


def test_diagnose_measures_what_run_network_measures():
    """diagnose's per-step rate and membrane variance equal run_network's statistics for the same
    weights and currents (same spikes, see the near-tie test; variances of the same float32
    membranes: relative 1e-6)."""
    model = mlp(5, 300, beta=0.7)
    initialize_(model, generator=torch.Generator().manual_seed(4), warn=False)
    currents = np.random.default_rng(3).standard_normal((6, 50, 300)).astype(np.float32)
    table = diagnose(model, torch.from_numpy(currents), verbose=False)
    ref = simulate.run_network(toolkit_weights(model), currents, beta=0.7, threshold=1.0, reset="subtract",
                               biases=toolkit_biases(model))
    np.testing.assert_allclose(table.rate, ref.rate, rtol=1e-12)
    np.testing.assert_allclose(table.mem_var, ref.mem_var, rtol=1e-6)
    beta = float(torch.tensor(0.7))
    expected = theory.propagate_temporal(5, 6, _rms(model), 300, 1.0, beta, "subtract",
                                         input_std=float(np.sqrt(np.mean(currents.astype(np.float64) ** 2))))
    np.testing.assert_allclose(table.predicted_rate, expected.rate, rtol=1e-3)
    rows = table.rows()
    assert len(rows) == 6 * 6 and set(rows[0]) >= {"layer", "step", "rate", "rate_theory", "mem_var", "dead"}


def test_diagnose_static_input_and_leaves_model_at_rest():
    model = mlp(3, 200)
    initialize_(model, warn=False, trainable_depth=False)
    x = torch.randn(16, 200)
    table = diagnose(model, x, steps=4, verbose=False)
    again = diagnose(model, x, steps=4, verbose=False)
    np.testing.assert_allclose(table.rate, again.rate, rtol=1e-12)
    expected = theory.propagate_temporal(3, 4, _rms(model), 200, 1.0, 0.5, "subtract",
                                         encoding="static", input_std=float(x.double().pow(2).mean().sqrt()))
    np.testing.assert_allclose(table.predicted_rate, expected.rate, rtol=1e-3)
    with pytest.raises(ValueError, match="steps"):
        diagnose(model, x, steps=0)
    with pytest.warns(UserWarning, match="ONE step's input"), pytest.raises(ValueError, match="200 inputs"):
        diagnose(model, torch.randn(4, 16, 200), steps=4, verbose=False)
    with pytest.raises(ValueError, match="inputs"):
        diagnose(model, x.numpy())


def _linear_first(width=300, depth=3):
    layers = []
    for i in range(depth):
        layers += [nn.Linear(784 if i == 0 else width, width, bias=False), snn.Leaky(beta=0.5, init_hidden=True)]
    return nn.Sequential(*layers)


def test_diagnose_model_beginning_with_a_linear_layer():
    """Raw inputs into the first Linear. 0/1 inputs varying over steps: theory with Bernoulli(mean)
    spikes as layer 0; real-valued inputs: layer 1's current N(0, fan_in E[w^2] E[x^2]) as the
    theory's input layer (static when the steps repeat). Same calls, compared exactly."""
    model = _linear_first()
    initialize_(model, input_std=np.sqrt(0.2), warn=False, trainable_depth=False)
    sig = _rms(model)
    g = torch.Generator().manual_seed(0)
    spikes_in = (torch.rand(4, 64, 784, generator=g) < 0.2).float()
    table = diagnose(model, spikes_in, verbose=False)
    expected = theory.propagate_temporal(3, 4, sig, [784, 300, 300], 1.0, 0.5, "subtract", encoding="bernoulli",
                                         input_rate=float(spikes_in.double().mean()))
    np.testing.assert_allclose(table.predicted_rate, expected.rate[1:], rtol=1e-12)
    assert table.modules == ["1", "3", "5"] and any("Bernoulli" in n for n in table.notes)
    x = torch.randn(64, 784, generator=g) * 0.5
    table = diagnose(model, x, steps=3, verbose=False)
    first_std = np.sqrt(784 * sig[0] ** 2 * float(x.double().pow(2).mean()))
    expected = theory.propagate_temporal(2, 3, sig[1:], [300, 300], 1.0, 0.5, "subtract", encoding="static",
                                         input_std=first_std)
    np.testing.assert_allclose(table.predicted_rate, expected.rate, rtol=1e-12)


def test_chi_one_sets_each_surrogate_for_unit_gain():
    """initialize_(chi_one=True): every neuron fed by a weight layer gets the ATan scale of
    theory.chi_one_scale at its predicted step-1 membrane variance, reads back as that closure,
    and the report's chi is 1. Independent of the theory's quadrature: the installed closure's own
    autograd derivative over 200,000 currents u ~ N(0, q) gives fan_in sigma^2 E[g(u - theta)^2]
    = 1 within 4 standard errors (false-positive rate 6e-5 per neuron)."""
    from snntorch import surrogate
    model = mlp(3, 400, beta=0.5, spike_grad=surrogate.atan(alpha=2.0))
    report = initialize_(model, init="micheli", chi_one=True, warn=False, trainable_depth=False)
    set_for = [(n, m) for n, m in zip(report.neurons, (m for m in model if isinstance(m, snn.Leaky)))
               if n.chi is not None]
    assert len(set_for) == 3 and report.neurons[0].chi is None        # the input neuron has no weight layer
    g = torch.Generator().manual_seed(0)
    for (neuron, module), layer in zip(set_for, report.layers, strict=True):
        name, scale = read_surrogate(module.spike_grad)
        assert name == "atan" and scale != 2.0 and "set for chi = 1" in neuron.surrogate
        q = float(neuron.mem_var[0])
        assert scale == pytest.approx(theory.chi_one_scale("atan", layer.std, 400, neuron.threshold, q=q), rel=1e-9)
        assert neuron.chi == pytest.approx(1.0, rel=1e-6)
        u = (torch.randn(200_000, generator=g, dtype=torch.float64) * q ** 0.5).requires_grad_()
        module.spike_grad(u - neuron.threshold).sum().backward()
        terms = 400 * layer.std ** 2 * u.grad.numpy() ** 2
        assert abs(terms.mean() - 1.0) < 4 * terms.std(ddof=1) / np.sqrt(terms.size)
