"""Training of the convolutional spiking networks of :mod:`snn_bridge.models` with PyTorch autograd.

    python -m snn_bridge.train --family sew_add --library snntorch --blocks 2 --channels 16,32,64 \
        --T 4 --init spikeinit --dataset mnist --train-size 10000 --epochs 2 --log-path run.jsonl

The model (``--family``, ``--library``, ``--blocks`` per stage, ``--channels`` one width per stage,
``--bn/--no-bn``, neuron ``--beta --threshold --reset``, ATan ``--surrogate-scale``, ``--readout``,
``--head``; snn_bridge/models.py)
reads each image as a static current: pixels x / 255 in [0, 1], the same image at each of the T
steps, input shape (T, B, 1, 28, 28) (as ``simulate.train`` feeds its MLP). Loss: softmax
cross-entropy on the model's output, i.e. on the output layer's spike counts (snnTorch's
``ce_count_loss``) or, with ``--readout current_sum``, on the Linear's output summed over T;
prediction = argmax (first index on ties). Surrogate-gradient BPTT is autograd through the
library's own neurons (reset detached).

Initialisers (``--init``) are entries of :data:`INITIALISERS`, a dict name -> callable
``init_fn(model, config) -> dict`` (a JSON-ready report); add one to plug in another (the
command line's choices are the dict's keys when it is built):

* ``micheli``, ``kaiming``, ``pytorch_default``: every Conv2d / Linear weight drawn from the
  registry entry (theory.inits) with std = weight_std(name, fan_in, fan_out, threshold, beta),
  fan_in = c_in k_h k_w (torch's fans), by ``snn_bridge.init_`` with a torch.Generator seeded by
  ``seed`` (normal entries N(0, std^2); pytorch_default is the registry's uniform law
  U(-sqrt(3) std, sqrt(3) std), as torch's own default); biases 0; BN left at weight 1, bias 0.
* ``spikeinit``: :func:`snn_bridge.spikeinit.spikeinit_` (rate ``spikeinit_rate``, the model's T,
  the stem's input second moment measured on the training images unless ``input_second_moment``
  is given); it also sets the ATan scale of every neuron.
* ``toolkit``: :func:`toolkit_initialiser`, the bridge's ``initialize_`` on the translated model
  (micheli per layer for its neuron; SEW-ADD and MS blocks near the identity; BN weight bn_alpha x threshold).
* ``toolkit_chi1``: the same, and every neuron's surrogate scale set for a one-step backward gain
  chi = 1 where the bridge derives chi (``initialize_(chi_one=True)``; others keep ``surrogate_scale``).
* ``kaiming_bn`` (tdBN style, Zheng et al. AAAI 2021; needs ``--bn``): Kaiming weights
  N(0, 2 / fan_in) and every BN weight alpha * threshold (``bn_alpha``, default 1), BN bias 0.

Optimiser: Adam (``lr``), schedule as simulate.train: constant or cosine
lr_k = lr (1 + cos(pi k / t_max)) / 2 with k the batch count (``schedule_per`` batch, the
authors' choice) or the epoch count.

Logged every epoch as one JSON line (the file is rewritten atomically each epoch): train loss
and accuracy (means over this epoch's batches while the weights change), test loss and accuracy
(end-of-epoch weights, eval mode), per-layer spike rates (``train_rates``: mean over the epoch's
batches; ``test_rates``; dicts neuron name -> mean spike per neuron and step), the loss of every
batch (``train_loss_batches``), ``seconds_per_iteration`` (training wall time / batches), the
learning rate at the end, wall times; the first record also holds ``model`` (the model's
``describe()``) and ``init_report``. A checkpoint (``torch.save`` of the state dicts, history,
torch's RNG state and the configuration; read back with ``weights_only=True``) is written
atomically (temporary file + os.replace) after every epoch, with a SHA-256 fingerprint of the
data; starting the same configuration on the same data again resumes after the last finished
epoch (other data, or fewer epochs than already run: ValueError) and gives the same history, bit
for bit, as an
uninterrupted run on the same machine and thread count (epoch e's shuffle comes from
(seed, e) alone; the model is rebuilt and re-initialised, then its state loaded). CPU runs
use ``torch.use_deterministic_algorithms(True, warn_only=True)``; ``threads`` sets torch's
intra-op threads for the run. A NaN or infinity in the loss or a gradient stops the run with
FloatingPointError naming the epoch and batch (exit status 1).

Python API: ``train(config) -> TorchTrainResult`` (``.model``, ``.history``, ``.init_report``).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError('snn_bridge.train needs PyTorch, the optional extra: pip install ".[torch]"') from exc
from tqdm.auto import tqdm

from simulate.data import DEBIAN_FASHION_MNIST, Dataset, load_dataset
from theory import inits

from .nninit import fans, init_
from .models import FAMILIES, HEADS, LIBRARIES, READOUTS, RESETS, ModelConfig, build_model
from .spikeinit import spikeinit_

__all__ = ["TorchTrainConfig", "TorchTrainResult", "INITIALISERS", "registry_initialiser", "spikeinit_initialiser",
           "toolkit_initialiser", "toolkit_chi1_initialiser",
           "kaiming_bn_initialiser", "train", "build", "evaluate", "data_fingerprint", "build_parser", "main"]

CHECKPOINT_FORMAT = "snn-init-torch-checkpoint-1"
SCHEDULES = ("cosine", "constant")
TIME_FIELDS = ("seconds_per_iteration", "train_seconds", "epoch_seconds")


# ---------------------------------------------------------------------------------------------
# initialisers
# ---------------------------------------------------------------------------------------------

def registry_initialiser(name):
    """``init_fn(model, config)`` drawing every Conv2d/Linear weight from registry entry ``name``
    (theory.inits) with the run's threshold and beta; biases 0 (module docstring)."""
    inits.get(name)   # ValueError for an unknown name

    def init_fn(model, config):
        generator = torch.Generator().manual_seed(int(config.seed))
        rows = []
        with torch.no_grad():
            for layer, module, role in model.weight_roles():
                init_(module.weight, name, threshold=config.threshold, beta=config.beta, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
                fan_in, fan_out = fans(module.weight)
                rows.append({"name": layer, "role": role, "fan_in": fan_in,
                             "std": float(inits.weight_std(name, fan_in, fan_out, config.threshold, config.beta))})
        return {"init": name, "dist": inits.get(name).dist, "layers": rows}
    init_fn.__name__ = f"registry_{name}"
    return init_fn


def spikeinit_initialiser(model, config):
    """SpikeInit (:func:`snn_bridge.spikeinit.spikeinit_`) with the run's T and seed."""
    report = spikeinit_(model, rate=config.spikeinit_rate, steps=config.steps,
                        input_second_moment=config.input_second_moment,
                        generator=torch.Generator().manual_seed(int(config.seed)))
    return {"init": "spikeinit", **report.to_dict()}


def kaiming_bn_initialiser(model, config):
    """tdBN-style baseline: Kaiming normal weights, every BN weight bn_alpha * threshold, BN bias 0."""
    if not config.bn:
        raise ValueError("init 'kaiming_bn' needs batch norm (bn True / --bn)")
    report = registry_initialiser("kaiming")(model, config)
    gamma = config.bn_alpha * config.threshold
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.fill_(gamma)
                module.bias.zero_()
    return {**report, "init": "kaiming_bn", "bn_weight": gamma}


def toolkit_initialiser(model, config, chi_one=False, samples=4000):
    """The bridge's own initialiser (:func:`snn_bridge.initialize_`): the model translated into the
    toolkit's description, every weight from the registry's ``micheli`` for the neuron after it,
    evaluated on that description (static input of std sqrt(input_second_moment), the run's T);
    SEW-ADD and MS models with blocks that start near the identity (``residual="near_identity"``:
    each of the N SEW-ADD blocks fires at the stem's rate / N, each MS branch adds a current of
    variance V_0 / N, V_0 the stream's); batch norms at weight bn_alpha x threshold, bias 0.
    A readout with no neuron after it (``--readout current_sum``) keeps PyTorch's default draw.
    ``chi_one``: also set each neuron's surrogate scale for chi = 1 (``toolkit_chi1``); the report
    lists every neuron's one-step chi (None where not derived) and surrogate. ``samples``: the mean
    field's paths (the near-identity design walks every block with them)."""
    from .initialize import initialize_
    report = initialize_(model, "micheli", input_shape=config.model_config().input_shape, T=config.steps,
                         encoding="static", input_std=math.sqrt(config.input_second_moment),
                         residual="near_identity" if config.family in ("sew_add", "ms") else "plain",
                         bn_weight=config.bn_alpha * config.threshold, unpaired="list", trainable_depth=False,
                         warn=False, chi_one=chi_one, generator=torch.Generator().manual_seed(int(config.seed)),
                         samples=samples, seed=int(config.seed))
    return {"init": "toolkit_chi1" if chi_one else "toolkit",
            "residual": "near_identity" if config.family in ("sew_add", "ms") else "plain",
            "layers": [{"name": r.module, "fan_in": r.fan_in, "std": float(r.std), "gain": float(r.gain)}
                       for r in report.layers],
            "predicted_rates": {n.module: float(np.mean(n.rate)) for n in report.neurons},
            "neurons": [{"name": n.module, "chi": n.chi, "surrogate": n.surrogate} for n in report.neurons],
            "unpaired": report.unpaired, "notes": report.notes}


def toolkit_chi1_initialiser(model, config):
    """:func:`toolkit_initialiser` with every neuron's surrogate scale set for chi = 1."""
    return toolkit_initialiser(model, config, chi_one=True)


INITIALISERS = {
    "micheli": registry_initialiser("micheli"),
    "kaiming": registry_initialiser("kaiming"),
    "pytorch_default": registry_initialiser("pytorch_default"),
    "spikeinit": spikeinit_initialiser,
    "kaiming_bn": kaiming_bn_initialiser,
    "toolkit": toolkit_initialiser,
    "toolkit_chi1": toolkit_chi1_initialiser,
}


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------

def _option(default, help, choices=None):
    return field(default=default, metadata={"help": help, "choices": choices})


def parse_channels(text) -> tuple:
    """'16,32,64' -> (16, 32, 64); ValueError naming ``channels`` otherwise."""
    if isinstance(text, (tuple, list)):
        return tuple(text)
    try:
        values = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise ValueError(f"channels must be comma-separated integers >= 1 (e.g. 16,32,64), got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"channels must be comma-separated integers >= 1 (e.g. 16,32,64), got {text!r}")
    return values


@dataclass
class TorchTrainConfig:
    """Every setting of a run (each is an option of ``python -m snn_bridge.train``)."""
    family: str = _option("sew_add", "network family", FAMILIES)
    library: str = _option("snntorch", "neuron library", LIBRARIES)
    blocks: int = _option(2, "blocks per stage (residual blocks, or conv-LIF layers for vgg)")
    channels: tuple = _option((16, 32, 64), "channel width per stage, comma-separated")
    bn: bool = _option(False, "batch norm after every convolution")
    steps: int = _option(4, "time steps T per image (the image is the input current at every step)")
    beta: float = _option(0.5, "membrane leak factor beta in [0, 1] (spikingjelly: (0, 1])")
    threshold: float = _option(1.0, "firing threshold theta > 0")
    reset: str = _option("subtract", "reset after a spike", RESETS)
    surrogate_scale: float = _option(2.0, "ATan surrogate alpha > 0 (spikeinit sets its own)")
    readout: str = _option("spike_count", "loss on output spike counts, or on the Linear's output summed over T",
                           READOUTS)
    head: str = _option("flatten", "classifier input: the last stage's spikes flattened, or globally average-pooled",
                        HEADS)
    learn_beta: bool = _option(False, "train beta (snnTorch learn_beta, SpikingJelly ParametricLIFNode)")
    init: str = _option("micheli", "weight initialiser", lambda: tuple(INITIALISERS))
    spikeinit_rate: float = _option(0.1, "--init spikeinit: target firing rate in (0, 0.5)")
    input_second_moment: float | None = _option(None, "--init spikeinit, toolkit: E[x^2] of the input pixels (None: measured "
                                                      "on the training images)")
    bn_alpha: float = _option(1.0, "--init kaiming_bn: BN weight = bn_alpha x threshold (tdBN's alpha)")
    dataset: str = _option("mnist", "mnist (embedded) or fashion_mnist (Debian's dataset-fashion-mnist)",
                           ("mnist", "fashion_mnist"))
    data_dir: str | None = _option(None, "directory of the four IDX files (default: the embedded MNIST / Debian's "
                                         "Fashion-MNIST path)")
    train_size: int | None = _option(None, "use the first n training images (default all)")
    test_size: int | None = _option(None, "use the first n test images (default all)")
    epochs: int = _option(1, "epochs (a resumed run continues up to this many)")
    batch_size: int = _option(32, "training batch size")
    lr: float = _option(1e-3, "Adam learning rate")
    schedule: str = _option("cosine", "learning-rate schedule", SCHEDULES)
    t_max: int = _option(10, "cosine half-period T_max in schedule steps")
    schedule_per: str = _option("batch", "step the schedule per batch (the authors' choice) or per epoch",
                                ("batch", "epoch"))
    seed: int = _option(42, "seed of the weights and of every epoch's shuffle (integer >= 0)")
    eval_batch_size: int = _option(256, "batch size of the test evaluation")
    log_path: str | None = _option(None, "JSON-lines log, one record per epoch (default: none)")
    checkpoint_path: str | None = _option(None, "checkpoint written atomically each epoch; an existing one of the same "
                                                "configuration is resumed (default: none)")
    progress: bool = _option(True, "progress bar")
    threads: int | None = _option(None, "torch intra-op threads for the run (default: torch's)")
    device: str = _option("cpu", "torch device (cpu, cuda, cuda:0, ...)")

    # fields that do not change the numbers on one machine: a checkpoint may be resumed with other values
    _FREE = ("epochs", "log_path", "checkpoint_path", "progress", "eval_batch_size", "threads", "device")

    def validate(self) -> "TorchTrainConfig":
        """ValueError naming the first field out of its range."""
        for item in dataclasses.fields(self):
            choices = item.metadata.get("choices")
            if choices:
                allowed = tuple(choices() if callable(choices) else choices)
                if getattr(self, item.name) not in allowed:
                    raise ValueError(f"{item.name} must be one of {list(allowed)}, got {getattr(self, item.name)!r}")
        self.channels = parse_channels(self.channels)
        for name in ("blocks", "steps", "epochs", "batch_size", "t_max", "eval_batch_size"):
            _positive_int(getattr(self, name), "steps (--T)" if name == "steps" else name)
        for name in ("train_size", "test_size", "threads"):
            if getattr(self, name) is not None:
                _positive_int(getattr(self, name), name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("bn", "learn_beta", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _finite(self.lr, "lr", positive=True)
        rate = _finite(self.spikeinit_rate, "spikeinit_rate")
        if not 0 < rate < 0.5:
            raise ValueError(f"spikeinit_rate must lie in (0, 0.5), got {self.spikeinit_rate!r}")
        if self.input_second_moment is not None:
            _finite(self.input_second_moment, "input_second_moment", positive=True)
        _finite(self.bn_alpha, "bn_alpha", positive=True)
        if self.init == "kaiming_bn" and not self.bn:
            raise ValueError("init 'kaiming_bn' needs batch norm: pass --bn (bn True)")
        for name in ("data_dir", "log_path", "checkpoint_path"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (str, os.PathLike)) or not os.fspath(value)):
                raise ValueError(f"{name} must be None or a non-empty path, got {value!r}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {self.device!r}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r}: CUDA is not available in this PyTorch build / machine")
        self.model_config().validate()     # family/library/neuron constraints, ValueError naming the field
        return self

    def model_config(self, n_classes=10) -> ModelConfig:
        return ModelConfig(family=self.family, library=self.library, blocks=self.blocks, channels=self.channels,
                           bn=self.bn, beta=self.beta, threshold=self.threshold, reset=self.reset,
                           surrogate_scale=self.surrogate_scale, readout=self.readout, head=self.head,
                           learn_beta=self.learn_beta, n_classes=n_classes)

    def identity(self) -> dict:
        record = {k: v for k, v in dataclasses.asdict(self).items() if k not in self._FREE}
        record["channels"] = list(record["channels"])
        return record


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _finite(value, name, positive=False):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number, got {value!r}") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be {'> 0 and ' if positive else ''}finite, got {value!r}")
    return value


def _as_config(config) -> TorchTrainConfig:
    if isinstance(config, dict):
        known = {f.name for f in dataclasses.fields(TorchTrainConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}; known: {sorted(known)}")
        config = TorchTrainConfig(**config)
    if not isinstance(config, TorchTrainConfig):
        raise ValueError(f"config must be a TorchTrainConfig or a dict of its fields, got {type(config).__name__}")
    return dataclasses.replace(config).validate()


# ---------------------------------------------------------------------------------------------
# data, model, evaluation
# ---------------------------------------------------------------------------------------------

def _load_data(config) -> Dataset:
    if config.dataset == "fashion_mnist":
        folder = config.data_dir or DEBIAN_FASHION_MNIST
        if not os.path.isdir(folder):
            raise ValueError(f"Fashion-MNIST not found at {folder!r}: install it with `apt-get install "
                             f"dataset-fashion-mnist` (Debian) or pass --data-dir with its four IDX files")
    return load_dataset(config.dataset, config.data_dir, config.train_size, config.test_size)


def _images(x) -> torch.Tensor:
    """(n, 784) uint8 -> (n, 1, 28, 28) float32 in [0, 1]."""
    if x.shape[1] != 784:
        raise ValueError(f"images must have 28 x 28 = 784 pixels, got {x.shape[1]}")
    return torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32).div_(255.0).view(-1, 1, 28, 28)


def _encode(images, steps):
    """(B, 1, 28, 28) -> (T, B, 1, 28, 28): the same image at every step (a static current)."""
    return images.unsqueeze(0).expand(steps, *images.shape)


def build(config, n_classes=10, input_second_moment=None):
    """The model of ``config`` (on the CPU) initialised by its initialiser; returns (model, report)."""
    config = _as_config(config)
    model = build_model(config.family, config.library, blocks=config.blocks, channels=config.channels, bn=config.bn,
                        beta=config.beta, threshold=config.threshold, reset=config.reset,
                        surrogate_scale=config.surrogate_scale, readout=config.readout, head=config.head,
                        learn_beta=config.learn_beta, n_classes=n_classes)
    init_config = config
    if config.input_second_moment is None:
        init_config = dataclasses.replace(config, input_second_moment=1.0 if input_second_moment is None
                                          else float(input_second_moment))
    report = INITIALISERS[config.init](model, init_config)
    return model, report


class _RateMeter:
    """Forward hooks on every neuron layer: spikes and elements seen since the last ``take``."""

    def __init__(self, model):
        self.names = [name for name, _ in model.neurons()]
        self.sums = [0.0] * len(self.names)
        self.counts = [0] * len(self.names)
        self.handles = [module.register_forward_hook(self._hook(i)) for i, (_, module) in enumerate(model.neurons())]

    def _hook(self, i):
        def hook(module, args, output):
            spikes = output[0] if isinstance(output, tuple) else output
            self.sums[i] += float(spikes.detach().sum())
            self.counts[i] += spikes.numel()
        return hook

    def take(self) -> list:
        rates = [s / c if c else float("nan") for s, c in zip(self.sums, self.counts)]
        self.sums = [0.0] * len(self.names)
        self.counts = [0] * len(self.names)
        return rates

    def close(self):
        for handle in self.handles:
            handle.remove()


def evaluate(model, images, labels, config, device="cpu") -> dict:
    """Loss, accuracy and per-layer rates of ``model`` on (n, 1, 28, 28) images in [0, 1] (eval mode,
    no gradient; BN uses its running statistics)."""
    config = _as_config(config)
    was_training = model.training
    model.eval()
    meter = _RateMeter(model)
    total_loss, correct, rate_sum = 0.0, 0, np.zeros(len(meter.names))
    try:
        with torch.no_grad():
            for start in range(0, len(images), config.eval_batch_size):
                x = images[start:start + config.eval_batch_size].to(device)
                y = labels[start:start + config.eval_batch_size].to(device)
                out = model(_encode(x, config.steps))
                total_loss += float(F.cross_entropy(out, y, reduction="sum"))
                correct += int((out.argmax(1) == y).sum())
                rate_sum += np.asarray(meter.take()) * len(y)
    finally:
        meter.close()
        model.train(was_training)
    n = len(images)
    return {"loss": total_loss / n, "accuracy": correct / n,
            "rates": dict(zip(meter.names, (rate_sum / n).tolist()))}


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------

def _check_destination(path, name) -> None:
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


def _atomic_save(obj, path):
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def data_fingerprint(data: Dataset) -> str:
    """SHA-256 of the images and labels of both splits (a checkpoint resumes on the same data only)."""
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _save_checkpoint(path, config, model, optimizer, epoch, history, fingerprint):
    _atomic_save({"format": CHECKPOINT_FORMAT, "config": json.dumps(config.identity()), "epoch": epoch,
                  "history": json.dumps(history), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "torch_rng_state": torch.get_rng_state(), "data": fingerprint}, path)


def _load_checkpoint(path, config, model, optimizer, device, fingerprint):
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:   # not a torch file, truncated, pickled objects, ...
        raise ValueError(f"checkpoint_path {path!r} is not a checkpoint of snn_bridge.train "
                         f"({type(error).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint_path {path!r} is not a checkpoint of snn_bridge.train")
    saved = json.loads(data["config"])
    current = json.loads(json.dumps(config.identity()))
    diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if diff:
        raise ValueError(f"checkpoint_path {path!r} belongs to another configuration (differs in {diff})")
    if data.get("data") != fingerprint:
        raise ValueError(f"checkpoint_path {path!r} was trained on other data (the images or labels differ)")
    if int(data["epoch"]) > config.epochs:
        raise ValueError(f"epochs must be >= {int(data['epoch'])}, the epochs checkpoint_path {path!r} has already "
                         f"run, got {config.epochs}")
    try:
        model.load_state_dict(data["model"])
        optimizer.load_state_dict(data["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise ValueError(f"checkpoint_path {path!r} does not match the model of its configuration "
                         f"({str(error).splitlines()[0]})") from None
    torch.set_rng_state(data["torch_rng_state"].cpu())
    return int(data["epoch"]), json.loads(data["history"])


def _write_log(path, history):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        for record in history:
            handle.write(json.dumps(record) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------

@dataclass
class TorchTrainResult(Sequence):
    """What :func:`train` returns: the trained ``model``, the ``history`` (one dict per epoch,
    module docstring) and the initialiser's ``init_report``; reads as the history list too."""
    model: nn.Module
    history: list
    init_report: dict

    def __getitem__(self, index):
        return self.history[index]

    def __len__(self) -> int:
        return len(self.history)


def _learning_rate(config, step):
    if config.schedule == "constant":
        return config.lr
    return config.lr * (1.0 + math.cos(math.pi * step / config.t_max)) / 2.0


def train(config, data=None) -> TorchTrainResult:
    """Train (or resume) the run of ``config`` (TorchTrainConfig or dict of its fields); ``data``:
    a preloaded simulate.data.Dataset of 28x28 images. Destinations are checked before any work."""
    config = _as_config(config)
    for name in ("log_path", "checkpoint_path"):
        if getattr(config, name):
            _check_destination(getattr(config, name), name)
    if data is not None and not isinstance(data, Dataset):
        raise ValueError(f"data must be a simulate.data.Dataset (or None to load config.dataset), got "
                         f"{type(data).__name__}")
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        return _train(config, data)
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)


def _train(config, data):
    if data is None:
        data = _load_data(config)
    device = torch.device(config.device)
    x_train, x_test = _images(data.x_train), _images(data.x_test)
    y_train = torch.from_numpy(data.y_train.astype(np.int64))
    y_test = torch.from_numpy(data.y_test.astype(np.int64))
    n_classes = max(10, data.n_classes)
    fingerprint = data_fingerprint(data) if config.checkpoint_path else None
    torch.manual_seed(config.seed)
    second_moment = float(x_train.double().pow(2).mean())
    model, report = build(config, n_classes, input_second_moment=second_moment)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history, done = [], 0
    if config.checkpoint_path and os.path.exists(config.checkpoint_path):
        done, history = _load_checkpoint(config.checkpoint_path, config, model, optimizer, device, fingerprint)
        history = history[:done]
        if history and "init_report" in history[0]:
            report = history[0]["init_report"]
    n_train = len(x_train)
    n_batches = -(-n_train // config.batch_size)
    meter = _RateMeter(model)
    try:
        for epoch in range(done + 1, config.epochs + 1):
            start_time = time.perf_counter()
            order = torch.from_numpy(np.random.default_rng([config.seed, epoch]).permutation(n_train))
            model.train()
            loss_sum, correct, batch_losses = 0.0, 0, []
            rate_sum = np.zeros(len(meter.names))
            meter.take()
            bar = tqdm(range(n_batches), desc=f"epoch {epoch}/{config.epochs}", disable=not config.progress,
                       leave=False, dynamic_ncols=True)
            for batch in bar:
                index = order[batch * config.batch_size:(batch + 1) * config.batch_size]
                x, y = x_train[index].to(device), y_train[index].to(device)
                step = (epoch - 1) * n_batches + batch if config.schedule_per == "batch" else epoch - 1
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(config, step)
                optimizer.zero_grad(set_to_none=True)
                out = model(_encode(x, config.steps))
                loss = F.cross_entropy(out, y)
                loss.backward()
                value = float(loss.detach())
                if not math.isfinite(value) or not all(torch.isfinite(p.grad).all() for p in model.parameters()
                                                        if p.grad is not None):
                    raise FloatingPointError(f"non-finite loss or gradient at epoch {epoch}, batch {batch + 1} of "
                                             f"{n_batches} (loss {value})")
                optimizer.step()
                batch_losses.append(value)
                loss_sum += value * len(y)
                correct += int((out.detach().argmax(1) == y).sum())
                rate_sum += np.asarray(meter.take())
                if config.progress and batch % 10 == 0:
                    bar.set_postfix(loss=f"{value:.3f}")
            bar.close()
            train_seconds = time.perf_counter() - start_time
            meter.close()
            test = evaluate(model, x_test, y_test, config, device)
            meter = _RateMeter(model)
            last_step = epoch * n_batches if config.schedule_per == "batch" else epoch
            record = {"epoch": epoch, "train_loss": loss_sum / n_train, "train_accuracy": correct / n_train,
                      "test_loss": test["loss"], "test_accuracy": test["accuracy"],
                      "train_rates": dict(zip(meter.names, (rate_sum / n_batches).tolist())),
                      "test_rates": test["rates"], "train_loss_batches": batch_losses,
                      "lr_end": _learning_rate(config, last_step),
                      "seconds_per_iteration": train_seconds / n_batches, "train_seconds": train_seconds,
                      "epoch_seconds": time.perf_counter() - start_time}
            if epoch == 1:
                record["model"] = model.describe()
                record["init_report"] = report
            history.append(record)
            if config.checkpoint_path:
                _save_checkpoint(config.checkpoint_path, config, model, optimizer, epoch, history, fingerprint)
            if config.log_path:
                _write_log(config.log_path, history)
            if config.progress:
                tqdm.write(f"epoch {epoch}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f} | "
                           f"test loss {record['test_loss']:.4f} acc {record['test_accuracy']:.4f} | "
                           f"{record['seconds_per_iteration']:.3f} s/it")
    finally:
        meter.close()
    return TorchTrainResult(model=model, history=history, init_report=report)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse, but a user's mistake ends in one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _channels_type(text):
    try:
        return parse_channels(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m snn_bridge.train``: one option per TorchTrainConfig field."""
    parser = _Parser(prog="python -m snn_bridge.train",
                     description="Train a convolutional spiking network (SEW-/MS-ResNet or VGG, snnTorch or "
                                 "SpikingJelly) on MNIST or Fashion-MNIST with surrogate gradients and Adam; prints "
                                 "the last epoch's accuracies as JSON.")
    types = {"data_dir": str, "train_size": int, "test_size": int, "log_path": str, "checkpoint_path": str,
             "threads": int, "input_second_moment": float}
    flags = {"steps": ["--T", "--steps"]}
    for item in dataclasses.fields(TorchTrainConfig):
        if item.name in ("progress", "bn", "learn_beta"):
            continue
        choices = item.metadata.get("choices")
        choices = tuple(choices() if callable(choices) else choices) if choices else None
        kind = _channels_type if item.name == "channels" else types.get(item.name, type(item.default))
        default = ",".join(map(str, item.default)) if item.name == "channels" else item.default
        parser.add_argument(*flags.get(item.name, ["--" + item.name.replace("_", "-")]), dest=item.name,
                            default=item.default, choices=choices, type=kind,
                            help=f"{item.metadata['help']} (default: {default})",
                            metavar=None if choices else item.name.upper())
    parser.add_argument("--bn", action=argparse.BooleanOptionalAction, default=False,
                        help="batch norm after every convolution (default: --no-bn)")
    parser.add_argument("--learn-beta", dest="learn_beta", action="store_true", help="train beta (default: fixed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    """Exit status 0 on success, 2 for a user's mistake (one line on stderr), 1 if training
    diverges or a file cannot be written while it runs."""
    logging.getLogger("torch._library.triton").setLevel(logging.ERROR)   # "Triton not available" on CPU builds
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    args["progress"] = not args.pop("quiet")
    try:
        result = train(TorchTrainConfig(**args))
    except (ValueError, ImportError) as error:
        print(f"{parser.prog}: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError) as error:
        print(f"{parser.prog}: stopped: {error}", file=sys.stderr)
        return 1
    last = result.history[-1] if result.history else {}
    print(json.dumps({k: last.get(k) for k in ("epoch", "train_accuracy", "test_accuracy", "seconds_per_iteration")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
