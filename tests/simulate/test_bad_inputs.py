"""Bad input to the simulators and the training step: a ValueError naming the argument (and the
layer), never a plausible number from NaN input; loss_and_grads' surrogate_scale
default. Table-driven: (call, message fragment)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import simulate
from simulate.backprop import BlasThreads
from theory.core.surrogates import SURROGATES

NAN, INF = float("nan"), float("inf")
W = [np.full((10, 10), 0.3, np.float32), np.full((10, 4), 0.3, np.float32)]
B = [np.zeros(10, np.float32), np.zeros(4, np.float32)]
C = np.ones((2, 3, 10), np.float32)
Y = np.zeros(3, np.int64)


def _lg(weights=W, biases=None, currents=C, labels=Y, **kwargs):
    options = dict(beta=0.5, threshold=1.0, reset="subtract")
    options.update(kwargs)
    return simulate.loss_and_grads(weights, biases, currents, labels, **options)


def _with(layers, index, value):
    layers = [np.array(x) for x in layers]
    layers[index][...] = value
    return layers


CASES = [
    ("currents strings", lambda: _lg(currents=np.full((2, 3, 10), "a")), "currents"),
    ("currents ragged", lambda: _lg(currents=[[[1.0, 2.0]], [[1.0]]]), "currents"),
    ("currents nan", lambda: _lg(currents=np.full((2, 3, 10), NAN)), "currents"),
    ("currents inf", lambda: _lg(currents=np.full((2, 3, 10), INF)), "currents"),
    ("currents beyond float32", lambda: _lg(currents=np.full((2, 3, 10), 1e39)), "currents"),
    ("weights nan in layer 1", lambda: _lg(weights=_with(W, 1, NAN)), r"weights\[1\]"),
    ("weights inf in layer 0", lambda: _lg(weights=_with(W, 0, INF)), r"weights\[0\]"),
    ("biases nan in layer 1", lambda: _lg(biases=_with(B, 1, NAN)), r"biases\[1\]"),
    ("biases strings", lambda: _lg(biases=[np.full(10, "a"), B[1]]), r"biases\[0\]"),
    ("biases not a list", lambda: _lg(biases=np.zeros(10, np.float32)), "biases"),
    ("threshold beyond float32", lambda: _lg(threshold=1e39), "threshold"),
    ("threshold beyond float32 negative", lambda: _lg(threshold=-1e39), "threshold"),
    ("threshold nan", lambda: _lg(threshold=NAN), "threshold"),
    ("surrogate_scale 0", lambda: _lg(surrogate_scale=0.0), "surrogate_scale"),
    ("surrogate unknown", lambda: _lg(surrogate="relu"), "surrogate"),
    ("labels float", lambda: _lg(labels=np.zeros(3)), "labels"),
    ("labels out of range", lambda: _lg(labels=np.full(3, 4)), "labels"),
    ("run_network threshold beyond float32",
     lambda: simulate.run_network(W, C, beta=0.5, threshold=1e39), "threshold"),
    ("gaussian_currents negative seed", lambda: simulate.gaussian_currents(2, 3, 10, rng=-1), "rng"),
    ("gaussian_currents string seed", lambda: simulate.gaussian_currents(2, 3, 10, rng="x"), "rng"),
    ("bernoulli_spikes negative seed", lambda: simulate.bernoulli_spikes(0.5, 2, 3, 10, rng=-1), "rng"),
]


@pytest.mark.parametrize("call, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


def _grads(surrogate, scale):
    rng = np.random.default_rng(3)
    weights = [(0.25 * rng.standard_normal((20, 16))).astype(np.float32),
               (0.3 * rng.standard_normal((16, 5))).astype(np.float32)]
    currents = (1.5 * rng.standard_normal((6, 8, 20))).astype(np.float32)
    labels = rng.integers(0, 5, 8)
    kwargs = {} if scale == "default" else {"surrogate_scale": scale}
    loss, weight_grads, _ = simulate.loss_and_grads(weights, None, currents, labels, beta=0.5, threshold=1.0,
                                                    reset="subtract", surrogate=surrogate, **kwargs)
    return loss, weight_grads


@pytest.mark.parametrize("surrogate", list(SURROGATES))
def test_loss_and_grads_default_scale_is_the_surrogates_own(surrogate):
    """The default equals passing the surrogate's documented default scale (bit for bit, the
    same computation), and differs from the old blanket default 2.0 where that scale is not 2
    (straight_through ignores its scale, so there the two must agree)."""
    own = SURROGATES[surrogate][1]
    loss, default = _grads(surrogate, "default")
    _, explicit = _grads(surrogate, own)
    for a, b in zip(default, explicit):
        np.testing.assert_array_equal(a, b)
    assert np.any(default[0] != 0), "the test network must pass gradient to the first layer"
    _, two = _grads(surrogate, 2.0)
    same_as_two = all(np.array_equal(a, b) for a, b in zip(default, two))
    assert same_as_two == (own == 2.0 or surrogate == "straight_through")


def test_blas_threads_limits_and_restores():
    """BlasThreads (threadpoolctl) runs the BLAS on one thread inside the block and restores
    the previous count after it (checked on whatever BLAS numpy loaded)."""
    from threadpoolctl import threadpool_info
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with BlasThreads():
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert all(n == 1 for n in inside)
    assert after == before



ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CLI_CASES = [
    # id, argv (run from the repository root), fragment of the one stderr line
    ("paper_figs empty --only", ["paper_figs.py", "--only", ""], "--only: empty figure name"),
    ("paper_figs unknown --only", ["paper_figs.py", "--only", "nope"], "unknown figure"),
    ("paper_figs --jobs 0", ["paper_figs.py", "--jobs", "0"], "--jobs"),
    ("paper_figs --out under a file", ["paper_figs.py", "--only", "theory_length_map", "--out", "README.md/x"],
     "--out"),
    ("derivation takes no arguments", ["-m", "theory.core.derivation", "--bogus"], "takes no arguments"),
    ("train --threshold 1e39", ["-m", "simulate.train", "--threshold", "1e39"], "threshold"),
    ("train --width 0", ["-m", "simulate.train", "--width", "0"], "width"),
    ("train --checkpoint-path in a missing folder", ["-m", "simulate.train", "--checkpoint-path", "no/such/x.npz"],
     "checkpoint_path"),
    ("bench_train --width 0", ["benchmarks/bench_train.py", "--width", "0"], "--width"),
    ("bench_train --depths a", ["benchmarks/bench_train.py", "--depths", "a"], "--depths"),
    ("bench_forward --repeats 0", ["benchmarks/bench_forward.py", "--repeats", "0"], "--repeats"),
]


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_command_line_mistake_is_one_line_and_exit_2(argv, fragment):
    """A user's mistake on any command line: one line on stderr, exit status 2, no traceback."""
    out = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and fragment in lines[0], out.stderr
