"""The figure pipeline: cache keys, atomic/corrupt/stale cache entries, resumption, outputs."""
import numpy as np
import pytest

import paper_figs
from figures import all_figures
from figures._spec import FigureSpec
from figures.cache import Cache, make_key, save_npz
from figures.context import Context
from figures.runner import render, write_gallery

CALLS = []


def square(item):
    CALLS.append(item["x"])
    if item.get("fail_at") == item["x"]:
        raise KeyboardInterrupt("simulated interruption")
    return {"y": np.array([item["x"] ** 2])}


def test_key_changes_with_parameters_and_version():
    base = make_key("fig", "1", {"a": 1, "b": [1, 2]})
    assert base == make_key("fig", "1", {"b": [1, 2], "a": 1})  # order-free
    assert base != make_key("fig", "1", {"a": 2, "b": [1, 2]})
    assert base != make_key("fig", "2", {"a": 1, "b": [1, 2]})
    assert base != make_key("other", "1", {"a": 1, "b": [1, 2]})


def test_roundtrip_and_corrupt_or_stale_entries_are_recomputed(tmp_path):
    cache = Cache(tmp_path)
    calls = []

    def compute(params):
        calls.append(1)
        return {"arr": np.arange(3.0), "meta": {"k": [1, 2]}, "text": "hi"}

    data, hit = cache.get_or_compute("fig", "1", {"p": 1}, compute)
    assert not hit and data["meta"] == {"k": [1, 2]} and data["text"] == "hi"
    np.testing.assert_array_equal(data["arr"], np.arange(3.0))
    _, hit = cache.get_or_compute("fig", "1", {"p": 1}, compute)
    assert hit and len(calls) == 1
    path = cache.path("fig", make_key("fig", "1", {"p": 1}))
    path.write_bytes(path.read_bytes()[:40])  # truncated file = corrupt entry
    _, hit = cache.get_or_compute("fig", "1", {"p": 1}, compute)
    assert not hit and len(calls) == 2
    # an entry stored under another key at the same file name (stale) is not used
    key = make_key("fig", "1", {"p": 1})
    save_npz(path, {"arr": np.zeros(1)}, key="something-else")
    assert cache.load("fig", key) is None


def test_interrupted_map_resumes_where_it_stopped(tmp_path):
    ctx = Context(Cache(tmp_path), progress=False)
    items = [{"x": x, "fail_at": 3} for x in range(6)]
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        ctx.map(square, items)
    assert CALLS == [0, 1, 2, 3]
    CALLS.clear()
    items = [{"x": x, "fail_at": 3} if x < 3 else {"x": x} for x in range(6)]
    ctx = Context(Cache(tmp_path), progress=False)
    results = ctx.map(square, items)
    assert CALLS == [3, 4, 5]  # 0..2 came from the cache
    assert ctx.reused == 3 and ctx.computed == 3
    assert [int(r["y"][0]) for r in results] == [x * x for x in range(6)]


def test_parallel_map_equals_serial(tmp_path):
    items = [{"x": x} for x in range(4)]
    serial = Context(Cache(None), jobs=1, progress=False).map(square, items)
    parallel = Context(Cache(tmp_path), jobs=2, progress=False).map(square, items)
    assert [int(r["y"][0]) for r in serial] == [int(r["y"][0]) for r in parallel]


def _toy_spec(counter):
    import matplotlib.pyplot as plt

    def compute(params, ctx):
        counter.append(1)
        return {"x": np.linspace(0, 1, params["n"])}

    def plot(data, params):
        fig, ax = plt.subplots()
        ax.plot(data["x"])
        return fig

    return FigureSpec(name="toy", caption="A toy.", compute=compute, plot=plot,
                      presets={"quick": {"n": 5}, "tiny": {"n": 3}},
                      tables=lambda d, p: {"toy.md": "| a |\n|---|\n| 1 |\n", "toy.csv": "a\n1\n"},
                      agreement=lambda d, p: "perfect")


