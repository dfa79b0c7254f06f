"""Bad input to the public theory functions: a ValueError naming the argument, never a NaN,
a hang or a silent wrong answer. Table-driven: (call, message fragment)."""
from __future__ import annotations

import time

import numpy as np
import pytest

import snn_validation
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


# ------------------------------------------------------------------ errors that name nothing
from theory.chains.gram import lif_spikes                                   # noqa: E402
from theory.chains.spike_count import transition_matrix                     # noqa: E402
from theory.core.gaussian import density, gauss_hermite_expectation         # noqa: E402
from theory.gradients.onestep import gain_cv2                               # noqa: E402
from theory.gradients.temporal import backward_map, lif_jacobians           # noqa: E402
from theory.inits.temporal import classify_profile, optimal_gain_temporal   # noqa: E402

TWO = [1.0, 2.0]
NORMALS = np.random.default_rng(0).standard_normal((20, 2))
HUGE = 10 ** 12

# each was a TypeError ("only 0-dimensional arrays ...", "unhashable type", "object is not
# subscriptable", ...), a KeyError, an IndexError, an OverflowError, a MemoryError or a numpy
# message naming no argument; now a ValueError naming the argument (the fragment)
NAMED = [
    # arrays where one number belongs
    ("propagate threshold array", lambda: theory.propagate(3, SIGMA, 100, TWO), "threshold must be a single number"),
    ("propagate sigma_w of the wrong length", lambda: theory.propagate(3, [SIGMA] * 2, 100, 1.0),
     "sigma_w and fan_in must be scalars or sequences of length depth=3"),
    ("fixed_points bias_var array", lambda: theory.fixed_points(SIGMA, 100, 1.0, bias_var=TWO), "bias_var"),
    ("correlation_fixed_point sigma_w array", lambda: theory.correlation_fixed_point(TWO, 100, 1.0), "sigma_w"),
    ("critical_threshold array", lambda: theory.critical_threshold(TWO), "target_var"),
    ("chi sigma_w array", lambda: theory.chi("atan", TWO, 100), "sigma_w must be a single number"),
    ("surrogate_moment q array", lambda: theory.surrogate_moment("atan", TWO), "q must be a single number"),
    ("gradient_profile n_classes array", lambda: theory.gradient_profile(2, 100, n_classes=[10, 10]), "n_classes"),
    ("spike_count_chain threshold array", lambda: theory.spike_count_chain(2, 10, threshold=TWO), "threshold"),
    ("transition_matrix n_in array", lambda: transition_matrix([3, 4], 5, 0.3), "n_in"),
    ("temporal_chain bias_var array", lambda: theory.temporal_chain(2, 10, 2, 0.3, bias_var=TWO), "bias_var"),
    ("temporal_chain beta array", lambda: theory.temporal_chain(2, 10, 2, 0.3, beta=[0.1, 0.2]), "beta"),
    ("pair_chain input_correlation array", lambda: theory.pair_chain(2, 10, 2, 0.3, input_correlation=[0.1, 0.2]),
     "input_correlation"),
    ("temporal_chi fan_in array", lambda: theory.temporal_chi(2, SIGMA, [100, 100]), "fan_in"),
    ("temporal_chi_one_scale sigma_w array", lambda: theory.temporal_chi_one_scale("atan", 2, TWO, 100), "sigma_w"),
    ("temporal_fixed_point gain array", lambda: theory.temporal_fixed_point(TWO, 1.0, 0.5, 2), "gain"),
    ("optimal_sigma_temporal threshold array",
     lambda: theory.optimal_sigma_temporal(TWO, 100, 0.5, 4, progress=False), "threshold must be a single number"),
    ("lif_jacobians threshold array", lambda: lif_jacobians(np.eye(2), TWO, 0.5, "subtract", normals=NORMALS),
     "threshold"),
    ("temporal_phase gain array", lambda: theory.temporal_phase(TWO, 1.0, 0.5, 2), "gain"),
    ("temporal_phase threshold array", lambda: theory.temporal_phase(6.3, TWO, 0.5, 2), "threshold"),
    ("temporal_gradient_profile threshold array",
     lambda: theory.temporal_gradient_profile(2, 2, SIGMA, 100, threshold=TWO), "threshold must be a single"),
    ("temporal_gradient_profile input_std array",
     lambda: theory.temporal_gradient_profile(2, 2, SIGMA, 100, input_std=TWO), "input_std"),
    ("temporal_chi beta array", lambda: theory.temporal_chi(2, SIGMA, 100, beta=[0.1, 0.2]), "beta"),
    ("gradient_profile beta array", lambda: theory.gradient_profile(2, 100, beta=[[0.5]]), "beta"),
    # unknown names and names of the wrong type
    ("chi surrogate in a list", lambda: theory.chi(["atan"], SIGMA, 100), "surrogate must be one of"),
    ("temporal_chi surrogate array", lambda: theory.temporal_chi(2, SIGMA, 100, surrogate=np.array(["atan"])),
     "surrogate must be one of"),
    ("lif_spikes unknown reset", lambda: lif_spikes(np.ones((2, 3)), 1.0, 0.5, "soft"), "reset must be one of"),
    # None
    ("tail None", lambda: theory.tail(None), "z must be a real number"),
    ("firing_probability string", lambda: theory.firing_probability("1", 1.0), "threshold must be a real number"),
    ("density complex", lambda: density(1 + 1j), "z .*complex"),
    ("lif_spikes currents None", lambda: lif_spikes(None, 1.0, 0.5, "subtract"), "currents"),
    ("temporal_fixed_point max_layers None", lambda: theory.temporal_fixed_point(6.3, 1.0, 0.5, 2, max_layers=None),
     "max_layers"),
    ("optimal_gain_temporal seed None",
     lambda: optimal_gain_temporal(1.0, 0.5, 4, width=100, seed=None, progress=False), "seed"),
    ("classify_profile None", lambda: classify_profile(None), "rate"),
    ("classify_profile change None", lambda: classify_profile([0.1, 0.2], change=None), "change"),
    ("chi_one_fixed_points q_bracket None", lambda: theory.chi_one_fixed_points("atan", 100, q_bracket=None),
     "q_bracket"),
    ("chi_one_fixed_points q_bracket one number", lambda: theory.chi_one_fixed_points("atan", 100, q_bracket=5.0),
     "q_bracket must be two variances"),
    ("temporal_chi_one_scale bracket one number",
     lambda: theory.temporal_chi_one_scale("atan", 2, SIGMA, 100, bracket=0.5), "bracket must be"),
    ("correlation_decay starts None", lambda: theory.correlation_decay(2, 10, 2, 0.3, starts=None), "starts"),
    ("correlation_decay starts out of range",
     lambda: theory.correlation_decay(2, 10, 2, 0.3, starts=(2.0, 0.5)), r"starts must be two input correlations"),
    ("gauss_hermite func not callable", lambda: gauss_hermite_expectation(None, 1.0), "func"),
    ("gauss_hermite n_nodes fraction", lambda: gauss_hermite_expectation(np.cos, 1.0, n_nodes=2.5), "n_nodes"),
    ("backward_map D of the wrong shape", lambda: backward_map(np.ones((5, 2, 2)), np.ones((4, 2, 2))), "D must be"),
    # fractions and booleans as integers
    ("temporal_fixed_point seed 0.7", lambda: theory.temporal_fixed_point(6.3, 1.0, 0.5, 2, seed=0.7), "seed"),
    ("temporal_fixed_point max_layers 2.5",
     lambda: theory.temporal_fixed_point(6.3, 1.0, 0.5, 2, max_layers=2.5), "max_layers"),
    ("optimal_gain_temporal seed True",
     lambda: optimal_gain_temporal(1.0, 0.5, 4, width=100, seed=True, progress=False), "seed"),
    ("optimal_gain_temporal progress string",
     lambda: optimal_gain_temporal(1.0, 0.5, 4, width=100, progress="no"), "progress"),
    # extreme magnitudes
    ("chi sigma_w 1e300", lambda: theory.chi("atan", 1e300, 100, q=1.0), "overflows float64 at sigma_w"),
    ("surrogate_moment threshold 1e300", lambda: theory.surrogate_moment("atan", 1.0, threshold=1e300),
     "overflows float64 at threshold"),
    ("gain_cv2 scale 1e300", lambda: gain_cv2("atan", 1.0, 100, scale=1e300), "overflows float64"),
    ("correlation_map threshold 1e300", lambda: theory.correlation_map(0.5, SIGMA, 100, 1e300),
     "the output variance .* is 0 .*threshold=1e\\+300"),
    ("correlation_fixed_point threshold -1e300", lambda: theory.correlation_fixed_point(SIGMA, 100, -1e300),
     "no stable fixed point below 1"),
    ("log_optimal_sigma threshold 1e300", lambda: theory.log_optimal_sigma(1e300, 100),
     r"threshold / sqrt\(target_var\) = 1e\+300 is beyond float64"),
    ("optimal_sigma target_var 1e-300", lambda: theory.optimal_sigma(1.0, 100, 1e-300),
     r"threshold / sqrt\(target_var\) is too far in the tail"),
    ("optimal_sigma_temporal threshold 1e300 (default target)",
     lambda: theory.optimal_sigma_temporal(1e300, 100, 0.5, 4, progress=False), "default target_rate"),
    # non-finite values inside arrays
    ("propagate sigma_w with NaN", lambda: theory.propagate(2, [SIGMA, NAN], 100, 1.0), "sigma_w"),
    ("lif_jacobians normals with NaN",
     lambda: lif_jacobians(np.eye(2), 1.0, 0.5, "subtract", normals=np.array([[0.1, NAN]])), "normals"),
    ("lif_jacobians current_cov with inf",
     lambda: lif_jacobians(np.array([[1.0, INF], [INF, 1.0]]), 1.0, 0.5, "subtract", normals=NORMALS), "current_cov"),
    ("backward_map K with NaN", lambda: backward_map(np.eye(2), np.full((3, 2, 2), NAN)), "K"),
    ("classify_profile with NaN", lambda: classify_profile([0.1, NAN]), "rate"),
    ("temporal_chain width with NaN", lambda: theory.temporal_chain(1, [10, NAN], 2, 0.3), "width"),
    ("lif_spikes currents with inf", lambda: lif_spikes(np.array([[1.0, INF]]), 1.0, 0.5, "subtract"), "currents"),
]


