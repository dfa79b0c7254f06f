"""Training's configuration is the description plus optimiser, data and I/O: TrainConfig.network()
is the theory.Network a configuration trains, TrainConfig.from_network inverts it for the layouts
the Numba trainer runs, and train(net, ...) trains a description bit for bit as its config."""
import numpy as np
import pytest

import theory
from simulate.data import load_dataset
from simulate.train import TrainConfig, build_network, train
from theory import LIF, Conv, Dense, Flatten, Init, Network, serial

CONFIGS = [dict(depth=5, width=32, init="micheli", steps=4),
           dict(depth=5, width=32, init="kaiming", steps=3, reset="zero", bias=True, bias_std=0.3, weight_scale=1.2),
           dict(depth=5, width=32, init="escape_critical", firing="escape", escape_noise=0.5, steps=3),
           dict(depth=5, width=32, init="stable", weight_rate=0.05, steps=3),
           dict(depth=6, width=32, architecture="sew_add", init="sew_add", steps=4),
           dict(depth=6, width=32, architecture="sew_add", init="micheli", steps=4, branch_scaling="none"),
           dict(depth=12, width=32, init="micheli_temporal", steps=4, reset="zero")]


@pytest.mark.parametrize("fields", CONFIGS)
def test_a_configuration_is_its_network_and_back(fields):
    config = TrainConfig(**fields).validate()
    net = config.network()
    assert net.depth == config.depth - 1                  # weight layers, as everywhere in Python
    back = TrainConfig.from_network(net)
    assert back.identity() == config.identity()
    weights, _ = build_network(config, 784, 10)
    assert [w.shape for w in weights] == [(e.fan_in, e.fan_out) for e in net.plan]


def test_the_network_carries_the_initialisers_context():
    """A temporal init in a T = 4, zero-reset run is solved for T = 4 and the zero reset."""
    net = TrainConfig(depth=4, width=50, init="micheli_temporal", steps=4, reset="zero").network()
    assert net.plan[1].law.std == theory.inits.weight_std("micheli_temporal", 50, 50, 1.0, 0.5, T=4, reset="zero")


def test_training_a_description_equals_training_its_configuration():
    data = load_dataset("mnist", None, 256, 128)
    options = dict(epochs=1, batch_size=64, progress=False, eval_batch_size=128)
    net = Network(depth=3, width=[784, 24, 24, 10], neuron=LIF(1.0, 0.5), init="kaiming", T=3)
    a = train(net, data, **options)
    b = train(TrainConfig(depth=4, width=24, init="kaiming", steps=3, **options), data)
    assert a.history[0]["train_loss_batches"] == b.history[0]["train_loss_batches"]
    for wa, wb in zip(a.network.weights, b.network.weights):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("net, match", [
    (Network(serial(Conv(4, 3), LIF(), Flatten(), Dense(10), LIF()), input=(1, 28, 28)), "snn_bridge"),
    (Network(depth=3, width=[784, 30, 20, 10]), "one width"),
    (Network(depth=2, width=[784, 30, 10], init=Init("micheli_temporal", T=10), T=4), "from the network"),
])
def test_networks_the_trainer_does_not_run_are_refused_naming_why(net, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.from_network(net)


def test_training_fields_go_with_a_network_only():
    with pytest.raises(ValueError, match="go with a theory.Network"):
        train(TrainConfig(), lr=1e-2)