def test_render_writes_png_pdf_data_tables_and_gallery(tmp_path):
    counter = []
    spec = _toy_spec(counter)
    cache = Cache(tmp_path / "cache")
    first = render(spec, "tiny", tmp_path / "out", cache, progress=False)
    second = render(spec, "tiny", tmp_path / "out", cache, progress=False)
    assert not first.from_cache and second.from_cache and len(counter) == 1
    for name in ("toy.png", "toy.pdf", "data/toy.npz", "toy.md", "toy.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    gallery = write_gallery([spec], tmp_path / "out").read_text()
    assert "toy.png" in gallery and "perfect" in gallery and "--only toy" in gallery


def test_every_figure_has_the_presets_and_a_caption():
    specs = all_figures()
    assert len(specs) >= 3
    for spec in specs:
        assert spec.caption and set(spec.presets) >= {"quick", "full", "tiny"}, spec.name


def test_cli_list_and_bad_only(capsys):
    assert paper_figs.main(["--list"]) == 0
    assert "theory_length_map" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        paper_figs.main(["--only", "no_such_figure"])


@pytest.mark.parametrize("only", ["", " ", "theory_length_map,,theory_weight_scale", "theory_length_map,"])
def test_cli_empty_only_name_is_an_error(only, capsys, monkeypatch):
    """--only '' used to draw every figure: an empty name is a mistake (one line, exit 2)."""
    monkeypatch.setattr(paper_figs, "run", lambda *a, **k: pytest.fail("figures drawn despite a bad --only"))
    with pytest.raises(SystemExit) as stop:
        paper_figs.main(["--only", only])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--only: empty figure name" in err[0]


def test_cli_duplicate_only_name_is_drawn_once(tmp_path, monkeypatch):
    chosen = []
    monkeypatch.setattr(paper_figs, "run", lambda specs, **k: chosen.extend(s.name for s in specs) or [])
    assert paper_figs.main(["--only", "theory_length_map,theory_weight_scale,theory_length_map",
                            "--out", str(tmp_path / "out"), "--no-cache", "--quiet"]) == 0
    assert chosen == ["theory_length_map", "theory_weight_scale"]


def test_cli_unusable_out_folder_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(paper_figs, "run", lambda *a, **k: pytest.fail("figures drawn despite a bad --out"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as stop:
        paper_figs.main(["--only", "theory_length_map", "--out", str(blocker / "out"), "--no-cache"])
    assert stop.value.code == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_cache_files_keep_the_users_umask(tmp_path, umask):
    """mkstemp creates 0600; a cache entry gets the mode open() would give: 0666 & ~umask."""
    import os
    previous = os.umask(umask)
    try:
        save_npz(tmp_path / "entry.npz", {"x": np.ones(2)})
    finally:
        os.umask(previous)
    assert (os.stat(tmp_path / "entry.npz").st_mode & 0o777) == 0o666 & ~umask


def test_code_version_tracks_the_module_source():
    from figures.cache import code_version

    first = code_version("figures.theory_length_map")
    assert len(first) == 12 and first != code_version("figures.theory_depth_profile")
    assert code_version("no.such.module") == "nosource"


def test_code_version_covers_library_and_shared_figure_modules(monkeypatch):
    """A change in simulate/ or theory/, or in a figures module the figure borrows code from
    (training_robustness and temporal_rate_vs_beta use figures.common), must change the key."""
    import inspect

    import figures.common
    from figures import cache

    real = cache._source_hash.__wrapped__
    robustness = cache.code_version("figures.training_robustness")
    length_map = cache.code_version("figures.theory_length_map")
    shared = inspect.getsourcefile(figures.common)
    monkeypatch.setattr(cache, "_source_hash", lambda p: real(p) + ("x" if p == shared else ""))
    assert cache.code_version("figures.training_robustness") != robustness
    assert cache.code_version("figures.theory_length_map") == length_map  # unrelated figure kept
    monkeypatch.setattr(cache, "_source_hash", lambda p: real(p) + ("x" if p.endswith("kernels.py") else ""))
    monkeypatch.setattr(cache, "_library_version", cache._library_version.__wrapped__)
    assert cache.code_version("figures.theory_length_map") != length_map
