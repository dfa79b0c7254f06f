"""Pieces of individual figures that decide what a reader sees (cheap, no rendering)."""
import numpy as np

from figures import finite_width_min_width, style, temporal_heatmaps, training_curves


def test_min_width_beyond_the_bound_is_nan_for_that_depth_and_deeper():
    # threshold 1: depth 5 needs a width below 300, depth 10 needs 362 (exact chain) > max_width 300
    out = finite_width_min_width.min_width_point({"threshold": 1.0, "depths": [10, 5, 20], "survival": 0.99,
                                                  "max_width": 300})
    widths, reached = out["min_width"], out["survival_at_max"]
    assert np.isfinite(widths[1]) and 1 <= widths[1] <= 300
    assert np.isnan(widths[0]) and np.isnan(widths[2])          # 20 is deeper than the first failure
    assert 0.0 < reached[0] < 0.99 and np.isnan(reached[1]) and np.isnan(reached[2])


def test_training_curves_names_its_preset():
    for name, preset in training_curves.FIGURE.presets.items():
        assert training_curves.preset_name(dict(preset)) == name
    assert training_curves.preset_name({**training_curves.FIGURE.presets["quick"], "epochs": 99}) == "custom"
    params = dict(training_curves.FIGURE.presets["medium"])
    data = {"depths": [3], "inits": ["micheli"], "seeds": [[42, 43]],
            "test_accuracy": np.array([[[[0.1, 0.9], [0.1, 0.8]]]]),
            "epochs_to_90": np.array([[[1, -1]]]), "init_rates_depth3": np.array([[0.1, 0.05]]),
            "train_loss_batches": np.full((1, 1, 2, 40 * params["epochs"]), 2.3)}
    table = training_curves.tables(data, params)["training_accuracy.md"]
    assert table.startswith("Preset `medium`") and "--preset medium --only training_curves" in table
    # mean [min, max] over the two seeds; per-seed epochs to 90 % ('-': not reached); a flat loss never
    # reaches the target
    assert table.splitlines()[-1] == "| 3 | micheli | 2 | 10.0 | 85.00 [80.00, 90.00] | 85.00 [80.00, 90.00] | 1, - " \
        "| 0.0500 | never, never |"


def test_training_curves_orders_initialisers_only_where_seed_ranges_are_apart():
    summaries = {name: {"mean": m, "min": lo, "max": hi}
                 for name, (m, lo, hi) in {"a": (0.92, 0.91, 0.93), "b": (0.90, 0.88, 0.915),
                                           "c": (0.80, 0.79, 0.81)}.items()}
    assert sorted(training_curves.separated(summaries)) == [("a", "c"), ("b", "c")]
    params = {**training_curves.FIGURE.presets["quick"], "depths": [10], "inits": ["a", "b", "c"]}
    acc = np.array([[[[0.1, 0.91], [0.1, 0.92], [0.1, 0.93]], [[0.1, 0.88], [0.1, 0.90], [0.1, 0.915]],
                     [[0.1, 0.79], [0.1, 0.80], [0.1, 0.81]]]])
    text = training_curves.agreement({"depths": [10], "inits": ["a", "b", "c"], "seeds": [[42, 43, 44]],
                                      "test_accuracy": acc}, params)
    assert "a 92.0 [91.0, 93.0]" in text and "seed ranges apart: a > c, b > c" in text
    assert [training_curves.seeds_at(params, d) for d in (10, 50)] == [[42, 43, 44], [42]]


def test_loss_against_step_is_a_running_mean_and_its_speed_the_first_crossing():
    per_epoch = 100                                  # window: a tenth of an epoch, 10 batches
    losses = np.concatenate([np.full(50, 2.3), np.full(150, 0.5)])
    epoch, mean = training_curves.smoothed_loss(losses, per_epoch)
    assert len(mean) == len(losses) - 9 and epoch[0] == 10 / per_epoch and epoch[-1] == 2.0
    np.testing.assert_allclose(mean[:41], 2.3)
    np.testing.assert_allclose(mean[-1], 0.5)
    # the running mean of 10 batches falls below 2 once 2 of them are 0.5: (2 * 0.5 + 8 * 2.3) / 10 = 1.94
    assert training_curves.LOSS_TARGET == 2.0 and training_curves.batches_to_loss(losses, per_epoch) == 52
    # and below 1 once 8 of them are: (8 * 0.5 + 2 * 2.3) / 10 = 0.86
    assert training_curves.batches_to_loss(losses, per_epoch, target=1.0) == 58
    assert training_curves.batches_to_loss(losses, per_epoch, target=0.4) is None
    assert training_curves.batches_to_loss(np.full(3, 0.1), 4) == 1     # fewer batches than a window


