"""Training loop for the paper's spiking MLP: manual surrogate-gradient BPTT + Adam.

Architecture (docs/theory.md §8, the authors' code): pixels in [0, 1] are the input current of
an input LIF layer (the same current at every one of the T steps; with theta = 1 nothing
fires at t = 1, so T > 1), then Linear + LIF layers of width H, and a 10-neuron LIF output.
``depth`` L counts the LIF layers INCLUDING input and output, as the authors' code does, so
there are L - 1 weight matrices: 784 -> H, (H -> H) x (L - 3), H -> 10 (L = 2: 784 -> 10).
Loss: softmax cross-entropy on the output spike counts (snnTorch ce_count_loss); prediction
= argmax of the counts (first index on ties, as torch.argmax). Weights are drawn from the
registry (theory.inits) with the run's threshold and beta, each std times ``weight_scale``
(a gain knob, 1 = the initialiser's own); optional biases start at b ~ N(0, bias_std^2), i.e. a
fixed per-neuron current with the bias variance ``bias_var = bias_std^2`` of the theory.

Adam (lr 1e-3 default). Schedules: constant, or cosine with T_max (default 10) stepped per
batch (the authors' choice: the rate oscillates with period 2 T_max batches) or per epoch.

Logged every epoch to a JSON-lines file: honest figures of that epoch only (train loss and
accuracy = mean over this epoch's batches, computed on the fly while the weights change;
NOT the authors' running mean over all batches since the start), test loss and accuracy
with the end-of-epoch weights, per-layer firing rates (train: mean over the epoch's
batches; test: end of epoch), per-layer gradient norms ||dL/dW_l|| (mean over batches),
the loss of every batch in order (``train_loss_batches``: when training starts), learning
rate, wall time, and ``frozen_weights``: how many weights Adam has frozen because their
float32 second moment overflowed (simulate.optim.Adam; 0 unless the network diverges). A checkpoint is written atomically (temporary file +
os.replace) after every epoch; a run started again with the same configuration resumes
after the last finished epoch and gives exactly the history of an uninterrupted run (the
shuffle of epoch e comes from the seed and e alone). A NaN or infinity in the loss or a
gradient stops the run with FloatingPointError naming the epoch and batch.

    python -m simulate.train --dataset mnist --depth 10 --width 100 --init micheli --epochs 5 \
        --network-path trained.npz

``train`` returns a :class:`TrainResult`: ``.network`` (a :class:`TrainedNetwork`: weights,
biases, config) and ``.history`` (the epoch records; the result also reads as that list, as
``train`` returned before). Trained networks are saved and loaded with
:func:`save_network` / :func:`load_network` (or ``TrainedNetwork.save``/``.load``) in this
``.npz`` format (numpy.savez, no pickled objects; read with ``allow_pickle=False``):

    format      "snn-init-network-1"                        (0-d unicode array)
    config      JSON of every TrainConfig field               (0-d unicode array)
    history     JSON list of the epoch records                (0-d unicode array)
    n_layers    L, the number of weight matrices              (0-d int64)
    w0 .. w{L-1}  float32 weight matrices, shape (fan_in, fan_out): layer l's current is
                s_{l-1} @ w{l-1}. This is the TRANSPOSE of PyTorch's ``nn.Linear.weight``
                (out_features, in_features): in PyTorch, ``linear.weight.data = torch.from_numpy(w.T)``.
    b0 .. b{L-1}  float32 biases, shape (fan_out,), present only if the network has biases

Checkpoints (``checkpoint_path``) are .npz files in the same layout plus the optimiser state
(``epoch``, ``adam_step``, ``m{i}``, ``v{i}``), ``format`` "snn-init-checkpoint-1" and
``data_fingerprint`` (sha256 of the training and test images and labels the run used, as a
0-d unicode array): a run resumes only on the same data (a checkpoint written before the
fingerprint existed resumes with a RuntimeWarning that the data cannot be checked) and only
with ``epochs`` at least the epochs already run. :func:`load_network` reads the network out of
a checkpoint too.

Both :func:`save_network` and :func:`load_network` check that a network agrees with itself
(ValueError naming the file and the field): real finite weights forming a chain of
(fan_in, fan_out) matrices, biases of shape (fan_out,), a config that validates
(:meth:`TrainConfig.validate`) and whose depth and width are those of the weights
(depth - 1 weight matrices, hidden layers of ``width`` neurons).

Destinations (log, checkpoint, network) are checked before any work starts: a missing folder
or a path that cannot be written raises ValueError naming the option; a file that exists but
is not a checkpoint of this toolkit raises ValueError naming it.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import io
import json
import os
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
from tqdm.auto import tqdm

import snn_validation as validation
from theory import (SEW, Dense, Deterministic, Encoding, Escape, Gaussian, Init, LIF, Network, Repeat, inits, serial,
                    sew_network)
from theory.core.surrogates import SURROGATES

import simulate.residual as residual
import simulate.walk as walk
from .backprop import RESETS, forward_backward
from .residual import ARCHITECTURES, BRANCH_SCALINGS, block_count
from .data import Dataset, load_dataset
from .encodings import pixel_currents
from .optim import SCHEDULES, Adam, learning_rate

__all__ = ["TrainConfig", "TrainedNetwork", "TrainResult", "train", "describe", "build_network", "layer_widths", "evaluate",
           "save_network", "load_network", "data_fingerprint", "batch_pass", "neuron_kwargs", "main"]

NETWORK_FORMAT = "snn-init-network-1"
CHECKPOINT_FORMAT = "snn-init-checkpoint-1"


def _choices(item):
    """A field's allowed values (a callable is asked now: the init registry may grow)."""
    choices = item.metadata.get("choices")
    return tuple(choices() if callable(choices) else choices) if choices else None


def _option(default, help, choices=None, none=None):
    """A TrainConfig field with its command-line description, choices and, for a None
    default, what None means (shown as the default in --help)."""
    return field(default=default, metadata={"help": help, "choices": choices, "none": none})


