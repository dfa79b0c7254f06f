"""Bad input to the public theory functions: a ValueError naming the argument, never a NaN,
a hang or a silent wrong answer (issue 12). Table-driven: (call, message fragment)."""
from __future__ import annotations

import time

import numpy as np
import pytest

import theory

NAN, INF = float("nan"), float("inf")
SIGMA = theory.optimal_sigma(1.0, 100)

CASES = [
    # id, call, fragment of the ValueError message (names the argument)
    ("optimal_sigma no broadcast", lambda: theory.optimal_sigma([1.0, 2.0], [10, 20, 30]), "must broadcast"),
    ("optimal_sigma nan", lambda: theory.optimal_sigma(NAN, 100), "threshold"),
    ("optimal_sigma fan_in 0", lambda: theory.optimal_sigma(1.0, 0), "fan_in"),
    ("optimal_sigma string", lambda: theory.optimal_sigma("a", 100), "threshold"),
    ("optimal_sigma target_var 0", lambda: theory.optimal_sigma(1.0, 100, 0.0), "target_var"),
    ("firing_probability negative variance", lambda: theory.firing_probability(1.0, -1.0), "q >= 0"),
    ("firing_probability nan", lambda: theory.firing_probability(NAN, 1.0), "threshold"),
    ("orthant correlation 2", lambda: theory.orthant(1.0, 2.0), r"c in \[-1, 1\]"),
    ("orthant nan", lambda: theory.orthant(NAN, 0.5), "z not NaN"),
    ("propagate depth -1", lambda: theory.propagate(-1, SIGMA, 100, 1.0), "depth"),
    ("propagate q0 inf", lambda: theory.propagate(3, SIGMA, 100, 1.0, q0=INF), "q0"),
    ("fixed_points per-layer sigma", lambda: theory.fixed_points([SIGMA, SIGMA], 100, 1.0), "sigma_w"),
    ("fixed_points grid 0", lambda: theory.fixed_points(SIGMA, 100, 1.0, grid_points=0), "grid_points"),
    ("fixed_points grid 1 (misses roots)", lambda: theory.fixed_points(SIGMA, 100, 1.0, grid_points=1),
     "grid_points"),
    ("critical_threshold nan", lambda: theory.critical_threshold(NAN), "target_var"),
    ("correlation_map c nan", lambda: theory.correlation_map(NAN, SIGMA, 100, 1.0), "c "),
    ("rate_map rate 2", lambda: theory.rate_map(2.0, SIGMA, 100, 1.0), "rate"),
    ("weight_std ding threshold 0", lambda: theory.weight_std("ding", 100, 100, 0.0), "threshold"),
    ("weight_std fluctuation threshold 0", lambda: theory.weight_std("fluctuation", 100, 100, 0.0, 0.5),
     "threshold"),
    ("weight_std unknown name", lambda: theory.weight_std("foo", 10), "name"),
    ("sample_weights ding threshold 0",
     lambda: theory.sample_weights("ding", 10, 10, 0, threshold=0.0), "threshold"),
    ("sample_weights negative seed", lambda: theory.sample_weights("micheli", 10, 10, -1), "rng"),
    ("sample_weights string seed", lambda: theory.sample_weights("micheli", 10, 10, "x"), "rng"),
    ("min_width survival 1", lambda: theory.min_width(10, survival=1.0), "survival"),
    ("min_width survival 0", lambda: theory.min_width(10, survival=0.0), "survival"),
    ("min_width survival nan", lambda: theory.min_width(10, survival=NAN), "survival"),
    ("min_width no depth", lambda: theory.min_width([]), "depth"),
    ("survival_depth survival 1", lambda: theory.survival_depth(10, 100, survival=1.0), "survival"),
    ("finite_width_sigma survival 1",
     lambda: theory.finite_width_sigma(100, 10, criterion="survival", survival=1.0), "survival"),
    ("spike_count_chain prune 2", lambda: theory.spike_count_chain(3, 10, prune=2.0), "prune"),
    ("spike_count_chain prune drops all", lambda: theory.spike_count_chain(3, 10, prune=0.9), "prune"),
    ("spike_count_chain width 0", lambda: theory.spike_count_chain(3, 0), "width"),
    ("chi_one_scale bracket 0", lambda: theory.chi_one_scale("atan", SIGMA, 100, 1.0, bracket=(0.0, 1.0)),
     "bracket"),
    ("chi_one_scale bracket reversed",
     lambda: theory.chi_one_scale("atan", SIGMA, 100, 1.0, bracket=(10.0, 1.0)), "bracket"),
    ("propagate_temporal negative seed",
     lambda: theory.propagate_temporal(3, 3, SIGMA, 100, 1.0, 0.5, method="sample", seed=-1), "seed"),
    ("temporal_chain negative seed", lambda: theory.temporal_chain(3, 10, 2, SIGMA, seed=-1), "seed"),
    ("propagate_temporal string seed",
     lambda: theory.propagate_temporal(3, 3, SIGMA, 100, 1.0, 0.5, method="sample", seed="x"), "seed"),
]


