"""Measurements that the figures (and users) repeat: each is one seeded, self-contained run
whose numbers a figure plots next to a theory prediction. Kept here, not in figures/, so that a
figure module is only compute/plot glue over public calls.

    spike_count_draws      k_depth of independent one-step networks (finite-width survival)
    gradient_norm_draws    per-layer ||dL/dW_l||^2 and ||delta_l||^2 by BPTT, per surrogate
    training_run           one training run of simulate.train with its test curve
    epochs_to              first epoch whose test accuracy reaches a target
    count_correlation      per-layer correlation of two inputs' spike counts through a description
    initial_statistics     per-layer rates and gradient norms of a training configuration at init
"""
from __future__ import annotations

import numpy as np

from theory import optimal_sigma
from theory import inits
from theory.core.surrogates import SURROGATES

from .backprop import loss_and_grads
from .data import load_mnist
from .network import run_network

__all__ = ["spike_count_draws", "gradient_norm_draws", "training_run", "epochs_to", "count_correlation",
           "initial_statistics"]


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


def count_correlation(net, input_correlation, *, pairs=16, networks=4, seed=0) -> dict:
    """The simulated twin of the pair theory (docs/theory.md §9) on any description: ``networks``
    independent draws of ``net`` (simulate.walk), each run on ``pairs`` input pairs whose two
    members have correlation ``input_correlation`` (currents: x_b = c x_a + sqrt(1 - c^2) x', both
    drawn from the encoding; bernoulli spikes: b copies a's spike with probability c, a fresh draw
    otherwise). Per recorded row: the across-neuron (and across-pair) Pearson correlation of the
    two members' spike counts over the T steps, and the rate. Returns {"correlation", "rate":
    (networks, rows) float64} (NaN where a row is silent). Generator seeded with [seed, networks]."""
    import simulate.walk as walk
    from theory import Network

    if not isinstance(net, Network):
        raise ValueError(f"net must be a theory.Network, got {type(net).__name__}")
    c = float(np.clip(float(input_correlation), -1.0, 1.0))
    if c != float(input_correlation):
        raise ValueError(f"input_correlation must lie in [-1, 1], got {input_correlation!r}")
    rng = np.random.default_rng([int(seed), int(networks)])
    correlation, rate = [], []
    for _ in range(int(networks)):
        weights, biases, first = walk.draw(net, pairs, rng)
        _, _, second = walk.draw(net, pairs, rng)
        if net.encoding.spikes:
            copy = rng.random(first.shape) < c
            partner = np.where(copy, first, second)
        else:
            partner = (c * first + np.sqrt(1.0 - c * c) * second).astype(np.float32)
        inputs = np.concatenate([first, partner], axis=1)
        result = walk.forward(net, weights, biases, inputs, record_spikes=True)
        row_corr = []
        for s in result.spikes:
            k = s.reshape(s.shape[0], s.shape[1], -1).sum(axis=0).astype(np.float64)   # (2 pairs, units)
            a, b = k[:pairs].ravel(), k[pairs:].ravel()
            row_corr.append(np.nan if a.std() == 0 or b.std() == 0 else float(np.corrcoef(a, b)[0, 1]))
        correlation.append(row_corr)
        rate.append(result.rate.mean(axis=1))
    return {"correlation": np.array(correlation), "rate": np.array(rate)}


def initial_statistics(config, data, batches=3) -> dict:
    """A training configuration at initialisation (simulate.train.TrainConfig or a dict of its
    fields): per-layer rates on ``data``'s test images (simulate.train.evaluate), and per-layer
    gradient norms ||dL/dW_l|| (float64 norms of the float32 BPTT gradients, batches of
    ``config.batch_size`` training images in order, the configuration's surrogate and scale).
    Returns {"rates": list, "grad_norms": (batches, layers) array, "norm_ratio": the geometric
    mean over hidden layers of ||dW_{l+1}|| / ||dW_l|| (NaN with fewer than 4 layers)}."""
    from .train import TrainConfig, batch_pass, build_network, evaluate, neuron_kwargs
    from .encodings import pixel_currents

    config = TrainConfig(**config) if isinstance(config, dict) else config
    config = config.validate()
    n_classes = max(10, data.n_classes)
    weights, biases = build_network(config, data.x_train.shape[1], n_classes)
    rates = evaluate(weights, biases, data.x_test, data.y_test, config)["rates"]
    norms = []
    for b in range(int(batches)):
        index = np.arange(config.batch_size * b, config.batch_size * (b + 1)) % len(data.x_train)
        result = batch_pass(config)(weights, biases, pixel_currents(data.x_train[index], config.steps),
                               data.y_train[index].astype(np.int64), surrogate=config.surrogate,
                               surrogate_scale=config.surrogate_scale, **neuron_kwargs(config))
        norms.append([float(np.linalg.norm(g.astype(np.float64))) for g in result.weight_grads])
    norms = np.array(norms)
    logs = np.log(np.maximum(norms, 1e-300))
    ratio = float(np.exp(np.mean(np.diff(logs[:, 1:-1], axis=1)))) if norms.shape[1] > 3 else float("nan")
    return {"rates": rates, "grad_norms": norms, "norm_ratio": ratio}