@dataclass
class TrainConfig:
    """Every setting of a training run (each is a command-line option of ``python -m simulate.train``)."""
    dataset: str = _option("mnist", "dataset: the embedded MNIST, Fashion-MNIST, or any IDX directory (--data-dir)",
                           ("mnist", "fashion_mnist", "idx"))
    data_dir: str | None = _option(None, "directory of the four IDX files",
                                   none="mnist: the embedded copy; fashion_mnist: Debian's dataset-fashion-mnist path")
    train_size: int | None = _option(None, "use the first n training images", none="all")
    test_size: int | None = _option(None, "use the first n test images", none="all")
    depth: int = _option(10, "LIF layers INCLUDING input and output (the authors' count; weight layers = depth - 1)")
    width: int = _option(100, "hidden layer width H")
    init: str = _option("micheli", "weight initialiser (theory.inits registry)", inits.names)
    weight_alpha: float = _option(1.0, "--init stable: stability index alpha in (0, 2] of the heavy-tailed weights "
                                       "(1 = Cauchy; theory/regimes/heavy_tailed.py, docs/theory.md §9)")
    weight_gain: float | None = _option(None, "--init stable: gain G > 0, weight scale G / fan_in^(1/alpha)",
                                        none="set by --weight-rate")
    weight_rate: float | None = _option(None, "--init stable: the one-step rate fixed point in (0, 0.5) that sets G",
                                        none="Q(threshold), the paper's rate")
    architecture: str = _option("plain", "plain LIF stack, or sew_add: residual blocks whose spikes are ADDed to a "
                                         "shortcut stream (simulate/residual.py, docs/theory.md §9)", ARCHITECTURES)
    block_layers: int = _option(1, "LIF layers per residual block of --architecture sew_add (must divide depth - 3)")
    branch_scaling: str = _option("depth_sqrt", "--architecture sew_add: each block adds a x its spikes to the stream, "
                                                "a = 1/sqrt(blocks) (depth_sqrt), 1/blocks (depth) or 1 (none: SEW's "
                                                "integer spike ADD)", BRANCH_SCALINGS)
    residual_budget: float = _option(1.0, "--init sew_add: the blocks together raise the stream's mean by budget x the "
                                          "stem's rate (each block fires at budget Q(theta) / (a x number of blocks))")
    steps: int = _option(10, "time steps T per image (the image is the input current at every step)")
    beta: float = _option(0.5, "membrane leak factor beta in [0, 1]")
    threshold: float = _option(1.0, "firing threshold theta")
    reset: str = _option("subtract", "reset after a spike", tuple(RESETS))
    surrogate: str = _option("atan", "surrogate derivative of the spike", tuple(SURROGATES))
    surrogate_scale: float | None = _option(None, "surrogate scale (> 0)",
                                            none="the surrogate's own: ATan alpha 2, fast sigmoid slope 25, ...")
    firing: str = _option("deterministic", "spike rule: deterministic s = [u > theta], or escape: spike with "
                                           "probability Phi((u - theta)/escape_noise), backward = its derivative "
                                           "(surrogate options then ignored; docs/theory.md §9, stochastic firing)",
                          ("deterministic", "escape"))
    escape_noise: float | None = _option(None, "escape noise tau > 0 of --firing escape",
                                         none="none; required with --firing escape")
    bias: bool = _option(False, "add biases (initialised to 0)")
    weight_scale: float = _option(1.0, "multiplies every weight of the initialiser (its std; a gain knob, "
                                       "plain architecture only)")
    bias_std: float = _option(0.0, "biases start N(0, bias_std^2), bias variance bias_std^2 (> 0 needs --bias; plain "
                                   "architecture only)")
    lr: float = _option(1e-3, "Adam learning rate")
    schedule: str = _option("cosine", "learning-rate schedule", SCHEDULES)
    t_max: int = _option(10, "cosine schedule half-period T_max (in schedule steps)")
    schedule_per: str = _option("batch", "step the schedule per batch (the authors' choice) or per epoch",
                                ("batch", "epoch"))
    batch_size: int = _option(64, "training batch size")
    epochs: int = _option(10, "number of epochs (a resumed run continues up to this many)")
    seed: int = _option(42, "seed of the weights and of every epoch's shuffle (integer >= 0)")
    eval_batch_size: int = _option(1000, "batch size of the test evaluation")
    log_path: str | None = _option(None, "JSON-lines log, one record per epoch (rewritten each epoch)", none="no log")
    checkpoint_path: str | None = _option(None, ".npz checkpoint written atomically each epoch; an existing one "
                                                "of the same configuration is resumed", none="no checkpoint")
    network_path: str | None = _option(None, ".npz file for the trained network at the end (simulate.load_network)",
                                       none="not saved")
    progress: bool = _option(True, "progress bar")
    threads: int | None = _option(None, "Numba threads; results do not depend on it", none="Numba's default")

    # fields that do not change the numbers: a checkpoint may be resumed with other values
    _FREE = ("epochs", "log_path", "checkpoint_path", "network_path", "progress", "eval_batch_size", "threads")

    def validate(self) -> "TrainConfig":
        """ValueError naming the first field out of its range (see each field's help)."""
        _check_single_values(self)
        for item in dataclasses.fields(self):
            if item.metadata.get("choices"):
                validation.choice(getattr(self, item.name), item.name, _choices(item))
        if validation.non_negative_int(self.depth, "depth") < 2:
            raise ValueError(f"depth must be an integer >= 2 (LIF layers incl. input and output), got {self.depth}")
        for name in ("width", "steps", "batch_size", "epochs", "t_max", "eval_batch_size"):
            validation.positive_int(getattr(self, name), name)
        for name in ("train_size", "test_size", "threads"):
            if getattr(self, name) is not None:
                validation.positive_int(getattr(self, name), name)
        validation.non_negative_int(self.seed, "seed")
        validation.unit_interval(self.beta, "beta")
        threshold = float(validation.finite(self.threshold, "threshold"))
        if abs(threshold) > float(np.finfo(np.float32).max):
            raise ValueError(f"threshold must be finite in float32, the simulation's dtype, got {self.threshold!r}")
        if self.surrogate_scale is not None:
            validation.positive(self.surrogate_scale, "surrogate_scale")
        if self.firing == "escape":
            if self.escape_noise is None:
                raise ValueError("escape_noise must be given (a float tau > 0) with firing 'escape'")
            validation.positive(self.escape_noise, "escape_noise")
            if self.reset == "zero":
                raise ValueError("reset must be 'subtract' or 'none' with firing 'escape', got 'zero'")
            if self.surrogate_scale is not None:
                raise ValueError("surrogate_scale must be None with firing 'escape' (the backward is the escape "
                                 "function's derivative, scale 1/escape_noise)")
        elif self.escape_noise is not None:
            raise ValueError("escape_noise must be None with firing 'deterministic' (it applies to firing 'escape')")
        if self.init != "stable" and (self.weight_alpha != 1.0 or self.weight_gain is not None
                                      or self.weight_rate is not None):
            raise ValueError("weight_alpha, weight_gain and weight_rate apply to init 'stable' only")
        if self.init == "stable":   # the registry checks alpha, gain, rate (ValueError naming each)
            inits.distribution("stable", self.width, self.width, threshold, self.beta, alpha=self.weight_alpha,
                               **({"gain": self.weight_gain} if self.weight_gain is not None else {}),
                               **({"rate": self.weight_rate} if self.weight_rate is not None else {}))
        validation.positive_int(self.block_layers, "block_layers")
        validation.positive(self.residual_budget, "residual_budget")
        if self.architecture != "plain":
            block_count(self.depth, self.block_layers)
            if getattr(self, "firing", "deterministic") != "deterministic":
                raise ValueError(f"architecture {self.architecture!r} needs firing 'deterministic', got {self.firing!r}")
        elif self.init == "sew_add":
            raise ValueError("init 'sew_add' needs architecture 'sew_add' (it scales the residual blocks)")
        validation.positive(self.weight_scale, "weight_scale")
        validation.non_negative(self.bias_std, "bias_std")
        if self.bias_std > 0 and not self.bias:
            raise ValueError(f"bias_std must be 0 without biases (bias False), got {self.bias_std!r}")
        if self.architecture != "plain" and (self.weight_scale != 1.0 or self.bias_std != 0.0):
            raise ValueError(f"weight_scale and bias_std apply to architecture 'plain', got {self.architecture!r}")
        validation.positive(self.lr, "lr")
        for name in ("bias", "progress"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("data_dir", "log_path", "checkpoint_path", "network_path"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (str, os.PathLike)) or not os.fspath(value)):
                raise ValueError(f"{name} must be None or a non-empty path, got {value!r}")
        return self

    def identity(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self._FREE}

    def network(self, n_inputs=784, n_classes=10) -> Network:
        """The theory.Network this configuration trains (:func:`describe`)."""
        return describe(self, n_inputs, n_classes)

    @classmethod
    def from_network(cls, net, **training) -> "TrainConfig":
        """The configuration that trains the description ``net`` (its depth counted in weight
        layers, as everywhere in the Python API) with the ``training`` fields (optimiser, data,
        I/O: lr, epochs, batch_size, dataset, log_path, ...). The Numba trainer runs two layouts:
        a plain stack, an input LIF layer and (Dense, LIF) layers of one hidden width with one
        neuron, one registry initialiser, one gain and one bias variance; and theory.sew_network's
        residual MLP (the sew_add init, or one registry initialiser in every layer). The input is
        the data's static pixel current, whatever the description's encoding models. ValueError
        naming what does not fit otherwise."""
        return cls(**{**_fields_of(net), **training}).validate()


