"""Trained weights are the user's to keep: train returns the network, save/load
round-trip a documented .npz without pickles; files and paths are checked before the work
starts; the training command line explains every flag and ends a user's mistake with one line
and exit status 2."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import simulate
import simulate.train as train_module
from simulate.data import Dataset, load_idx_directory, load_mnist
from simulate.train import (TrainConfig, TrainedNetwork, TrainResult, build_parser, load_network,
                            save_network, train)

from .test_data import _idx_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def tiny_mnist():
    return load_mnist(train_size=96, test_size=48)


def _config(**overrides):
    base = dict(depth=3, width=16, steps=3, batch_size=32, epochs=1, progress=False, seed=5, init="kaiming")
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tiny_mnist):
    return train(_config(bias=True), data=tiny_mnist)


def test_train_returns_the_network_and_the_history(trained, tiny_mnist):
    assert isinstance(trained, TrainResult) and isinstance(trained.network, TrainedNetwork)
    net = trained.network
    # (fan_in, fan_out): 784 -> 16 -> 10, the transpose of torch.nn.Linear.weight
    assert [w.shape for w in net.weights] == [(784, 16), (16, 10)]
    assert [b.shape for b in net.biases] == [(16,), (10,)]
    assert all(w.dtype == np.float32 for w in net.weights)
    assert net.config.width == 16 and net.history == trained.history
    # the network returned is the trained one: it reproduces the last epoch's test accuracy
    again = net.evaluate(tiny_mnist.x_test, tiny_mnist.y_test)
    assert again["accuracy"] == trained.history[-1]["test_accuracy"]
    # backwards compatible: the result reads as the history list
    assert len(trained) == 1 and trained[-1] is trained.history[-1] and list(trained) == trained.history


def test_save_load_round_trip_without_pickles(trained, tmp_path, tiny_mnist):
    path = tmp_path / "net.npz"
    simulate.save_network(path, trained.network)
    assert (os.stat(path).st_mode & 0o777) == 0o666 & ~_umask()
    with np.load(path, allow_pickle=False) as data:          # readable without pickles
        assert str(data["format"]) == "snn-init-network-1"
        assert int(data["n_layers"]) == 2
        assert set(data.files) == {"format", "config", "history", "n_layers", "w0", "w1", "b0", "b1"}
        assert json.loads(str(data["config"]))["width"] == 16
    loaded = simulate.load_network(path)
    for a, b in zip(loaded.weights + loaded.biases, trained.network.weights + trained.network.biases):
        np.testing.assert_array_equal(a, b)
    assert loaded.config == trained.network.config
    assert loaded.history == json.loads(json.dumps(trained.history))
    assert TrainedNetwork.load(path).config == loaded.config
    assert loaded.evaluate(tiny_mnist.x_test, tiny_mnist.y_test)["accuracy"] == trained.history[-1]["test_accuracy"]


def test_network_path_option_saves_at_the_end_and_checkpoint_holds_the_network(tiny_mnist, tmp_path):
    net_path, ckpt = tmp_path / "final.npz", tmp_path / "run.npz"
    result = train(_config(network_path=str(net_path), checkpoint_path=str(ckpt)), data=tiny_mnist)
    for path in (net_path, ckpt):       # load_network reads the network out of a checkpoint too
        loaded = load_network(path)
        for a, b in zip(loaded.weights, result.network.weights):
            np.testing.assert_array_equal(a, b)
        assert loaded.biases is None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 truncated zip"])
def test_corrupt_checkpoint_names_the_file_and_never_suggests_pickles(tiny_mnist, tmp_path, content):
    ckpt = tmp_path / "broken.npz"
    ckpt.write_bytes(content)
    with pytest.raises(ValueError, match="not a checkpoint of this toolkit") as error:
        train(_config(checkpoint_path=str(ckpt)), data=tiny_mnist)
    assert str(ckpt) in str(error.value) and "pickle" not in str(error.value).replace(str(ckpt), "")


def test_pickled_or_foreign_npz_is_refused_not_unpickled(tiny_mnist, tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, config=np.array([{"a": 1}], dtype=object))     # an object array needs pickle
    with pytest.raises(ValueError, match="not a checkpoint of this toolkit") as error:
        train(_config(checkpoint_path=str(foreign)), data=tiny_mnist)
    assert "pickle" not in str(error.value).replace(str(foreign), "")
    with pytest.raises(ValueError, match="not a network file of this toolkit"):
        load_network(foreign)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(3))
    with pytest.raises(ValueError, match=f"{plain}.*not a network file"):
        load_network(plain)
    with pytest.raises(ValueError, match="does not exist"):
        load_network(tmp_path / "missing.npz")


@pytest.mark.parametrize("option", ["log_path", "checkpoint_path", "network_path"])
def test_unwritable_destinations_fail_before_training(tiny_mnist, tmp_path, monkeypatch, option):
    def no_training(*args, **kwargs):
        raise AssertionError("training started although the destination is bad")
    monkeypatch.setattr(train_module, "_train", no_training)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for bad, fragment in ((tmp_path / "missing" / "out.x", "does not exist"),
                          (blocker / "out.x", "does not exist"),          # its 'folder' is a file
                          (tmp_path, "is a folder")):
        with pytest.raises(ValueError, match=f"{option} .*{fragment}"):
            train(_config(**{option: str(bad)}), data=tiny_mnist)
    with pytest.raises(ValueError, match="path .*does not exist"):
        save_network(tmp_path / "missing" / "net.npz", TrainedNetwork([np.ones((2, 2), np.float32)], None,
                                                                         TrainConfig()))


def test_train_and_test_images_of_different_shapes_fail_at_load(tmp_path):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28)),
             "train-labels-idx1-ubyte": rng.integers(0, 10, 6),
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 32, 32)),
             "t10k-labels-idx1-ubyte": rng.integers(0, 10, 4)}
    for stem, array in files.items():
        (tmp_path / stem).write_bytes(_idx_bytes(array))
    with pytest.raises(ValueError, match=r"training images have shape \(28, 28\) and test images \(32, 32\)"):
        load_idx_directory(tmp_path)
    with pytest.raises(ValueError, match="784 pixels and test images 1024"):
        Dataset("x", np.zeros((6, 784), np.uint8), np.zeros(6, np.uint8), np.zeros((4, 1024), np.uint8),
                np.zeros(4, np.uint8))


@pytest.mark.parametrize("overrides, fragment", [
    ({"seed": -1}, "seed"), ({"threshold": 1e39}, "threshold"), ({"threshold": float("nan")}, "threshold"),
    ({"train_size": 0}, "train_size"), ({"threads": 0}, "threads"), ({"surrogate_scale": 0.0}, "surrogate_scale"),
    ({"dataset": "cifar"}, "dataset"), ({"init": "nope"}, "init"), ({"depth": "ten"}, "depth"),
    ({"bias": "yes"}, "bias"), ({"log_path": ""}, "log_path"),
    ({"weight_scale": 0.0}, "weight_scale"), ({"weight_scale": float("inf")}, "weight_scale"),
    ({"bias_std": -0.1, "bias": True}, "bias_std"), ({"bias_std": 0.3}, "bias_std must be 0 without biases"),
    ({"architecture": "sew_add", "init": "sew_add", "depth": 7, "bias": True, "bias_std": 0.3},
     "apply to architecture 'plain'"),
    # fractions are not truncated, booleans are not integers
    ({"seed": 0.7}, "seed"), ({"seed": True}, "seed"), ({"depth": True}, "depth"), ({"width": True}, "width"),
    ({"epochs": 1.5}, "epochs"), ({"batch_size": 32.5}, "batch_size"), ({"train_size": True}, "train_size"),
    ({"width": 1e300}, "width"), ({"beta": [0.5, 0.6]}, "beta"), ({"beta": None}, "beta"),
])
def test_bad_config_names_the_field(overrides, fragment):
    with pytest.raises(ValueError, match=fragment):
        train(_config(**overrides))


def test_unknown_config_field_is_named():
    with pytest.raises(ValueError, match="unknown fields \\['widht'\\]"):
        train({"widht": 10})


def test_help_describes_every_flag_with_default_and_choices():
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help and len(action.help) > 15, action.dest
        assert "(default: " in action.help, action.dest
    text = parser.format_help()
    from simulate.backprop import RESETS
    assert "{" + ",".join(RESETS) + "}" in text and "micheli" in text and "(fan_in" not in text


@pytest.mark.parametrize("argv, fragment", [
    (["--log-path", "/nonexistent-folder/x.jsonl"], "log_path"),
    (["--depth", "x"], "--depth"),
    (["--seed", "-1"], "seed"),
    (["--reset", "sometimes"], "--reset"),
    (["--data-dir", "/nonexistent-folder", "--dataset", "idx"], "does not exist"),
])
def test_cli_mistake_is_one_line_and_exit_2(argv, fragment):
    out = subprocess.run([sys.executable, "-m", "simulate.train", "--quiet", *argv], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in out.stderr


@pytest.mark.parametrize("steps, reset", [(5, "subtract"), (8, "zero")])
def test_temporal_init_is_solved_for_the_runs_own_steps_and_reset(steps, reset):
    """micheli_temporal depends on T and the reset: a training run must ask for its own, not
    the registry's defaults (T = 10, subtract), else its weights target another network."""
    from theory import inits
    config = TrainConfig(depth=3, width=100, init="micheli_temporal", steps=steps, reset=reset, seed=3)
    weights, _ = train_module.build_network(config, 784, 10)
    rng = np.random.default_rng(3)
    expected = [inits.sample_weights("micheli_temporal", a, b, rng, threshold=1.0, beta=0.5, T=steps, reset=reset)
                for a, b in ((784, 100), (100, 10))]
    for drawn, wanted in zip(weights, expected):
        np.testing.assert_array_equal(drawn, wanted)
    default = inits.weight_std("micheli_temporal", 100, 10, 1.0, 0.5)
    assert inits.weight_std("micheli_temporal", 100, 10, 1.0, 0.5, T=steps, reset=reset) != default


