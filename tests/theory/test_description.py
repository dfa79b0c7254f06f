"""The composable description (theory.Network of layer values) and the evaluators that dispatch on
it: the plain, residual, escape-noise and stable-weight networks are each one expression, each
evaluator gives the numbers of the regime's own function for it, and conflicting or impossible
descriptions are refused naming what is wrong."""
import pickle
import time

import numpy as np
import pytest

import theory
from theory import (LIF, SEW, Conv, Dense, Encoding, Escape, Flatten, Init, MaxPool, Network, Repeat, Stable,
                    mean_field, serial, trainability)
from theory.regimes import escape, heavy_tailed
from theory.regimes.residual import propagate_sew, sew_trainability


def test_composition_equals_the_keyword_form_and_is_a_frozen_value():
    neuron = LIF(1.0, 0.5)
    composed = Network(serial(neuron, Repeat(serial(Dense(80), neuron), 4)), input=80, T=3)
    keyword = Network(depth=4, width=80, neuron=neuron, T=3)
    assert composed == keyword and hash(composed) == hash(keyword)
    assert keyword.depth == 4 and keyword.widths == (80,) * 5 and keyword.plain
    assert pickle.loads(pickle.dumps(keyword)) == keyword
    with pytest.raises(AttributeError):
        keyword.T = 5


def test_a_uniform_stack_of_a_million_layers_builds_in_a_moment():
    start = time.perf_counter()
    net = Network(depth=10 ** 6, width=10)
    assert time.perf_counter() - start < 5.0
    assert net.depth == 10 ** 6 and len(net.neurons) == 10 ** 6 + 1