def _check_single_values(config) -> None:
    """Every numeric field holds one value (an array or a list where one number belongs would
    pass the range checks and fail later inside numpy)."""
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if isinstance(value, (list, tuple, dict, set, np.ndarray)) and not isinstance(item.default, str):
            raise ValueError(f"{item.name} must be a single value, got {value!r:.60}")


def layer_widths(depth, width, n_inputs=784, n_classes=10) -> list[int]:
    """Widths of the L LIF layers: [784, H, ..., H, 10] (L - 2 hidden layers of width H)."""
    return [n_inputs] + [width] * (depth - 2) + [n_classes]


def describe(config, n_inputs=784, n_classes=10) -> Network:
    """The theory.Network a configuration trains: an input LIF layer of ``n_inputs`` units, then
    depth - 1 x (Dense, LIF) (hidden width H, ``n_classes`` outputs), or for the ``sew_add``
    architecture theory.sew_network's layout (a stem, blocks of ``block_layers`` (Dense, LIF)
    adding a x their spikes to the stream, the output). The neuron carries the run's threshold,
    beta, reset and firing (escape noise); the weights are the registry initialiser with its own
    parameters (T, reset and tau are the network's), ``weight_scale`` as every layer's gain and
    bias_std^2 as the bias variance; the sew_add init's per-layer stds are those of
    theory.regimes.residual.sew_stds at the run's T. The input encoding is static N(0, 1), the
    theory's model of the static pixels (docs/theory.md §8)."""
    config = _as_config(config)
    firing = Escape(config.escape_noise) if config.firing == "escape" else Deterministic()
    neuron = LIF(config.threshold, config.beta, config.reset, firing)
    encoding = Encoding("static")
    if config.init == "sew_add":
        return sew_network(block_count(config.depth, config.block_layers), config.width,
                           block_layers=config.block_layers, multiplier=residual.config_scale(config), inputs=n_inputs,
                           classes=n_classes, neuron=neuron, T=config.steps, encoding=encoding,
                           budget=config.residual_budget)
    accepted = inits.get(config.init).params
    params = {name: value for name, value in (("alpha", config.weight_alpha), ("gain", config.weight_gain),
                                              ("rate", config.weight_rate))
              if name in accepted and value is not None}
    weights = Init(config.init, **params)
    bias_var = config.bias_std ** 2 if config.bias else 0.0

    def dense(n):
        return Dense(n, weights, bias_var, config.weight_scale)
    hidden = config.depth - 2
    if config.architecture == "sew_add" and hidden >= 1:
        k = config.block_layers
        blocks = [SEW(serial(*[(dense(config.width), neuron) for _ in range(k)]), "add", residual.config_scale(config))
                  for _ in range(block_count(config.depth, k))]
        layers = serial(neuron, dense(config.width), neuron, *blocks, dense(n_classes), neuron)
    else:
        layers = serial(neuron, *[(dense(n), neuron) for n in [config.width] * hidden + [n_classes]])
    return Network(layers, input=n_inputs, T=config.steps, encoding=encoding)


def build_network(config: TrainConfig, n_inputs, n_classes):
    """Weights drawn from :func:`describe`'s network with Generator(seed), layer by layer from
    each layer's resolved law (simulate.walk.draw_weights; the gain ``weight_scale`` in float32);
    biases (if asked) zero, or N(0, bias_std^2) drawn after all weights from the same generator."""
    rng = np.random.default_rng(config.seed)
    weights = walk.draw_weights(describe(config, n_inputs, n_classes), rng)
    biases = None
    if config.bias:
        biases = [(rng.normal(0.0, config.bias_std, b) if config.bias_std > 0 else np.zeros(b)).astype(np.float32)
                  for b in [w.shape[1] for w in weights]]
    return weights, biases


