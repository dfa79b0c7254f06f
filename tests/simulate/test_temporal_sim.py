"""Temporal mean-field (theory.propagate_temporal) against simulate.run_network over T steps.

Interval used everywhere here: per cell (layer, step, quantity),

    |sim - theory| <= t_{1 - alpha/(2 m), D-1} sqrt(se_sim^2 + se_theory^2)

se_sim = std over D independent network draws / sqrt(D) (weights and inputs redrawn,
simulate.monte_carlo), se_theory = std over K theory seeds / sqrt(K) (the theory's Monte Carlo
error including what propagates from layer to layer), m = number of cells compared, alpha =
0.01: a Bonferroni bound, so a configuration fails by chance with probability <= 1 % (the
Student t with D-1 degrees of freedom covers the estimated se_sim; se_theory is much smaller).
No re-draws.

What the tests establish (measured values: benchmarks/RESULTS.md, "Findings moved out of
docstrings"; theory: docs/theory.md §5):
- With the temporal init the mean-field matches width 2000, depth 50 per layer and step in
  every (beta, reset, encoding) case of GRID; in the MARGINAL cases one step's mode is marginal
  in depth (slow drift through a saddle-node ghost or a slowly growing alternation) and finite
  width speeds the drift up (tested as a limit below).
- Narrow layers (width 40) break it: finite-width fluctuations kill or distort activity that
  the infinite-width theory keeps (the temporal analogue of docs/theory.md §4); tested as a limit.
- The paper's init with beta = 0.5 and subtract reset drives steps >= 3 towards extinction
  over depth while passing near the unstable fixed point that separates dying from surviving
  activity; there the outcome at depth is decided by O(1/sqrt(width)) fluctuations and the
  mean-field (which predicts extinction) does not describe the finite network (tested below).
"""
import math

import numpy as np
import pytest
from scipy import stats

from simulate import monte_carlo
from theory import optimal_sigma_temporal, propagate_temporal
from theory import inits
from theory.core.gaussian import tail
from theory.chains.gram import temporal_chain

THRESHOLD, STEPS, INPUT_RATE = 1.0, 10, 0.2
LAYERS = (1, 2, 5, 10, 20, 50)


def _theory(sigma_w, width, depth, beta, reset, encoding, seeds=4, samples=30000):
    runs = [propagate_temporal(depth, STEPS, sigma_w, width, THRESHOLD, beta, reset, encoding=encoding,
                               input_rate=INPUT_RATE, samples=samples, seed=seed) for seed in range(seeds)]
    out = {}
    for key in ("rate", "mem_var"):
        values = np.stack([getattr(run, key) for run in runs])
        out[key], out[f"{key}_se"] = values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(seeds)
    return out


def compare(init, beta, reset, encoding, width=2000, depth=50, draws=6, batch=8, layers=LAYERS,
            init_params=None, seed=0, alpha=0.01, theory_seeds=4, theory_samples=30000):
    """(fraction of cells outside the interval, max |z|, simulation, theory) for one configuration."""
    params = dict(init_params or {})
    if init == "micheli_temporal":
        params.setdefault("T", STEPS)
        params.setdefault("reset", reset)
        # these comparisons test the mean field at the init solved on it (infinite width)
        params.setdefault("finite_width", False)
    sim = monte_carlo(init, depth, width, threshold=THRESHOLD, beta=beta, reset=reset, steps=STEPS,
                      batch=batch, draws=draws, seed=seed, encoding=encoding,
                      input_rate=INPUT_RATE if encoding == "bernoulli" else None, init_params=params)
    sigma_w = inits.weight_std(init, width, width, THRESHOLD, beta, **params)
    theory = _theory(sigma_w, width, depth, beta, reset, encoding, theory_seeds, theory_samples)
    rows = [layer for layer in layers if layer <= depth]
    cells = 2 * len(rows) * STEPS
    critical = stats.t.isf(alpha / (2 * cells), draws - 1)
    z_all = []
    for key in ("rate", "mem_var"):
        gap = getattr(sim, key)[rows] - theory[key][rows]
        scale = np.sqrt(getattr(sim, f"{key}_se")[rows] ** 2 + theory[f"{key}_se"][rows] ** 2)
        z_all.append(np.where(scale > 0, np.abs(gap) / np.where(scale > 0, scale, 1.0),
                              np.where(gap == 0, 0.0, np.inf)))
    z = np.concatenate(z_all)
    return float(np.mean(z > critical)), float(np.max(z)), sim, theory


