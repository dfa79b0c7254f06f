"""theory.Network / LIF / Encoding and the evaluators that take them (mean_field, spike_count,
gram_chain): validation, and that each evaluator returns exactly what the underlying keyword
function returns for the same network (same float64 numbers, not merely close)."""
import numpy as np
import pytest

import theory
from theory import LIF, Encoding, Network
from theory import inits
from theory.core import lif


def test_defaults_and_widths():
    net = Network(depth=3, width=50)
    assert net.widths == (50, 50, 50, 50) and net.T == 1 and net.neuron == LIF(1.0, 0.0, "subtract")
    np.testing.assert_array_equal(net.weight_stds(), [theory.optimal_sigma(1.0, 50)] * 3)
    per_layer = Network(depth=2, width=[784, 100, 10], init="kaiming")
    np.testing.assert_array_equal(per_layer.fan_ins, [784, 100])
    np.testing.assert_allclose(per_layer.weight_stds(), np.sqrt(2 / np.array([784, 100])), rtol=1e-15)
    assert Network(depth=2, width=10, sigma_w=0.3).weight_stds().tolist() == [0.3, 0.3]
    assert hash(net) == hash(Network(depth=3, width=50))      # frozen values


@pytest.mark.parametrize("make, name", [
    (lambda: LIF(threshold=np.nan), "threshold"),
    (lambda: LIF(beta=1.5), "beta"),
    (lambda: LIF(reset="soft"), "reset"),
    (lambda: Encoding("poisson"), "encoding"),
    (lambda: Encoding("bernoulli"), "rate"),
    (lambda: Encoding("bernoulli", rate=1.5), "input_rate"),
    (lambda: Encoding("gaussian", rate=0.2), "rate"),
    (lambda: Encoding(std=-1.0), "input_std"),
    (lambda: Network(depth=-1), "depth"),
    (lambda: Network(depth=2, width=[10, 10]), "width"),
    (lambda: Network(depth=2, width=0), "width"),
    (lambda: Network(depth=2, T=0), "T"),
    (lambda: Network(depth=2, bias_var=-1.0), "bias_var"),
    (lambda: Network(depth=2, init="he"), "init"),
    (lambda: Network(depth=2, sigma_w=[0.1, 0.2, 0.3]), "sigma_w"),
    (lambda: Network(depth=2, sigma_w=np.inf), "sigma_w"),
    (lambda: Network(depth=2, neuron=(1.0, 0.5, "zero")), "neuron"),
    (lambda: Network(depth=2, init="ding", init_params={"lam": 0.0}), "lam"),
    (lambda: theory.mean_field("not a network"), "net"),
    (lambda: theory.spike_count(Network(depth=2, T=3)), "T"),
])
def test_bad_description_names_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_one_reset_table():
    assert lif.RESETS == ("subtract", "zero", "none", "subtract_leaky")
    assert [lif.reset_code(r) for r in lif.RESETS] == [0, 1, 2, 3]
    assert [LIF(reset=r).reset_code for r in lif.RESETS] == [0, 1, 2, 3]


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_membrane_by_hand(code):
    u = np.array([0.5, 1.5, -0.25], dtype=np.float32)
    s = np.array([0.0, 1.0, 1.0], dtype=np.float32)
    current = np.array([0.125, -0.5, 2.0], dtype=np.float32)
    beta, theta = np.float32(0.5), np.float32(1.0)
    want = {0: [0.375, -0.75, 0.875], 1: [0.375, -0.5, 2.0], 2: [0.375, 0.25, 1.875], 3: [0.375, -0.25, 1.375]}[code]
    got = lif.membrane(u, s, current, beta, theta, code)
    assert got.dtype == np.float32          # float32 in, float32 out: no float64 literal involved
    np.testing.assert_array_equal(got, np.array(want, dtype=np.float32))


@pytest.mark.parametrize("T, beta, reset, encoding", [
    (1, 0.0, "subtract", Encoding()),
    (2, 0.5, "zero", Encoding("static", std=1.5)),
    (4, 0.9, "none", Encoding("bernoulli", rate=0.3)),
])
def test_mean_field_is_propagate_temporal(T, beta, reset, encoding):
    net = Network(depth=6, width=400, neuron=LIF(1.0, beta, reset), T=T, encoding=encoding, bias_var=0.05)
    profile = theory.mean_field(net, samples=2000, seed=3)
    direct = theory.propagate_temporal(6, T, net.weight_stds(), 400, 1.0, beta, reset,
                                       encoding=encoding.kind, input_std=encoding.std,
                                       input_rate=encoding.rate, bias_var=0.05, samples=2000, seed=3)
    for q in ("rate", "mem_mean", "mem_var", "rate_se", "mem_mean_se", "mem_var_se"):
        np.testing.assert_array_equal(getattr(profile, q), getattr(direct, q))
    assert profile.source == "mean field" and profile.detail is not None and np.all(np.isnan(profile.silent))


