"""run_network (Numba) against the plain NumPy reference, validation and reproducibility."""
import itertools

import numba
import numpy as np
import pytest

from simulate import run_network
from simulate.kernels import BLOCK
from simulate.reference import reference_forward

NEAR_TIE = 1e-5
CONFIGS = list(itertools.product(["subtract", "zero", "none"], [0.0, 0.5, 1.0], [1, 5],
                                 [False, True], [False, True]))


def _random_network(rng, steps, with_bias, spikes_in):
    """Depth 3, widths drawn on both sides of the kernel's column block (BLOCK) so the
    partial last block is exercised; weights scaled so about a sixth of the inputs fire."""
    widths = [int(w) for w in rng.integers(1, 2 * BLOCK + 40, size=4)]
    batch = int(rng.integers(1, 5))
    weights, biases = [], []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        weights.append((rng.standard_normal((fan_in, fan_out)) * 2.5 / np.sqrt(fan_in)).astype(np.float32))
        biases.append((0.3 * rng.standard_normal(fan_out)).astype(np.float32) if with_bias else None)
    if spikes_in:
        currents = (rng.random((steps, batch, widths[0])) < 0.3).astype(np.float32)
    else:
        currents = rng.standard_normal((steps, batch, widths[0])).astype(np.float32)
    return weights, (biases if with_bias else None), currents


def test_numba_matches_reference_on_random_configurations():
    """Every reset x beta in {0, .5, 1} x T in {1, 5} x biases on/off x currents/spikes input.

    The reference sums currents by BLAS, the kernel row by row, so membranes differ by float32
    rounding (~1e-7 relative). Spike trains must be identical except where the reference
    membrane is within 1e-5 of theta at the first disagreement (a near-tie; downstream of it
    the trains legitimately diverge). Near-ties must be rare: fewer than 1e-3 of all membrane
    values in all configurations, and at most 2 of the 72 configurations may disagree at all.
    Membrane statistics agree to float32 precision (rtol 1e-5) wherever the spikes agree.

    Why this holds on any x86-64 CPU: the kernel side is the same bits everywhere (no FMA
    contraction, no reassociation in the float32 update); the reference's BLAS sgemm changes
    its summation order (and FMA use) with the CPU. Both round a float32 sum of k <= ~300
    terms of size <~ 1: a random-walk error of ~sqrt(k) 6e-8 ~ 1e-6, so NEAR_TIE = 1e-5 is
    ~10x the difference of the two routes and a flip further from theta is a real error. The
    counts are thresholds on rare events: ~3e5 membranes with a density ~0.2 per unit at
    theta give ~0.1 expected flips at a 1e-6 difference (P(more than 2 configurations)
    ~ 2e-4, Poisson) and ~1 membrane within 1e-5 of theta, far below 1e-3 * values.
    """
    rng = np.random.default_rng(20241001)
    disagreeing, near_ties, values = 0, 0, 0
    for reset, beta, steps, with_bias, spikes_in in CONFIGS:
        weights, biases, currents = _random_network(rng, steps, with_bias, spikes_in)
        kwargs = dict(beta=beta, threshold=1.0, reset=reset, biases=biases, input_is_spikes=spikes_in)
        result = run_network(weights, currents, record_spikes=True, **kwargs)
        ref = reference_forward(weights, currents, **kwargs)
        for u in ref["u"][int(spikes_in):]:
            near_ties += int(np.sum(np.abs(u - 1.0) < NEAR_TIE))
            values += u.size
        first_bad = next((layer for layer, (a, b) in enumerate(zip(result.spikes, ref["spikes"]))
                          if not np.array_equal(a, b)), None)
        if first_bad is not None:
            disagreeing += 1
            where = result.spikes[first_bad] != ref["spikes"][first_bad]
            t = int(np.argwhere(where)[0, 0])
            gap = np.abs(ref["u"][first_bad][t][where[t]] - 1.0)
            assert np.all(gap < NEAR_TIE), f"spike mismatch that is not a near-tie: {reset, beta, steps}"
            continue
        np.testing.assert_array_equal(result.out_spikes, ref["spikes"][-1])
        np.testing.assert_array_equal(result.active, ref["active"])
        np.testing.assert_array_equal(result.rate, ref["rate"])
        scale = 1.0 + np.abs(ref["mem_mean"])
        np.testing.assert_allclose(result.mem_mean, ref["mem_mean"], rtol=0, atol=1e-5 * scale.max())
        np.testing.assert_allclose(result.mem_var, ref["mem_var"], rtol=1e-5, atol=1e-6)
    assert disagreeing <= 2
    assert near_ties < 1e-3 * values