def test_coinciding_pairs_are_drawn_distinguishably():
    for under, top in style.UNDERLAID.items():
        assert style.line_style(under)["linewidth"] > style.line_style(top)["linewidth"]
        assert style.marker(top) != style.marker(under)
        assert style.line_style(under, present=[under]) == {}          # no partner drawn: plain line
        assert style.line_style(under, present=[under, top]) == style.line_style(under)


def test_training_starts_is_the_loss_of_steps_41_to_50_below_chance():
    import pytest

    from figures.trainability_phase import CHANCE_LOSS, STARTS_MARGIN, training_starts
    flat = np.full(157, CHANCE_LOSS)
    assert not training_starts(flat)
    falls = flat.copy()
    falls[40:50] = CHANCE_LOSS - STARTS_MARGIN - 1e-6
    assert training_starts(falls)
    late = flat.copy()
    late[50:] = 0.5                                  # falls only after step 50: not within the window
    assert not training_starts(late)
    with pytest.raises(ValueError, match="training_starts needs 50 batch losses"):
        training_starts(flat[:49])


def test_trainability_diagram_draws_the_training_starts_signal():
    """compute -> tables/agreement/plot with synthetic runs: a row whose loss falls at depths 4 and
    6 only has the starts band (6, 8), equal to its accuracy band."""
    from figures import trainability_phase as tp
    depths = [4, 6, 8]

    class Ctx:
        def map(self, func, items, **kwargs):
            if func is tp.run_cell:
                return [{"test_accuracy": [0.1, 0.5 if it["depth"] < 8 else 0.1], "init_rates": [0.1, 0.05],
                         "early_losses": [tp.CHANCE_LOSS - (1.0 if it["depth"] < 8 else 0.0)] * 60} for it in items]
            return [{"xi_c": 1.3, "xi_grad": 3.0, "c_star": 0.3, "chi": 0.7, "slope": 0.5, "xi_transient": 1.6,
                     "xi_transient_se": 0.1} for _ in items]

    params = {**tp._BASE, "depths": depths, "steps": [8], "inits": ["micheli"], "train_size": 10000,
              "test_size": 100, "epochs": 1}
    data = tp.compute(params, Ctx())
    assert data["starts"].tolist() == [[True, True, False]]
    assert (data["starts_low"][0], data["starts_high"][0]) == (6, 8) == (data["band_low"][0], data["band_high"][0])
    table = next(iter(tp.tables(data, params).values()))
    assert "training starts up to" in table and "| 6 | 8 |" in table
    assert "has the accuracy's band in 1 of 1 rows" in tp.agreement(data, params)
    assert "within 3 se in 1" in tp.agreement(data, params)     # 4 x 1.6 + 1 = 7.4 lies in (6, 8)
    tp.plot(data, params)


def test_temporal_heatmaps_findings_name_the_first_silent_layer_from_the_data():
    rate = np.full((6, 4), 0.2)
    rate[3:, :] = 0.0
    rate[2, 1] = 5e-4                     # below the silence threshold at one step only: still firing
    alive = np.full((6, 4), 0.15)
    data = {"inits": ["kaiming", "micheli"], "betas": [0.5], "sim_kaiming_0.5": rate, "sim_micheli_0.5": alive}
    text = temporal_heatmaps.findings(data, {"width": 500, "depth": 5, "steps": 4})
    assert "Kaiming: beta 0.5: last-layer rate 0.000, silent from layer 3" in text
    assert text.endswith(f"{style.label('micheli')}: beta 0.5: last-layer rate 0.150.")          # never silent
    rate[2, 1] = 0.0
    rate[2, :] = 0.0
    assert "silent from layer 2" in temporal_heatmaps.findings(data, {"width": 500, "depth": 5, "steps": 4})

