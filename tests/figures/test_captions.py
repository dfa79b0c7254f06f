"""Every number a caption states comes from the figure's own data.

Two kinds of check for each statement that was once wrong in the gallery:
- the statement is a function of the data: two data sets with different numbers give captions
  with those numbers (a hard-coded number fails), and the count or verdict it states equals one
  computed here independently;
- the committed galleries (figures/out, figures/out/full) say what their committed tables say:
  the findings and agreement lines of each sidecar are checked against the figure's table files
  (the raw .npz data are not committed; the tables are written from the same data).
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from figures import all_figures, correlation_transient as ct, finite_width_min_width as fwm
from figures import sim_depth_propagation as sdp, style, trainability_phase as tp, training_robustness as tr
from figures.runner import redraw_command

ROOT = Path(__file__).resolve().parents[2]
GALLERIES = [ROOT / "figures" / "out", ROOT / "figures" / "out" / "full"]


def _numbers(text):
    return [float(x) for x in re.findall(r"-?\d+\.\d+|\d+", text)]


# ---------------------------------------------------------------- sim_depth_propagation

def _depth_data(sim_last, low_last, high_last, depth=10):
    layer = np.arange(depth + 1)
    theory = np.full(depth + 1, 0.1587)
    sim = np.linspace(0.1587, sim_last, depth + 1)
    half = np.linspace(0.002, (high_last - low_last) / 2, depth + 1)
    low, high = sim - half, sim + half
    low[-1], high[-1] = low_last, high_last
    chain = np.linspace(0.1587, 0.150, depth + 1)
    data = {"layer": layer, "names": ["micheli"], "theory_rate_micheli": theory, "chain_rate_micheli": chain,
            "sim_rate_micheli": sim, "sim_rate_low_micheli": low, "sim_rate_high_micheli": high,
            "chain_silent_micheli": np.linspace(0, 0.03, depth + 1), "sim_silent_micheli": np.zeros(depth + 1)}
    params = {"depth": depth, "width": 1000, "draws": 20, "batch": 128, "confidence": 0.95}
    return data, params


@pytest.mark.parametrize("sim_last, low_last, high_last", [(0.150, 0.147, 0.153), (0.1512, 0.1424, 0.1601)])
def test_depth_propagation_states_the_simulated_rate_and_counts_from_the_data(sim_last, low_last, high_last):
    data, params = _depth_data(sim_last, low_last, high_last)
    text = sdp.findings(data, params)
    assert f"{sim_last:.3f} [{low_last:.3f}, {high_last:.3f}] at layer {params['depth']}" in text
    theory, low, high = data["theory_rate_micheli"], data["sim_rate_low_micheli"], data["sim_rate_high_micheli"]
    inside = int(np.sum((low <= theory) & (theory <= high)))
    assert f"inside the interval at {inside} of {params['depth'] + 1} layers" in text
    if high_last < 0.1587:          # the mean field is outside at the last layer: it is not kept
        assert "does not stay at the mean field" in text and "which the exact finite-width chain predicts" in text
    else:
        assert "cannot tell them apart" in text and "does not stay" not in text


# ---------------------------------------------------------------- training_robustness

def _robustness(seeds=(42, 43, 44)):
    params = {"centre": {"threshold": 1.0, "beta": 0.5, "width": 100}, "inits": ["micheli", "kaiming",
              "micheli_temporal"], "threshold_values": [0.5, 1.0, 1.5], "beta_values": [0.0, 0.5],
              "width_values": [100, 200], "seeds": list(seeds), "train_size": None, "epochs": 4, "steps": 5,
              "depth": 10}
    # (threshold, beta, width) -> (micheli, kaiming, temporal) final accuracy
    table = {(0.5, 0.5, 100): (0.80, 0.95, 0.94), (1.0, 0.5, 100): (0.92, 0.92, 0.91),
             (1.5, 0.5, 100): (0.77, 0.098, np.nan), (1.0, 0.0, 100): (0.098, 0.098, 0.098),
             (1.0, 0.5, 200): (0.94, 0.94, 0.93)}
    records = []
    for (t, b, w), finals in table.items():
        for name, final in zip(params["inits"], finals):
            for k, seed in enumerate(seeds):
                wobble = 0.0 if not np.isfinite(final) or final < 0.2 else 0.002 * (k - 1)
                records.append({"init": name, "seed": seed, "threshold": t, "beta": b, "width": w,
                                "final": final + wobble, "best": final, "epochs_to_90": -1,
                                "error": "" if np.isfinite(final) else "no fixed point"})
    return {"records": records}, params


def test_robustness_counts_the_centre_once_ties_at_chance_are_not_wins_and_threshold_1_5_is_counted():
    data, params = _robustness()
    verdicts = {tuple(c["setting"].values()): c["verdict"] for c in tr.compare_with_kaiming(data, params)}
    assert len(verdicts) == 5                                     # 3 + 2 + 2 values, the centre once
    assert verdicts[(1.5, 0.5, 100)] == "higher"                  # the temporal init's NaN does not drop it
    assert verdicts[(1.0, 0.0, 100)] == "chance"                  # 9.8 = 9.8 at chance: a tie
    assert verdicts[(0.5, 0.5, 100)] == "lower"
    assert verdicts[(1.0, 0.5, 100)] == "unresolved"
    text = tr.agreement(data, params)
    assert "over the 5 distinct settings" in text
    assert "higher at 1 (threshold 1.5: 77.0 vs 9.8 %)" in text
    assert "lower at 1 (threshold 0.5: 80.0 vs 95.0 %)" in text
    assert "both at chance (a tie) at 1 (beta 0)" in text
    one_seed, params1 = _robustness(seeds=(42,))
    assert "one seed: by sign, no interval" in tr.agreement(one_seed, params1)


# ---------------------------------------------------------------- correlation_transient

def _transient(xi_field, xi_chain, depth=12):
    layers = np.arange(depth + 1)
    field = 0.6 * np.exp(-layers / xi_field)
    chain = 0.6 * np.exp(-layers / xi_chain)
    se = np.full(depth + 1, 1e-4)
    return {"rows": [[8, "micheli"]], "chain_widths": [100], "field_gap": field[None], "xi_field": np.array([9.9]),
            "xi_c": np.array([1.35]), "chain_gap_100": chain[None], "chain_gap_se_100": se[None],
            "xi_chain_100": np.array([7.7])}


def test_transient_fits_every_curve_over_the_same_layers_and_says_which():
    data = _transient(2.0, 2.5)
    params = {"depth": 12, "samples": 20000, "chains": 64}
    # the mean field's gap 0.6 exp(-l/2) is above its floor 0.005 up to layer 9; the chain's to 12
    assert ct.common_window(data, 0) == 9
    xi = ct.same_window_xi(data, 0)
    assert xi["mean field"] == pytest.approx(2.0) and xi["chain width 100"] == pytest.approx(2.5)
    assert "over layers 1-9 mean field 2.00, width 100 2.50" in ct.agreement(data, params)
    table = ct.tables(data, params)["correlation_transient.md"]
    assert "| 8 | micheli | 1.35 | 1-9 | 2.00 | 2.50 |" in table
    assert "7.70 |" in table                  # the theory's own fit, on its own window, labelled as such
    assert "by at most 25 %" in ct.findings(data, params)
    # a gap that is not one exponential: the fitted xi moves with the window, and the findings say how much
    layers = np.arange(13)
    data["field_gap"] = (0.5 * np.exp(-layers / 1.5) + 0.1 * np.exp(-layers / 4.0))[None]
    ends = [ct.fit_window(data["field_gap"][0], L) for L in range(4, 13)]
    assert f"moves over {min(ends):.2f}-{max(ends):.2f} at T = 8" in ct.findings(data, params)


# ---------------------------------------------------------------- finite_width_min_width

def test_min_width_says_which_depths_survive_above_theta_c():
    data = {"thresholds": np.array([1.0, 1.25]), "depths": np.array([10, 50, 100]), "critical_threshold": 1.1906,
            "min_width": np.array([[362, 1017, 1209], [4988, np.nan, np.nan]]),
            "survival_at_max": np.array([[np.nan] * 3, [np.nan, 0.388, np.nan]])}
    params = {"max_width": 5000, "survival": 0.99}
    text = fwm.findings(data, params)
    assert "threshold 1.25: depth 10 needs width 4988, depth 50, 100 exceed max_width 5000" in text
    assert "survival at width 5000: 0.39 at depth 50" in text and "holds only for the deeper networks" in text
    data["min_width"][1, 0] = np.nan
    data["survival_at_max"][1] = [0.943, np.nan, np.nan]
    text = fwm.findings(data, params)
    assert "depth 10, 50, 100 exceed" in text and "no depth reaches the target" in text and "0.94 at depth 10" in text


# ---------------------------------------------------------------- trainability_phase

def test_trainability_counts_the_rows_where_each_rule_lands_in_the_band():
    data = {"rows": ["a", "b", "c"], "band_low": np.array([6.0, 10.0, np.nan]), "band_high": np.array([8.0, 12.0, 4.0]),
            "xi_c": np.array([1.35, 1.35, np.nan]), "xi_transient": np.array([1.6, 2.6, 2.0]),
            "xi_transient_se": np.array([0.1, 0.1, 0.1])}
    params = {"train_size": 10000, "epochs": 1, "test_size": 2000, "samples": 8000}
    # 6 x 1.35 + 1 = 9.1: in no band (6-8, 10-12; row c has none); 4 xi_t + 1 = 7.4, 11.4, 9.0: rows a, b
    text = tp.findings(data, params)
    assert "lands inside the measured band in 0 of 3 rows (1 of them have no xi_c)" in text
    assert "4 xi_transient + 1 in 2 of 3" in text
    data["xi_c"] = np.array([1.0, 1.35, np.nan])     # 6 + 1 = 7: inside row a's band
    assert "in 1 of 3 rows (1 of them have no xi_c)" in tp.findings(data, params)
    data["xi_c"] = np.array([1.0, 1.35, 1.35])
    assert "in 1 of 3 rows;" in tp.findings(data, params)


# ---------------------------------------------------------------- the committed galleries

def _sidecar(gallery, name):
    path = gallery / "data" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _csv(path):
    lines = path.read_text().strip().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", line))) for line in lines[1:]]


@pytest.mark.parametrize("gallery", GALLERIES, ids=["quick", "full"])
def test_gallery_depth_propagation_findings_match_its_table(gallery):
    side = _sidecar(gallery, "sim_depth_propagation")
    if not side or not side.get("findings"):
        pytest.skip("entry drawn before findings existed")
    depth = side["params"]["depth"]
    row = next(r for r in _csv(gallery / "sim_depth_propagation.csv")
               if r["initialiser"] == "micheli" and r["layer"] == str(depth))
    sim = float(row["rate sim"])
    low, high = (float(x) for x in row["rate CI"].strip("[]").split(";"))
    stated = re.search(r"gives (\d\.\d+) \[(\d\.\d+), (\d\.\d+)\] at layer " + str(depth), side["findings"])
    assert stated, side["findings"]
    for said, table in zip(stated.groups(), (sim, low, high)):
        assert abs(float(said) - table) <= 0.0011          # the table keeps 4 significant digits
    mean_field = float(row["rate theory"])
    assert ("does not stay at the mean field" in side["findings"]) == (not low <= mean_field <= high)


@pytest.mark.parametrize("gallery", GALLERIES, ids=["quick", "full"])
def test_gallery_robustness_agreement_matches_its_table(gallery):
    side = _sidecar(gallery, "training_robustness")
    if not side or "distinct settings" not in side.get("agreement", ""):
        pytest.skip("entry drawn before the comparison was fixed")
    records = [{"init": r["init"], "seed": int(r["seed"]), "threshold": float(r["threshold"]), "beta": float(r["beta"]),
                "width": int(r["width"]), "final": float(r["final_test_acc"]) if r["final_test_acc"] != "nan"
                else np.nan} for r in _csv(gallery / "training_robustness.csv")]
    params = side["params"]
    found = tr.compare_with_kaiming({"records": records}, params)
    for verdict, phrase in (("higher", "higher at"), ("lower", "lower at"), ("unresolved", "not resolved at"),
                            ("chance", "both at chance (a tie) at")):
        count = sum(c["verdict"] == verdict for c in found)
        assert re.search(re.escape(phrase) + r" " + str(count) + r"\b", side["agreement"]), (verdict, side["agreement"])
    assert f"over the {len(found)} distinct settings" in side["agreement"]


@pytest.mark.parametrize("gallery", GALLERIES, ids=["quick", "full"])
def test_gallery_min_width_findings_match_its_table(gallery):
    side = _sidecar(gallery, "finite_width_min_width")
    if not side or not side.get("findings"):
        pytest.skip("entry drawn before findings existed")
    critical = float(re.search(r"theta_c = (\d\.\d+)", (gallery / "finite_width_min_width.md").read_text()).group(1))
    for row in _csv(gallery / "finite_width_min_width.csv"):
        if float(row["threshold"]) <= critical + 5e-4:
            continue
        for key, width in row.items():
            if key.startswith("depth_") and width:
                assert f"depth {key[6:]} needs width {width}" in side["findings"], side["findings"]


@pytest.mark.parametrize("gallery", GALLERIES, ids=["quick", "full"])
@pytest.mark.parametrize("name", ["trainability_phase", "trainability_knobs"])
def test_gallery_trainability_counts_match_its_table(gallery, name):
    side = _sidecar(gallery, name)
    if not side or not side.get("findings"):
        pytest.skip("entry drawn before findings existed")
    lines = (gallery / f"{name}.md").read_text().split("\n\n")[0].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]

    def inside(column):
        count = 0
        for r in rows:
            low = 0.0 if r["trains up to (LIF layers)"] == "none" else float(r["trains up to (LIF layers)"])
            high = np.inf if r["fails from"] == "-" else float(r["fails from"])
            value = float(r[column]) if r[column] != "nan" else np.nan
            count += bool(low <= value <= high)
        return count
    fixed = inside("predicted L* + 1 (6 xi_c + 1)")
    transient = inside("transient rule (4 xi_transient + 1)")
    assert f"lands inside the measured band in {fixed} of {len(rows)} rows" in side["findings"]
    assert f"xi_transient + 1 in {transient} of {len(rows)}" in side["findings"]


@pytest.mark.parametrize("gallery", GALLERIES, ids=["quick", "full"])
def test_gallery_transient_table_and_agreement_use_the_same_window(gallery):
    side = _sidecar(gallery, "correlation_transient")
    if not side or "same layers" not in side.get("agreement", ""):
        pytest.skip("entry drawn before the same-window fit")
    lines = (gallery / "correlation_transient.md").read_text().strip().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        row = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        if row["init"] != "micheli":
            continue
        said = f"T={row['T']}: xi_c {row['xi_c (asymptotic)']}; over layers {row['same window (layers)']} mean field " \
               f"{row['xi mean field']}"
        assert said in side["agreement"]


def test_full_gallery_redraw_commands_name_its_folder():
    assert redraw_command("x", "full", "figures/out/full") == "python paper_figs.py --full --only x --out figures/out/full"
    assert redraw_command("x", "quick", "figures/out") == "python paper_figs.py --only x"
    readme = (ROOT / "figures" / "out" / "full" / "README.md").read_text()
    redraws = [line for line in readme.splitlines() if line.startswith("Redraw: ")]
    assert redraws and all(line.endswith("--out figures/out/full`") for line in redraws)


# ---------------------------------------------------------------- colours and tracker numbers

def test_one_colour_per_initialiser_and_every_registry_entry_has_one():
    from theory import inits
    colours = list(style.INIT_COLOURS.values())
    assert len(set(colours)) == len(colours)
    assert set(inits.names()) <= set(style.INIT_COLOURS)
    assert style.regime_colour({"init": "sew_add", "architecture": "sew_add"}) == style.INIT_COLOURS["sew_add"]


FIGURE_SOURCES = sorted(p for p in (ROOT / "figures").glob("*.py") if p.name != "deep_training.py")


@pytest.mark.parametrize("path", FIGURE_SOURCES, ids=lambda p: p.name)
def test_no_cycle_colours_that_stand_for_initialisers(path):
    """matplotlib's default cycle (C0 blue, C1 orange, ...) is the initialisers' palette: a figure
    that draws something else in it says 'Kaiming' or 'leak/reset' to a reader."""
    assert not re.search(r"""colou?r\s*=\s*["']C\d["']|["']C\d["']\s*\)""", path.read_text())


def test_no_tracker_numbers_in_captions_notes_or_the_gallery_generator():
    specs = [s for s in all_figures() if s.name != "deep_training"]     # the lead's module: reported
    texts = [s.caption for s in specs] + [n for s in specs for n in s.preset_notes.values()]
    texts.append((ROOT / "figures" / "runner.py").read_text())
    assert not [t for t in texts if re.search(r"\bissues? ?#?\d+", t)]
