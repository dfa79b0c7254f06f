"""Measurements that the figures (and users) repeat: each is one seeded, self-contained run
whose numbers a figure plots next to a theory prediction. Kept here, not in figures/, so that a
figure module is only compute/plot glue over public calls.

    spike_count_draws      k_depth of independent one-step networks (finite-width survival)
    gradient_norm_draws    per-layer ||dL/dW_l||^2 and ||delta_l||^2 by BPTT, per surrogate
    training_run           one training run of simulate.train with its test curve
    epochs_to              first epoch whose test accuracy reaches a target
"""
from __future__ import annotations

import numpy as np

from theory import optimal_sigma
from theory import inits
from theory.core.surrogates import SURROGATES

from .backprop import loss_and_grads
from .data import load_mnist
from .network import run_network

__all__ = ["spike_count_draws", "gradient_norm_draws", "training_run", "epochs_to"]


def spike_count_draws(depth, width, threshold, draws, seed) -> np.ndarray:
    """Spike counts k_depth (int64, (draws,)) of ``draws`` independent networks at one step:
    paper's init, W_l ~ N(0, sigma^2) with sigma = optimal_sigma(threshold, width) drawn directly
    in float32, one N(0, 1) input of batch 1; Generator seeded with [seed, width, round(100 theta)]."""
    rng = np.random.default_rng([seed, width, int(round(100 * threshold))])
    sigma = np.float32(optimal_sigma(threshold, width))
    counts = np.empty(draws, np.int64)
    for d in range(draws):
        weights = [rng.standard_normal((width, width), dtype=np.float32) * sigma for _ in range(depth)]
        currents = rng.standard_normal((1, 1, width), dtype=np.float32)
        counts[d] = run_network(weights, currents, beta=0.0, threshold=threshold).active[depth, 0, 0]
    return counts


def gradient_norm_draws(init, widths, threshold, beta, surrogates, draws, seed, n_classes,
                        init_params=None) -> dict:
    """||dL/dW_l||^2 and ||delta_l||^2 (= squared norm of the zero biases' gradient) of ``draws``
    networks of initialiser ``init`` with layer widths ``widths``, batch 1, one N(0, 1) input and
    a uniform random label per draw, for every surrogate at its own default scale (the same
    weights, input and label for all surrogates). Returns {"weight_sq_<s>", "delta_sq_<s>":
    (draws, depth) float64}. Generator seeded with [seed, sum of the init name's code points].
    ``init_params``: registry parameters of ``init`` (e.g. T for micheli_temporal); the weight
    distribution is looked up once per layer shape (an init solved by a root search is solved
    once, not once per layer and draw), and drawn as :func:`theory.inits.sample_weights` does."""
    rng = np.random.default_rng([seed, sum(map(ord, init))])
    depth = len(widths) - 1
    shapes = {(widths[l], widths[l + 1]) for l in range(depth)}
    laws = {shape: inits.distribution(init, *shape, threshold, beta, **(init_params or {})) for shape in shapes}
    out = {f"{kind}_{s}": np.empty((draws, depth)) for s in surrogates for kind in ("weight_sq", "delta_sq")}
    for d in range(draws):
        weights = [_draw(laws[widths[l], widths[l + 1]], (widths[l], widths[l + 1]), rng) for l in range(depth)]
        biases = [np.zeros(n, np.float32) for n in widths[1:]]
        currents = rng.standard_normal((1, 1, widths[0]), dtype=np.float32)
        labels = rng.integers(0, n_classes, size=1)
        for s in surrogates:
            _, weight_grads, bias_grads = loss_and_grads(
                weights, biases, currents, labels, beta=beta, threshold=threshold,
                reset="subtract", surrogate=s, surrogate_scale=SURROGATES[s][1])
            out[f"weight_sq_{s}"][d] = [np.sum(np.square(g, dtype=np.float64)) for g in weight_grads]
            out[f"delta_sq_{s}"][d] = [np.sum(np.square(g, dtype=np.float64)) for g in bias_grads]
    return out


def _draw(law, shape, rng) -> np.ndarray:
    """float32 weights of one layer from an inits.distribution law (drawn in float64 and cast,
    exactly as inits.sample_weights draws them: inits.draw, which also draws 'stable' laws)."""
    return inits.draw(law, shape, rng)


def training_run(settings: dict) -> dict:
    """One training run of :func:`simulate.train.train` on the embedded MNIST with the
    TrainConfig fields in ``settings`` (single-threaded, no progress bar), plus the untrained
    network's test accuracy (epoch 0), per-layer rates at initialisation, the first epoch's
    gradient norms and the loss of every training batch (all epochs, in order). Test accuracies
    are honest end-of-epoch values."""
    from .train import TrainConfig, build_network, evaluate, train

    config = TrainConfig(**settings, progress=False, threads=1)
    data = load_mnist(config.train_size, config.test_size)
    weights, biases = build_network(config, 784, 10)
    start = evaluate(weights, biases, data.x_test, data.y_test, config)
    history = train(config, data=data)
    return {"test_accuracy": [start["accuracy"]] + [h["test_accuracy"] for h in history],
            "test_loss": [start["loss"]] + [h["test_loss"] for h in history],
            "train_loss": [h["train_loss"] for h in history],
            "train_accuracy": [h["train_accuracy"] for h in history],
            "init_rates": start["rates"], "final_rates": history[-1]["test_rates"],
            "grad_norms_epoch1": history[0]["grad_norms"],
            "train_loss_batches": [loss for h in history for loss in h["train_loss_batches"]],
            "train_seconds": float(sum(h["train_seconds"] for h in history))}


def epochs_to(accuracy, target) -> int:
    """Index of the first entry of ``accuracy`` (epoch 0 = untrained) >= target; -1 if none."""
    hits = np.nonzero(np.asarray(accuracy) >= target)[0]
    return int(hits[0]) if len(hits) else -1