@pytest.mark.parametrize("make, name", [
    (lambda: Network(serial(LIF(), Dense(10), LIF()), input=10, depth=1), "depth"),
    (lambda: Network(serial(LIF(), Dense(10), LIF())), "input"),
    (lambda: Network(serial(LIF(), Dense(10), LIF()), input=10, encoding=Encoding("bernoulli", rate=0.1)),
     "first layer"),
    (lambda: Network(serial(MaxPool(2), LIF()), input=(1, 4, 4)), "first layer"),
    (lambda: Network(serial(LIF(), Conv(4, 3), LIF(), Dense(10), LIF()), input=(1, 8, 8)), "Flatten"),
    (lambda: Network(serial(LIF(), Conv(4, 9), LIF()), input=(1, 8, 8)), "larger"),
    (lambda: Network(serial(LIF(), Dense(10), LIF(), SEW(serial(Dense(5), LIF()))), input=10), "shape"),
    (lambda: Network(serial(LIF(), Dense(10)), input=10), "neuron"),
    (lambda: Network(depth=True, width=10), "depth"),
    (lambda: Dense(10, weights="he"), "init"),
    (lambda: Init("ding", bogus=1.0), "params"),
    (lambda: MaxPool(2, stride=1), "stride"),
    (lambda: SEW(serial(Dense(5), LIF()), connect="xor"), "connect"),
    (lambda: SEW(serial(Dense(5), LIF()), connect="iand", multiplier=0.5), "multiplier"),
    (lambda: LIF(firing="escape"), "firing"),
    (lambda: Escape(0.0), "tau"),
    (lambda: Stable(2.5, 1.0), "alpha"),
])
def test_bad_descriptions_are_refused_naming_the_problem(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_escape_mean_field_at_one_step_is_the_escape_length_map():
    tau, width = 0.5, 300
    net = Network(depth=6, width=width, neuron=LIF(1.0, 0.0, firing=Escape(tau)), init="escape_critical")
    sigma = net.weight_stds()[0]
    assert sigma == escape.critical_sigma(width, 1.0, tau)
    rate = mean_field(net).rate[:, 0]
    q = 1.0
    for layer in range(7):
        assert rate[layer] == pytest.approx(escape.escape_rate(q, 1.0, tau), rel=1e-12)
        q = escape.length_map(q, sigma, width, 1.0, tau)


def test_stable_weights_mean_field_is_the_heavy_tailed_rate_map():
    net = Network(depth=5, width=200, init=Init("stable", alpha=1.0, rate=0.05),
                  encoding=Encoding("bernoulli", rate=0.2))
    gain = heavy_tailed.gain_for_rate(0.05, 1.0, 1.0)
    np.testing.assert_allclose(mean_field(net).rate[:, 0], heavy_tailed.propagate_rate(5, 1.0, gain, 1.0, 0.2),
                               rtol=1e-12)
    chain = theory.spike_count(net)
    np.testing.assert_allclose(chain.rate[:, 0], heavy_tailed.count_chain(5, 200, 1.0, gain, 1.0, 0.2).rate,
                               rtol=1e-9)


def test_residual_mean_field_agrees_with_the_stream_recursion():
    """The SEW block rule walked over theory.sew_network against theory.regimes.residual's own
    recursion (independent Monte Carlo streams: within 4 combined standard errors; false-positive
    rate below 1e-3 per value, 13 x 4 values)."""
    net = theory.sew_network(10, 100, T=4, samples=2000)
    walked = mean_field(net, samples=20000, seed=1)
    direct = propagate_sew(list(net.weight_stds()), [784] + [100] * 11 + [10], 4, 1, 1.0, 0.5, "subtract", "static",
                           samples=20000, seed=2, branch_scale=1 / np.sqrt(10))
    se = np.hypot(walked.rate_se, direct.rate_se)
    assert np.all(np.abs(walked.rate - direct.rate) <= 4 * se + 1e-12)
    np.testing.assert_allclose(walked.stream, direct.stream_mean, atol=0.02)


def test_trainability_dispatches_to_each_regimes_theory():
    plain = Network(depth=10, width=100, neuron=LIF(1.0, 0.5), T=2, encoding=Encoding("static"))
    assert trainability(plain, samples=2000).xi_c == \
        trainability(threshold=1.0, beta=0.5, T=2, fan_in=100, samples=2000).xi_c
    esc = Network(depth=10, width=100, neuron=LIF(1.0, 0.0, firing=Escape(0.5)), init="escape_critical")
    point = trainability(esc)
    assert point.regime == "escape" and point.xi_c == escape.predict(0.5, 1.0, 100).xi_c
    stable = Network(depth=10, width=100, init=Init("stable", alpha=1.0, rate=0.05),
                     encoding=Encoding("bernoulli", rate=0.05))
    point = trainability(stable)
    assert point.regime == "heavy_tailed"
    assert point.xi_c == heavy_tailed.heavy_tailed_trainability(alpha=1.0, rate=0.05, width=100).xi_c
    residual = theory.sew_network(10, 100, T=4, samples=1000)
    point = trainability(residual, samples=1000)
    direct = sew_trainability(13, 100, T=4, threshold=1.0, beta=0.5, branch_scale=1 / np.sqrt(10), samples=1000)
    assert point.regime == "residual" and point.xi_c == direct.xi_c
    assert point.chi == float(np.mean(direct.chi_block))


def test_trainability_says_what_it_cannot_predict_and_refuses_conflicts():
    pooled = Network(serial(LIF(), Conv(8, 3), MaxPool(2), LIF(), Flatten(), Dense(10), LIF()), input=(1, 12, 12))
    point = trainability(pooled)
    assert np.isnan(point.xi_c) and "MaxPool" in point.notes[0]
    conv = Network(serial(LIF(), Conv(8, 3, padding=1), LIF(), Conv(8, 3, padding=1), LIF()), input=(8, 12, 12),
                   T=1)
    point = trainability(conv, samples=1000)
    assert point.regime == "convolutional" and np.isfinite(point.xi_c)
    with pytest.raises(ValueError, match="must not be given"):
        trainability(Network(depth=3, width=50), T=5, beta=0.9)


@pytest.mark.parametrize("call, name", [
    (lambda: LIF(threshold=[1.0, 2.0]), "threshold"),
    (lambda: theory.propagate_temporal(3, 3, 0.1, 100, [1.0, 2.0], 0.5), "threshold"),
    (lambda: theory.propagate_temporal(3, 10 ** 12, 0.1, 100, 1.0, 0.5), "memory"),
    (lambda: theory.weight_std(["micheli"], 10), "name"),
    (lambda: theory.weight_std("micheli", 10, 10, 1.0, [0.5, 0.6]), "beta"),
    (lambda: theory.mean_field(Network(depth=2, width=10), samples=1), "samples"),
])
def test_newcomer_inputs_to_the_description_and_its_evaluators(call, name):
    with pytest.raises(ValueError, match=name):
        call()