def test_same_input_gives_bit_identical_output_serial_or_parallel_any_thread_count(monkeypatch):
    """Determinism: the serial kernels, and the parallel ones on 1 or all threads, give the
    same bits (the work split and summation order do not depend on threads)."""
    from simulate import network
    rng = np.random.default_rng(3)
    weights, biases, currents = _random_network(rng, 5, True, False)
    before = numba.get_num_threads()
    runs = []
    try:
        for work, threads in [(1 << 62, before), (0, 1), (0, before)]:
            monkeypatch.setattr(network, "PARALLEL_WORK", work)
            numba.set_num_threads(threads)
            runs.append(run_network(weights, currents, beta=0.5, threshold=1.0, biases=biases,
                                    record_spikes=True))
    finally:
        numba.set_num_threads(before)
    for other in runs[1:]:
        for a, b in zip(runs[0].spikes, other.spikes):
            np.testing.assert_array_equal(a, b)
        for name in ("rate", "mem_mean", "mem_var", "active"):
            np.testing.assert_array_equal(getattr(runs[0], name), getattr(other, name))


def test_spikes_are_recorded_only_when_asked_and_output_is_last_layer():
    rng = np.random.default_rng(4)
    weights, _, currents = _random_network(rng, 3, False, False)
    plain = run_network(weights, currents, beta=0.5, threshold=1.0)
    recorded = run_network(weights, currents, beta=0.5, threshold=1.0, record_spikes=True)
    assert plain.spikes is None
    assert len(recorded.spikes) == len(weights) + 1
    assert plain.out_spikes.dtype == np.uint8
    assert plain.out_spikes.shape == (3, currents.shape[1], weights[-1].shape[1])
    np.testing.assert_array_equal(plain.out_spikes, recorded.spikes[-1])
    assert plain.rate.shape == plain.mem_var.shape == (len(weights) + 1, 3)
    assert plain.active.shape == (len(weights) + 1, 3, currents.shape[1]) and plain.active.dtype == np.int32
    assert plain.depth == len(weights)