def batch_pass(config):
    """forward_backward of the configured architecture (simulate.backprop's, or simulate.residual's)."""
    if config.architecture == "plain":
        return forward_backward
    return functools.partial(residual.forward_backward, block_layers=config.block_layers,
                             branch_scale=residual.config_scale(config))


def neuron_kwargs(config, noise_words=(), sample_offset=0):
    """Neuron keywords of forward_backward; with escape firing also its noise: the seed is
    drawn from SeedSequence([seed, *noise_words]) (training: (epoch, batch); evaluation: none,
    with each test image's index as its sample number, so the test spikes do not depend on
    eval_batch_size)."""
    kwargs = dict(beta=config.beta, threshold=config.threshold, reset=config.reset)
    if config.firing == "escape":
        noise_seed = int(np.random.SeedSequence([config.seed, 0x35CA9E, *noise_words]).generate_state(1, np.uint64)[0])
        kwargs.update(firing="escape", escape_noise=config.escape_noise, noise_seed=noise_seed,
                      sample_offset=sample_offset)
    return kwargs


def gradient_norm(grad) -> float:
    """||grad||_2 of one weight gradient: numpy's float32 norm, recomputed in float64 where the
    float32 sum of squares overflows (a diverging network: gradients above about 1e19)."""
    with np.errstate(over="ignore"):
        norm = float(np.linalg.norm(grad))
    return norm if np.isfinite(norm) else float(np.linalg.norm(grad.astype(np.float64)))


def evaluate(weights, biases, images, labels, config) -> dict:
    """Loss, accuracy and per-layer rates of the network on a dataset (forward only)."""
    total_loss, correct, rates = 0.0, 0, 0.0
    for start in range(0, len(images), config.eval_batch_size):
        x, y = images[start:start + config.eval_batch_size], labels[start:start + config.eval_batch_size]
        result = batch_pass(config)(weights, biases, pixel_currents(x, config.steps), y.astype(np.int64),
                                  backward=False, **neuron_kwargs(config, sample_offset=start))
        total_loss += result.loss * len(y)
        correct += int(np.sum(np.argmax(result.counts, axis=1) == y))
        rates = rates + result.rates * len(y)
    n = len(images)
    return {"loss": total_loss / n, "accuracy": correct / n, "rates": (rates / n).tolist()}


def _network_arrays(weights, biases, config_json, history, kind) -> dict:
    arrays = {"format": np.array(kind), "config": np.array(config_json),
              "history": np.array(json.dumps(history)), "n_layers": np.array(len(weights), dtype=np.int64)}
    for i, w in enumerate(weights):
        arrays[f"w{i}"] = np.asarray(w, dtype=np.float32)
    for i, b in enumerate(biases or []):
        arrays[f"b{i}"] = np.asarray(b, dtype=np.float32)
    return arrays


def _write_npz(path, arrays) -> None:
    """Atomic write (temporary file in the same folder + os.replace), mode 0666 minus umask."""
    path = os.fspath(path)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_npz(path, name, kind) -> dict:
    """Every array of a toolkit .npz (network or checkpoint) as a dict; ValueError naming the
    file (and ``name``, the option it came from) if it is not one. Never unpickles."""
    path = os.fspath(path)
    what = "network file" if kind == NETWORK_FORMAT else "checkpoint"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise ValueError(f"{name} {path!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{name} {path!r} is a directory, not a {what}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{name} {path!r} is not a {what} of this toolkit (not a readable .npz archive of "
                         f"arrays: {type(error).__name__})") from None
    formats = (NETWORK_FORMAT, CHECKPOINT_FORMAT) if kind == NETWORK_FORMAT else (CHECKPOINT_FORMAT,)
    found = str(arrays["format"]) if "format" in arrays and arrays["format"].dtype.kind == "U" else None
    needed = {"config", "history"} | ({"epoch", "adam_step"} if kind == CHECKPOINT_FORMAT else set())
    # checkpoints written before the format field existed have every other field
    if (found not in formats and not (found is None and kind == CHECKPOINT_FORMAT)) or not needed <= set(arrays):
        raise ValueError(f"{name} {path!r} is not a {what} of this toolkit (format {found!r}, fields "
                         f"{sorted(arrays)[:8]})")
    return arrays


def _layers(arrays, path, name):
    """Weights and biases out of the arrays of a network file or checkpoint, checked: exactly
    the fields w0 .. w{n-1} (and b0 .. b{n-1} or none) that n_layers announces, each real and
    finite, the weights a chain of (fan_in, fan_out) matrices, each bias of shape (fan_out,)."""
    where = f"{name} {os.fspath(path)!r}"
    if "n_layers" in arrays:
        count = arrays["n_layers"]
        if count.shape != () or count.dtype.kind not in "iu" or int(count) < 1:
            raise ValueError(f"{where}: n_layers must be one integer >= 1, got {_shown_array(count)}")
        n = int(count)
    else:
        n = sum(1 for k in arrays if k[:1] == "w" and k[1:].isdigit())
    w_keys = sorted((k for k in arrays if k[:1] == "w" and k[1:].isdigit()), key=lambda k: int(k[1:]))
    b_keys = sorted((k for k in arrays if k[:1] == "b" and k[1:].isdigit()), key=lambda k: int(k[1:]))
    expected = [f"w{i}" for i in range(n)]
    if w_keys != expected:
        missing = sorted(set(expected) - set(w_keys))
        raise ValueError(f"{where} is not complete: no {missing[0]}" if missing else
                         f"{where}: holds weights {w_keys} but n_layers is {n}")
    if b_keys and b_keys != [f"b{i}" for i in range(n)]:
        raise ValueError(f"{where}: holds biases {b_keys}, needs none or b0 .. b{n - 1}")
    weights = [_real_array(arrays[k], where, k) for k in expected]
    biases = [_real_array(arrays[f"b{i}"], where, f"b{i}") for i in range(n)] if b_keys else None
    _check_shapes(weights, biases, where)
    return weights, biases


def _shown_array(array) -> str:
    array = np.asarray(array)
    return repr(array.item()) if array.size == 1 else f"an array of shape {array.shape} ({array.dtype})"


