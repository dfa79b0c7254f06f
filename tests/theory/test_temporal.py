"""Temporal mean-field (theory/meanfield/temporal.py, theory/inits/temporal.py): exact limits, quadrature
against sampling, and the temporal init.

Statistical tests are seeded; each states what it compares and where its tolerance comes from.
"""
import json
import math
import os

import numpy as np
import pytest
from scipy import stats

from theory import finite_width_sigma, optimal_sigma, propagate
from theory import inits
from theory.core.gaussian import tail
from theory.meanfield.temporal import (
    RESETS, input_layer, lif_moments, lif_moments_exact, propagate_temporal, psd_factor,
)
from theory.inits import temporal as temporal_init
from theory.chains.gram import rates_at_depth
from theory.inits.temporal import (
    classify_profile, optimal_gain_temporal, optimal_sigma_temporal, temporal_fixed_point,
    temporal_phase,
)

BETAS = (0.0, 0.5, 0.9)


@pytest.fixture(autouse=True)
def _private_gain_cache(tmp_path_factory, monkeypatch):
    """Solved gains go to a cache folder of this test session, never the user's: every test
    here solves with the code under test (or reads what this session solved with it)."""
    monkeypatch.setenv("SNN_INIT_CACHE", str(tmp_path_factory.getbasetemp() / "temporal_gains"))