def test_weight_scale_and_bias_std_set_the_initial_gain_and_bias_variance():
    """weight_scale multiplies the initialiser's weights (same draws, exact float32 product);
    bias_std draws biases N(0, bias_std^2) after the weights, leaving the weights unchanged.
    The sample variance of 20,000 biases lies within 4 standard errors of bias_std^2 (the
    standard error of a normal sample variance is bias_std^2 sqrt(2 / n); false-failure
    rate 6e-5)."""
    from simulate.train import build_network
    base = dict(depth=3, width=20000, init="micheli")
    plain, none = build_network(TrainConfig(**base), 784, 10)
    assert none is None
    scaled, zeros = build_network(TrainConfig(**base, weight_scale=1.3, bias=True), 784, 10)
    for a, b in zip(plain, scaled):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(b, np.float32(1.3) * a)
    assert all(not z.any() for z in zeros)
    weights, biases = build_network(TrainConfig(**base, bias=True, bias_std=0.5), 784, 10)
    for a, b in zip(plain, weights):
        np.testing.assert_array_equal(a, b)
    values = biases[0].astype(np.float64)
    assert values.size == 20000 and biases[0].dtype == np.float32 and biases[1].std() > 0
    assert abs(values.var() - 0.25) < 4 * 0.25 * np.sqrt(2 / values.size)
    assert abs(values.mean()) < 4 * 0.5 / np.sqrt(values.size)