def _real_array(array, where, field_name) -> np.ndarray:
    """``array`` as contiguous float32; ValueError naming the field unless it holds real finite
    numbers representable in float32 (a complex array is refused, never cut to its real part)."""
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{where}: {field_name} must hold real numbers, got dtype {array.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{where}: {field_name} holds NaN or infinity (or values beyond float32's 3.4e38)")
    return out


def _check_shapes(weights, biases, where) -> None:
    if not weights or any(w.ndim != 2 or min(w.shape) < 1 for w in weights):
        shapes = [w.shape for w in weights]
        raise ValueError(f"{where}: weights must be one or more 2-D (fan_in, fan_out) matrices, got shapes {shapes}")
    for i, (a, b) in enumerate(zip(weights, weights[1:])):
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"{where}: w{i} has shape {a.shape} and w{i + 1} {b.shape}: fan_out of w{i} must "
                             f"equal fan_in of w{i + 1}")
    if biases is not None:
        if len(biases) != len(weights):
            raise ValueError(f"{where}: {len(biases)} biases for {len(weights)} weight matrices")
        for i, (w, b) in enumerate(zip(weights, biases)):
            if b.shape != (w.shape[1],):
                raise ValueError(f"{where}: b{i} must have shape ({w.shape[1]},) (the fan_out of w{i}), got {b.shape}")


def _check_config_matches(config, weights, biases, where) -> TrainConfig:
    """``config`` validated, and agreeing with the weights: depth - 1 matrices, hidden width
    ``width``, biases present exactly when ``bias`` is set."""
    try:
        config.validate()
    except ValueError as error:
        raise ValueError(f"{where}: config: {error}") from None
    if len(weights) != config.depth - 1:
        raise ValueError(f"{where}: config depth {config.depth} needs {config.depth - 1} weight matrices "
                         f"(depth counts LIF layers incl. input and output), the network has {len(weights)}")
    hidden = [w.shape[1] for w in weights[:-1]]
    if any(h != config.width for h in hidden):
        raise ValueError(f"{where}: config width {config.width} differs from the network's hidden widths {hidden}")
    if (biases is not None) != bool(config.bias):
        raise ValueError(f"{where}: config bias {config.bias} but the network has "
                         f"{'biases' if biases is not None else 'no biases'}")
    return config


@dataclass
class TrainedNetwork:
    """A trained network: what :func:`train` returns in ``.network`` and what
    :func:`save_network`/:func:`load_network` write and read (module docstring: the format).

    weights  list of L float32 arrays, shape (fan_in, fan_out): layer l's current is
             s_{l-1} @ weights[l-1] (+ biases[l-1]). The transpose of PyTorch's
             ``nn.Linear.weight`` (out_features, in_features).
    biases   list of L float32 (fan_out,) arrays, or None
    config   the TrainConfig that trained it (threshold, beta, reset, steps, ... to run it again)
    history  the epoch records (as in TrainResult.history)
    """
    weights: list
    biases: list | None
    config: TrainConfig
    history: list = field(default_factory=list)

    def save(self, path) -> None:
        """Write the network to ``path`` (.npz, atomic; see the module docstring)."""
        save_network(path, self)

    @classmethod
    def load(cls, path) -> "TrainedNetwork":
        """Read a network file (or the network of a checkpoint)."""
        return load_network(path)

    def evaluate(self, images, labels) -> dict:
        """Loss, accuracy and per-layer rates on (n, n_pixels) uint8 images (see :func:`evaluate`).
        ValueError for images that do not fit the input layer, or labels that are not n integers."""
        n_in = np.shape(self.weights[0])[0] if self.weights else None
        if not isinstance(images, np.ndarray) or images.ndim != 2 or images.dtype.kind not in "uif" \
                or len(images) < 1 or images.shape[1] != n_in:
            raise ValueError(f"images must be an (n, {n_in}) array of pixels (n >= 1; the network's input layer has "
                             f"{n_in} neurons), got {getattr(images, 'shape', type(images).__name__)}")
        if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "ui" or labels.shape != (len(images),):
            raise ValueError(f"labels must be {len(images)} integer class indices (one per image), got "
                             f"{getattr(labels, 'shape', type(labels).__name__)} {getattr(labels, 'dtype', '')}")
        return evaluate(self.weights, self.biases, images, labels, self.config)


def save_network(path, network: TrainedNetwork) -> None:
    """Save a :class:`TrainedNetwork` as .npz (format in the module docstring; no pickles).
    ValueError naming ``path`` if its folder does not exist or cannot be written, and naming
    the field if the network contradicts itself (module docstring), before anything is written:
    every file written here loads with :func:`load_network`."""
    if not isinstance(network, TrainedNetwork):
        raise ValueError(f"network must be a TrainedNetwork (train(...).network), got {type(network).__name__}")
    _check_destination(path, "path")
    where = "network"
    if not isinstance(network.weights, (list, tuple)) or not (network.biases is None
                                                             or isinstance(network.biases, (list, tuple))):
        raise ValueError(f"{where}: weights must be a list of arrays and biases a list of arrays or None")
    weights = [_real_array(w, where, f"weights[{i}]") for i, w in enumerate(network.weights)]
    biases = (None if network.biases is None else
              [_real_array(b, where, f"biases[{i}]") for i, b in enumerate(network.biases)])
    _check_shapes(weights, biases, where)
    config = network.config if isinstance(network.config, TrainConfig) else _as_config(network.config)
    _check_config_matches(config, weights, biases, where)
    try:
        config_json, history_json = json.dumps(dataclasses.asdict(config)), json.dumps(list(network.history))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: config and history must be JSON data ({error})") from None
    arrays = _network_arrays(weights, biases, config_json, [], NETWORK_FORMAT)
    arrays["history"] = np.array(history_json)
    _write_npz(path, arrays)


def load_network(path) -> TrainedNetwork:
    """Load a network saved by :func:`save_network` (or the network inside a training
    checkpoint) with ``allow_pickle=False``. ValueError naming the file if it is not one, and
    naming the file and the field if its content contradicts itself (module docstring)."""
    arrays = _read_npz(path, "path", NETWORK_FORMAT)
    where = f"path {os.fspath(path)!r}"
    weights, biases = _layers(arrays, path, "path")
    try:
        saved = json.loads(str(arrays["config"]))
        history = json.loads(str(arrays["history"]))
    except (json.JSONDecodeError, TypeError, AttributeError):
        raise ValueError(f"path {os.fspath(path)!r} is not a network file of this toolkit (bad config or history)") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{where}: config must be a JSON object of TrainConfig fields, got {type(saved).__name__}")
    if not isinstance(history, list):
        raise ValueError(f"{where}: history must be a JSON list of epoch records, got {type(history).__name__}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    _check_config_matches(config, weights, biases, where)
    return TrainedNetwork(weights=weights, biases=biases, config=config, history=history)


def data_fingerprint(data: Dataset) -> str:
    """sha256 of a dataset's four arrays (shape, dtype and bytes, in the order x_train, y_train,
    x_test, y_test): what a checkpoint records to resume only on the data it was made on."""
    digest = hashlib.sha256()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        array = np.ascontiguousarray(getattr(data, name))
        digest.update(f"{name}{array.shape}{array.dtype.str}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _save_checkpoint(path, config, weights, biases, optimizer, epoch, history, fingerprint):
    state = optimizer.state()
    arrays = _network_arrays(weights, biases, json.dumps(config.identity()), history, CHECKPOINT_FORMAT)
    arrays.update({"epoch": np.array(epoch), "adam_step": np.array(state["step"]),
                   "data_fingerprint": np.array(fingerprint)})
    for i, (m, v) in enumerate(zip(state["m"], state["v"])):
        arrays[f"m{i}"], arrays[f"v{i}"] = m, v
    _write_npz(path, arrays)


_ABSENT = object()


def _load_checkpoint(path, config, weights, biases, optimizer, fingerprint):
    data = _read_npz(path, "checkpoint_path", CHECKPOINT_FORMAT)
    try:
        saved = json.loads(str(data["config"]))
    except json.JSONDecodeError:
        raise ValueError(f"checkpoint_path {path!r} is not a checkpoint of this toolkit (bad config)") from None
    if not isinstance(saved, dict):
        raise ValueError(f"checkpoint_path {path!r} is not a checkpoint of this toolkit (bad config)")
    current = json.loads(json.dumps(config.identity()))
    # a field added to TrainConfig after the checkpoint was written is absent from it; the run
    # was made with that field's default, so it matches when this run also uses the default
    defaults = json.loads(json.dumps(TrainConfig().identity()))
    missing = {k: defaults[k] for k in current if k not in saved}
    diff = sorted(k for k in set(saved) | set(current)
                  if {**missing, **saved}.get(k, _ABSENT) != current.get(k, _ABSENT))
    if diff:
        raise ValueError(f"checkpoint_path {path!r} belongs to another configuration (differs in {diff})")
    if "data_fingerprint" in data:
        if str(data["data_fingerprint"]) != fingerprint:
            raise ValueError(f"checkpoint_path {path!r} was made on other data than this run's (dataset fingerprint "
                             f"{str(data['data_fingerprint'])[:12]}... vs {fingerprint[:12]}...): resume with the "
                             f"same images, labels and sizes, or start a new checkpoint")
    else:
        warnings.warn(f"checkpoint_path {path!r} was written before checkpoints recorded their data; resuming "
                      f"without checking that this run's data is the same", RuntimeWarning, stacklevel=4)
    epoch = data["epoch"]
    if epoch.shape != () or epoch.dtype.kind not in "iu" or int(epoch) < 0:
        raise ValueError(f"checkpoint_path {path!r}: epoch must be one integer >= 0, got {_shown_array(epoch)}")
    if int(epoch) > config.epochs:
        raise ValueError(f"epochs={config.epochs} is fewer than the {int(epoch)} epochs checkpoint_path {path!r} "
                         f"already ran: ask for epochs >= {int(epoch)} to resume it (its network loads with "
                         f"load_network)")
    saved_weights, saved_biases = _layers(data, path, "checkpoint_path")
    n = len(optimizer.params)
    if ([w.shape for w in saved_weights] != [w.shape for w in weights] or (saved_biases is None) != (biases is None)
            or any(f"{k}{i}" not in data for k in "mv" for i in range(n))):
        raise ValueError(f"checkpoint_path {path!r} does not match the network of its configuration")
    for w, saved_w in zip(weights, saved_weights):
        w[...] = saved_w
    for b, saved_b in zip(biases or [], saved_biases or []):
        b[...] = saved_b
    optimizer.load_state({"step": int(data["adam_step"]), "m": [data[f"m{i}"] for i in range(n)],
                          "v": [data[f"v{i}"] for i in range(n)]})
    return int(data["epoch"]), json.loads(str(data["history"]))


def _check_destination(path, name) -> None:
    """ValueError naming option ``name`` unless ``path`` can be written: its folder exists and
    accepts a new file (tried with a temporary file, removed at once), and it is not a folder."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a folder; give a file path")
    if not os.path.isdir(folder):
        raise ValueError(f"{name} {path!r}: folder {folder!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"{name} {path!r}: cannot write in folder {folder!r} ({error.strerror})") from None
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"{name} {path!r} exists and is not writable")


def _write_log(path, history):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        for record in history:
            handle.write(json.dumps(record) + "\n")
    os.replace(tmp, path)


@dataclass
class TrainResult(Sequence):
    """What :func:`train` returns: the trained ``network`` (:class:`TrainedNetwork`) and the
    ``history`` (one dict per epoch, module docstring). For compatibility with code written
    when ``train`` returned the history alone, the result also reads as that list
    (``result[-1]``, ``len(result)``, ``for record in result``)."""
    network: TrainedNetwork
    history: list

    def __getitem__(self, index):
        return self.history[index]

    def __len__(self) -> int:
        return len(self.history)


def _as_config(config) -> TrainConfig:
    if isinstance(config, dict):
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}; known: {sorted(known)}")
        config = TrainConfig(**config)
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig or a dict of its fields, got {type(config).__name__}")
    return config.validate()


def _check_data(data):
    """A Dataset checks its own shapes when made (simulate.data.Dataset)."""
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a simulate.data.Dataset (or None to load config.dataset), got {type(data).__name__}")


def _sized(data: Dataset, config: TrainConfig) -> Dataset:
    """``data`` cut to the config's train_size and test_size (the first n images of a split)."""
    sizes = {"train": config.train_size, "test": config.test_size}
    for split, size in sizes.items():
        have = len(getattr(data, f"x_{split}"))
        if size is not None and int(size) > have:
            raise ValueError(f"{split}_size {size} is larger than the {have} {split} images of the data given")
    if all(size is None or int(size) == len(getattr(data, f"x_{split}")) for split, size in sizes.items()):
        return data
    cut = {}
    for split, size in sizes.items():
        n = None if size is None else int(size)
        cut[f"x_{split}"] = getattr(data, f"x_{split}")[:n]
        cut[f"y_{split}"] = getattr(data, f"y_{split}")[:n]
    return Dataset(name=data.name, **cut)


def _check_training_memory(config: TrainConfig, n_inputs: int, n_classes: int, n_train: int, n_test: int) -> None:
    """Refuse up front (snn_validation.check_memory) a run whose largest arrays cannot fit: the
    weights with their gradients and Adam moments (4 float32 copies) and, per batch, the
    recorded membrane, spikes and spike lists of every layer at every step (12 bytes per
    neuron, step and sample: simulate.backprop keeps them all for BPTT)."""
    widths = [n_inputs] + [config.width] * (config.depth - 2) + [n_classes]
    params = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    rows = max(min(config.batch_size, n_train), min(config.eval_batch_size, n_test))
    nbytes = 16 * params + 12 * config.steps * rows * sum(widths)
    validation.check_memory(nbytes, f"training with width={config.width}, depth={config.depth}, "
                                    f"steps={config.steps}, batch_size={config.batch_size} and "
                                    f"eval_batch_size={config.eval_batch_size}")


def _fields_of(net) -> dict:
    """The network fields of TrainConfig that describe ``net`` (see TrainConfig.from_network)."""
    from theory.regimes.residual import sew_stds
    if not isinstance(net, Network):
        raise ValueError(f"net must be a theory.Network, got {type(net).__name__}")
    neuron = net.neuron
    fields = dict(depth=len(net.neurons), steps=net.T, threshold=neuron.threshold, beta=neuron.beta,
                  reset=neuron.reset)
    if not neuron.deterministic:
        fields.update(firing="escape", escape_noise=neuron.firing.tau)
    top = net.layers.layers
    blocks = [layer for layer in top if isinstance(layer, SEW)]
    unsupported = ValueError("the Numba trainer runs plain stacks (LIF, then (Dense, LIF) layers of one width) and "
                             "theory.sew_network's residual MLP; for other networks (convolutions, pooling, batch "
                             "norm, MS blocks) use python -m snn_bridge.train")
    kinds = [type(layer) for layer in top]
    if blocks:
        k = len(blocks[0].branch.layers) // 2
        if kinds != [LIF, Dense, LIF] + [SEW] * len(blocks) + [Dense, LIF] or any(
                b.connect != "add" or b.multiplier != blocks[0].multiplier or len(b.branch.layers) != 2 * k
                for b in blocks):
            raise unsupported
        a = blocks[0].multiplier
        scaling = {1.0: "none", 1.0 / np.sqrt(len(blocks)): "depth_sqrt", 1.0 / len(blocks): "depth"}.get(a)
        if scaling is None:
            raise ValueError(f"the trainer's branch multipliers are 1, 1/sqrt(blocks) and 1/blocks; this network's "
                             f"is {a}")
        fields.update(architecture="sew_add", block_layers=k, branch_scaling=scaling)
    elif not net.plain and not (kinds[:1] == [LIF] and set(kinds) <= {LIF, Dense, Repeat}):
        raise unsupported
    widths = net.widths
    if len(set(widths[1:-1])) > 1:
        raise ValueError(f"the trainer's hidden layers share one width, this network's are {sorted(set(widths[1:-1]))}")
    fields["width"] = widths[1] if len(widths) > 2 else 100
    laws = {entry.layer.weights for entry in net.plan}
    gains = {entry.layer.gain for entry in net.plan}
    bias_vars = {entry.layer.bias_var for entry in net.plan}
    if blocks and all(isinstance(law, Gaussian) for law in laws):
        designed = sew_stds(len(net.neurons), fields["width"], fields["block_layers"], neuron.threshold, 1.0,
                            widths[0], widths[-1], neuron.beta, T=net.T, reset=neuron.reset, branch_scale=a)
        if not np.array_equal(net.weight_stds(), designed):
            raise ValueError("the trainer draws explicit Gaussian stds only as the sew_add design (budget 1, "
                             "theory.sew_network's default); give the layers one registry initialiser otherwise")
        fields["init"] = "sew_add"
    elif len(laws) == 1 and isinstance(next(iter(laws)), Init):
        law = next(iter(laws))
        params = dict(law.params)
        mapped = {"alpha": "weight_alpha", "gain": "weight_gain", "rate": "weight_rate"}
        context = {"T": net.T, "reset": neuron.reset, "tau": getattr(neuron.firing, "tau", None)}
        for name, value in params.items():
            if name in mapped:
                fields[mapped[name]] = value
            elif context.get(name, object()) != value:
                raise ValueError(f"the trainer takes the initialiser's {name!r} from the network ({context.get(name)}); "
                                 f"this network sets {name}={value!r}")
        fields["init"] = law.name
    else:
        raise ValueError("the trainer draws every layer from one registry initialiser (or the sew_add design); this "
                         "network's layers differ")
    if len(gains) != 1 or len(bias_vars) != 1:
        raise ValueError("the trainer gives every layer one gain and one bias variance; this network's layers differ")
    fields["weight_scale"] = gains.pop()
    bias_var = bias_vars.pop()
    if bias_var > 0:
        fields.update(bias=True, bias_std=float(np.sqrt(bias_var)))
    return fields


def train(config, data=None, **training) -> TrainResult:
    """Train (or resume) the network of ``config``: a TrainConfig (or a dict of its fields), or a
    theory.Network with the ``training`` fields (optimiser, data and I/O: lr, epochs, dataset,
    log_path, ...; TrainConfig.from_network); returns a
    :class:`TrainResult` with the trained network and the history (see the module docstring).
    ``data``: a preloaded simulate.data.Dataset; ``config.train_size`` and ``config.test_size``
    then apply to it as to a loaded one (the first n images of each split; ValueError naming the
    field if the dataset has fewer), while ``dataset`` and ``data_dir`` are not used. Every
    destination (log_path, checkpoint_path, network_path) is checked writable and an existing
    checkpoint readable before any training starts; a run whose arrays cannot fit in the
    available memory is refused first (ValueError naming width, depth, batch sizes and steps)."""
    if isinstance(config, Network):
        config = TrainConfig.from_network(config, **training)
    elif training:
        raise ValueError(f"{sorted(training)} go with a theory.Network; a TrainConfig holds them itself")
    config = _as_config(config)
    for name in ("log_path", "checkpoint_path", "network_path"):
        if getattr(config, name):
            _check_destination(getattr(config, name), name)
    if data is not None:
        _check_data(data)
        data = _sized(data, config)
    previous_threads = numba.get_num_threads()
    if config.threads is not None:
        numba.set_num_threads(int(validation.positive_int(config.threads, "threads")))
    try:
        return _train(config, data)
    finally:
        numba.set_num_threads(previous_threads)


def _train(config, data):
    if data is None:
        data = load_dataset(config.dataset, config.data_dir, config.train_size, config.test_size)
    n_classes = max(10, data.n_classes)
    _check_training_memory(config, data.x_train.shape[1], n_classes, len(data.x_train), len(data.x_test))
    weights, biases = build_network(config, data.x_train.shape[1], n_classes)
    params = weights + (biases or [])
    optimizer = Adam(params, lr=config.lr)
    history, done = [], 0
    fingerprint = data_fingerprint(data) if config.checkpoint_path else ""
    if config.checkpoint_path and os.path.exists(config.checkpoint_path):
        done, history = _load_checkpoint(config.checkpoint_path, config, weights, biases, optimizer, fingerprint)
        history = history[:done]
    n_train = len(data.x_train)
    n_batches = -(-n_train // config.batch_size)
    depth_w = len(weights)
    for epoch in range(done + 1, config.epochs + 1):
        start_time = time.perf_counter()
        order = np.random.default_rng([config.seed, epoch]).permutation(n_train)
        loss_sum, correct, batch_losses = 0.0, 0, []
        rate_sum = np.zeros(depth_w + 1)
        grad_norm_sum = np.zeros(depth_w)
        bar = tqdm(range(n_batches), desc=f"epoch {epoch}/{config.epochs}", disable=not config.progress,
                   leave=False, dynamic_ncols=True)
        for batch in bar:
            index = order[batch * config.batch_size:(batch + 1) * config.batch_size]
            labels = data.y_train[index].astype(np.int64)
            result = batch_pass(config)(weights, biases, pixel_currents(data.x_train[index], config.steps), labels,
                                      surrogate=config.surrogate, surrogate_scale=config.surrogate_scale,
                                      **neuron_kwargs(config, (epoch, batch)))
            grads = result.weight_grads + (result.bias_grads or [])
            if not np.isfinite(result.loss) or not all(np.all(np.isfinite(g)) for g in grads):
                raise FloatingPointError(f"non-finite loss or gradient at epoch {epoch}, batch {batch + 1} "
                                         f"of {n_batches} (loss {result.loss})")
            schedule_step = optimizer.step_count if config.schedule_per == "batch" else epoch - 1
            optimizer.step(grads, lr=learning_rate(config.schedule, config.lr, schedule_step, config.t_max))
            if not all(np.all(np.isfinite(p)) for p in params):
                raise FloatingPointError(f"non-finite weight after the update of epoch {epoch}, batch {batch + 1} "
                                         f"of {n_batches} (learning rate {config.lr} too large?)")
            loss_sum += result.loss * len(labels)
            batch_losses.append(float(result.loss))
            correct += int(np.sum(np.argmax(result.counts, axis=1) == labels))
            rate_sum += result.rates
            grad_norm_sum += [gradient_norm(g) for g in result.weight_grads]
            if config.progress and batch % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / ((batch + 1) * config.batch_size):.3f}")
        bar.close()
        train_seconds = time.perf_counter() - start_time
        test = evaluate(weights, biases, data.x_test, data.y_test, config)
        record = {"epoch": epoch, "train_loss": loss_sum / n_train, "train_accuracy": correct / n_train,
                  "test_loss": test["loss"], "test_accuracy": test["accuracy"],
                  "train_rates": (rate_sum / n_batches).tolist(), "test_rates": test["rates"],
                  "grad_norms": (grad_norm_sum / n_batches).tolist(), "train_loss_batches": batch_losses,
                  "frozen_weights": optimizer.frozen(),
                  "lr_end": learning_rate(config.schedule, config.lr,
                                          optimizer.step_count if config.schedule_per == "batch" else epoch,
                                          config.t_max),
                  "train_seconds": train_seconds, "epoch_seconds": time.perf_counter() - start_time}
        history.append(record)
        if config.checkpoint_path:
            _save_checkpoint(config.checkpoint_path, config, weights, biases, optimizer, epoch, history, fingerprint)
        if config.log_path:
            _write_log(config.log_path, history)
        if config.progress:
            tqdm.write(f"epoch {epoch}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f} | "
                       f"test loss {record['test_loss']:.4f} acc {record['test_accuracy']:.4f} | "
                       f"{record['epoch_seconds']:.1f} s")
    network = TrainedNetwork(weights=weights, biases=biases, config=config, history=history)
    if config.network_path:
        save_network(config.network_path, network)
    return TrainResult(network=network, history=history)


class _Parser(argparse.ArgumentParser):
    """argparse, but a user's mistake ends in one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(name) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m simulate.train``: one option per TrainConfig field."""
    parser = _Parser(prog="python -m simulate.train",
                     description="Train the paper's spiking MLP (784 -> H x (depth - 2) -> 10 LIF layers) with "
                                 "surrogate-gradient BPTT and Adam; prints the last epoch's accuracies as JSON.",
)
    types = {"data_dir": str, "train_size": int, "test_size": int, "surrogate_scale": float, "escape_noise": float,
             "weight_gain": float, "weight_rate": float, "log_path": str, "checkpoint_path": str, "network_path": str, "threads": int}
    for item in dataclasses.fields(TrainConfig):
        if item.name in ("progress", "bias"):
            continue
        choices = _choices(item)
        parser.add_argument(_flag(item.name), dest=item.name, default=item.default, choices=choices,
                            type=types.get(item.name, type(item.default)),
                            help=f"{item.metadata['help']} (default: "
                                 f"{item.metadata['none'] if item.default is None else item.default})",
                            metavar=None if choices else item.name.upper())
    parser.add_argument("--bias", action="store_true", help="add biases, initialised to 0 (default: no biases)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (default: show one per epoch)")
    return parser


def main(argv=None) -> int:
    """The training command line. Exit status 0 on success, 2 for a user's mistake (a bad
    option, value or path: one line on stderr), 1 if training diverges or a file cannot be
    written while it runs (one line on stderr)."""
    # a program's choice, made where it starts (before the first parallel kernel starts the
    # OpenMP pool): idle threads sleep instead of spinning on a shared machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    args["progress"] = not args.pop("quiet")
    try:
        result = train(TrainConfig(**args))
    except ValueError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError) as error:
        print(f"{parser.prog}: stopped: {error}", file=sys.stderr)
        return 1
    last = result.history[-1] if result.history else {}
    print(json.dumps({k: last.get(k) for k in ("epoch", "train_accuracy", "test_accuracy")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
