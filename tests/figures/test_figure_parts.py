"""Pieces of individual figures that decide what a reader sees (cheap, no rendering)."""
import numpy as np

from figures import finite_width_min_width, style, training_curves


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
    data = {"depths": [3], "inits": ["micheli"], "test_accuracy": np.array([[[0.1, 0.9]]]),
            "epochs_to_90": np.array([[1]]), "init_rates_depth3": np.array([[0.1, 0.05]])}
    table = training_curves.tables(data, params)["training_accuracy.md"]
    assert table.startswith("Preset `medium`") and "--preset medium --only training_curves" in table


def test_coinciding_pairs_are_drawn_distinguishably():
    for under, top in style.UNDERLAID.items():
        assert style.line_style(under)["linewidth"] > style.line_style(top)["linewidth"]
        assert style.marker(top) != style.marker(under)
        assert style.line_style(under, present=[under]) == {}          # no partner drawn: plain line
        assert style.line_style(under, present=[under, top]) == style.line_style(under)