# ------------------------------------------------------------------ data given with train_size
def _numbers(history):
    """The epoch records without their wall times."""
    return [{k: v for k, v in record.items() if not k.endswith("_seconds")} for record in history]


def test_train_size_applies_to_an_explicit_dataset(tiny_mnist):
    """Was: train_size stored in the config and ignored. Now the first train_size / test_size
    images of the given data are used, exactly as if the data had been cut before."""
    small = load_mnist(train_size=64, test_size=32)
    cut = train(_config(train_size=64, test_size=32), data=tiny_mnist)
    assert _numbers(cut.history) == _numbers(train(_config(train_size=64, test_size=32), data=small).history)
    assert _numbers(cut.history) != _numbers(train(_config(), data=tiny_mnist).history)
    for field_name, size in (("train_size", 97), ("test_size", 49)):
        with pytest.raises(ValueError, match=f"{field_name} {size} is larger than the {size - 1}"):
            train(_config(**{field_name: size}), data=tiny_mnist)


# ------------------------------------------------------------------ resuming a checkpoint
def test_resuming_on_other_data_or_with_fewer_epochs_is_refused(tiny_mnist, tmp_path):
    ckpt = tmp_path / "run.npz"
    first = train(_config(epochs=2, checkpoint_path=str(ckpt)), data=tiny_mnist)
    with np.load(ckpt) as data:
        assert len(str(data["data_fingerprint"])) == 64
    other = Dataset("mnist", tiny_mnist.x_train[::-1].copy(), tiny_mnist.y_train[::-1].copy(), tiny_mnist.x_test,
                    tiny_mnist.y_test)
    with pytest.raises(ValueError, match="checkpoint_path .* was made on other data"):
        train(_config(epochs=3, checkpoint_path=str(ckpt)), data=other)
    with pytest.raises(ValueError, match=r"epochs=1 is fewer than the 2 epochs checkpoint_path .* already ran"):
        train(_config(epochs=1, checkpoint_path=str(ckpt)), data=tiny_mnist)
    # the same data and as many epochs: the finished run, as before
    assert _numbers(train(_config(epochs=2, checkpoint_path=str(ckpt)), data=tiny_mnist).history) == \
        _numbers(json.loads(json.dumps(first.history)))


