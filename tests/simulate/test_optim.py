"""Adam and schedules against hand-derived values (deterministic; no tolerance beyond float32)."""
import math

import numpy as np
import pytest

from simulate.optim import Adam, learning_rate


def test_first_adam_step_moves_each_parameter_by_lr_times_sign():
    # after one step m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps)
    p = np.array([1.0, -2.0, 0.5], np.float32)
    g = np.array([0.3, -4.0, 1e-3], np.float32)
    opt = Adam([p], lr=0.01)
    opt.step([g])
    expected = np.array([1.0, -2.0, 0.5]) - 0.01 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(p, expected, rtol=1e-6)


def test_adam_matches_a_scalar_reimplementation_over_many_steps():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(5).astype(np.float32)
    ref = p.astype(np.float64).copy()
    m = np.zeros(5)
    v = np.zeros(5)
    opt = Adam([p], lr=1e-3)
    for k in range(1, 51):
        g = rng.standard_normal(5).astype(np.float32)
        opt.step([g])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g.astype(np.float64) ** 2
        ref -= 1e-3 * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
    np.testing.assert_allclose(p, ref, rtol=0, atol=1e-5)   # float32 state over 50 steps


def test_adam_converges_on_a_quadratic_and_state_round_trips():
    p = np.array([3.0, -1.0], np.float32)
    opt = Adam([p], lr=0.05)
    for _ in range(400):
        opt.step([2 * p])
    assert np.all(np.abs(p) < 0.05)
    saved = opt.state()
    clone = Adam([p.copy()], lr=0.05)
    clone.load_state(saved)
    opt.step([2 * p])
    clone.step([2 * clone.params[0]])
    np.testing.assert_array_equal(p, clone.params[0])


def test_cosine_schedule_values_and_period():
    assert learning_rate("constant", 1e-3, 123) == 1e-3
    assert learning_rate("cosine", 1e-3, 0, t_max=10) == pytest.approx(1e-3)
    assert learning_rate("cosine", 1e-3, 5, t_max=10) == pytest.approx(5e-4)
    assert learning_rate("cosine", 1e-3, 10, t_max=10) == pytest.approx(0.0, abs=1e-18)
    assert learning_rate("cosine", 1e-3, 20, t_max=10) == pytest.approx(1e-3)   # torch's period 2 T_max
    assert learning_rate("cosine", 1.0, 3, t_max=10) == pytest.approx((1 + math.cos(0.3 * math.pi)) / 2)
    with pytest.raises(ValueError, match="schedule"):
        learning_rate("step", 1e-3, 0)
    with pytest.raises(ValueError, match="lr"):
        Adam([np.zeros(2)], lr=-1)


def test_an_overflowing_second_moment_freezes_the_weight_silently_and_is_counted():
    import warnings
    p = np.array([1.0, 1.0], np.float32)
    opt = Adam([p], lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no numpy RuntimeWarning reaches the user
        opt.step([np.array([3e19, 0.5], np.float32)])   # (3e19)^2 overflows float32
    assert np.isinf(opt.v[0][0]) and opt.frozen() == 1
    assert p[0] == 1.0 and p[1] < 1.0                   # m / inf = 0: the first weight did not move
    opt.step([np.array([1.0, 0.5], np.float32)])
    assert p[0] == 1.0 and opt.frozen() == 1            # and never moves again


def test_gradient_norm_survives_a_float32_overflow():
    from simulate.train import gradient_norm
    g = np.full(4, 3e19, np.float32)
    assert gradient_norm(g) == pytest.approx(6e19, rel=1e-6)
    small = np.array([3.0, 4.0], np.float32)
    assert gradient_norm(small) == float(np.linalg.norm(small))          # the float32 value, bit for bit
