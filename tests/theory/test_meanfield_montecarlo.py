"""Monte Carlo twin of theory.propagate, independent of the simulate package.

Plain NumPy, one time step from rest, width 2000, depth 20, i.i.d. N(0,1) input currents to the
input layer, batch 1 per draw and fresh weights per draw (the mean-field averages over weights).
Only the weight rows of active inputs are drawn: inactive rows multiply a zero spike, so this is
the same distribution as drawing the whole matrix.

Statistic per draw and layer: rate = mean over neurons of s, q = mean over neurons of u^2 (the
membrane mean is 0 at the first step). Across D independent draws, each predicted value must lie
in the BCa bootstrap confidence interval of the mean, at level 1 - 0.01/m for m comparisons
(Bonferroni: family-wise false-positive rate <= 1 %); one fresh re-draw is allowed, so a correct
theory fails this test with probability <= 1e-4. Layers are compared where the prediction
expects >= 20 active neurons (so the per-draw mean is close to normal); layers where it expects
< 1e-6 active neurons must be exactly silent in every draw. Layers in between (a handful of
spikes) are not tested here: that is the finite-width regime of theory.chains.spike_count.
"""
import numpy as np
import pytest
from scipy import stats

from theory import inits

WIDTH, DEPTH, THRESHOLD, DRAWS = 2000, 20, 1.0, 30


def one_draw(std, rng):
    x = rng.standard_normal(WIDTH)
    spikes = x > THRESHOLD
    q, rate = [np.mean(x * x)], [spikes.mean()]
    for _ in range(DEPTH):
        active = int(spikes.sum())
        if active == 0:  # u = 0 exactly: silence is absorbing
            q.append(0.0)
            rate.append(0.0)
            continue
        u = (std * rng.standard_normal((active, WIDTH))).sum(axis=0)
        spikes = u > THRESHOLD
        q.append(np.mean(u * u))
        rate.append(spikes.mean())
    return np.array(q), np.array(rate)


def check(name, seed):
    rng = np.random.default_rng(seed)
    std = inits.weight_std(name, WIDTH, WIDTH, THRESHOLD)
    draws = [one_draw(std, rng) for _ in range(DRAWS)]
    q = np.array([d[0] for d in draws])
    rate = np.array([d[1] for d in draws])
    pred = inits.predict(name, DEPTH, WIDTH, THRESHOLD)
    compared = WIDTH * pred.rate >= 20
    silent = WIDTH * pred.rate < 1e-6
    comparisons = [(stat, l) for stat in ("q", "rate") for l in np.nonzero(compared)[0]]
    level = 1 - 0.01 / len(comparisons)
    failures = []
    for stat, data, want in (("q", q, pred.q), ("rate", rate, pred.rate)):
        layers = np.nonzero(compared)[0]
        ci = stats.bootstrap((data[:, layers],), np.mean, axis=0, confidence_level=level,
                             method="BCa", n_resamples=9999, random_state=rng).confidence_interval
        for j, layer in enumerate(layers):
            if not ci.low[j] <= want[layer] <= ci.high[j]:
                failures.append((stat, int(layer), want[layer], ci.low[j], ci.high[j]))
    loud = [int(l) for l in np.nonzero(silent)[0] if rate[:, l].any()]
    return failures, loud, compared, silent


@pytest.mark.parametrize("name", ["micheli", "kaiming", "xavier"])
def test_propagate_matches_one_step_monte_carlo(name):
    failures, loud, compared, silent = check(name, seed=2024)
    if failures or loud:  # one re-draw (documented above)
        failures, loud, compared, silent = check(name, seed=2025)
    assert not failures, failures
    assert not loud, f"layers {loud} spiked where the theory predicts silence"
    if name == "micheli":
        assert compared.all()
    else:
        # the ANN inits die: the theory says silence within a few layers, and it is tested
        assert silent[5:].all() and silent.sum() >= DEPTH - 4