def test_a_checkpoint_without_a_data_fingerprint_resumes_with_a_warning(tiny_mnist, tmp_path):
    ckpt = tmp_path / "old.npz"
    train(_config(epochs=1, checkpoint_path=str(ckpt)), data=tiny_mnist)
    with np.load(ckpt) as data:
        arrays = {k: data[k] for k in data.files if k != "data_fingerprint"}
    np.savez(ckpt, **arrays)
    with pytest.warns(RuntimeWarning, match="without checking that this run's data is the same"):
        resumed = train(_config(epochs=2, checkpoint_path=str(ckpt)), data=tiny_mnist)
    assert [r["epoch"] for r in resumed.history] == [1, 2]


# ------------------------------------------------------------------ network files agree with themselves
def test_save_network_refuses_what_load_network_would_refuse(trained, tmp_path):
    """Was: a 1-D weight saved without a word, then refused by load_network."""
    net = trained.network
    path = tmp_path / "net.npz"
    bad = {
        "1-D weight": (TrainedNetwork([w.ravel() for w in net.weights], None, dataclasses.replace(net.config, bias=False)),
                       r"network: weights must be .*2-D"),
        "complex weight": (TrainedNetwork([net.weights[0] + 1j, net.weights[1]], net.biases, net.config),
                           r"network: weights\[0\] must hold real numbers"),
        "nan weight": (TrainedNetwork([net.weights[0] * np.nan, net.weights[1]], net.biases, net.config),
                       r"weights\[0\] holds NaN"),
        "bias shape": (TrainedNetwork(net.weights, [net.biases[0][:3], net.biases[1]], net.config),
                       r"b0 must have shape \(16,\)"),
        "depth": (TrainedNetwork(net.weights, net.biases, dataclasses.replace(net.config, depth=5)),
                  "config depth 5 needs 4 weight matrices"),
        "width": (TrainedNetwork(net.weights, net.biases, dataclasses.replace(net.config, width=20)),
                  r"config width 20 differs from the network's hidden widths \[16\]"),
        "beta": (TrainedNetwork(net.weights, net.biases, dataclasses.replace(net.config, beta=1.5)),
                 r"network: config: beta must lie in \[0, 1\]"),
        "bias flag": (TrainedNetwork(net.weights, None, net.config), "config bias True but the network has no biases"),
    }
    for name, (network, fragment) in bad.items():
        with pytest.raises(ValueError, match=fragment):
            save_network(path, network)
        assert not path.exists(), name


def _tamper(source, target, **changes):
    """A copy of the network file ``source`` with some arrays replaced (None: removed)."""
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(target, **arrays)
    return target


