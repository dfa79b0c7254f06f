"""Predicted backward pass at init (theory.gradients.onestep) against the training code's BPTT
gradients (simulate.loss_and_grads), T = 1, batch 1, paper's init at theta = 1.

Measured per draw (fresh weights, input and label): ||dL/db_l||^2 = ||delta_l||^2 (zero
biases are passed so that the bias gradients, i.e. the deltas, are returned) and
||dL/dW_l||^2. The per-layer gain delta_l / delta_{l+1} has expectation chi_l under the
gradient-independence assumption, so its average over layers is compared with chi by a
Student-t interval across draws (draws are independent; layers within one draw need not be).

False-positive rates: each interval is two-sided at 99.9 %; the fast tests make 10 such checks
(< 1 % chance of a spurious failure), the slow one 12 (< 1.2 %). No re-draws.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulate.backprop import loss_and_grads
from theory.gradients import onestep as G
from theory import optimal_sigma, tail
from theory.core.surrogates import SURROGATES

CONFIDENCE = 0.999
THRESHOLD = 1.0
N_CLASSES = 10


def measure(width, depth, draws, surrogates, seed):
    """{surrogate: (weight_sq (D, L), bias_sq (D, L), active (D, L))} with the same weights,
    inputs and labels for every surrogate (the forward pass does not depend on it)."""
    rng = np.random.default_rng(seed)
    sigma = np.float32(optimal_sigma(THRESHOLD, width))
    widths = [width] * depth + [N_CLASSES]
    out = {name: (np.empty((draws, depth)), np.empty((draws, depth)), np.empty((draws, depth))) for name in surrogates}
    for d in range(draws):
        weights = [rng.standard_normal((widths[l], widths[l + 1]), dtype=np.float32) * sigma for l in range(depth)]
        biases = [np.zeros(n, np.float32) for n in widths[1:]]
        currents = rng.standard_normal((1, 1, width), dtype=np.float32)
        labels = rng.integers(0, N_CLASSES, size=1)
        for name in surrogates:
            _, weight_grads, bias_grads = loss_and_grads(
                weights, biases, currents, labels, beta=0.0, threshold=THRESHOLD, reset="subtract",
                surrogate=name, surrogate_scale=SURROGATES[name][1])
            weight_sq, bias_sq, active = out[name]
            weight_sq[d] = [np.sum(np.square(g, dtype=np.float64)) for g in weight_grads]
            bias_sq[d] = [np.sum(np.square(g, dtype=np.float64)) for g in bias_grads]
            # batch 1: dW_l = s_{l-1}^T delta_l, so column norms give k_{l-1} = ||dW_l||^2 / ||delta_l||^2
            active[d] = [np.count_nonzero(np.any(g != 0, axis=1)) for g in weight_grads]
    return out


def _interval(values):
    values = np.asarray(values, dtype=np.float64)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def _check_gains(bias_sq, surrogate, width, depth):
    """Per draw, the average over layers 1..L-1 of the gain and of its log, against chi_l and
    against E[log gain] = log chi_l - CV_l^2 / 2 (delta method, O(1/n^2) error)."""
    profile = G.gradient_profile(depth, width, THRESHOLD, surrogate)
    gains = bias_sq[:, :-1] / bias_sq[:, 1:]        # column l-1: ||delta_l||^2 / ||delta_{l+1}||^2
    predicted = profile.chi[1:depth].mean()
    low, high = _interval(gains.mean(axis=1))
    assert low <= predicted <= high, f"{surrogate}: chi = {predicted:.4g}, measured gain in [{low:.4g}, {high:.4g}]"
    predicted_log = np.mean(np.log(profile.chi[1:depth]) - profile.gain_cv2[1:depth] / 2)
    low, high = _interval(np.log(gains).mean(axis=1))
    assert low <= predicted_log <= high, f"{surrogate}: E log gain {predicted_log:.4g} vs [{low:.4g}, {high:.4g}]"


def test_weight_gradient_is_active_inputs_times_delta():
    """Batch 1: ||dL/dW_l||^2 = k_{l-1} ||delta_l||^2 exactly (float32 round-off), the identity
    the predicted weight-gradient norm n p_{l-1} ||delta_l||^2 rests on."""
    weight_sq, bias_sq, active = measure(200, 6, 3, ["atan"], seed=3)["atan"]
    np.testing.assert_allclose(weight_sq, active * bias_sq, rtol=1e-4)


def test_gains_match_chi_at_width_300():
    """Depth 10, width 300, 30 draws, four surrogates with chi from 0.04 (fast sigmoid) through
    0.76 (ATan) to 6.3 (straight-through) and 6.35 (sigmoid)."""
    width, depth = 300, 10
    surrogates = ["atan", "sigmoid", "fast_sigmoid", "straight_through"]
    results = measure(width, depth, 30, surrogates, seed=11)
    for name in surrogates:
        _check_gains(results[name][1], name, width, depth)


@pytest.mark.parametrize("surrogate", ["atan", "straight_through"])
def test_output_layer_delta_matches_enumeration(surrogate):
    """E||delta_L||^2 of the count cross-entropy in a one-layer network (input layer of 200
    LIF neurons -> 10 outputs), 4000 draws, against output_delta_sq averaged over the exact
    distribution of k_0 ~ Binomial(200, Q(1)) (the outputs are N(0, sigma^2 k_0) given k_0)."""
    width, draws = 200, 4000
    _, bias_sq, _ = measure(width, 1, draws, [surrogate], seed=5)[surrogate]
    sigma = optimal_sigma(THRESHOLD, width)
    k = np.arange(width + 1)
    pmf = stats.binom.pmf(k, width, tail(THRESHOLD))
    keep = pmf > 1e-12
    expected = sum(p * G.output_delta_sq(surrogate, sigma**2 * kk, N_CLASSES, THRESHOLD)
                   for kk, p in zip(k[keep], pmf[keep]))
    low, high = _interval(bias_sq[:, 0])
    assert low <= expected <= high


@pytest.mark.slow
def test_gradient_profile_depth_30_width_1000():
    """The issue's setting: T = 1, depth 30, width 1000, 12 draws. Per surrogate: the layer
    gains against chi, and the whole weight-gradient profile, log(||dW_1||^2 / ||delta_L||^2) =
    log k_0 + sum_{l=1}^{L-1} log gain_l, whose mean is predicted as log(n p_0) +
    sum (log chi_l - CV_l^2 / 2) (typical_weight_grad_sq). The MEAN of the ratio itself,
    n p_0 prod chi_l, is no usable test statistic for sharp surrogates: at CV ~ 0.45 per layer
    (fast sigmoid, n = 1000) the product of 29 gains has log-sd ~ 2.4 and 12 draws cannot
    estimate its mean (found when an earlier version of this test failed)."""
    width, depth = 1000, 30
    surrogates = ["atan", "sigmoid", "fast_sigmoid", "straight_through"]
    results = measure(width, depth, 12, surrogates, seed=30)
    for name in surrogates:
        weight_sq, bias_sq, _ = results[name]
        _check_gains(bias_sq, name, width, depth)
        profile = G.gradient_profile(depth, width, THRESHOLD, name)
        predicted = np.log(profile.typical_weight_grad_sq[1] / profile.delta_sq[depth])
        low, high = _interval(np.log(weight_sq[:, 0] / bias_sq[:, -1]))
        assert low <= predicted <= high, f"{name}: log profile {predicted:.4g} vs [{low:.4g}, {high:.4g}]"