def test_temporal_meanfield_matches_simulation_small():
    """Representative fast case (width 1000, depth 20, beta 0.5, subtract, i.i.d. Gaussian
    input, temporal init): every cell inside the Bonferroni interval (FPR <= 1 %)."""
    outside, z_max, _, _ = compare("micheli_temporal", 0.5, "subtract", "gaussian", width=1000, depth=20,
                                   draws=5, batch=6)
    assert outside == 0.0, f"max |z| = {z_max:.2f}"


def test_wrong_reset_is_detected():
    """Power check of the same interval: the theory computed for the wrong reset (none instead
    of subtract) must leave the interval (rates differ by ~0.1 from step 2 on)."""
    _, _, sim, _ = compare("micheli_temporal", 0.5, "subtract", "gaussian", width=1000, depth=5,
                           draws=4, batch=6, layers=(1, 2, 5))
    sigma_w = inits.weight_std("micheli_temporal", 1000, 1000, THRESHOLD, 0.5, T=STEPS, reset="subtract",
                               finite_width=False)
    wrong = _theory(sigma_w, 1000, 5, 0.5, "none", "gaussian")
    z = np.abs(sim.rate[5] - wrong["rate"][5]) / sim.rate_se[5]
    assert np.max(z) > stats.t.isf(0.01 / 60, 3)


def test_narrow_layers_break_the_meanfield():
    """Documented limit: at width 40 and depth 50 the infinite-width theory keeps activity
    (temporal init, beta 0.5, subtract) but the finite networks lose most of it (layers of 40
    neurons fall towards the absorbing silent state). The theory lies above the one-sided 99 %
    upper confidence bound of the simulated time-averaged rate at layer 50 (Student t over 6
    draws; with a correct theory this would happen with probability 1 %). The exact finite-width chain
    (theory.chains.gram, 2000 chains) predicts the simulated rate here."""
    _, _, sim, theory = compare("micheli_temporal", 0.5, "subtract", "gaussian", width=40,
                                depth=50, draws=6, batch=8, layers=(50,), theory_seeds=2, theory_samples=8000)
    per_draw = sim.rate_draws[:, 50].mean(axis=1)
    upper = per_draw.mean() + stats.t.isf(0.01, per_draw.size - 1) * per_draw.std(ddof=1) / np.sqrt(per_draw.size)
    assert theory["rate"][50].mean() > upper
    # the exact finite-width chain describes this regime: |sim - chain| <= t_{0.995, 5} x se
    # (6 networks; a correct chain fails with probability <= 1 %)
    sigma = inits.weight_std("micheli_temporal", 40, 40, THRESHOLD, 0.5, T=STEPS, reset="subtract", finite_width=False)
    chain = temporal_chain(50, 40, STEPS, sigma, THRESHOLD, 0.5, "subtract", chains=2000, seed=2).time_averaged_rate[:, 50]
    se = np.hypot(per_draw.std(ddof=1) / np.sqrt(per_draw.size), chain.std(ddof=1) / np.sqrt(chain.size))
    assert abs(per_draw.mean() - chain.mean()) <= stats.t.isf(0.005, per_draw.size - 1) * se


# (beta, reset, encoding, step) where the temporal init leaves one step's mode marginal in depth
MARGINAL = [(0.0, "subtract", "gaussian", 2), (0.9, "zero", "static", 1), (0.9, "zero", "gaussian", 1)]
GRID = [(beta, reset, encoding) for beta in (0.0, 0.5, 0.9) for reset in ("subtract", "zero", "none")
        for encoding in ("gaussian", "static", "bernoulli") if (beta, reset, encoding) not in
        [m[:3] for m in MARGINAL]]


