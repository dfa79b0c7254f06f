"""Temporal gradient gain (theory.gradients.temporal) against the training code's BPTT gradients
(simulate.loss_and_grads) over T steps, paper's init at threshold 1, batch 1, width 1000.

Measured per draw (fresh weights, input and label): ||dL/db_l||^2 with zero biases, which is
sum_j (sum_t delta_{l,j}[t])^2, predicted as n_l 1^T D_l 1 (bias_sq). The per-layer gain
||db_l||^2 / ||db_{l+1}||^2 averaged over the hidden layers is compared with the predicted
average by a two-sided 99.9 % Student-t interval across independent draws; the test makes 3
such comparisons that must hold (< 0.3 % false-positive rate) and checks that the one-step gain
chi (which ignores leak, reset and the flow of gradients back in time) lies outside.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import theory
from simulate.backprop import loss_and_grads
from theory.gradients.temporal import lif_jacobians, temporal_chi, temporal_gradient_profile

CONFIDENCE = 0.999
WIDTH, DEPTH, N_CLASSES = 1000, 6, 10


def measure(T, beta, reset, draws, seed):
    rng = np.random.default_rng(seed)
    sigma = np.float32(theory.optimal_sigma(1.0, WIDTH))
    widths = [WIDTH] * DEPTH + [N_CLASSES]
    bias_sq = np.empty((draws, DEPTH))
    for d in range(draws):
        weights = [rng.standard_normal((widths[l], widths[l + 1]), dtype=np.float32) * sigma for l in range(DEPTH)]
        biases = [np.zeros(n, np.float32) for n in widths[1:]]
        currents = rng.standard_normal((T, 1, WIDTH), dtype=np.float32)
        labels = rng.integers(0, N_CLASSES, size=1)
        _, _, bias_grads = loss_and_grads(weights, biases, currents, labels, beta=beta, threshold=1.0,
                                          reset=reset, surrogate="atan")
        bias_sq[d] = [np.sum(np.square(g, dtype=np.float64)) for g in bias_grads]
    return bias_sq


def _interval(values):
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


@pytest.mark.parametrize("T, beta, reset", [(4, 0.5, "subtract"), (4, 0.9, "zero"), (3, 1.0, "subtract")])
def test_layer_gains_match_bptt(T, beta, reset):
    sigma = theory.optimal_sigma(1.0, WIDTH)
    profile = temporal_gradient_profile(DEPTH, T, sigma, [WIDTH] * DEPTH + [N_CLASSES], 1.0, beta, reset,
                                        samples=40000, seed=1)
    predicted = profile.bias_sq[1:DEPTH - 1] / profile.bias_sq[2:DEPTH]     # gains of layers 1..L-2
    bias_sq = measure(T, beta, reset, draws=40, seed=[T, int(10 * beta), len(reset)])
    measured = (bias_sq[:, :-2] / bias_sq[:, 1:-1]).mean(axis=1)           # column l-1: layer l over l+1
    low, high = _interval(measured)
    assert low <= predicted.mean() <= high, (predicted.mean(), low, high)
    one_step = theory.chi("atan", sigma, WIDTH, 1.0)
    assert not low <= one_step <= high, f"the one-step chi {one_step:.3f} should be rejected ([{low:.3f}, {high:.3f}])"


def test_one_step_is_chi():
    """At T = 1 the temporal gain is theory.chi (adaptive quadrature). Tolerance: 4 standard
    errors of the sampled mean of n sigma^2 g(u - theta)^2 over the paths (false-positive rate
    6e-5 per surrogate); sharp surrogates have large per-path spread, so their se is larger."""
    sigma = theory.optimal_sigma(1.0, WIDTH)
    normals = np.random.default_rng([0, 2]).standard_normal((40000, 1))    # temporal_chi's own paths
    for surrogate in ("atan", "fast_sigmoid", "sigmoid"):
        K = lif_jacobians(np.ones((1, 1)), 1.0, 0.0, "subtract", surrogate, None, normals)
        per_path = WIDTH * sigma**2 * K[:, 0, 0] ** 2
        se = per_path.std(ddof=1) / np.sqrt(len(per_path))
        got = temporal_chi(1, sigma, WIDTH, surrogate=surrogate, samples=40000, seed=0)
        assert got == pytest.approx(per_path.mean(), rel=1e-12)       # the same paths
        assert abs(got - theory.chi(surrogate, sigma, WIDTH, 1.0)) < 4 * se, (surrogate, got, se)


def test_leak_does_not_change_the_asymptotic_gain():
    """chi_T is the largest single-step gain (the map is triangular in time): per-step gains are
    reported and their maximum is chi_T, whatever beta."""
    sigma = theory.optimal_sigma(1.0, WIDTH)
    steps = temporal_chi(4, sigma, WIDTH, beta=0.9, per_step=True, samples=20000)
    assert steps.shape == (4,) and temporal_chi(4, sigma, WIDTH, beta=0.9, samples=20000) == steps.max()


@pytest.mark.parametrize("call, name", [
    (lambda: temporal_chi(0, 0.1, 100), "T"),
    (lambda: temporal_chi(2, -0.1, 100), "sigma_w"),
    (lambda: temporal_chi(2, 0.1, 0), "fan_in"),
    (lambda: temporal_chi(2, 0.1, 100, surrogate="relu"), "surrogate"),
    (lambda: temporal_chi(2, 0.1, 100, scale=0.0), "scale"),
    (lambda: temporal_chi(2, 0.1, 100, reset="soft"), "reset"),
    (lambda: temporal_chi(2, 0.1, 100, beta=2.0), "beta"),
    (lambda: temporal_gradient_profile(0, 2, 0.1, 100), "depth"),
    (lambda: temporal_gradient_profile(3, 2, [0.1, 0.2], 100), "sigma_w"),
    (lambda: temporal_gradient_profile(3, 2, 0.1, [100, 100]), "width"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_chi_one_scale_puts_the_gain_at_one():
    """The scale found by temporal_chi_one_scale gives chi_T = 1 on the same paths (Brent to
    1e-10 in log scale, so |chi_T - 1| is far below 1e-6); straight-through ignores its scale."""
    from theory.gradients.temporal import temporal_chi_one_scale

    sigma = theory.optimal_sigma(1.0, WIDTH)
    scale = temporal_chi_one_scale("atan", 4, sigma, WIDTH, beta=0.5, samples=4000)
    assert scale is not None and scale > 2.0        # ATan's default alpha 2 gives chi_T < 1 here
    assert temporal_chi(4, sigma, WIDTH, beta=0.5, scale=scale, samples=4000) == pytest.approx(1.0, abs=1e-6)
    assert temporal_chi_one_scale("straight_through", 4, sigma, WIDTH, beta=0.5, samples=4000) is None
