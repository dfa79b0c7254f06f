"""snn_bridge.spikeinit: SpikeInit's equations, each against an independent computation.

* sigma* (explicit solution) re-evaluated by the paper's Algorithm 1 (a root finder on the two
  balance equations) fires at the target rate; the one-step closure map is the exact Gaussian
  moment map (Monte Carlo from N(mu, std^2)); the steady state itself is a Gaussian *closure*
  (an approximation): a Monte Carlo of the LIF neuron at sigma* is compared with the target
  under a stated bound.
* the stem rate: the paper's long-run series against the T-step rate (T -> infinity) and the
  T-step rate against a Monte Carlo of the deterministic neuron under random constant drives;
* the surrogate scale meets chi = 1 with M2 estimated by Monte Carlo from the steady state;
* sigma_sew: the branch's last neuron under its bound drive fires with probability q;
* spikeinit_ on both libraries' models: each role's std (chi-square), SEW's small std, MS's zero
  last convolution, the zero classifier, BN weights, the surrogate set on every neuron.

Statistical checks are seeded (deterministic here); each states its false-positive rate for a
fresh seed.
"""
import math

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")
pytest.importorskip("snntorch")

from snn_bridge.models import build_model  # noqa: E402
from snn_bridge.spikeinit import (LIFSpec, backward_gain, carry_gain, closure_step, sew_branch_sigma,  # noqa: E402
                                  solve_sigma, solve_static_sigma, solve_surrogate_scale, spikeinit_,
                                  spikeinit_parameters, static_rate, steady_state, surrogate_derivative)

PAPER = LIFSpec(kappa=0.5, lam=0.5, threshold=0.5, reset="zero")        # tau = 2, decay_input, theta 0.5, hard
NEURONS = [PAPER,
           LIFSpec(kappa=0.9, lam=1.0, threshold=1.0, reset="zero"),
           LIFSpec(kappa=0.0, lam=1.0, threshold=1.0, reset="zero"),
           LIFSpec(kappa=0.5, lam=1.0, threshold=1.0, reset="subtract"),                 # snnTorch
           LIFSpec(kappa=0.8, lam=1.0, threshold=1.0, reset="subtract", reset_scale=0.8),  # SpikingJelly soft
           LIFSpec(kappa=0.5, lam=1.0, threshold=1.0, reset="none")]


def _sj():
    return pytest.importorskip("spikingjelly")


@pytest.mark.parametrize("neuron", NEURONS, ids=str)
@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3])
def test_sigma_star_fires_at_the_target_by_algorithm_1(neuron, rate):
    """The explicit sigma* solved, then the balance equations solved again for its input std by a
    root finder from the AR(1) start (the paper's Algorithm 1): rate Q((theta - mu)/std) = target."""
    try:
        sol = solve_sigma(rate, neuron)
    except ValueError as error:   # only the documented no-steady-state case may refuse
        assert neuron.reset == "zero" and "no steady state" in str(error)
        return
    assert sol.input_std == pytest.approx(sol.sigma * math.sqrt(rate), rel=1e-14)
    state = steady_state(sol.input_std, neuron)
    assert state.converged and state.residual < 1e-12
    assert state.rate == pytest.approx(rate, rel=1e-9)
    assert state.mu == pytest.approx(sol.mu, abs=1e-9) and state.std == pytest.approx(sol.std, rel=1e-9)


def test_sigma_star_scales_with_threshold_over_lambda():
    """The paper's neuron (theta 0.5, lambda 0.5) and (theta 1, lambda 1) share sigma*: only
    theta / lambda enters."""
    assert solve_sigma(0.1, PAPER).sigma == pytest.approx(
        solve_sigma(0.1, LIFSpec(kappa=0.5, lam=1.0, threshold=1.0, reset="zero")).sigma, rel=1e-13)


