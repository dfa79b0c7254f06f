"""Monte Carlo harness: reproducibility, intervals, comparison tables, sweeps, validation."""
import numpy as np
import pytest

from simulate import montecarlo
from simulate.montecarlo import compare, monte_carlo, summarise, sweep
from theory import inits

SMALL = dict(threshold=1.0, steps=3, batch=4, beta=0.5)


def test_same_seed_identical_and_draws_do_not_depend_on_draw_count():
    """Draw d uses child d of SeedSequence(seed): adding draws leaves earlier ones unchanged."""
    a = monte_carlo("micheli", 4, 50, draws=3, seed=5, **SMALL)
    b = monte_carlo("micheli", 4, 50, draws=3, seed=5, **SMALL)
    c = monte_carlo("micheli", 4, 50, draws=2, seed=5, **SMALL)
    d = monte_carlo("micheli", 4, 50, draws=3, seed=6, **SMALL)
    np.testing.assert_array_equal(a.rate_draws, b.rate_draws)
    np.testing.assert_array_equal(a.mem_var_draws, b.mem_var_draws)
    np.testing.assert_array_equal(a.rate_draws[:2], c.rate_draws)
    assert not np.array_equal(a.rate_draws, d.rate_draws)


def test_parallel_processes_give_identical_results(monkeypatch):
    """Also a regression test: the parent first runs a parallel (OpenMP) kernel; forking it
    afterwards killed the workers, so the harness uses a fork server."""
    from simulate import network, run_network
    monkeypatch.setattr(network, "PARALLEL_WORK", 0)
    run_network([np.ones((8, 8), np.float32)], np.ones((2, 4, 8), np.float32), beta=0.5, threshold=1.0)
    serial = monte_carlo("micheli", 3, 40, draws=3, seed=8, jobs=1, **SMALL)
    parallel = monte_carlo("micheli", 3, 40, draws=3, seed=8, jobs=2, **SMALL)
    np.testing.assert_array_equal(serial.rate_draws, parallel.rate_draws)
    np.testing.assert_array_equal(serial.mem_mean_draws, parallel.mem_mean_draws)


def test_summary_is_mean_se_and_student_t_interval():
    mc = monte_carlo("micheli", 2, 30, draws=4, seed=1, keep_active=True, confidence=0.9, **SMALL)
    values = mc.rate_draws
    np.testing.assert_allclose(mc.rate, values.mean(axis=0))
    np.testing.assert_allclose(mc.rate_se, values.std(axis=0, ddof=1) / 2.0)
    half = 2.3533634 * mc.rate_se                 # t_{0.95, 3 dof}
    np.testing.assert_allclose(mc.rate_high - mc.rate, half, rtol=1e-6)
    assert mc.active.shape == (4, 3, 3, 4) and mc.active.dtype == np.int32
    np.testing.assert_allclose(mc.rate_draws, mc.active.sum(axis=3) / (4 * 30))
    np.testing.assert_array_equal(mc.silent, (mc.active.sum(axis=3) == 0).mean(axis=0))
    assert monte_carlo("micheli", 2, 30, draws=2, seed=1, **SMALL).active is None


def test_t_interval_coverage_on_known_normal_data():
    """2000 repetitions of 5 N(3, 1) draws: the 90 % t-interval must cover 3 in a fraction
    within 4 binomial standard errors of 0.9 (false-positive rate ~6e-5)."""
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 1.0, size=(5, 2000))
    _, _, low, high = summarise(values, 0.9)
    coverage = np.mean((low <= 3.0) & (3.0 <= high))
    assert abs(coverage - 0.9) < 4 * np.sqrt(0.09 / 2000)


def test_encodings_of_the_harness():
    """bernoulli: layer 0 is the given spikes at input_rate (4.5 binomial se, fp ~7e-6);
    static with beta = 0, reset none: u_0[t] = x every step, so layer 0 repeats itself."""
    spikes = monte_carlo("micheli", 1, 200, threshold=1.0, steps=2, batch=50, draws=2, seed=2,
                         encoding="bernoulli", input_rate=0.3)
    assert abs(spikes.rate[0].mean() - 0.3) < 4.5 * np.sqrt(0.21 / (2 * 2 * 50 * 200))
    static = monte_carlo("micheli", 1, 200, threshold=1.0, steps=3, batch=5, draws=2, seed=3,
                         encoding="static", beta=0.0, reset="none", keep_active=True)
    for t in (1, 2):
        np.testing.assert_array_equal(static.active[:, 0, t], static.active[:, 0, 0])