def test_mean_field_at_one_step_is_the_length_map():
    net = Network(depth=10, width=1000)
    profile = theory.mean_field(net)
    prop = theory.propagate(10, net.weight_stds()[0], 1000, 1.0)
    np.testing.assert_allclose(profile.rate[:, 0], prop.rate, rtol=1e-12)
    np.testing.assert_allclose(profile.mem_var[:, 0], prop.q, rtol=1e-12)


def test_spike_count_is_the_chain():
    net = Network(depth=8, width=[300, 200, 200, 100, 100, 100, 100, 100, 50], init="kaiming", bias_var=0.01)
    profile = theory.spike_count(net)
    chain = theory.spike_count_chain(8, np.array(net.widths), 1.0, sigma_w=net.weight_stds(), bias_var=0.01)
    np.testing.assert_array_equal(profile.rate[:, 0], chain.rate_mean)
    np.testing.assert_array_equal(profile.silent, chain.silent)
    assert np.all(profile.rate_se == 0) and np.all(np.isnan(profile.mem_var))


def test_gram_chain_is_temporal_chain():
    net = Network(depth=5, width=60, neuron=LIF(1.0, 0.5, "zero"), T=3, encoding=Encoding("static"))
    profile = theory.gram_chain(net, chains=16, seed=7)
    chain = theory.temporal_chain(5, 60, 3, net.weight_stds(), 1.0, 0.5, "zero", encoding="static",
                                  chains=16, seed=7)
    np.testing.assert_array_equal(profile.rate, chain.rate_mean)
    np.testing.assert_array_equal(profile.rate_se, chain.rate_se)
    np.testing.assert_array_equal(profile.silent, chain.silent)


@pytest.mark.parametrize("name", [n for n in inits.names() if inits.get(n).dist != "stable"])
def test_every_registry_entry_describes_a_network(name):
    """A new initialiser cannot escape: each one builds a Network whose stds are the registry's
    and whose mean field is the same propagate() as inits.predict."""
    net = Network(depth=3, width=200, neuron=LIF(1.0, 0.5), init=name)
    # parameters the network knows (its T and reset) are the network's: micheli_temporal at T = 1
    context = {k: v for k, v in (("T", net.T), ("reset", "subtract")) if k in inits.get(name).params}
    std = inits.weight_std(name, 200, 200, 1.0, 0.5, **context)
    np.testing.assert_array_equal(net.weight_stds(), [std] * 3)
    np.testing.assert_allclose(theory.mean_field(net).rate[:, 0], theory.propagate(3, std, 200, 1.0).rate,
                               rtol=1e-12)
    if not context:
        np.testing.assert_array_equal(theory.propagate(3, std, 200, 1.0).rate,
                                      inits.predict(name, 3, 200, threshold=1.0, beta=0.5).rate)
    assert net.gaussian_weights == (inits.get(name).dist == "normal")


def test_stable_weights_are_described_but_have_no_std():
    """Alpha-stable weights (infinite variance) describe a network; asking for a std is refused
    clearly, and the Gaussian chains refuse the network."""
    net = Network(depth=3, width=200, neuron=LIF(1.0, 0.5), init="stable")
    assert not net.gaussian_weights and net.plan[0].law.alpha == 1.0
    with pytest.raises(ValueError, match="no std"):
        net.weight_stds()
    with pytest.raises(ValueError, match="variance"):
        theory.gram_chain(net)


def test_context_parameters_come_from_the_network():
    """An initialiser that depends on T and the reset is evaluated for the network's own T and
    reset, unless given explicitly (a T = 4, zero-reset stack does not get the T = 10 subtract gain)."""
    net = Network(depth=2, width=100, T=4, neuron=LIF(1.0, 0.5, "zero"), init="micheli_temporal")
    assert net.weight_stds()[0] == inits.weight_std("micheli_temporal", 100, 100, 1.0, 0.5, T=4, reset="zero")
    pinned = Network(depth=2, width=100, T=4, neuron=LIF(1.0, 0.5, "zero"), init="micheli_temporal",
                     init_params={"T": 10})
    assert pinned.weight_stds()[0] == inits.weight_std("micheli_temporal", 100, 100, 1.0, 0.5, T=10, reset="zero")