@pytest.mark.parametrize("call, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


def test_min_width_above_critical_threshold_stops_and_says_why():
    """Was a hang (> 600 s): survival creeps up with width while the cost explodes. The search
    is bounded by max_width and the message names the target, the reason and theta_c; where
    the lower bound g'(q*)^(2 depth) alone exceeds max_width it refuses without searching."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"survival target 0\.99 not reached at depth 5 .* critical threshold 1\.1906"):
        theory.min_width(5, threshold=1.5, max_width=1000)         # 1.454^10 = 42 < 1000: searched
    for depth in (10, 100):                                         # 1.454^20 = 1784 > 1000: not searched
        with pytest.raises(ValueError, match=rf"not reachable at depth {depth} .*critical threshold 1\.1906.*lower bound"):
            theory.min_width(depth, threshold=1.5, max_width=1000)
    assert time.perf_counter() - start < 30
    # a start away from q* (q0 = 2, above the unstable point) is not refused by the bound
    assert theory.min_width(3, threshold=1.5, q0=2.0, survival=0.5, max_width=1000) <= 1000


def test_min_width_unreached_below_critical_names_max_width_without_critical_note():
    with pytest.raises(ValueError, match="max_width = 50") as error:
        theory.min_width(100, 1.0, survival=0.999, max_width=50)
    assert "critical" not in str(error.value)


def test_depth_scale_is_infinite_at_the_critical_threshold():
    """The paper's slope there is 1 (the depth scale infinite); round-off puts the computed
    slope at 1 +- 2e-16 and used to return 0.0 (the silent point q = 0)."""
    critical = theory.critical_threshold()
    for theta in (critical, np.nextafter(critical, 0.0), np.nextafter(critical, 2.0)):
        sigma = theory.optimal_sigma(theta, 100)
        assert theory.depth_scale(sigma, 100, theta) == float("inf")
    # away from it the slope is not marginal: finite and large just below, finite above
    below = 1.19
    assert 100 < theory.depth_scale(theory.optimal_sigma(below, 100), 100, below) < np.inf
    assert theory.depth_scale(theory.optimal_sigma(1.3, 100), 100, 1.3) == pytest.approx(
        -1.0 / np.log(theory.stable_fixed_point(theory.optimal_sigma(1.3, 100), 100, 1.3).slope))


def test_depth_scale_near_zero_slope():
    """Slope -> 0 as theta -> 0 (g is flat at theta = 0): xi -> 0 continuously, 0 at theta = 0."""
    values = [theory.depth_scale(theory.optimal_sigma(t, 100), 100, t) for t in (0.1, 0.01, 0.001)]
    assert all(np.isfinite(values)) and values[0] > values[1] > values[2] > 0
    assert theory.depth_scale(theory.optimal_sigma(0.0, 100), 100, 0.0) == 0.0
