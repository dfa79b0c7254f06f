"""theory.network.trainability: the one call for xi_c, xi_grad, c* and the predicted trainable depth."""
import numpy as np
import pytest

import theory
from theory.meanfield.maps import correlation_fixed_point, correlation_slope
from theory.network.trainability import SCHOENHOLZ_CONSTANT, trainability


def test_one_step_is_the_correlation_map():
    """At T = 1 (exact quadrature) c* and the slope are those of theory.correlation_fixed_point
    and the analytic slope of the correlation map; chi_T is theory.chi within sampling error."""
    sigma = theory.optimal_sigma(1.0, 100)
    point = trainability(T=1, fan_in=100)
    c_value, slope = correlation_fixed_point(sigma, 100, 1.0)
    assert point.c_star == pytest.approx(c_value, rel=1e-8)
    assert point.slope == pytest.approx(slope, rel=1e-8)
    assert slope == pytest.approx(correlation_slope(c_value, sigma, 100, 1.0), rel=1e-8)
    assert point.xi_c == pytest.approx(-1.0 / np.log(point.slope), rel=1e-12)
    assert point.depth == pytest.approx(SCHOENHOLZ_CONSTANT * point.xi_c)
    assert point.chi == pytest.approx(theory.chi("atan", sigma, 100, 1.0), rel=0.03)


def test_network_form_equals_keywords():
    net = theory.Network(depth=5, width=[784, 100, 100, 100, 100, 10], neuron=theory.LIF(1.0, 0.5), T=3,
                         encoding=theory.Encoding("static"))
    a = trainability(net, samples=2000)
    b = trainability(threshold=1.0, beta=0.5, T=3, encoding="static", fan_in=100, samples=2000)
    assert a.xi_c == b.xi_c and a.chi == b.chi and a.c_star == b.c_star


def test_time_does_not_shorten_the_one_step_scale():
    """The pair map is block-triangular in time and step 1 is the one-step map, so the slope is
    at least the one-step slope: xi_c(T) >= xi_c(1). Step 1 is not sampled (nothing precedes
    it), so its slope differs from the exact one only by the central difference of half-width
    0.02 r: truncation O(0.02^2) relative, bounded here by 1e-3."""
    one = trainability(T=1, beta=0.9)
    many = trainability(T=4, beta=0.9, samples=4000)
    assert many.step_slopes[0] == pytest.approx(one.slope, rel=1e-3)
    assert many.slope == np.max(many.step_slopes)
    assert many.xi_c >= one.xi_c * (1 - 1e-3)


@pytest.mark.parametrize("call, name", [
    (lambda: trainability("net"), "net"),
    (lambda: trainability(theory.Network(depth=0)), "depth"),
    (lambda: trainability(T=0), "T"),
    (lambda: trainability(beta=2.0), "beta"),
    (lambda: trainability(constant=0.0), "constant"),
    (lambda: trainability(init="he"), "init"),
    (lambda: trainability(encoding="poisson"), "encoding"),
    (lambda: trainability(surrogate="relu"), "surrogate"),
    (lambda: trainability(transient_layers=1), "transient_layers"),
    (lambda: trainability(width=0), "width"),
    (lambda: trainability(transient_constant=-1.0), "transient_constant"),
    (lambda: trainability(chains=0), "chains"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_transient_scale_grows_with_time_steps_while_xi_c_does_not():
    """Over the first layers the gap between a similar and a dissimilar pair decays more slowly
    with more time steps (width 100, static input, beta 0.5, the training loop's network),
    although xi_c is the same at every T. The difference T = 16 vs T = 2 must exceed 3 combined
    standard errors of the fit (one-sided z > 3: false-positive rate 0.13 % if the two were equal);
    and at T = 2 and 16 the transient scale exceeds xi_c by 3 of its standard errors."""
    short = trainability(T=2, beta=0.5, fan_in=100, samples=2000, chains=256)
    long = trainability(T=16, beta=0.5, fan_in=100, samples=2000, chains=256)
    assert short.xi_c == pytest.approx(long.xi_c, rel=1e-3)
    combined = np.hypot(short.xi_transient_se, long.xi_transient_se)
    assert long.xi_transient - short.xi_transient > 3 * combined
    for point in (short, long):
        assert point.xi_transient - point.xi_c > 3 * point.xi_transient_se
        assert point.depth_transient == pytest.approx(point.transient_constant * point.xi_transient)


def test_transient_scale_is_the_pair_chain_e_folding_depth():
    """xi_transient is theory.correlation_decay's window-free e-folding depth on the chain of the
    network's width and std (and xi_transient_fit its windowed fit)."""
    point = trainability(T=3, beta=0.5, fan_in=100, samples=1000, seed=2, transient_layers=6, chains=16)
    decay = theory.correlation_decay(6, 100, 3, theory.optimal_sigma(1.0, 100), beta=0.5, encoding="static",
                                     chains=16, seed=2)
    assert point.xi_transient == decay["xi_efold"] and point.xi_transient_fit == decay["xi"]
    np.testing.assert_array_equal(point.xi_transient_se, decay["xi_efold_se"])
