"""Training loop for the paper's spiking MLP: manual surrogate-gradient BPTT + Adam.

Architecture (docs/theory.md §8, the authors' code): pixels in [0, 1] are the input current of
an input LIF layer (the same current at every one of the T steps; with theta = 1 nothing
fires at t = 1, so T > 1), then Linear + LIF layers of width H, and a 10-neuron LIF output.
``depth`` L counts the LIF layers INCLUDING input and output, as the authors' code does, so
there are L - 1 weight matrices: 784 -> H, (H -> H) x (L - 3), H -> 10 (L = 2: 784 -> 10).
Loss: softmax cross-entropy on the output spike counts (snnTorch ce_count_loss); prediction
= argmax of the counts (first index on ties, as torch.argmax). Weights are drawn from the
registry (theory.inits) with the run's threshold and beta; optional biases start at 0.

Adam (lr 1e-3 default). Schedules: constant, or cosine with T_max (default 10) stepped per
batch (the authors' choice: the rate oscillates with period 2 T_max batches) or per epoch.

Logged every epoch to a JSON-lines file: honest figures of that epoch only (train loss and
accuracy = mean over this epoch's batches, computed on the fly while the weights change;
NOT the authors' running mean over all batches since the start), test loss and accuracy
with the end-of-epoch weights, per-layer firing rates (train: mean over the epoch's
batches; test: end of epoch), per-layer gradient norms ||dL/dW_l|| (mean over batches),
learning rate, and wall time. A checkpoint is written atomically (temporary file +
os.replace) after every epoch; a run started again with the same configuration resumes
after the last finished epoch and gives exactly the history of an uninterrupted run (the
shuffle of epoch e comes from the seed and e alone). A NaN or infinity in the loss or a
gradient stops the run with FloatingPointError naming the epoch and batch.

    python -m simulate.train --dataset mnist --depth 10 --width 100 --init micheli --epochs 5
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import time
from dataclasses import dataclass

import numba
import numpy as np
from tqdm.auto import tqdm

from theory import inits, validation
from theory.surrogates import SURROGATES

from .backprop import RESETS, forward_backward
from .data import load_dataset
from .optim import SCHEDULES, Adam, learning_rate

__all__ = ["TrainConfig", "train", "build_network", "layer_widths", "evaluate", "main"]


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    data_dir: str | None = None
    train_size: int | None = None       # first n training images (None: all)
    test_size: int | None = None
    depth: int = 10                     # LIF layers incl. input and output
    width: int = 100
    init: str = "micheli"
    steps: int = 10                     # T
    beta: float = 0.5
    threshold: float = 1.0
    reset: str = "subtract"
    surrogate: str = "atan"
    surrogate_scale: float | None = None   # None: snnTorch default (atan alpha = 2)
    bias: bool = False
    lr: float = 1e-3
    schedule: str = "cosine"
    t_max: int = 10
    schedule_per: str = "batch"         # "batch" (authors) or "epoch"
    batch_size: int = 64
    epochs: int = 10
    seed: int = 42
    eval_batch_size: int = 1000
    log_path: str | None = None         # JSON lines, one record per epoch
    checkpoint_path: str | None = None  # .npz, written atomically each epoch
    progress: bool = True
    threads: int | None = None          # Numba threads (None: Numba's default); results do not depend on it

    # fields that do not change the numbers: a checkpoint may be resumed with other values
    _FREE = ("epochs", "log_path", "checkpoint_path", "progress", "eval_batch_size", "threads")

    def validate(self) -> "TrainConfig":
        validation.choice(self.init, "init", inits.names())
        validation.choice(self.reset, "reset", RESETS)
        validation.choice(self.surrogate, "surrogate", SURROGATES)
        validation.choice(self.schedule, "schedule", SCHEDULES)
        validation.choice(self.schedule_per, "schedule_per", ("batch", "epoch"))
        if int(self.depth) < 2:
            raise ValueError(f"depth must be an integer >= 2 (LIF layers incl. input and output), got {self.depth}")
        for name in ("width", "steps", "batch_size", "epochs", "t_max", "eval_batch_size"):
            validation.positive_int(getattr(self, name), name)
        validation.unit_interval(self.beta, "beta")
        validation.finite(self.threshold, "threshold")
        validation.positive(self.lr, "lr")
        return self

    def identity(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self._FREE}


def layer_widths(depth, width, n_inputs=784, n_classes=10) -> list[int]:
    """Widths of the L LIF layers: [784, H, ..., H, 10] (L - 2 hidden layers of width H)."""
    return [n_inputs] + [width] * (depth - 2) + [n_classes]


def build_network(config: TrainConfig, n_inputs, n_classes):
    """Weights (and zero biases if asked) drawn from the init registry with Generator(seed)."""
    rng = np.random.default_rng(config.seed)
    widths = layer_widths(config.depth, config.width, n_inputs, n_classes)
    weights = [inits.sample_weights(config.init, a, b, rng, threshold=config.threshold, beta=config.beta)
               for a, b in zip(widths[:-1], widths[1:])]
    biases = [np.zeros(b, np.float32) for b in widths[1:]] if config.bias else None
    return weights, biases


def _currents(images, steps):
    """(B, 784) uint8 -> (T, B, 784) float32 pixels in [0, 1], the same at every step."""
    x = images.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(np.broadcast_to(x, (steps,) + x.shape))


def _kwargs(config):
    return dict(beta=config.beta, threshold=config.threshold, reset=config.reset)


def evaluate(weights, biases, images, labels, config) -> dict:
    """Loss, accuracy and per-layer rates of the network on a dataset (forward only)."""
    total_loss, correct, rates = 0.0, 0, 0.0
    for start in range(0, len(images), config.eval_batch_size):
        x, y = images[start:start + config.eval_batch_size], labels[start:start + config.eval_batch_size]
        result = forward_backward(weights, biases, _currents(x, config.steps), y.astype(np.int64),
                                  backward=False, **_kwargs(config))
        total_loss += result.loss * len(y)
        correct += int(np.sum(np.argmax(result.counts, axis=1) == y))
        rates = rates + result.rates * len(y)
    n = len(images)
    return {"loss": total_loss / n, "accuracy": correct / n, "rates": (rates / n).tolist()}


def _save_checkpoint(path, config, weights, biases, optimizer, epoch, history):
    state = optimizer.state()
    arrays = {"epoch": np.array(epoch), "adam_step": np.array(state["step"]),
              "config": np.array(json.dumps(config.identity())), "history": np.array(json.dumps(history))}
    for i, w in enumerate(weights):
        arrays[f"w{i}"] = w
    for i, b in enumerate(biases or []):
        arrays[f"b{i}"] = b
    for i, (m, v) in enumerate(zip(state["m"], state["v"])):
        arrays[f"m{i}"], arrays[f"v{i}"] = m, v
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _load_checkpoint(path, config, weights, biases, optimizer):
    with np.load(path) as data:
        saved = json.loads(str(data["config"]))
        if saved != json.loads(json.dumps(config.identity())):
            diff = sorted(k for k in saved if saved[k] != config.identity().get(k))
            raise ValueError(f"checkpoint_path {path!r} belongs to another configuration (differs in {diff})")
        for i, w in enumerate(weights):
            w[...] = data[f"w{i}"]
        for i, b in enumerate(biases or []):
            b[...] = data[f"b{i}"]
        n = len(optimizer.params)
        optimizer.load_state({"step": int(data["adam_step"]), "m": [data[f"m{i}"] for i in range(n)],
                              "v": [data[f"v{i}"] for i in range(n)]})
        return int(data["epoch"]), json.loads(str(data["history"]))


def _write_log(path, history):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        for record in history:
            handle.write(json.dumps(record) + "\n")
    os.replace(tmp, path)


def train(config, data=None) -> list[dict]:
    """Train (or resume) the network of ``config`` (TrainConfig or dict); returns the history,
    one dict per epoch (see the module docstring). ``data``: a preloaded simulate.data.Dataset."""
    if isinstance(config, dict):
        config = TrainConfig(**config)
    config.validate()
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
    weights, biases = build_network(config, data.x_train.shape[1], n_classes)
    params = weights + (biases or [])
    optimizer = Adam(params, lr=config.lr)
    history, done = [], 0
    if config.checkpoint_path and os.path.exists(config.checkpoint_path):
        done, history = _load_checkpoint(config.checkpoint_path, config, weights, biases, optimizer)
        history = history[:done]
    n_train = len(data.x_train)
    n_batches = -(-n_train // config.batch_size)
    depth_w = len(weights)
    for epoch in range(done + 1, config.epochs + 1):
        start_time = time.perf_counter()
        order = np.random.default_rng([config.seed, epoch]).permutation(n_train)
        loss_sum, correct = 0.0, 0
        rate_sum = np.zeros(depth_w + 1)
        grad_norm_sum = np.zeros(depth_w)
        bar = tqdm(range(n_batches), desc=f"epoch {epoch}/{config.epochs}", disable=not config.progress,
                   leave=False, dynamic_ncols=True)
        for batch in bar:
            index = order[batch * config.batch_size:(batch + 1) * config.batch_size]
            labels = data.y_train[index].astype(np.int64)
            result = forward_backward(weights, biases, _currents(data.x_train[index], config.steps), labels,
                                      surrogate=config.surrogate, surrogate_scale=config.surrogate_scale,
                                      **_kwargs(config))
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
            correct += int(np.sum(np.argmax(result.counts, axis=1) == labels))
            rate_sum += result.rates
            grad_norm_sum += [float(np.linalg.norm(g)) for g in result.weight_grads]
            if config.progress and batch % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / ((batch + 1) * config.batch_size):.3f}")
        bar.close()
        train_seconds = time.perf_counter() - start_time
        test = evaluate(weights, biases, data.x_test, data.y_test, config)
        record = {"epoch": epoch, "train_loss": loss_sum / n_train, "train_accuracy": correct / n_train,
                  "test_loss": test["loss"], "test_accuracy": test["accuracy"],
                  "train_rates": (rate_sum / n_batches).tolist(), "test_rates": test["rates"],
                  "grad_norms": (grad_norm_sum / n_batches).tolist(),
                  "lr_end": learning_rate(config.schedule, config.lr,
                                          optimizer.step_count if config.schedule_per == "batch" else epoch,
                                          config.t_max),
                  "train_seconds": train_seconds, "epoch_seconds": time.perf_counter() - start_time}
        history.append(record)
        if config.checkpoint_path:
            _save_checkpoint(config.checkpoint_path, config, weights, biases, optimizer, epoch, history)
        if config.log_path:
            _write_log(config.log_path, history)
        if config.progress:
            tqdm.write(f"epoch {epoch}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f} | "
                       f"test loss {record['test_loss']:.4f} acc {record['test_accuracy']:.4f} | "
                       f"{record['epoch_seconds']:.1f} s")
    return history


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train the paper's spiking MLP with surrogate-gradient BPTT.")
    defaults = TrainConfig()
    types = {"data_dir": str, "train_size": int, "test_size": int, "surrogate_scale": float,
             "log_path": str, "checkpoint_path": str, "threads": int}
    for field in dataclasses.fields(TrainConfig):
        if field.name in ("progress", "bias"):
            continue
        default = getattr(defaults, field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=default,
                            type=types.get(field.name, type(default)))
    parser.add_argument("--bias", action="store_true", help="add (zero-initialised) biases")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = vars(parser.parse_args(argv))
    args["progress"] = not args.pop("quiet")
    try:
        history = train(TrainConfig(**args))
    except (ValueError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    last = history[-1] if history else {}
    print(json.dumps({k: last.get(k) for k in ("epoch", "train_accuracy", "test_accuracy")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