@pytest.mark.slow
@pytest.mark.parametrize("beta,reset,encoding", GRID)
def test_temporal_meanfield_grid(beta, reset, encoding):
    """The issue's grid: width 2000, depth 50, T = 10, temporal init, per layer (1, 2, 5, 10,
    20, 50) and step, rate and membrane variance inside the interval (FPR <= 1 % per case)."""
    outside, z_max, _, _ = compare("micheli_temporal", beta, reset, encoding)
    assert outside == 0.0, f"max |z| = {z_max:.2f}"


@pytest.mark.slow
@pytest.mark.parametrize("beta,reset,encoding,step", MARGINAL)
def test_marginal_step_is_a_limit(beta, reset, encoding, step):
    """Documented limit (three cases of the grid): the temporal init fixes the time-averaged rate,
    and here one step's rate is still drifting in depth at layer 50 in the theory (beta 0.9,
    zero reset: the gain 6.02 lies just below the one-step saddle-node ~6.03, so step 1 decays
    slowly through the saddle's ghost; beta 0, subtract: the firing/silence alternation mode
    grows slowly). Finite-width fluctuations speed up such marginal drifts: the simulated rate
    at that step and layer 50 lies below the theory by more than the one-sided 99 % t bound
    over 6 draws. The exact finite-width chain (theory.chains.gram, 64 chains) accounts for
    it: |sim - chain| at that step and layer 50 <= t_{0.995, 5} sqrt(se_sim^2 + se_chain^2)
    (a correct chain fails with probability <= 1 %; the per-network spread of such a marginal
    step is large, so this interval is wide; tests/theory/test_temporal_chain.py checks the
    chain's law sharply)."""
    _, _, sim, theory = compare("micheli_temporal", beta, reset, encoding)
    t = step - 1
    assert abs(theory["rate"][50, t] - theory["rate"][20, t]) > 0.005      # still drifting in depth
    per_draw = sim.rate_draws[:, 50, t]
    upper = per_draw.mean() + stats.t.isf(0.01, per_draw.size - 1) * per_draw.std(ddof=1) / np.sqrt(per_draw.size)
    assert theory["rate"][50, t] > upper
    sigma = inits.weight_std("micheli_temporal", 2000, 2000, THRESHOLD, beta, T=STEPS, reset=reset, finite_width=False)
    chain = temporal_chain(50, 2000, STEPS, sigma, THRESHOLD, beta, reset, encoding=encoding,
                           input_rate=INPUT_RATE, chains=64, seed=3).rate[:, 50, t]
    se = np.hypot(per_draw.std(ddof=1) / np.sqrt(per_draw.size), chain.std(ddof=1) / np.sqrt(chain.size))
    print(f"step {step}: simulated {per_draw.mean():.4f}, chain {chain.mean():.4f}, mean field {theory['rate'][50, t]:.4f}")
    assert abs(per_draw.mean() - chain.mean()) <= stats.t.isf(0.005, per_draw.size - 1) * se


@pytest.mark.slow
def test_paper_init_near_separatrix_is_a_limit():
    """Paper's init, beta 0.5, subtract: the theory predicts extinction of step >= 3 by depth
    50 while finite networks keep residual activity there (documented limit, see module
    docstring): at depth 50, steps 5..10, the simulated rate exceeds the theory by > 0.01."""
    _, _, sim, theory = compare("micheli", 0.5, "subtract", "gaussian", draws=4)
    assert np.all(theory["rate"][50, 4:] < 1e-3)
    assert np.mean(sim.rate[50, 4:]) > 0.01


def _simulated_rate(init, beta, params, draws, depth=100, width=2000, steps=STEPS):
    sim = monte_carlo(init, depth, width, threshold=THRESHOLD, beta=beta, reset="subtract", steps=steps,
                      batch=8, draws=draws, seed=1, init_params=params)
    per_draw = sim.rate_draws[:, depth].mean(axis=1)
    return per_draw.mean(), per_draw.std(ddof=1) / np.sqrt(draws)


