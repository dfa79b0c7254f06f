"""simulate.walk, the simulator of a network description: on a plain stack it gives the numbers of
simulate.run_network bit for bit (the same kernels in the same order), and on residual networks it
keeps the stream where the theory says."""
import numpy as np
import pytest

import simulate
import theory
from simulate import walk
from theory import LIF, Encoding, Escape, Network


@pytest.mark.parametrize("options", [
    dict(neuron=LIF(1.0, 0.5, "subtract"), T=4, bias_var=0.04),
    dict(neuron=LIF(1.0, 0.9, "zero"), T=3, encoding=Encoding("bernoulli", rate=0.3)),
    dict(neuron=LIF(0.5, 0.0, "none"), T=2, encoding=Encoding("static", std=1.5), init="kaiming"),
    dict(neuron=LIF(1.0, 0.5, firing=Escape(0.5)), T=3, init="escape_critical"),
])
def test_plain_stacks_give_run_networks_numbers_bit_for_bit(options):
    net = Network(depth=5, width=[300, 200, 150, 150, 100, 50], **options)
    weights, biases, inputs = walk.draw(net, 16, np.random.default_rng(3))
    got = walk.forward(net, weights, biases, inputs, noise_seed=11)
    neuron = net.neuron
    firing = {} if neuron.deterministic else dict(firing="escape", escape_noise=neuron.firing.tau, noise_seed=11)
    want = simulate.run_network(weights, inputs, beta=neuron.beta, threshold=neuron.threshold, reset=neuron.reset,
                                biases=None if all(b is None for b in biases) else biases,
                                input_is_spikes=net.encoding.spikes, **firing)
    for quantity in ("rate", "mem_mean", "mem_var", "active"):
        np.testing.assert_array_equal(getattr(got, quantity), getattr(want, quantity))


def test_draws_follow_the_plan_order_weights_then_biases_then_inputs():
    net = Network(depth=2, width=[30, 20, 10], bias_var=0.25, init="kaiming")
    weights, biases, inputs = walk.draw(net, 4, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    expected = [(np.sqrt(2 / 30) * rng.standard_normal((30, 20))).astype(np.float32),
                (np.sqrt(2 / 20) * rng.standard_normal((20, 10))).astype(np.float32)]
    for w, e in zip(weights, expected):
        np.testing.assert_array_equal(w, e)
    np.testing.assert_array_equal(biases[0], (0.5 * rng.standard_normal(20)).astype(np.float32))


@pytest.mark.slow
def test_a_hundred_block_residual_network_keeps_its_stream_where_the_theory_says():
    """100 SEW-ADD blocks (width 200, T 4, the sew_add init): the simulated stream mean after every
    block against the mean field's, and every layer's rate. Simulated means over 6 draws with
    their standard errors; the theory is accepted within 4 se + 10 % (finite width 200 moves the
    rates by O(1/width) per layer, which compounds over the stream: the margin states it)."""
    net = theory.sew_network(100, 200, T=4, samples=4000)
    predicted = theory.mean_field(net, samples=8000)
    measured = simulate.monte_carlo(net, draws=6, batch=32, seed=2)
    stream_sim = measured.stream.mean(axis=1)
    stream_theory = predicted.stream.mean(axis=1)
    assert stream_sim.shape == stream_theory.shape == (101,)
    np.testing.assert_allclose(stream_sim, stream_theory, rtol=0.1)
    rate_gap = np.abs(measured.rate - predicted.rate)
    assert np.all(rate_gap <= 4 * measured.rate_se + 0.1 * predicted.rate + 1e-3)


@pytest.mark.parametrize("call, name", [
    (lambda: simulate.monte_carlo("micheli", 2, 10 ** 9, draws=2), "memory"),
    (lambda: simulate.monte_carlo(Network(depth=2, width=10), draws=2, beta=0.5), "must not be given"),
    (lambda: simulate.monte_carlo("micheli", 2, 10, draws=2, input_rate=0.3), "input_rate"),
    (lambda: simulate.run_network([np.ones((3, 3)) + 1j], np.ones((2, 2, 3), np.float32), beta=0.5, threshold=1.0),
     "real"),
])
def test_bad_monte_carlo_calls_name_the_problem(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_compare_refuses_fractional_layers_and_nothing_comparable():
    net = Network(depth=2, width=50)
    mc = simulate.monte_carlo(net, draws=2, batch=2)
    with pytest.raises(ValueError, match="layers"):
        simulate.compare(mc, theory.mean_field(net), layers=[1.7])
    with pytest.raises(ValueError, match="layers"):
        simulate.compare(mc, theory.mean_field(net), layers=[True])
    with pytest.raises(ValueError, match="nothing to compare"):
        simulate.compare(mc, theory.gram_chain(net), quantities=["mem_var"])


def test_count_correlation_of_identical_inputs_is_one_and_of_independent_ones_near_zero():
    """Two identical static inputs through one network give identical spikes (correlation 1 in
    every row that fires); independent inputs start uncorrelated at the input layer (|c| below
    5 / sqrt(units x pairs): a fluctuation bound exceeded with probability below 1e-6)."""
    from simulate.experiments import count_correlation
    net = Network(depth=3, width=300, neuron=LIF(1.0, 0.5), T=3, encoding=Encoding("static"))
    same = count_correlation(net, 1.0, pairs=8, networks=2, seed=3)
    np.testing.assert_allclose(same["correlation"], 1.0, rtol=0, atol=1e-12)
    diff = count_correlation(net, 0.0, pairs=8, networks=2, seed=3)
    assert np.all(np.abs(diff["correlation"][:, 0]) < 5 / np.sqrt(300 * 8))


def test_initial_statistics_match_evaluate_and_have_one_norm_per_layer():
    from simulate.data import load_mnist
    from simulate.experiments import initial_statistics
    from simulate.train import TrainConfig, build_network, evaluate
    data = load_mnist(192, 64)
    config = TrainConfig(depth=6, width=32, steps=3)
    stats = initial_statistics(config, data, batches=2)
    weights, biases = build_network(config.validate(), 784, 10)
    assert stats["rates"] == evaluate(weights, biases, data.x_test, data.y_test, config)["rates"]
    assert stats["grad_norms"].shape == (2, 5) and np.isfinite(stats["norm_ratio"])
