"""Golden 2-neuron, 3-step trajectories, derived by hand, for each reset mode.

Network: layer 0 = 2 LIF neurons (A, B) driven by the currents below; layer 1 = 2 LIF
neurons (C, D) with W = [[1.25, -0.5], [0.5, 1.0]] (row = input A or B). theta = 1,
beta = 0.5, one sample. All values are dyadic, hence exact in float32, so the comparison is
exact (==): any deviation is a semantic error, not rounding.

    currents A: 1.5, 0.5, 0.75        currents B: 0.5, 1.0, 0.25

subtract  u[t] = 0.5 u[t-1] + I[t] - 1 * s[t-1]
    A: 1.5 (spike) | 0.75 + 0.5 - 1 = 0.25 | 0.125 + 0.75 = 0.875         spikes 1 0 0
    B: 0.5         | 0.25 + 1.0 = 1.25 (spike) | 0.625 + 0.25 - 1 = -0.125 spikes 0 1 0
    currents to layer 1: t1 = row A = (1.25, -0.5), t2 = row B = (0.5, 1.0), t3 = (0, 0)
    C: 1.25 (spike) | 0.625 + 0.5 - 1 = 0.125 | 0.0625                       spikes 1 0 0
    D: -0.5         | -0.25 + 1.0 = 0.75      | 0.375                        spikes 0 0 0

zero      u[t] = 0.5 (1 - s[t-1]) u[t-1] + I[t]
    A: 1.5 (spike) | 0 + 0.5 = 0.5 | 0.25 + 0.75 = 1.0 (NOT a spike: 1.0 > 1 is false)
    B: 0.5         | 0.25 + 1.0 = 1.25 (spike) | 0 + 0.25 = 0.25
    layer-0 spikes as for subtract, so the same currents to layer 1
    C: 1.25 (spike) | 0 + 0.5 = 0.5 | 0.25
    D: -0.5         | 0.75          | 0.375

none      u[t] = 0.5 u[t-1] + I[t]
    A: 1.5 (spike) | 0.75 + 0.5 = 1.25 (spike) | 0.625 + 0.75 = 1.375 (spike)
    B: 0.5         | 0.25 + 1.0 = 1.25 (spike) | 0.625 + 0.25 = 0.875
    currents to layer 1: t1 = (1.25, -0.5), t2 = A + B rows = (1.75, 0.5), t3 = (1.25, -0.5)
    C: 1.25 (spike) | 0.625 + 1.75 = 2.375 (spike) | 1.1875 + 1.25 = 2.4375 (spike)
    D: -0.5         | -0.25 + 0.5 = 0.25          | 0.125 - 0.5 = -0.375
"""
import numpy as np
import pytest

from simulate import run_network
from simulate.reference import reference_forward

CURRENTS = np.array([[1.5, 0.5], [0.5, 1.0], [0.75, 0.25]], np.float32)[:, None, :]   # (T, B, n)
WEIGHT = np.array([[1.25, -0.5], [0.5, 1.0]], np.float32)

# golden[reset] = (u layer 0 (T, 2), spikes layer 0, u layer 1, spikes layer 1)
GOLDEN = {
    "subtract": ([[1.5, 0.5], [0.25, 1.25], [0.875, -0.125]], [[1, 0], [0, 1], [0, 0]],
                 [[1.25, -0.5], [0.125, 0.75], [0.0625, 0.375]], [[1, 0], [0, 0], [0, 0]]),
    "zero": ([[1.5, 0.5], [0.5, 1.25], [1.0, 0.25]], [[1, 0], [0, 1], [0, 0]],
             [[1.25, -0.5], [0.5, 0.75], [0.25, 0.375]], [[1, 0], [0, 0], [0, 0]]),
    "none": ([[1.5, 0.5], [1.25, 1.25], [1.375, 0.875]], [[1, 0], [1, 1], [1, 0]],
             [[1.25, -0.5], [2.375, 0.25], [2.4375, -0.375]], [[1, 0], [1, 0], [1, 0]]),
}


@pytest.mark.parametrize("reset", sorted(GOLDEN))
def test_reference_matches_hand_computation(reset):
    """The NumPy reference reproduces the hand-derived membranes and spikes exactly."""
    u0, s0, u1, s1 = (np.array(v) for v in GOLDEN[reset])
    out = reference_forward([WEIGHT], CURRENTS, beta=0.5, threshold=1.0, reset=reset)
    np.testing.assert_array_equal(out["u"][0][:, 0], u0)
    np.testing.assert_array_equal(out["spikes"][0][:, 0], s0)
    np.testing.assert_array_equal(out["u"][1][:, 0], u1)
    np.testing.assert_array_equal(out["spikes"][1][:, 0], s1)


@pytest.mark.parametrize("reset", sorted(GOLDEN))
def test_run_network_matches_hand_computation(reset):
    """The Numba simulator's spikes, counts and membrane statistics equal the golden values
    exactly (statistics of two dyadic numbers are exact in float64)."""
    u0, s0, u1, s1 = (np.array(v, dtype=np.float64) for v in GOLDEN[reset])
    result = run_network([WEIGHT], CURRENTS, beta=0.5, threshold=1.0, reset=reset, record_spikes=True)
    np.testing.assert_array_equal(result.spikes[0][:, 0], s0)
    np.testing.assert_array_equal(result.spikes[1][:, 0], s1)
    np.testing.assert_array_equal(result.out_spikes[:, 0], s1)
    for layer, (u, s) in enumerate([(u0, s0), (u1, s1)]):
        np.testing.assert_array_equal(result.rate[layer], s.mean(axis=1))
        np.testing.assert_array_equal(result.active[layer][:, 0], s.sum(axis=1))
        np.testing.assert_array_equal(result.mem_mean[layer], u.mean(axis=1))
        np.testing.assert_array_equal(result.mem_var[layer], u.var(axis=1))


def test_threshold_is_strict_and_reset_uses_previous_step():
    """u exactly at theta does not spike; a spike at t resets only at t+1 (reset_delay=True)."""
    currents = np.array([1.0, 2.0, 0.0], np.float32)[:, None, None]
    result = run_network([], currents, beta=1.0, threshold=1.0, reset="subtract", record_spikes=True)
    # u: 1.0 (no spike, strict) | 1 + 2 = 3 (spike) | 3 + 0 - 1 = 2 (spike, reset subtracted once)
    np.testing.assert_array_equal(result.spikes[0][:, 0, 0], [0, 1, 1])
    np.testing.assert_array_equal(result.mem_mean[0], [1.0, 3.0, 2.0])
