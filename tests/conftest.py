import os

os.environ.setdefault("MPLBACKEND", "Agg")
# idle OpenMP threads sleep instead of spinning (set by programs, not on import of simulate)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# solved temporal gains go to a folder of this test session, never to the user's own cache
# (hermetic: a stale or foreign cache file cannot decide a result); the shipped table still serves
if "SNN_INIT_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _gain_cache = tempfile.mkdtemp(prefix="snn-init-test-cache-")
    os.environ["SNN_INIT_CACHE"] = _gain_cache
    atexit.register(shutil.rmtree, _gain_cache, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Every test under tests/torch needs the torch extra: mark it ``extra`` (CI runs the
    extras' tests with ``-m extra`` once they are installed; without them they skip)."""
    import pytest
    for item in items:
        if "tests/torch/" in item.nodeid or item.nodeid.startswith("torch/"):
            item.add_marker(pytest.mark.extra)


MAX_WORKERS = 8       # each worker imports numba, scipy and (with the extra) torch: about 0.5 GB


def pytest_xdist_auto_num_workers(config):
    """Workers for ``-n auto`` (pyproject addopts): the cores this process may run on (its CPU
    affinity, which a container's CPU set limits, unlike os.cpu_count()), at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:              # no affinity on this platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))