@pytest.mark.parametrize("neuron", NEURONS, ids=str)
def test_closure_step_is_the_exact_gaussian_moment_map(neuron):
    """One exact update from y ~ N(mu, std^2), x ~ N(0, input_std^2), n = 400,000 samples: the
    sample mean and second moment against closure_step by z-tests at |z| < 4.5 (false-positive
    rate 7e-6 each, 1e-4 over the 12 checks)."""
    rng = np.random.default_rng(11)
    mu, std, input_std = -0.1, 0.7, 0.5
    y = rng.normal(mu, std, 400_000)
    y_next, _ = neuron.step(y, rng.normal(0.0, input_std, y.size))
    m1, m2 = closure_step(mu, std, input_std, neuron)
    for sample, value in ((y_next, m1), (y_next ** 2, m2)):
        z = (sample.mean() - value) / (sample.std() / math.sqrt(sample.size))
        assert abs(z) < 4.5


def _monte_carlo_rate(neuron, input_std, rng, n=200_000, burn=100, steps=200):
    """Stationary rate of the LIF neuron with i.i.d. N(0, input_std^2) inputs (the closure's model)."""
    y = np.zeros(n)
    spikes = 0.0
    for t in range(burn + steps):
        y, s = neuron.step(y, rng.normal(0.0, input_std, n))
        if t >= burn:
            spikes += s.mean()
    return spikes / steps


def test_sigma_star_at_rate_0_1_for_the_papers_neuron_against_monte_carlo():
    """The paper's neuron (tau 2, decay_input, theta 0.5, hard reset) at rate 0.1: sigma* = 2.5784
    (explicit; independent of the code, by hand from the formulas: s = 0.275 / 0.61710, mu = 0.5 -
    1.28155 s). A Monte Carlo of the neuron itself (2e5 neurons, fresh Gaussian input each step,
    200 steps after 100 of burn-in) at sigma* fires at 0.1 within 0.002: the closure's own error
    (the membrane is not Gaussian under reset) measured 3e-4 here; the Monte Carlo's standard
    error is about 2e-4. A sigma 2 % off moves the rate by about 0.003."""
    sol = solve_sigma(0.1, PAPER)
    s = 0.5 * 0.55 / (1.2815516 * 0.55 - 0.5 * 0.1754983)
    mu = 0.5 - 1.2815516 * s
    by_hand = math.sqrt((mu * mu + s * s) * (1 - 0.25 * 0.9) + 0.25 * s * (0.5 + mu) * 0.1754983) / (0.5 * math.sqrt(0.1))
    assert sol.sigma == pytest.approx(by_hand, rel=1e-6) and sol.sigma == pytest.approx(2.5784, abs=1e-4)
    rate = _monte_carlo_rate(PAPER, sol.input_std, np.random.default_rng(5))
    assert abs(rate - 0.1) < 0.002


@pytest.mark.parametrize("neuron", [LIFSpec(kappa=0.5, lam=1.0, threshold=1.0, reset="subtract"),
                                    LIFSpec(kappa=0.5, lam=1.0, threshold=1.0, reset="none"),
                                    LIFSpec(kappa=0.0, lam=1.0, threshold=1.0, reset="zero")], ids=str)
def test_other_resets_against_monte_carlo(neuron):
    """The same check for the toolkit's neuron (snnTorch subtract reset, our extension of the
    closure: measured error 2e-4), no reset and kappa = 0 (both exact: Gaussian membranes): rate
    within 0.002 of 0.1 (the exact cases' Monte Carlo error is 2e-4, 10 se away)."""
    sol = solve_sigma(0.1, neuron)
    assert abs(_monte_carlo_rate(neuron, sol.input_std, np.random.default_rng(6), n=100_000) - 0.1) < 0.002


def test_no_steady_state_is_refused():
    with pytest.raises(ValueError, match="no steady state"):
        solve_sigma(0.1, LIFSpec(kappa=1.0, lam=1.0, threshold=1.0, reset="zero"))
    with pytest.raises(ValueError, match="kappa must be < 1"):
        solve_sigma(0.1, LIFSpec(kappa=1.0, lam=1.0, threshold=1.0, reset="subtract"))
    for bad in (0.0, 0.5, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match="rate"):
            solve_sigma(bad, PAPER)
    with pytest.raises(ValueError, match="kappa"):
        LIFSpec(kappa=1.2)
    with pytest.raises(ValueError, match="reset"):
        LIFSpec(kappa=0.5, reset="hard")


# ---------------------------------------------------------------------------------------------
# the stem
# ---------------------------------------------------------------------------------------------

