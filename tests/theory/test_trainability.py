"""theory.trainability: the one call for xi_c, xi_grad, c* and the predicted trainable depth."""
import numpy as np
import pytest

import theory
from theory.meanfield import correlation_fixed_point, correlation_slope
from theory.trainability import SCHOENHOLZ_CONSTANT, trainability


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
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