@pytest.mark.parametrize("call, fragment", [c[1:] for c in NAMED], ids=[c[0] for c in NAMED])
def test_bad_input_to_the_newer_theory_apis_names_the_argument(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


# sizes that cannot fit: refused before numpy tries, with the memory the call would need
HUGE_SIZES = [
    ("propagate depth", lambda: theory.propagate(HUGE, SIGMA, 100, 1.0), f"depth={HUGE}"),
    ("fixed_points grid_points", lambda: theory.fixed_points(SIGMA, 100, 1.0, grid_points=HUGE), "grid_points"),
    ("spike_count_chain width", lambda: theory.spike_count_chain(2, 10 ** 6), "width=1000000 .*transition matrix"),
    ("spike_count_chain depth", lambda: theory.spike_count_chain(HUGE, 10), f"depth={HUGE}"),
    ("transition_matrix n_out", lambda: transition_matrix(10 ** 6, 10 ** 6, 0.3), "n_in=1000000 x n_out=1000000"),
    ("temporal_chain width", lambda: theory.temporal_chain(2, 10 ** 9, 4, 0.1), "chains=64 x T=4"),
    ("temporal_chain chains", lambda: theory.temporal_chain(2, 10, 4, 0.1, chains=HUGE), f"chains={HUGE}"),
    ("pair_chain T", lambda: theory.pair_chain(2, 10, 10 ** 6, 0.1), "chains=64 x 2 T=2000000"),
    ("output_delta_sq n_classes", lambda: theory.output_delta_sq("atan", 1.0, n_classes=HUGE), "n_classes"),
    ("gradient_profile depth", lambda: theory.gradient_profile(HUGE, 100), f"depth={HUGE}"),
    ("temporal_gradient_profile samples",
     lambda: theory.temporal_gradient_profile(2, 2, SIGMA, 100, samples=HUGE), f"samples={HUGE}"),
    ("temporal_chi samples", lambda: theory.temporal_chi(4, SIGMA, 100, samples=HUGE), f"samples={HUGE}"),
    ("temporal_chi depth", lambda: theory.temporal_chi(2, SIGMA, 100, depth=HUGE), f"depth={HUGE}"),
    ("lif_jacobians paths x T^2", lambda: lif_jacobians(np.eye(3000), 1.0, 0.5, "subtract",
                                                        normals=np.zeros((10 ** 5, 3000))), "samples=100000"),
    ("temporal_fixed_point samples", lambda: theory.temporal_fixed_point(6.3, 1.0, 0.5, 2, samples=HUGE),
     f"samples={HUGE}"),
    ("temporal_phase T", lambda: theory.temporal_phase(6.3, 1.0, 0.5, HUGE), f"T={HUGE}"),
    ("gauss_hermite n_nodes", lambda: gauss_hermite_expectation(np.cos, 1.0, n_nodes=HUGE), "n_nodes"),
]


@pytest.mark.parametrize("call, fragment", [c[1:] for c in HUGE_SIZES], ids=[c[0] for c in HUGE_SIZES])
def test_a_size_that_cannot_fit_is_refused_up_front_naming_it(call, fragment):
    if snn_validation.available_memory() is None:
        pytest.skip("this system does not report its available memory")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=fragment) as error:
        call()
    assert time.perf_counter() - start < 5
    if "n_nodes" not in fragment:                  # n_nodes has a range (an eigenvalue solve of that size)
        assert "of memory, more than the" in str(error.value)
