"""simulate.monte_carlo with a theory.Network: the same draws as the keyword form, explicit
result fields, a Profile twin, and compare() against every theory evaluator's Profile."""
import dataclasses

import numpy as np
import pytest

import simulate
import theory
from theory import LIF, Encoding, Network


def test_network_form_equals_keyword_form():
    net = Network(depth=4, width=120, neuron=LIF(1.0, 0.5, "zero"), T=3, init="kaiming",
                  encoding=Encoding("static", std=1.5), bias_var=0.04)
    a = simulate.monte_carlo(net, draws=3, batch=8, seed=5)
    b = simulate.monte_carlo("kaiming", 4, 120, threshold=1.0, beta=0.5, reset="zero", steps=3, batch=8,
                             draws=3, seed=5, encoding="static", input_std=1.5, bias_std=0.2)
    for q in ("rate_draws", "mem_mean_draws", "mem_var_draws", "silent"):
        np.testing.assert_array_equal(getattr(a, q), getattr(b, q))
    assert a.network is net and b.network.bias_var == 0.2 ** 2   # the keyword form builds its description


def test_explicit_sigma_draws_like_the_registry():
    """N(0, sigma^2) drawn as theory.inits.sample_weights draws a normal initialiser."""
    sigma = theory.optimal_sigma(1.0, 200)
    a = simulate.monte_carlo(Network(depth=3, width=200, sigma_w=sigma), draws=2, batch=4, seed=1)
    b = simulate.monte_carlo(Network(depth=3, width=200, init="micheli"), draws=2, batch=4, seed=1)
    np.testing.assert_array_equal(a.rate_draws, b.rate_draws)


def test_fields_are_explicit_and_profile_matches():
    mc = simulate.monte_carlo(Network(depth=3, width=100, T=2), draws=3, batch=4)
    names = {f.name for f in dataclasses.fields(mc)}
    for q in ("rate", "mem_mean", "mem_var"):
        assert {q, f"{q}_se", f"{q}_low", f"{q}_high"} <= names
    assert not hasattr(type(mc), "__getattr__") or type(mc).__getattr__ is object.__getattr__
    profile = mc.profile
    assert isinstance(profile, theory.Profile) and profile.source == "simulation"
    np.testing.assert_array_equal(profile.rate, mc.rate)
    np.testing.assert_array_equal(profile.mem_var_se, mc.mem_var_se)
    np.testing.assert_array_equal(profile.silent, mc.silent_all_steps)
    with pytest.raises(AttributeError):
        mc.rate_sd      # a typo is an error, not a silent lookup


def test_network_form_rejects_restated_arguments():
    with pytest.raises(ValueError, match="theory.Network"):
        simulate.monte_carlo(Network(depth=2, width=10), depth=5)


def test_compare_takes_every_profile():
    net = Network(depth=3, width=300, T=1)
    mc = simulate.monte_carlo(net, draws=3, batch=8)
    full = simulate.compare(mc, theory.mean_field(net))
    assert {r["quantity"] for r in full.rows} == {"rate", "mem_mean", "mem_var"}
    chain = simulate.compare(mc, theory.spike_count(net))          # rate only: membranes are NaN
    assert {r["quantity"] for r in chain.rows} == {"rate"} and len(chain.rows) == 4
    spikes_in = Network(depth=2, width=300, T=2, encoding=Encoding("bernoulli", rate=0.3))
    rows = simulate.compare(simulate.monte_carlo(spikes_in, draws=3, batch=8), theory.mean_field(spikes_in)).rows
    assert not [r for r in rows if r["layer"] == 0 and r["quantity"] != "rate"]   # no layer-0 membrane


def test_compare_and_sweep_name_bad_arguments():
    mc = simulate.monte_carlo(Network(depth=2, width=50), draws=2, batch=2)
    with pytest.raises(ValueError, match="layers"):
        simulate.compare(mc, theory.mean_field(Network(depth=2, width=50)), layers=[7])
    with pytest.raises(ValueError, match="empty grid"):
        simulate.sweep(depths=())