@pytest.mark.parametrize("method", ["exact", "sample"])
@pytest.mark.parametrize("threshold,q0,scale", [(1.0, 1.0, 1.0), (0.5, 2.25, 0.7), (1.5, 0.25, 1.3)])
def test_one_step_equals_length_map_exactly(method, threshold, q0, scale):
    """At T = 1 the temporal map is the foundation's length map: same formula, so the rates
    and variances agree to the last bit (exact) or to rounding of a mean of equal numbers
    (sample: every path carries the same conditional probability at t = 1)."""
    sigma_w = scale * optimal_sigma(threshold, 500)
    expected = propagate(12, sigma_w, 500, threshold, q0=q0)
    result = propagate_temporal(12, 1, sigma_w, 500, threshold, beta=0.7, reset="subtract",
                                input_std=np.sqrt(q0), method=method, samples=50)
    if method == "exact":
        # exact on any CPU: both routes make the same correctly rounded IEEE operations
        # (n sigma^2 Q, theta / sqrt(C_11 - 0), +, *) and the same compiled scipy ndtr, with
        # no numpy transcendental (whose SIMD loop may differ by CPU) in between
        np.testing.assert_array_equal(result.rate[:, 0], expected.rate)
        np.testing.assert_array_equal(result.mem_var[:, 0], expected.q)
    else:
        np.testing.assert_allclose(result.rate[:, 0], expected.rate, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(result.mem_var[:, 0], expected.q, rtol=1e-13)
    assert np.all(result.rate_se < 1e-15)


def _test_covariance():
    # a current process with unequal variances and positive temporal correlation
    return np.array([[1.0, 0.35], [0.35, 0.8]])


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("beta", BETAS)
def test_two_steps_quadrature_matches_conditional_sampling(reset, beta):
    """Quadrature (exact to ~1e-10) vs the conditional Monte Carlo estimator, 100 000 paths.

    |difference| must lie inside 4.1 standard errors (+1e-12 where the estimator has zero
    variance); 3 quantities x 9 parametrisations = 27 comparisons, each with a two-sided
    normal false-positive rate 4.1e-5, about 0.1 % for the whole set."""
    cov, mean = _test_covariance(), np.array([0.2, -0.1])
    exact = lif_moments_exact(mean, cov, 1.0, beta, reset)
    normals = np.random.default_rng(11).standard_normal((100_000, 2))
    sampled = lif_moments(mean, cov, 1.0, beta, reset, normals)
    z = stats.norm.isf(0.5 * 4.1e-5)
    for key in ("rate", "mem_mean", "mem_var"):
        se = getattr(sampled, f"{key}_se")[1]
        assert abs(getattr(sampled, key)[1] - getattr(exact, key)[1]) <= z * se + 1e-12, key


@pytest.mark.parametrize("reset", RESETS)
def test_two_steps_quadrature_matches_plain_simulation(reset):
    """An estimator that shares nothing with the conditional one: simulate the LIF on 400 000
    correlated Gaussian current pairs with 0/1 spikes. rate[2] and M[1,2] are binomial means;
    tolerance 4.4 binomial standard errors (2 quantities x 3 resets = 6 comparisons, two-sided
    normal false-positive rate 1.1e-5 each, < 0.01 % in total)."""
    cov, beta, threshold = _test_covariance(), 0.6, 1.0
    exact = lif_moments_exact(0.0, cov, threshold, beta, reset)
    currents = np.random.default_rng(5).multivariate_normal([0.0, 0.0], cov, size=400_000)
    s1 = currents[:, 0] > threshold
    prev = {"subtract": beta * currents[:, 0] - threshold * s1,
            "zero": beta * (1 - s1) * currents[:, 0], "none": beta * currents[:, 0],
            "subtract_leaky": beta * (currents[:, 0] - threshold * s1)}[reset]
    s2 = prev + currents[:, 1] > threshold
    z = stats.norm.isf(0.5 * 1.1e-5)
    for value, target in ((s2.mean(), exact.rate[1]), ((s1 & s2).mean(), exact.second_moment[0, 1])):
        se = np.sqrt(target * (1 - target) / s2.size)
        assert abs(value - target) <= z * se


def test_static_input_has_closed_form():
    """A static input x ~ N(0, 1) without reset gives u[t] = x (1 - beta^t) / (1 - beta), so
    rate[t] = Q(theta (1 - beta) / (1 - beta^t)) exactly; quadrature must reproduce it at t = 2
    (the integrand jumps at the firing boundary; quad is accurate to ~1e-8 there)."""
    kind, mean, cov = input_layer(2, "static", input_std=1.0)
    assert kind == "current"
    factor = psd_factor(cov)
    np.testing.assert_allclose(factor @ factor.T, cov, atol=1e-15)
    exact = lif_moments_exact(mean, cov, 1.0, 0.5, "none")
    np.testing.assert_allclose(exact.rate, tail(np.array([1.0, 1.0 / 1.5])), atol=1e-8)
    np.testing.assert_allclose(exact.mem_var, [1.0, 1.5 ** 2], rtol=1e-8)


def test_bernoulli_input_sets_the_first_covariance():
    """Layer 1's current covariance is n sigma^2 (r^2 + r(1-r) 1[t = t']) for i.i.d. spikes."""
    result = propagate_temporal(1, 3, 0.1, 400, encoding="bernoulli", input_rate=0.2, samples=100)
    expected = 400 * 0.01 * (0.04 * np.ones((3, 3)) + 0.16 * np.eye(3))
    np.testing.assert_allclose(result.current_cov[1], expected, rtol=1e-12)
    assert np.all(np.isnan(result.mem_var[0])) and np.allclose(result.rate[0], 0.2)


def test_same_seed_same_result_and_seed_matters():
    args = (6, 5, optimal_sigma(1.0, 300), 300, 1.0, 0.5, "zero")
    a, b = propagate_temporal(*args, seed=3, samples=2000), propagate_temporal(*args, seed=3, samples=2000)
    c = propagate_temporal(*args, seed=4, samples=2000)
    np.testing.assert_array_equal(a.second_moment, b.second_moment)
    assert not np.array_equal(a.rate, c.rate)


@pytest.mark.parametrize("kwargs,name", [
    ({"reset": "hard"}, "reset"), ({"beta": 1.5}, "beta"), ({"T": 0}, "T"), ({"encoding": "poisson"}, "encoding"),
    ({"encoding": "bernoulli"}, "input_rate"), ({"method": "exact"}, "T"), ({"sigma_w": -1.0}, "sigma_w"),
    ({"fan_in": 0}, "fan_in"), ({"samples": 0}, "samples"), ({"threshold": np.nan}, "threshold"),
])
def test_bad_input_names_the_argument(kwargs, name):
    args = {"depth": 2, "T": 4, "sigma_w": 0.1, "fan_in": 100, **kwargs}
    with pytest.raises(ValueError, match=name):
        propagate_temporal(**args)


def test_paper_init_beta0_subtract_alternates_and_beta09_grows():
    """docs/theory.md §5 claims, at the paper's init (theta = 1), depth 30, T = 10:
    beta = 0 with subtract reset alternates firing (odd steps) and silence (even steps);
    beta = 0.9 grows across time steps, with subtract reset and without reset. Both are ~0.1-level effects, far above
    the 2e-3 Monte Carlo error of 20 000 paths."""
    sigma_w = optimal_sigma(1.0, 1000)
    alternating = propagate_temporal(30, 10, sigma_w, 1000, 1.0, 0.0, "subtract", samples=20000).rate[-1]
    assert np.all(alternating[[1, 3, 5]] < 1e-3) and np.all(alternating[[0, 2]] > 0.1)
    assert classify_profile(alternating) == "oscillating"
    growing = propagate_temporal(30, 10, sigma_w, 1000, 1.0, 0.9, "none", samples=20000).rate[-1]
    assert growing[-1] > 2.5 * growing[0]
    assert classify_profile(growing) == "growing"
    growing = propagate_temporal(30, 10, sigma_w, 1000, 1.0, 0.9, "subtract", samples=20000).rate[-1]
    assert growing[-1] > 1.8 * growing[0]
    assert classify_profile(growing) == "growing"


def test_classify_profile_cases():
    assert classify_profile(np.zeros(8)) == "silent"
    assert classify_profile(np.full(8, 0.2)) == "stable"
    assert classify_profile(np.linspace(0.1, 0.3, 8)) == "growing"
    assert classify_profile(np.linspace(0.3, 0.1, 8)) == "decaying"
    assert classify_profile(np.tile([0.2, 0.0], 4)) == "oscillating"


def test_temporal_phase_of_memoryless_network_is_stable():
    """beta = 0 and zero reset: every step is the one-step length map, whose fixed point at
    the paper's gain is stable, so the profile at depth is flat."""
    assert temporal_phase(1.0 / tail(1.0), 1.0, 0.0, 6, "zero", depth=20, samples=3000) == "stable"


def test_temporal_init_at_one_step_is_the_papers():
    """T = 1, infinite width (width=math.inf): the fixed point with rate Q(theta) is the
    paper's q* = 1, so sigma_w is the paper's std up to Brent's tolerance on log g (1e-4, i.e.
    5e-5 on sigma_w). Above the critical threshold (~1.19) the paper's fixed point is unstable
    in depth, so no stable fixed point has rate Q(theta) and the init refuses (ValueError)
    instead of returning it; so does the default finite-width solve, whose runs there split
    into dead and over-active networks (more than half silent at depth)."""
    for threshold in (0.5, 0.8, 1.0):
        assert optimal_sigma_temporal(threshold, 784, beta=0.3, T=1, width=math.inf) == pytest.approx(
            optimal_sigma(threshold, 784), rel=1e-4)
    with pytest.raises(ValueError, match="no stable temporal fixed point"):
        optimal_sigma_temporal(1.5, 784, beta=0.3, T=1, width=math.inf)
    with pytest.raises(ValueError, match="no stable temporal fixed point.*silent"):
        optimal_sigma_temporal(1.5, 784, beta=0.3, T=1, depth=30, progress=False)


def test_temporal_init_without_memory_is_the_papers():
    """beta = 0 and no reset: steps are independent one-step maps, so g* = 1/Q(theta) up to
    Monte Carlo error. Seed-to-seed sd of g* at 10 000 paths, T = 3, measured 0.4 % (4 seeds);
    tolerance 2 % = 5 sd (normal false-positive rate < 1e-6)."""
    gain = optimal_gain_temporal(1.0, 0.0, 3, "none", depth=40)
    assert gain == pytest.approx(1.0 / tail(1.0), rel=0.02)


def test_temporal_init_reaches_its_target_and_registers():
    """The defining property, with the same common random numbers: the fixed point at g* has
    time-averaged rate Q(theta) within the 2 % acceptance of the solver; the registry entry
    returns the same std; the gain differs from the paper's (reset + leak matter)."""
    gain = optimal_gain_temporal(1.0, 0.5, 6, "subtract", depth=60, samples=4000)
    point = temporal_fixed_point(gain, 1.0, 0.5, 6, "subtract", samples=4000, max_layers=60)
    assert point.time_averaged_rate == pytest.approx(tail(1.0), rel=0.02)
    std = inits.weight_std("micheli_temporal", 500, 500, 1.0, 0.5, T=6, depth=60, samples=4000, finite_width=False)
    assert std == pytest.approx(np.sqrt(gain / 500), rel=1e-12)
    assert abs(gain * tail(1.0) - 1.0) > 0.05


@pytest.mark.parametrize("kwargs,name", [({"T": 0}, "T"), ({"beta": 1.0}, "beta"), ({"reset": "x"}, "reset"),
                                          ({"target_rate": 1.0}, "target_rate")])
def test_temporal_init_bad_input(kwargs, name):
    args = {"threshold": 1.0, "fan_in": 100, "beta": 0.5, "T": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        optimal_sigma_temporal(**args)


def test_finite_width_init_at_one_step_solves_the_exact_chain():
    """T = 1: the Gram chain is the spike-count chain, so the finite-width temporal gain must
    equal finite_width_sigma(criterion="rate")'s (solved on the exact pmf, no sampling) up to
    the chain's Monte Carlo error and the search's stopping rule. Width 100, depth 20, 512
    chains: gain / exact over seeds 0-5 measured 0.9982 +- 0.0045 (sd); tolerance 2 % (4.4 sd,
    normal false-positive rate ~1e-5). Power: the correction itself is +10 % over the
    infinite-width gain 1/Q(1), which the test also asserts."""
    gain = optimal_gain_temporal(1.0, 0.0, 1, width=100, depth=20, chains=512)
    exact = finite_width_sigma(100, 20, 1.0, criterion="rate") ** 2 * 100
    assert gain == pytest.approx(exact, rel=0.02)
    assert gain * tail(1.0) > 1.05


def test_finite_width_init_registers():
    """The registry's finite_width=True uses width = fan_in and returns the same std."""
    gain = optimal_gain_temporal(1.0, 0.5, 3, width=60, depth=15, chains=16)
    std = inits.weight_std("micheli_temporal", 60, 60, 1.0, 0.5, T=3, depth=15, finite_width=True, chains=16)
    assert std == pytest.approx(np.sqrt(gain / 60), rel=1e-12)


def test_default_is_the_finite_width_solve_at_width_fan_in():
    """Defaults: optimal_sigma_temporal and the registry solve on the chain of width fan_in;
    width= overrides it; width=math.inf (or the registry's finite_width=False) is the
    infinite-width mean field, the same number optimal_gain_temporal gives by default."""
    args = dict(T=3, depth=15, chains=16)
    finite = optimal_gain_temporal(1.0, 0.5, 3, width=60, depth=15, chains=16)
    assert optimal_sigma_temporal(1.0, 60, 0.5, **args) == pytest.approx(np.sqrt(finite / 60), rel=1e-12)
    assert inits.weight_std("micheli_temporal", 60, 60, 1.0, 0.5, **args) == pytest.approx(
        np.sqrt(finite / 60), rel=1e-12)
    other = optimal_gain_temporal(1.0, 0.5, 3, width=80, depth=15, chains=16)
    assert optimal_sigma_temporal(1.0, 60, 0.5, width=80, **args) == pytest.approx(np.sqrt(other / 60), rel=1e-12)
    assert inits.weight_std("micheli_temporal", 60, 60, 1.0, 0.5, width=80, **args) == pytest.approx(
        np.sqrt(other / 60), rel=1e-12)
    infinite = optimal_gain_temporal(1.0, 0.5, 3, depth=15, samples=2000)
    assert infinite == optimal_gain_temporal(1.0, 0.5, 3, depth=15, samples=2000, width=None)
    for std in (optimal_sigma_temporal(1.0, 60, 0.5, 3, depth=15, samples=2000, width=math.inf),
                inits.weight_std("micheli_temporal", 60, 60, 1.0, 0.5, T=3, depth=15, samples=2000,
                                 finite_width=False)):
        assert std == pytest.approx(np.sqrt(infinite / 60), rel=1e-12)


@pytest.mark.parametrize("kwargs,name", [({"width": 0}, "width"), ({"width": 2.5}, "width"),
                                          ({"width": float("nan")}, "width"), ({"width": -math.inf}, "width"),
                                          ({"width": "wide"}, "width"), ({"width": [50]}, "width"),
                                          ({"width": True}, "width"), ({"width": 10 ** 9}, "width=1000000000.*limit"),
                                          ({"width": 50, "chains": 0}, "chains"),
                                          ({"width": 50, "chains": 1.5}, "chains")])
def test_finite_width_init_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        optimal_sigma_temporal(1.0, 100, 0.5, 4, **kwargs)


def test_solved_gains_are_cached_on_disk(tmp_path, monkeypatch):
    """A solved gain is stored as one JSON file in $SNN_INIT_CACHE with the user's umask
    (0666 & ~umask, here umask 027 -> 0640), read back by a new process (simulated by clearing
    the in-process cache and making the solver fail if called), ignored when corrupt or when
    its stored key differs (solved again), and not written when SNN_INIT_CACHE is empty."""
    monkeypatch.setenv("SNN_INIT_CACHE", str(tmp_path / "gains"))
    monkeypatch.setattr(temporal_init, "_GAINS", {})
    previous = os.umask(0o027)
    try:
        gain = optimal_gain_temporal(1.0, 0.5, 3, width=60, depth=15, chains=16, progress=False)
    finally:
        os.umask(previous)
    files = list((tmp_path / "gains").glob("*.json"))
    assert len(files) == 1 and not list((tmp_path / "gains").glob("*.tmp"))
    assert files[0].stat().st_mode & 0o777 == 0o640
    assert json.loads(files[0].read_text())["gain"] == gain

    def refuse(*args):
        raise AssertionError("solved again although cached")
    monkeypatch.setattr(temporal_init, "_GAINS", {})
    monkeypatch.setattr(temporal_init, "_solve_chain_gain", refuse)
    assert optimal_gain_temporal(1.0, 0.5, 3, width=60, depth=15, chains=16, progress=False) == gain
    monkeypatch.undo()

    monkeypatch.setenv("SNN_INIT_CACHE", str(tmp_path / "gains"))
    for damage in ("not json", json.dumps({"key": {"other": 1}, "gain": 99.0})):
        files[0].write_text(damage)
        monkeypatch.setattr(temporal_init, "_GAINS", {})
        assert optimal_gain_temporal(1.0, 0.5, 3, width=60, depth=15, chains=16, progress=False) == gain

    monkeypatch.setenv("SNN_INIT_CACHE", "")
    monkeypatch.setattr(temporal_init, "_GAINS", {})
    assert temporal_init.cache_dir() is None
    assert optimal_gain_temporal(1.0, 0.5, 3, width=61, depth=15, chains=16, progress=False) > 0
    assert len(list((tmp_path / "gains").glob("*.json"))) == 1


def test_unwritable_cache_still_answers(tmp_path, monkeypatch):
    """A cache folder that cannot be created (a file is in the way) costs only the caching."""
    (tmp_path / "blocked").write_text("")
    monkeypatch.setenv("SNN_INIT_CACHE", str(tmp_path / "blocked" / "gains"))
    monkeypatch.setattr(temporal_init, "_GAINS", {})
    assert optimal_gain_temporal(1.0, 0.5, 3, width=60, depth=15, chains=16, progress=False) > 0


def test_shipped_table_is_of_this_solver_and_on_its_grid():
    """Every entry of theory/data/temporal_gains.json carries the current solver version and a
    key of TABLE_GRID with every other argument at its default, and a positive finite gain."""
    entries = json.loads(temporal_init.TABLE_PATH.read_text())["gains"]
    assert entries
    grid = temporal_init.TABLE_GRID
    for entry in entries:
        key = entry["key"]
        assert key["version"] == temporal_init._SOLVER_VERSION
        assert all(key[name] in values for name, values in grid.items())
        assert (key["target_rate"], key["depth"], key["seed"], key["chains"]) == (
            "Q(threshold)", 100, 0, temporal_init.CHAINS)
        assert np.isfinite(entry["gain"]) and entry["gain"] > 0


def test_shipped_table_answers_without_solving(monkeypatch):
    """A call on the table's grid with default arguments is a look-up (the solvers refuse to
    run here), and the tabulated gain solves the defining equation on this machine's chain:
    |mean rate at depth 100 over the default 32 runs - Q(1)| within the search's acceptance
    max(2 %, 1/32) of the target (a few spike flips between machines move the mean by ~1e-5)."""
    entries = json.loads(temporal_init.TABLE_PATH.read_text())["gains"]
    small = sorted((e for e in entries if e["key"]["width"] == 100), key=lambda e: (e["key"]["T"], e["key"]["beta"]))
    assert small

    def refuse(*args):
        raise AssertionError("solved although tabulated")
    monkeypatch.setattr(temporal_init, "_GAINS", {})
    monkeypatch.setattr(temporal_init, "_solve_chain_gain", refuse)
    for entry in small[:2]:
        key = entry["key"]
        std = inits.weight_std("micheli_temporal", 100, 100, key["threshold"], key["beta"], T=key["T"],
                               reset=key["reset"])
        assert std == pytest.approx(np.sqrt(entry["gain"] / 100), rel=1e-12)
        rates = rates_at_depth(entry["gain"], 100, 100, key["T"], key["threshold"], key["beta"], key["reset"],
                              tail(key["threshold"]), temporal_init.CHAINS, 0)
        assert abs(rates.mean() - tail(1.0)) <= max(0.02, 1 / temporal_init.CHAINS) * tail(1.0)