@pytest.mark.slow
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_temporal_init_keeps_rate_at_depth_100(beta):
    """The issue's check, width 2000, depth 100, T = 10, subtract reset, mean over 4 networks x 8
    inputs. The temporal init with its defaults (solved on the exact finite-width chain of a
    uniform stack of width fan_in = 2000) keeps the simulated time-averaged rate within 10 % of
    the target Q(theta) at every beta; the paper's init is printed beside it.

    The infinite-width version of the same init (finite_width=False) misses at beta 0 and 0.9:
    its fixed point has a marginal mode there (a growing firing/silence alternation at beta 0;
    step 1 drifting through a saddle-node ghost at beta 0.9) which the O(1/sqrt(n))
    fluctuations push down. That is a finite-width effect and not a bug: the exact chain
    (theory.chains.gram, 64 chains) predicts the simulated rate of the infinite-width init
    within |sim - chain| <= t_{0.995, 5} sqrt(se_sim^2 + se_chain^2) (6 networks; a correct
    chain fails with probability <= 1 %)."""
    target = float(tail(THRESHOLD))
    temporal = {"T": STEPS, "reset": "subtract"}
    default, _ = _simulated_rate("micheli_temporal", beta, temporal, 4)
    paper, _ = _simulated_rate("micheli", beta, {}, 4)
    infinite_init = {**temporal, "finite_width": False}
    infinite, infinite_se = _simulated_rate("micheli_temporal", beta, infinite_init, 6)
    sigma = inits.weight_std("micheli_temporal", 2000, 2000, THRESHOLD, beta, **infinite_init)
    chain = temporal_chain(100, 2000, STEPS, sigma, THRESHOLD, beta, "subtract", chains=64, seed=5)
    predicted = chain.time_averaged_rate[:, 100]
    predicted_se = predicted.std(ddof=1) / np.sqrt(predicted.size)
    print(f"beta {beta}: target {target:.4f}; default (finite-width) init {default:.4f} ({default / target - 1:+.1%}); "
          f"infinite-width init {infinite:.4f} ({infinite / target - 1:+.1%}), chain {predicted.mean():.4f}; "
          f"paper {paper:.4f} ({paper / target - 1:+.1%})")
    assert abs(default - target) < 0.1 * target
    assert abs(infinite - predicted.mean()) <= stats.t.isf(0.005, 5) * np.hypot(infinite_se, predicted_se)


@pytest.mark.slow
def test_issue_example_width_1000_depth_30():
    """example: width 1000, depth 30, beta 0.9, T = 8, subtract reset, the init asked
    for that depth (depth=30) with every other argument at its default. The default
    (finite-width) init keeps the simulated time-averaged rate at layer 30 (4 networks x 8
    inputs) within 10 % of Q(1); the infinite-width init (width=math.inf) is printed beside it
    (measured 30.8 % below the target when this test was written)."""
    target = float(tail(THRESHOLD))
    sigma = optimal_sigma_temporal(THRESHOLD, 1000, beta=0.9, T=8, depth=30)
    assert sigma == pytest.approx(inits.weight_std("micheli_temporal", 1000, 1000, THRESHOLD, 0.9, T=8, depth=30),
                                  rel=1e-12)
    default, default_se = _simulated_rate("micheli_temporal", 0.9, {"T": 8, "depth": 30}, 4, depth=30, width=1000,
                                          steps=8)
    infinite, _ = _simulated_rate("micheli_temporal", 0.9, {"T": 8, "depth": 30, "width": math.inf}, 4, depth=30,
                                  width=1000, steps=8)
    print(f"width 1000, depth 30, beta 0.9, T 8: target {target:.4f}; default init {default:.4f} "
          f"({default / target - 1:+.1%}, se {default_se:.4f}); infinite-width init {infinite:.4f} "
          f"({infinite / target - 1:+.1%})")
    assert abs(default - target) < 0.1 * target