def test_compare_table_against_theory_and_against_itself():
    mc = monte_carlo("micheli", 3, 300, threshold=1.0, steps=1, batch=8, draws=3, seed=4)
    table = compare(mc, inits.predict("micheli", 3, 300, threshold=1.0))
    assert len(table.rows) == 2 * 4
    for row in table.rows:
        assert row["z"] == pytest.approx((row["sim"] - row["theory"]) / row["se"])
        assert row["inside"] == (row["low"] <= row["theory"] <= row["high"])
    text, markdown = table.text(), table.markdown()
    assert "mem_var" in text and "theory inside" in text
    assert markdown.startswith("| quantity |") and markdown.count("\n| ") == len(table.rows)
    exact = compare(mc, {"rate": mc.rate, "mem_mean": mc.mem_mean}, layers=[0, 3])
    assert exact.max_abs_z == 0.0 and exact.fraction_inside == 1.0 and len(exact.rows) == 4


def test_compare_reports_infinite_z_when_simulation_has_no_spread():
    """Silent layers have se = 0: a non-zero theory is then infinitely many se away."""
    mc = monte_carlo("pytorch_default", 4, 100, threshold=1.0, steps=1, batch=4, draws=2, seed=0)
    assert mc.rate[4, 0] == 0.0 and mc.rate_se[4, 0] == 0.0
    row = compare(mc, {"rate": np.full(5, 0.1)}, layers=[4]).rows[0]
    assert row["z"] == -np.inf and not row["inside"]


def test_sweep_matches_individual_runs_in_grid_order():
    """A point's seed comes from the point (simulate.parallel.task_seed), not its grid position:
    the same point in a smaller grid gives the same draws."""
    from simulate.parallel import task_seed
    results = sweep(["micheli", "kaiming"], [2], [30, 40], [1.0], seed=9, progress=False,
                    draws=2, steps=1, batch=3)
    assert [(p["init"], p["width"]) for p, _ in results] == [("micheli", 30), ("micheli", 40),
                                                            ("kaiming", 30), ("kaiming", 40)]
    point, mc = results[3]
    child = task_seed(9, dict(init="kaiming", depth=2, width=40, threshold=1.0))
    alone = monte_carlo("kaiming", 2, 40, threshold=1.0, seed=child, draws=2, steps=1, batch=3)
    np.testing.assert_array_equal(mc.rate_draws, alone.rate_draws)
    smaller = sweep(["kaiming"], [2], [40], [1], seed=9, progress=False, draws=2, steps=1, batch=3)
    np.testing.assert_array_equal(smaller[0][1].rate_draws, mc.rate_draws)
    assert not np.array_equal(results[2][1].rate_draws, mc.rate_draws)
    again = sweep(["micheli", "kaiming"], [2], [30, 40], [1.0], seed=9, progress=False, jobs=2,
                  draws=2, steps=1, batch=3)
    for (_, x), (_, y) in zip(results, again):
        np.testing.assert_array_equal(x.rate_draws, y.rate_draws)


@pytest.mark.parametrize("kwargs, name", [
    (dict(init="nope"), "init"), (dict(draws=1), "draws"), (dict(encoding="poisson"), "encoding"),
    (dict(width=[10, 10]), "width"), (dict(width=0), "width"), (dict(reset="soft"), "reset"),
    (dict(beta=2.0), "beta"), (dict(confidence=1.0), "confidence"), (dict(seed=-1), "seed"),
    (dict(init="micheli", init_params={"bogus": 1}), "params"), (dict(jobs=0), "jobs"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    args = dict(init="micheli", depth=2, width=10, draws=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        monte_carlo(args.pop("init"), args.pop("depth"), args.pop("width"), **args)


def test_compare_rejects_predictions_of_the_wrong_shape():
    mc = monte_carlo("micheli", 2, 20, draws=2, seed=0, **SMALL)
    with pytest.raises(ValueError, match="prediction"):
        compare(mc, {"rate": np.zeros(5)})
    with pytest.raises(ValueError, match="prediction"):
        compare(mc, {"spikes": np.zeros(3)})
    assert montecarlo.ENCODINGS == ("gaussian", "static", "bernoulli")