def _config_json(source, **fields):
    with np.load(source) as data:
        config = json.loads(str(data["config"]))
    config.update(fields)
    return np.array(json.dumps(config))


def test_load_network_refuses_a_file_that_contradicts_itself(trained, tmp_path):
    """Was: complex weights, wrong bias shapes and impossible or mismatched configs loaded, and
    the error (if any) came at .evaluate(). Each refusal names the file and the field."""
    good = tmp_path / "good.npz"
    save_network(good, trained.network)
    w0, b0 = trained.network.weights[0], trained.network.biases[0]
    cases = {
        "complex": (dict(w0=w0.astype(np.complex64) + 1j), "w0 must hold real numbers, got dtype complex64"),
        "string weight": (dict(w0=np.array(["a"])), "w0 must hold real numbers"),
        "nan": (dict(w0=np.full_like(w0, np.nan)), "w0 holds NaN"),
        "beyond float32": (dict(w0=np.full(w0.shape, 1e300)), "w0 holds NaN or infinity .*float32"),
        "1-D weight": (dict(w0=w0.ravel()), "2-D"),
        "bias shape": (dict(b0=b0[:5]), r"b0 must have shape \(16,\)"),
        "bias missing": (dict(b1=None), r"holds biases \['b0'\], needs none or b0 .. b1"),
        "extra weight": (dict(w2=np.ones((10, 3), np.float32)), r"holds weights .* but n_layers is 2"),
        "n_layers": (dict(n_layers=np.array(3)), "not complete: no w2"),
        "n_layers string": (dict(n_layers=np.array("2")), "n_layers must be one integer"),
        "beta impossible": (dict(config=_config_json(good, beta=1.5)), r"config: beta must lie in \[0, 1\]"),
        "depth impossible": (dict(config=_config_json(good, depth=1)), "config: depth must be an integer >= 2"),
        "depth mismatch": (dict(config=_config_json(good, depth=4)), "config depth 4 needs 3 weight matrices"),
        "width mismatch": (dict(config=_config_json(good, width=32)), "config width 32 differs"),
        "width not a number": (dict(config=_config_json(good, width="wide")), "config: width must be"),
        "config a list": (dict(config=np.array("[1, 2]")), "config must be a JSON object"),
        "history not a list": (dict(history=np.array('{"a": 1}')), "history must be a JSON list"),
    }
    for name, (changes, fragment) in cases.items():
        path = _tamper(good, tmp_path / f"{name}.npz", **changes)
        with pytest.raises(ValueError, match=fragment) as error:
            load_network(path)
        assert str(path) in str(error.value), name
    assert load_network(_tamper(good, tmp_path / "float64.npz", w0=w0.astype(np.float64))).weights[0].dtype == \
        np.float32                                                     # a real float64 file still loads


# ------------------------------------------------------------------ sizes that cannot fit
def test_a_run_that_cannot_fit_in_memory_is_refused_up_front(tiny_mnist, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("weights were drawn although the run cannot fit")
    monkeypatch.setattr(train_module, "build_network", no_build)
    with pytest.raises(ValueError, match=r"training with width=10000000, depth=10.* needs about .* of memory, more "
                                         r"than the .* available"):
        train(_config(width=10 ** 7, depth=10), data=tiny_mnist)


def test_evaluate_refuses_images_and_labels_that_do_not_fit(trained):
    """Was: float labels truncated to integers (1.7 is class 1), an empty set a ZeroDivisionError,
    images of another size an error naming weights[0]."""
    net = trained.network
    x, y = np.zeros((5, 784), np.uint8), np.zeros(5, np.int64)
    for images, labels, fragment in ((np.zeros((5, 100), np.uint8), y, r"images must be an \(n, 784\) array"),
                                     (x[:0], y[:0], "images must be"), ([[0] * 784], [0], "images must be"),
                                     (x, np.full(5, 1.7), "labels must be 5 integer class indices"),
                                     (x, y[:4], "labels must be 5")):
        with pytest.raises(ValueError, match=fragment):
            net.evaluate(images, labels)
