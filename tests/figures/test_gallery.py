"""A partial run (--only) keeps the gallery whole, also in a fresh clone (sidecars committed,
.npz data and PDFs absent) and when a figure has no sidecar but an entry in the README."""
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from figures._spec import FigureSpec
from figures.runner import redraw_command, run, without_timings, write_gallery


def _spec(name, order):
    def compute(params, ctx):
        return {"x": np.arange(params["n"], dtype=float)}

    def plot(data, params):
        fig, ax = plt.subplots()
        ax.plot(data["x"])
        return fig

    return FigureSpec(name=name, caption=f"Caption of {name}.", compute=compute, plot=plot, order=order,
                      presets={"quick": {"n": 4}, "medium": {"n": 5}, "full": {"n": 6}, "tiny": {"n": 3}},
                      tables=lambda d, p: {f"{name}.md": f"| {name} |\n|---|\n| {len(d['x'])} |\n"},
                      agreement=lambda d, p: f"{name} agrees")


SPECS = [_spec("alpha", 1), _spec("beta", 2), _spec("gamma", 3)]


def _entries(readme):
    return [line[4:] for line in readme.read_text().splitlines() if line.startswith("### ")]


_without_timings = without_timings      # the gallery less the lines that hold measured wall times


def test_fresh_clone_partial_run_keeps_every_entry(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    run(SPECS, all_specs=SPECS, preset="quick", out_dir=out, cache_dir=cache, progress=False)
    readme = out / "README.md"
    full = readme.read_text()
    assert _entries(readme) == ["alpha", "beta", "gamma"]
    # a fresh clone: what git ignores is absent (data .npz, PDFs, the cache); sidecars and tables stay
    for path in list(out.glob("data/*.npz")) + list(out.glob("*.pdf")):
        path.unlink()
    assert sorted(p.name for p in (out / "data").iterdir()) == ["alpha.json", "beta.json", "gamma.json"]
    run([SPECS[1]], all_specs=SPECS, preset="quick", out_dir=out, cache_dir=tmp_path / "fresh", progress=False)
    assert _entries(readme) == ["alpha", "beta", "gamma"]
    # same preset, same numbers: the gallery is unchanged but for beta's measured time
    assert _without_timings(readme.read_text()) == _without_timings(full)
    assert len(readme.read_text().splitlines()) == len(full.splitlines())


def test_entry_without_sidecar_is_kept_from_the_readme(tmp_path):
    out = tmp_path / "out"
    run(SPECS, all_specs=SPECS, preset="quick", out_dir=out, cache_dir=None, progress=False)
    readme = out / "README.md"
    gamma = readme.read_text().split("### gamma")[1]
    (out / "data" / "gamma.json").unlink()            # e.g. a gallery written before sidecars were kept
    (out / "data" / "alpha.json").unlink()
    run([SPECS[0]], all_specs=SPECS, preset="medium", out_dir=out, cache_dir=None, progress=False)
    text = readme.read_text()
    assert _entries(readme) == ["alpha", "beta", "gamma"]
    assert text.split("### gamma")[1] == gamma
    assert f"Redraw: `python paper_figs.py --preset medium --only alpha --out {out.as_posix()}`" in text
    assert "Preset `medium`" in text.split("### beta")[0]


def test_figure_never_drawn_has_no_entry(tmp_path):
    out = tmp_path / "out"
    run([SPECS[2]], all_specs=SPECS, preset="tiny", out_dir=out, cache_dir=None, progress=False)
    assert _entries(out / "README.md") == ["gamma"]
    write_gallery(SPECS, out)
    assert _entries(out / "README.md") == ["gamma"]


@pytest.mark.parametrize("preset, command", [("quick", "python paper_figs.py --only x"),
                                             ("full", "python paper_figs.py --full --only x"),
                                             ("medium", "python paper_figs.py --preset medium --only x")])
def test_redraw_command_names_the_preset(preset, command):
    assert redraw_command("x", preset) == command


def test_gallery_records_the_computing_time_and_keeps_it_on_a_cache_read(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    notes = {"full": "half the draws (reason)."}
    spec = FigureSpec(**{**SPECS[0].__dict__, "preset_notes": notes})
    run([spec], preset="full", out_dir=out, cache_dir=cache, progress=False)
    first = (out / "README.md").read_text()
    runs = [line for line in first.splitlines() if line.startswith("Run: ")]
    assert len(runs) == 1 and runs[0].startswith("Run: computed in ") and "on serial (this process)" in runs[0]
    assert "**Preset `full` reduces:** half the draws (reason)." in first
    run([spec], preset="full", out_dir=out, cache_dir=cache, progress=False)     # read from the cache
    assert (out / "README.md").read_text() == first                              # the computing time stays
    run([spec], preset="quick", out_dir=out, cache_dir=cache, progress=False)    # no note for quick
    assert "reduces:" not in (out / "README.md").read_text()


def test_compare_finds_a_one_ulp_change_and_a_changed_table_but_not_wall_times(tmp_path):
    from figures.compare import differences
    for name in ("a", "b"):
        run([SPECS[0]], preset="quick", out_dir=tmp_path / name, cache_dir=None, progress=False)
    assert differences(tmp_path / "a", tmp_path / "b", "alpha") == []
    path = tmp_path / "b" / "data" / "alpha.npz"
    with np.load(path) as stored:
        arrays = dict(stored)
    arrays["train_seconds"] = np.array(3.0)                  # a measured wall time: left out
    np.savez(path, **arrays)
    assert differences(tmp_path / "a", tmp_path / "b", "alpha") == []
    arrays["x"] = arrays["x"].copy()
    arrays["x"][1] = np.nextafter(arrays["x"][1], 2.0)
    np.savez(path, **arrays)
    assert differences(tmp_path / "a", tmp_path / "b", "alpha") == ["x: values differ"]
    (tmp_path / "b" / "alpha.md").write_text("| other |\n")
    assert differences(tmp_path / "a", tmp_path / "b", "alpha")[-1] == "tables differ"


def test_compare_leaves_out_wall_times_nested_in_json_records(tmp_path):
    # figures.cache keeps lists of run records as JSON text; a record's own seconds may differ
    from figures.compare import differences
    for name, seconds, loss in (("a", 0.25, 1.5), ("b", 0.31, 1.5), ("c", 0.25, 1.5000001)):
        (tmp_path / name / "data").mkdir(parents=True)
        record = json.dumps([{"loss": loss, "xi_c": float("nan"), "seconds": [seconds], "init_seconds": seconds}])
        np.savez(tmp_path / name / "data" / "alpha.npz", **{"json:runs": np.array(record)})
        (tmp_path / name / "data" / "alpha.json").write_text(json.dumps({"files": []}))
    assert differences(tmp_path / "a", tmp_path / "b", "alpha") == []
    assert differences(tmp_path / "a", tmp_path / "c", "alpha") == ["json:runs: values differ"]


def test_compare_leaves_out_wall_time_columns_of_tables(tmp_path):
    from figures.compare import differences
    rows = {"a": ("0.031", "12", "92.1"), "b": ("0.046", "15", "92.1"), "c": ("0.031", "12", "92.2")}
    for name, (per_iteration, train_s, accuracy) in rows.items():
        (tmp_path / name / "data").mkdir(parents=True)
        np.savez(tmp_path / name / "data" / "alpha.npz", x=np.zeros(2))
        (tmp_path / name / "data" / "alpha.json").write_text(json.dumps({"files": ["alpha.md", "alpha.csv"]}))
        (tmp_path / name / "alpha.md").write_text(
            "Budget: s/it is wall time.\n\n| init | s/it | train s depth 10 | accuracy | init s | seeds |\n"
            f"|---|---|---|---|---|---|\n| kaiming | {per_iteration} | {train_s} | {accuracy} | {train_s} | 3 |\n")
        (tmp_path / name / "alpha.csv").write_text(f"init,seconds,accuracy\nkaiming,{train_s},{accuracy}\n")
    assert differences(tmp_path / "a", tmp_path / "b", "alpha") == []
    assert differences(tmp_path / "a", tmp_path / "c", "alpha") == ["tables differ"]