def test_static_series_is_the_long_run_of_the_t_step_rate():
    """The paper's series (hard reset, long run) against the exact T-step rate: the T-step mean
    rate differs from the long-run one by less than (period - 1)/T per neuron, so the gap must
    shrink like 1/T: below 1/T at T = 50, 200, 800 and monotonically."""
    sigma = solve_static_sigma(0.1, PAPER)
    long_run = static_rate(sigma, PAPER)
    assert long_run == pytest.approx(0.1, abs=1e-10)
    gaps = [abs(static_rate(sigma, PAPER, steps=T) - long_run) for T in (50, 200, 800)]
    assert all(g < 1.0 / T for g, T in zip(gaps, (50, 200, 800)))
    assert gaps[0] > gaps[1] > gaps[2]


@pytest.mark.parametrize("neuron", [PAPER, LIFSpec(kappa=0.5, lam=1.0, threshold=1.0, reset="subtract"),
                                    LIFSpec(kappa=0.8, lam=1.0, threshold=1.0, reset="subtract", reset_scale=0.8),
                                    LIFSpec(kappa=0.9, lam=1.0, threshold=1.0, reset="none")], ids=str)
def test_t_step_stem_rate_against_monte_carlo(neuron):
    """Mean spike count over T = 6 steps of neurons with constant currents x ~ N(0, 1.3^2), simulated
    exactly (200,000 draws), against static_rate(steps=6): z-test |z| < 4.5 (false-positive
    rate 7e-6)."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.3, 200_000)
    y, s, count = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for _ in range(6):      # y[t] from y[t-1] and s[t-1] (snnTorch's reset_delay), s[t] = [y[t] > theta]
        if neuron.reset == "zero":
            y = neuron.kappa * y * (1 - s) + neuron.lam * x
        elif neuron.reset == "subtract":
            y = neuron.kappa * y - neuron.reset_scale * neuron.threshold * s + neuron.lam * x
        else:
            y = neuron.kappa * y + neuron.lam * x
        s = (y > neuron.threshold).astype(float)
        count += s
    rate = count / 6
    z = (rate.mean() - static_rate(1.3, neuron, steps=6)) / (rate.std() / math.sqrt(rate.size))
    assert abs(z) < 4.5


def test_static_sigma_uses_the_input_second_moment():
    a = solve_static_sigma(0.1, PAPER, input_moment=1.0)
    b = solve_static_sigma(0.1, PAPER, input_moment=0.1)
    assert b == pytest.approx(a / math.sqrt(0.1), rel=1e-12)
    with pytest.raises(ValueError, match="steps"):
        static_rate(1.0, LIFSpec(kappa=0.5, reset="subtract"))


# ---------------------------------------------------------------------------------------------
# surrogate scale and SEW branch std
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("surrogate", ["atan", "piecewise_exp"])
@pytest.mark.parametrize("neuron", [PAPER, LIFSpec(kappa=0.5, lam=1.0, threshold=1.0, reset="subtract")], ids=str)
def test_surrogate_scale_meets_the_gain_condition(surrogate, neuron):
    """chi = lambda^2 sigma*^2 M2 + rho = 1 at the solved scale, with M2 = E[g'(y - theta)^2]
    estimated from 10^6 draws of the steady-state membrane (not by the code's quadrature): z-test
    of chi - 1 at |z| < 4.5 (false-positive rate 7e-6). Scale 10 % off: chi moves by > 4 %."""
    sol = solve_sigma(0.1, neuron)
    scale = solve_surrogate_scale(surrogate, sol, neuron)
    assert backward_gain(surrogate, scale, sol, neuron) == pytest.approx(1.0, abs=1e-9)
    y = np.random.default_rng(8).normal(sol.mu, sol.std, 1_000_000)
    terms = neuron.lam ** 2 * sol.sigma ** 2 * surrogate_derivative(surrogate, scale, y - neuron.threshold) ** 2
    chi = terms.mean() + carry_gain(neuron, 0.1)
    assert abs((chi - 1.0) / (terms.std() / math.sqrt(terms.size))) < 4.5
    assert abs(backward_gain(surrogate, 1.1 * scale, sol, neuron) - 1.0) > 0.04


def test_the_two_surrogates_are_the_libraries_functions():
    """The formulas used for M2 are snnTorch's atan and SpikingJelly's ATan / PiecewiseExp(2a)
    derivatives."""
    from snntorch import surrogate as snn_surrogate
    v = torch.linspace(-2, 2, 41, dtype=torch.float32, requires_grad=True)
    snn_surrogate.atan(alpha=2.7)(v).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), surrogate_derivative("atan", 2.7, v.detach().numpy()), rtol=1e-6)
    _sj()
    from spikingjelly.activation_based import surrogate as sj_surrogate
    for fn, name, scale in ((sj_surrogate.ATan(alpha=2.7), "atan", 2.7),
                            (sj_surrogate.PiecewiseExp(alpha=2 * 1.3), "piecewise_exp", 1.3)):
        v.grad = None
        fn(v).sum().backward()
        np.testing.assert_allclose(v.grad.numpy(), surrogate_derivative(name, scale, v.detach().numpy()), rtol=1e-6)


@pytest.mark.parametrize("neuron,steps", [(PAPER, None), (LIFSpec(kappa=0.9, lam=1.0, threshold=1.0), None),
                                          (LIFSpec(kappa=1.0, lam=1.0, threshold=1.0), 4)], ids=str)
def test_sew_branch_fires_with_probability_q(neuron, steps):
    """Branch neurons (hard reset) driven by a constant current of std sigma_sew sqrt(0.5), simulated
    from rest for 250 steps (kappa < 1: kappa^250 < 4e-12, the long run) or T steps (kappa = 1):
    the fraction that ever fires is q = 0.01: binomial z-test on 200,000 neurons at |z| < 4.5
    (false-positive rate 7e-6)."""
    sigma = sew_branch_sigma(neuron, steps=steps)
    drive = np.random.default_rng(9).normal(0.0, sigma * math.sqrt(0.5), 200_000)
    y, s, fired = np.zeros_like(drive), np.zeros_like(drive), np.zeros(drive.size, dtype=bool)
    for _ in range(steps or 250):
        y = neuron.kappa * y * (1 - s) + neuron.lam * drive
        s = (y > neuron.threshold).astype(float)
        fired |= s > 0
    assert abs(fired.mean() - 0.01) / math.sqrt(0.01 * 0.99 / drive.size) < 4.5
    if neuron.kappa == 1:
        with pytest.raises(ValueError, match="steps"):
            sew_branch_sigma(neuron)


def test_parameters_of_the_papers_neuron():
    """All numbers for the paper's neuron with its PiecewiseExp surrogate; spot values from the
    explicit formulas (sigma_sew = 0.5 (1 - 0.5) / (0.5 z_0.99 sqrt 0.5))."""
    p = spikeinit_parameters(PAPER, surrogate="piecewise_exp")
    assert p.sigma == pytest.approx(2.5784, abs=1e-4)
    assert p.sigma_sew == pytest.approx(0.5 / (stats.norm.isf(0.01) * math.sqrt(0.5)), rel=1e-12)
    assert p.chi == pytest.approx(1.0, abs=1e-9)
    assert static_rate(p.sigma_static, PAPER) == pytest.approx(0.1, abs=1e-9)
    assert p.stem_horizon == "long run"


# ---------------------------------------------------------------------------------------------
# spikeinit_ on the models
# ---------------------------------------------------------------------------------------------

def _std_ok(weight, std):
    """Chi-square test of a N(0, std^2) draw: N mean(w^2)/std^2 ~ chi2(N), two-sided at 1e-4."""
    w = weight.detach().double().numpy().ravel()
    statistic = float(np.sum(w ** 2) / std ** 2)
    return stats.chi2.ppf(5e-5, w.size) < statistic < stats.chi2.isf(5e-5, w.size)


@pytest.mark.parametrize("library", ["snntorch", "spikingjelly"])
@pytest.mark.parametrize("family", ["sew_add", "sew_iand", "ms", "vgg"])
def test_spikeinit_sets_every_role(family, library):
    """Every weight layer's draw against its role's std (chi-square, false-positive rate 1e-4 per
    layer, under 2e-3 over the 8 models), SEW's last convolutions at sigma_sew / sqrt(fan_in),
    MS's at exactly 0, classifier and biases 0, every neuron's surrogate at the solved scale."""
    if library == "spikingjelly":
        _sj()
    model = build_model(family, library, blocks=(1, 1), channels=(16, 16), reset="zero")
    report = spikeinit_(model, steps=4, input_second_moment=0.1, generator=torch.Generator().manual_seed(2))
    p = report.parameters
    roles = {name: role for name, _, role in model.weight_roles()}
    for name, module, role in model.weight_roles():
        fan_in = module.weight[0].numel()
        row = next(r for r in report.layers if r["name"] == name)
        assert row["role"] == role and row["fan_in"] == fan_in
        expected = {"stem": p.sigma_static / math.sqrt(fan_in), "hidden": p.sigma / math.sqrt(fan_in),
                    "downsample": p.sigma / math.sqrt(fan_in), "classifier": 0.0,
                    "block_last": 0.0 if family == "ms" else p.sigma_sew / math.sqrt(fan_in)}[role]
        assert row["std"] == pytest.approx(expected, rel=1e-12)
        if expected == 0:
            assert torch.count_nonzero(module.weight) == 0
        else:
            assert _std_ok(module.weight, expected), name
        if module.bias is not None:
            assert torch.count_nonzero(module.bias) == 0
    assert p.sigma_static == pytest.approx(solve_static_sigma(0.1, LIFSpec(
        kappa=0.5, lam=1.0, threshold=1.0, reset="zero"), input_moment=0.1), rel=1e-12)
    if family != "vgg":
        assert "block_last" in roles.values()
    for _, neuron in model.neurons():
        if library == "snntorch":
            from snn_bridge import read_surrogate
            assert read_surrogate(neuron.spike_grad) == ("atan", pytest.approx(p.surrogate_scale, rel=1e-15))
        else:
            assert neuron.surrogate_function.alpha == pytest.approx(p.surrogate_scale, rel=1e-15)
    assert len(report.neurons) == len(model.neurons())


@pytest.mark.parametrize("library", ["snntorch", "spikingjelly"])
def test_spikeinit_with_batch_norm_zeroes_the_last_bn_weight(library):
    if library == "spikingjelly":
        _sj()
    model = build_model("sew_add", library, blocks=1, channels=(4, 8), bn=True, reset="zero")
    report = spikeinit_(model, generator=torch.Generator().manual_seed(0))
    zeroed = [r["name"] for r in report.layers if r["bn_weight_zeroed"]]
    assert len(zeroed) == 2 and all(r["role"] == "block_last" for r in report.layers if r["bn_weight_zeroed"])
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert sum(float(m.weight.detach().abs().sum()) == 0 for m in bns) == 2
    assert any("batch norm" in note for note in report.notes)


def test_spikeinit_reads_the_library_neuron():
    """The SpikingJelly soft reset subtracts kappa theta (reset_scale kappa); snnTorch's subtracts
    theta; both give different sigma* from the same beta. The subtract reset needs steps."""
    _sj()
    snn_model = build_model("vgg", "snntorch", blocks=1, channels=(4,), beta=0.8)
    sj_model = build_model("vgg", "spikingjelly", blocks=1, channels=(4,), beta=0.8)
    with pytest.raises(ValueError, match="steps"):
        spikeinit_(snn_model)
    a = spikeinit_(snn_model, steps=4).parameters
    b = spikeinit_(sj_model, steps=4).parameters
    assert a.neuron["reset_scale"] == 1.0 and b.neuron["reset_scale"] == pytest.approx(0.8)
    assert a.sigma == pytest.approx(solve_sigma(0.1, LIFSpec(kappa=0.8, reset="subtract")).sigma)
    assert b.sigma == pytest.approx(solve_sigma(0.1, LIFSpec(kappa=0.8, reset="subtract", reset_scale=0.8)).sigma)
    assert a.sigma != pytest.approx(b.sigma, rel=1e-3)


def test_spikeinit_refuses_foreign_models_and_mixed_neurons():
    with pytest.raises(ValueError, match="snn_bridge.models"):
        spikeinit_(torch.nn.Linear(3, 3))
    model = build_model("vgg", blocks=2, channels=(4,), reset="zero")
    model.features[2].beta = torch.tensor(0.3)
    with pytest.raises(ValueError, match="same kappa"):
        spikeinit_(model)
    with pytest.raises(ValueError, match="generator"):
        spikeinit_(build_model("vgg", blocks=1, channels=(4,), reset="zero"), generator=3)
