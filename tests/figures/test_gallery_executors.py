"""The same gallery whatever runs it: a preset drawn serially, in 2 local processes
(joblib) and on a local Dask cluster of 2 worker processes, each with its own empty cache, gives
data files equal array by array, bit for bit, and identical tables (figures.compare.differences).
Only measured wall times (keys naming seconds, also inside JSON run records, table columns of
seconds, the gallery's "Run:" lines) may differ; they are left out of the comparison."""
import pytest

from figures import all_figures
from figures.compare import differences, without_wall_time_columns
from figures.runner import run, without_timings
from simulate.parallel import Executor

try:
    import distributed  # noqa: F401
    HAVE_DASK = True
except ImportError:
    HAVE_DASK = False

# cheap tiny presets that draw random numbers in their sub-steps (Monte Carlo, chains, training)
QUICK_SET = ("sim_depth_propagation", "gradient_norms", "finite_width_survival", "trainability_phase")


def _draw(names, folder, executor):
    specs = [spec for spec in all_figures() if spec.name in names]
    with executor:
        run(specs, preset="tiny", out_dir=folder / "out", cache_dir=folder / "cache", progress=False,
            executor=executor)
    return folder / "out"


def _assert_same_gallery(reference, other):
    names = sorted(path.stem for path in (reference / "data").glob("*.npz"))
    assert names == sorted(path.stem for path in (other / "data").glob("*.npz"))
    for name in names:
        assert differences(reference, other, name) == [], name
    # the folders differ by name only: the redraw commands name each its own
    # (tables copied into the gallery keep their wall-time columns there too)
    readme = [without_timings(without_wall_time_columns((out / "README.md").read_text(), "|")
                              .replace(out.as_posix(), "OUT")) for out in (reference, other)]
    assert readme[0] == readme[1]


def _executors():
    kinds = [("joblib", lambda: Executor(2))]
    if HAVE_DASK:
        kinds.append(("dask", lambda: Executor(2, "local")))
    return kinds


@pytest.fixture(scope="module")
def serial_quick_set(tmp_path_factory):
    """QUICK_SET drawn serially once for every executor compared with it."""
    return _draw(QUICK_SET, tmp_path_factory.mktemp("serial"), Executor(1))


# a local Dask cluster takes most of its comparison's 25 s to start: in the slow run (with the
# whole tiny gallery below); the default run compares local processes
@pytest.mark.parametrize("kind,make", [pytest.param(k, m, marks=pytest.mark.slow) if k == "dask" else (k, m)
                                       for k, m in _executors()], ids=[k for k, _ in _executors()])
def test_same_gallery_serial_and_parallel(kind, make, serial_quick_set, tmp_path):
    _assert_same_gallery(serial_quick_set, _draw(QUICK_SET, tmp_path / kind, make()))


@pytest.mark.slow
def test_whole_tiny_gallery_same_on_every_executor(tmp_path):
    names = [spec.name for spec in all_figures()]
    serial = _draw(names, tmp_path / "serial", Executor(1))
    for kind, make in _executors():
        _assert_same_gallery(serial, _draw(names, tmp_path / kind, make()))