def test_input_spikes_row_zero_is_the_given_input():
    """With input_is_spikes the layer-0 rate, mean and variance are those of the given 0/1 values."""
    rng = np.random.default_rng(5)
    spikes = (rng.random((4, 3, 50)) < 0.2).astype(np.float32)
    weight = rng.standard_normal((50, 20)).astype(np.float32)
    result = run_network([weight], spikes, beta=0.5, threshold=1.0, input_is_spikes=True)
    flat = spikes.reshape(4, -1).astype(np.float64)
    np.testing.assert_array_equal(result.rate[0], flat.mean(axis=1))
    np.testing.assert_array_equal(result.mem_mean[0], flat.mean(axis=1))
    np.testing.assert_allclose(result.mem_var[0], flat.var(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(result.active[0], spikes.sum(axis=2))


GOOD_W = [np.ones((3, 4), np.float32), np.ones((4, 2), np.float32)]
GOOD_I = np.zeros((2, 1, 3), np.float32)


@pytest.mark.parametrize("kwargs, name", [
    (dict(weights=[np.ones((3, 4), np.float32), np.ones((5, 2), np.float32)]), "weights[1]"),
    (dict(weights=[np.ones((2, 4), np.float32)]), "weights[0]"),
    (dict(weights=np.ones((3, 4), np.float32)), "weights"),
    (dict(weights=[np.ones(3, np.float32)]), "weights[0]"),
    (dict(weights=[np.full((3, 4), np.nan, np.float32), GOOD_W[1]]), "weights[0]"),
    (dict(currents=np.zeros((1, 3), np.float32)), "currents"),
    (dict(currents=np.zeros((2, 1, 3, 1), np.float32)), "currents"),
    (dict(currents=np.full((2, 1, 3), np.inf, np.float32)), "currents"),
    (dict(currents=np.full((2, 1, 3), 1e300)), "currents"),
    (dict(currents=np.full((2, 1, 3), 0.5, np.float32), input_is_spikes=True), "currents"),
    (dict(beta=1.5), "beta"), (dict(beta=-0.1), "beta"), (dict(beta=np.nan), "beta"),
    (dict(threshold=np.inf), "threshold"), (dict(threshold=np.nan), "threshold"),
    (dict(reset="soft"), "reset"),
    (dict(biases=[np.zeros(4, np.float32)]), "biases"),
    (dict(biases=[np.zeros(3, np.float32), None]), "biases[0]"),
    (dict(biases=[None, np.array([0.0, np.nan], np.float32)]), "biases[1]"),
])
def test_bad_input_raises_value_error_naming_the_argument(kwargs, name):
    args = dict(weights=GOOD_W, currents=GOOD_I, beta=0.5, threshold=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        run_network(args.pop("weights"), args.pop("currents"), **args)


def test_good_input_with_biases_and_float64_is_accepted():
    """float64 arrays are cast to float32 (documented); None entries in biases mean no bias."""
    result = run_network([w.astype(np.float64) for w in GOOD_W], GOOD_I.astype(np.float64), beta=0.5,
                         threshold=1.0, biases=[None, np.zeros(2)])
    assert result.rate.shape == (3, 2)


def test_wide_inputs_split_into_panels_give_the_exact_sequential_sums():
    """hidden_layer gathers the weight rows of the active inputs panel by panel (a panel is as
    many column blocks as fit kernels.PANEL_BYTES; 9000 inputs give one block per panel, 300
    inputs one panel for all blocks). Whatever the split, every current is the float32 sum of the
    active rows in increasing input order, then the LIF step of theory.core.lif: the spikes equal,
    bit for bit, a NumPy loop doing exactly that, and the membrane statistics agree to float64
    rounding (their summation order differs)."""
    from simulate import kernels
    rng = np.random.default_rng(77)
    beta, threshold = np.float32(0.5), np.float32(1.0)
    for n_in in (9000, 300):
        n_out, steps, batch = 2 * BLOCK + 44, 3, 5
        assert (kernels.panel_blocks(n_in, 3) == 1) == (n_in == 9000)
        spikes_in = (rng.random((steps, batch, n_in)) < 0.1).astype(np.float32)
        weight = (rng.standard_normal((n_in, n_out)) * 3.0 / np.sqrt(0.1 * n_in)).astype(np.float32)
        result = run_network([weight], spikes_in, beta=0.5, threshold=1.0, input_is_spikes=True,
                             record_spikes=True)
        u = np.zeros((batch, n_out), np.float32)
        s = np.zeros((batch, n_out), np.float32)
        mems = []
        for t in range(steps):
            current = np.zeros((batch, n_out), np.float32)
            for b in range(batch):
                for i in np.flatnonzero(spikes_in[t, b]):
                    current[b] = current[b] + weight[i]
            u = (beta * u + current) - threshold * s        # subtract reset, theory.core.lif
            s = (u > threshold).astype(np.float32)
            np.testing.assert_array_equal(result.spikes[1][t], s.astype(np.uint8))
            mems.append(u.astype(np.float64))
        mems = np.array(mems)
        np.testing.assert_allclose(result.mem_mean[1], mems.mean(axis=(1, 2)), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(result.mem_var[1], mems.var(axis=(1, 2)), rtol=1e-9, atol=1e-15)
