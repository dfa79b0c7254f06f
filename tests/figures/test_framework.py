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
    assert len(first) == 12 and first != code_version("figures.theory_weight_scale")
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


def test_code_version_of_a_compute_function_ignores_drawing_code(monkeypatch):
    """In a figures module the cached data depend on the code the computing function reaches,
    not on the caption, plot or tables: editing those keeps the cache; editing a helper or a
    constant that compute uses, or an import, does not."""
    import inspect

    from figures import cache, trainability_phase

    source = inspect.getsource(trainability_phase)
    real = inspect.getsource

    def with_source(text):
        monkeypatch.setattr(inspect, "getsource", lambda obj: text if obj is trainability_phase else real(obj))
        return cache.code_version("figures.trainability_phase", "compute")

    base = with_source(source)
    assert base == cache.code_version("figures.trainability_phase", "compute")
    edits_kept = [source.replace("def plot(data, params):\n", "def plot(data, params):\n    pass\n"),
                  source.replace('How deep can a spiking MLP be trained?', 'How deep?'),
                  source.replace("def tables(data, params):\n", "def tables(data, params):  # note\n"),
                  source.replace('"""Trainability phase diagram', '"""Phase diagram')]
    for edited in edits_kept:
        assert edited != source and with_source(edited) == base
    edits_changed = [source.replace("TRAINS = 0.2", "TRAINS = 0.3"),
                     source.replace("STARTS_STEPS, STARTS_WINDOW, STARTS_MARGIN = 50, 10, 0.1",
                                    "STARTS_STEPS, STARTS_WINDOW, STARTS_MARGIN = 50, 10, 0.2"),
                     source.replace('return {"test_accuracy": result["test_accuracy"],',
                                    'return {"test_accuracy": result["test_accuracy"][:],'),
                     source.replace("import numpy as np\n", "import numpy as np\nimport math\n")]
    for edited in edits_changed[:3]:
        assert edited != source and with_source(edited) != base
    # a new import that compute does not use changes nothing; the whole module without an entry does
    assert with_source(edits_changed[3]) == base
    assert cache.code_version("figures.trainability_phase") != base


def test_code_version_of_other_modules_is_the_whole_module():
    from figures.cache import code_version

    assert code_version(__name__, "square") == code_version(__name__)


def test_cli_jobs_defaults_to_the_cores_this_process_may_use(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(paper_figs.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(paper_figs, "run", lambda specs, executor=None, **k: seen.append(executor.jobs) or [])
    args = ["--only", "theory_length_map", "--out", str(tmp_path / "out"), "--no-cache", "--quiet"]
    assert paper_figs.main(args) == 0 and seen == [3]
    assert paper_figs.main(args + ["--jobs", "1"]) == 0 and seen == [3, 1]


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
def test_cli_folder_that_exists_but_cannot_be_written_fails_before_any_work(option, tmp_path, capsys, monkeypatch):
    """A folder that exists but refuses new files: one line, exit 2, nothing computed. Permission
    bits do not stop root, so the refusal is simulated where files are created (the probe)."""
    import tempfile
    folder = tmp_path / "locked"
    folder.mkdir()
    real = tempfile.NamedTemporaryFile

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(folder)):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.setattr(paper_figs, "run", lambda *a, **k: pytest.fail("figures drawn despite an unwritable folder"))
    other = "--cache-dir" if option == "--out" else "--out"
    with pytest.raises(SystemExit) as stop:
        paper_figs.main(["--only", "theory_length_map", option, str(folder), other, str(tmp_path / "other")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and "cannot write there (Permission denied)" in err[0]


def test_cli_unwritable_folder_really_refused_when_not_root(tmp_path, capsys, monkeypatch):
    import os
    if os.geteuid() == 0:
        pytest.skip("permission bits do not stop root")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    monkeypatch.setattr(paper_figs, "run", lambda *a, **k: pytest.fail("figures drawn despite an unwritable folder"))
    try:
        with pytest.raises(SystemExit) as stop:
            paper_figs.main(["--only", "theory_length_map", "--out", str(folder), "--no-cache"])
    finally:
        folder.chmod(0o755)
    assert stop.value.code == 2 and "--out" in capsys.readouterr().err


def test_cli_says_how_long_the_run_will_take(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(paper_figs, "run", lambda *a, **k: [])
    assert paper_figs.main(["--only", "theory_length_map,theory_weight_scale", "--out", str(tmp_path / "o"),
                            "--cache-dir", str(tmp_path / "c"), "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "2 figure(s), preset quick: 2 to compute, 0 from the cache; expected about" in first


def test_estimate_counts_cached_figures_as_a_redraw(tmp_path):
    from figures.runner import REDRAW_SECONDS, estimate
    counter = []
    spec = FigureSpec(**{**_toy_spec(counter).__dict__, "expected_seconds": {"tiny": 50}})
    cache = Cache(tmp_path / "cache")
    assert estimate([spec], "tiny", cache) == {"seconds": 50, "to_compute": ["toy"], "cached": [], "unknown": []}
    render(spec, "tiny", tmp_path / "out", cache, progress=False)
    assert estimate([spec], "tiny", cache)["seconds"] == REDRAW_SECONDS
    assert estimate([spec], "quick", cache)["unknown"] == ["toy"]


def test_one_progress_line_for_the_gallery(tmp_path, capsys):
    from figures.runner import run
    counter = []
    run([_toy_spec(counter)], preset="tiny", out_dir=tmp_path / "out", cache_dir=tmp_path / "c", progress=True)
    err = capsys.readouterr().err
    assert "gallery" in err and "figure 1/1 toy" in err


def test_a_figure_whose_extra_is_missing_is_skipped_with_the_install_command(monkeypatch, tmp_path, capsys):
    """paper_figs skips a figure that needs an absent package and names the command that installs
    it; asked for by name (--only), it stops with one line and exit 2 before any work."""
    import dataclasses
    import paper_figs
    from figures import _spec
    real = paper_figs.all_figures()
    plain = next(s for s in real if not s.needs and "tiny" in s.presets)
    needy = dataclasses.replace(plain, name="needs_absent", needs=("no_such_package_xyz", "torch"))
    monkeypatch.setattr(paper_figs, "all_figures", lambda: [plain, needy])
    assert needy.missing()[0] == "no_such_package_xyz"
    assert "pip install no_such_package_xyz" in needy.install_hint()
    with pytest.raises(SystemExit) as stop:
        paper_figs.main(["--only", "needs_absent", "--preset", "tiny", "--out", str(tmp_path / "a"), "--quiet"])
    assert stop.value.code == 2
    assert "pip install no_such_package_xyz" in capsys.readouterr().err
    assert paper_figs.main(["--preset", "tiny", "--out", str(tmp_path / "b"), "--cache-dir", str(tmp_path / "c"),
                            "--jobs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "skipping needs_absent" in out and "pip install no_such_package_xyz" in out
    assert (tmp_path / "b" / f"{plain.name}.png").exists() and not (tmp_path / "b" / "needs_absent.png").exists()
    assert _spec.INSTALL["spikingjelly"].startswith("pip install --no-deps")
