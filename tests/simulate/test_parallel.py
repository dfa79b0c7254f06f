"""simulate.parallel: the same answers serially, in joblib/loky processes and on a Dask cluster
(scheduler and workers as real processes over TCP on localhost); a worker killed mid-sweep loses
nothing; the cache is written once per entry and never left corrupt; without Dask, a clear error
naming the extra. Every comparison is bit for bit (no tolerance: the same seeds must give the same
float32/float64 numbers wherever they run)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from figures.cache import Cache, make_key
from figures.context import Context
from simulate import monte_carlo, sweep
from simulate.parallel import (Executor, MissingExtraError, check_scheduler, map_tasks, probe_scheduler,
                               task_seed)

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(draws=3, steps=2, batch=4, beta=0.5)
GRID = (["micheli", "kaiming"], [3], [40, 60], [1.0])
HAVE_DASK = importlib.util.find_spec("distributed") is not None

def needs_dask(test):
    """Marks a test that needs the distributed extra: ``extra``, and skipped without Dask."""
    skip = pytest.mark.skipif(not HAVE_DASK, reason='Dask not installed (pip install ".[distributed]")')
    return pytest.mark.extra(skip(test))


def mc_task(item: dict) -> dict:
    """One Monte Carlo point of a cached sweep: its seed comes from its parameters."""
    mc = monte_carlo(item["init"], item["depth"], item["width"], threshold=1.0, steps=item["steps"], batch=8,
                     beta=0.5, draws=item["draws"], seed=task_seed(7, item))
    return {"rate_draws": mc.rate_draws, "mem_var_draws": mc.mem_var_draws}


def _items(count, depth=4, width=120, draws=3, steps=3):
    return [dict(init="micheli", depth=depth, width=width + 10 * k, draws=draws, steps=steps) for k in range(count)]


def assert_same_sweep(a, b):
    assert [p for p, _ in a] == [p for p, _ in b]
    for (_, x), (_, y) in zip(a, b):
        for name in ("rate_draws", "mem_mean_draws", "mem_var_draws"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))


def assert_same_results(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert set(x) == set(y)
        for name in x:
            np.testing.assert_array_equal(x[name], y[name])


def assert_cache_clean(directory: Path, kind: str, version: str, items):
    """One readable entry per item, under its own key, and nothing else (no temporary file, no
    second copy)."""
    files = sorted(p.name for p in directory.iterdir())
    cache = Cache(directory)
    expected = sorted(cache.path(kind, make_key(kind, version, item)).name for item in items)
    assert files == expected
    for item in items:
        assert cache.load(kind, make_key(kind, version, item)) is not None


@pytest.fixture(scope="module")
def serial_sweep():
    return sweep(*GRID, seed=4, progress=False, **SMALL)


# ------------------------------------------------------------------ seeds
def test_task_seed_comes_from_the_parameters_not_the_position():
    a = task_seed(3, dict(depth=2, init="micheli"))
    b = task_seed(3, dict(init="micheli", depth=2))          # key order does not matter
    assert a.generate_state(4).tolist() == b.generate_state(4).tolist()
    for other in (task_seed(4, dict(depth=2, init="micheli")), task_seed(3, dict(depth=3, init="micheli"))):
        assert a.generate_state(4).tolist() != other.generate_state(4).tolist()
    root = np.random.SeedSequence(3, spawn_key=(1,))
    assert task_seed(root, {"a": 1}).spawn_key[:1] == (1,) and task_seed(root, {"a": 1}).entropy == 3
    with pytest.raises(ValueError, match="seed"):
        task_seed(-1, {})


# ------------------------------------------------------------------ joblib
def test_joblib_two_processes_equal_serial(serial_sweep):
    assert_same_sweep(serial_sweep, sweep(*GRID, seed=4, progress=False, jobs=2, **SMALL))
    items = _items(3, depth=2, width=30)
    expected = map_tasks(mc_task, items)
    seen = []
    with Executor(jobs=2) as executor:      # results handed over as they arrive, kept in item order
        assert_same_results(executor.map(mc_task, items, on_result=lambda i, r: seen.append(i) or r), expected)
        assert sorted(seen) == [0, 1, 2]
        with pytest.raises(ValueError, match="depth"):      # a task's error reaches the caller
            executor.map(mc_task, [dict(items[0], depth=-1)] * 2)


def _loky_workers():
    """pids of this process's loky worker processes (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"LokyProcess" in cmdline:
            pids.append(int(entry.name))
    return pids


def _kill_when_some_done(directory: Path, total: int, kill, timeout=300.0):
    """A thread that waits until at least one but not every cache entry exists, then calls kill();
    returns (what it saw then, the thread)."""
    seen = {"killed": False, "entries": None}
    deadline = time.monotonic() + timeout

    def watch():
        while time.monotonic() < deadline:
            count = len(list(directory.glob("*.npz"))) if directory.exists() else 0
            if 1 <= count < total:
                seen["entries"] = count
                seen["killed"] = kill()
                return
            if count >= total:
                return
            time.sleep(0.02)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return seen, thread


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds loky workers through /proc")
def test_joblib_worker_killed_mid_sweep_reruns_its_tasks(tmp_path):
    """loky aborts the call when a worker dies (TerminatedWorkerError); the Executor keeps the
    results already stored and runs the unfinished tasks again in a fresh pool."""
    items = _items(8)
    expected = [mc_task(item) for item in items]
    map_tasks(mc_task, _items(2, depth=1, width=10), jobs=2)      # workers up, kernels loaded

    def kill():
        workers = _loky_workers()
        if not workers:
            return False
        os.kill(workers[0], signal.SIGKILL)
        return True
    seen, watcher = _kill_when_some_done(tmp_path / "cache", len(items), kill)
    ctx = Context(Cache(tmp_path / "cache"), jobs=2, progress=False)
    with pytest.warns(RuntimeWarning, match="worker process died"):
        results = ctx.map(mc_task, items, version="k")
    watcher.join()
    assert seen["killed"] and 1 <= seen["entries"] < len(items)
    assert_same_results(results, expected)
    assert ctx.computed == len(items)
    from figures.cache import code_version
    assert_cache_clean(tmp_path / "cache", f"{__name__}.mc_task", f"k-{code_version(__name__)}", items)


class _StopAfter(Cache):
    """A cache whose run is interrupted (KeyboardInterrupt) right after its n-th store."""

    def __init__(self, directory, n):
        super().__init__(directory)
        self.left = n

    def store(self, kind, key, data):
        stored = super().store(kind, key, data)
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt
        return stored


def test_interrupted_map_resumes_from_the_cache(tmp_path):
    """A map interrupted after two results keeps them; the next run computes only the rest."""
    items = _items(4, depth=1, width=20)
    with pytest.raises(KeyboardInterrupt):
        Context(_StopAfter(tmp_path, 2), progress=False).map(mc_task, items)
    assert len(list(tmp_path.iterdir())) == 2
    again = Context(Cache(tmp_path), progress=False)
    assert_same_results(again.map(mc_task, items), [mc_task(item) for item in items])
    assert (again.reused, again.computed) == (2, 2)


# ------------------------------------------------------------------ without Dask
def test_without_dask_a_scheduler_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)       # import distributed -> ImportError
    for call in (lambda: Executor(scheduler="local"), lambda: check_scheduler("tcp://127.0.0.1:8786"),
                 lambda: monte_carlo("micheli", 1, 10, draws=2, scheduler="local"),
                 lambda: sweep(["micheli"], [1], [10], [1.0], draws=2, scheduler="local", progress=False)):
        with pytest.raises(MissingExtraError, match=r"\[distributed\]"):
            call()
    import paper_figs
    with pytest.raises(SystemExit) as stop:
        paper_figs.main(["--scheduler", "local", "--only", "theory_weight_scale", "--quiet"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and ".[distributed]" in err and "Traceback" not in err


@pytest.mark.parametrize("scheduler, jobs", [("tcp:/nohost", 1), ("8786", 1), (3, 1), ("tcp://h:1", 2)])
def test_bad_scheduler_or_jobs_raise_value_error(scheduler, jobs):
    with pytest.raises(ValueError, match="scheduler|jobs"):
        Executor(jobs, scheduler)


def test_paper_figs_bad_scheduler_is_one_line_exit_2():
    run = subprocess.run([sys.executable, "paper_figs.py", "--scheduler", "somewhere", "--quiet"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "scheduler" in run.stderr and "Traceback" not in run.stderr


# ------------------------------------------------------------------ a wrong scheduler address
_BANNERS = {"ssh": b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n",
            "http": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"}


@pytest.fixture
def fake_service():
    """start(mode) -> "tcp://127.0.0.1:PORT" of a local service that is not a Dask scheduler:
    "silent" accepts and never answers, "ssh"/"http" greet with a banner, "hangup" closes at
    once, "closed" is a port where nothing listens. Servers stop with the test."""
    servers = []

    def start(mode):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        if mode == "closed":
            srv.close()
            return f"tcp://127.0.0.1:{port}"
        srv.listen(16)
        servers.append(srv)
        held = []

        def serve():
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                held.append(conn)           # silent: keep it open, say nothing
                if mode in _BANNERS:
                    conn.sendall(_BANNERS[mode])
                elif mode == "hangup":
                    conn.close()
        threading.Thread(target=serve, daemon=True).start()
        return f"tcp://127.0.0.1:{port}"
    yield start
    for srv in servers:
        srv.close()


_FOUND = {"silent": "sent nothing within", "ssh": "not a Dask scheduler.*SSH-2.0-OpenSSH",
          "http": "not a Dask scheduler.*HTTP/1.1 400", "hangup": "closed it without a word",
          "closed": "nothing listens.*connection refused"}


@pytest.mark.parametrize("mode", sorted(_FOUND))
def test_probe_says_what_is_at_a_wrong_address_within_seconds(fake_service, mode, monkeypatch):
    """Plain sockets, no Dask needed: one line saying what answered (or did not), within the
    probe's timeout (the silent service costs exactly that)."""
    address = fake_service(mode)
    start = time.monotonic()
    with pytest.raises(ValueError, match=f"^scheduler: .*{_FOUND[mode]}") as error:
        probe_scheduler(address, timeout=1.0)
    assert time.monotonic() - start < 3 and "\n" not in str(error.value) and address in str(error.value)


def test_probe_of_an_unreachable_host_stops_at_its_timeout(monkeypatch):
    """A host that drops the connection (a firewall, a machine that is down): the connect waits
    for the probe's timeout, not Dask's 30 s (simulated: this sandbox refuses at once)."""
    import simulate.parallel as parallel

    class Dropping(socket.socket):
        def connect(self, address):
            time.sleep(min(self.gettimeout(), 0.5))
            raise TimeoutError("timed out")
    monkeypatch.setattr(parallel.socket, "socket", Dropping)
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"^scheduler: no answer from tcp://192\.0\.2\.1:8786 within 0\.5 s"):
        probe_scheduler("tcp://192.0.2.1:8786", timeout=0.5)
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("address, fragment", [("tcp://nosuchhost.invalid:8786", "cannot resolve the host"),
                                               ("tcp://127.0.0.1:99999", "PORT in 1..65535"),
                                               ("tcp://127.0.0.1:x", "PORT in 1..65535"),
                                               ("local", "address"), (None, "address")])
def test_probe_refuses_unresolvable_or_malformed_addresses(address, fragment):
    start = time.monotonic()
    with pytest.raises(ValueError, match=fragment):
        probe_scheduler(address, timeout=2.0)
    assert time.monotonic() - start < 4
    with pytest.raises(ValueError, match="timeout"):
        probe_scheduler("tcp://127.0.0.1:8786", timeout=0.0)


@needs_dask
@pytest.mark.parametrize("mode", sorted(_FOUND))
def test_executor_client_and_check_scheduler_fail_fast_on_a_wrong_address(fake_service, mode, monkeypatch):
    """Was: minutes of hanging (silent), ArrayMemoryError from the Dask client reading a banner
    as a frame length (ssh), 30 s (closed). Now the probe answers first, within its timeout."""
    import simulate.parallel as parallel
    monkeypatch.setattr(parallel, "PROBE_SECONDS", 1.0)
    address = fake_service(mode)
    for call in (lambda: Executor(scheduler=address).client(), lambda: check_scheduler(address, connect=True)):
        start = time.monotonic()
        with pytest.raises(ValueError, match=_FOUND[mode]):
            call()
        assert time.monotonic() - start < 5
    assert check_scheduler(address) == address        # the form alone: no connection


@needs_dask
@pytest.mark.parametrize("mode", ["silent", "ssh", "closed"])
def test_paper_figs_wrong_scheduler_address_is_one_line_exit_2_within_seconds(fake_service, mode):
    address = fake_service(mode)
    start = time.monotonic()
    run = subprocess.run([sys.executable, "paper_figs.py", "--scheduler", address, "--only", "theory_weight_scale",
                          "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr and address in run.stderr, run.stderr
    import re
    assert re.search(_FOUND[mode], run.stderr), run.stderr
    assert seconds < 60                                 # the probe's 5 s plus the interpreter's start


# ------------------------------------------------------------------ Dask over TCP
@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes (one thread each, no nanny, so a killed
    worker stays dead) on localhost over TCP. Yields (address, worker processes)."""
    if not HAVE_DASK:
        pytest.skip('Dask not installed (pip install ".[distributed]")')
    dask = shutil.which("dask") or str(Path(sys.executable).parent / "dask")
    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    logs = open(folder / "log.txt", "w")
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(file)], cwd=ROOT, env=env, stdout=logs, stderr=logs)]
    try:
        deadline = time.monotonic() + 120
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert file.exists(), (folder / "log.txt").read_text()
        workers = [subprocess.Popen([dask, "worker", "--scheduler-file", str(file), "--nthreads", "1", "--no-nanny",
                                     "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{k}"], cwd=ROOT, env=env,
                                    stdout=logs, stderr=logs) for k in range(2)]
        processes += workers
        import json

        from distributed import Client
        address = json.loads(file.read_text())["address"]
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
        logs.close()


@needs_dask
def test_dask_cluster_of_two_worker_processes_equals_serial(dask_cluster, serial_sweep):
    address, workers = dask_cluster
    assert probe_scheduler(address) == f"{address}: a Dask scheduler"
    assert all(worker.poll() is None for worker in workers)
    assert_same_sweep(serial_sweep, sweep(*GRID, seed=4, progress=False, scheduler=address, **SMALL))
    with Executor(scheduler=address) as executor:
        ran_on = executor.client().run(os.getpid)
        assert sorted(ran_on.values()) == sorted(worker.pid for worker in workers)
        mc = monte_carlo("micheli", 3, 50, seed=2, scheduler=executor, **SMALL)
    np.testing.assert_array_equal(mc.rate_draws, monte_carlo("micheli", 3, 50, seed=2, **SMALL).rate_draws)


@needs_dask
@pytest.mark.slow
def test_dask_worker_killed_mid_sweep_loses_nothing(dask_cluster, tmp_path):
    """SIGKILL one of the two workers once the sweep has stored a result: the scheduler runs its
    tasks on the other; the results equal the serial ones; one clean cache entry per item.
    Runs last in this module (the cluster has one worker afterwards)."""
    address, workers = dask_cluster
    items = _items(8)
    expected = [mc_task(item) for item in items]
    with Executor(scheduler=address) as executor:
        executor.map(mc_task, _items(2, depth=1, width=10))       # both workers loaded the kernels

        def kill():
            workers[1].send_signal(signal.SIGKILL)
            return True
        seen, watcher = _kill_when_some_done(tmp_path / "cache", len(items), kill)
        ctx = Context(Cache(tmp_path / "cache"), progress=False, executor=executor)
        results = ctx.map(mc_task, items, version="k")
        watcher.join()
        assert len(executor.client().scheduler_info()["workers"]) == 1
    assert seen["killed"] and 1 <= seen["entries"] < len(items) and workers[1].wait(timeout=30) != 0
    assert_same_results(results, expected)
    from figures.cache import code_version
    assert_cache_clean(tmp_path / "cache", f"{__name__}.mc_task", f"k-{code_version(__name__)}", items)


@needs_dask
@pytest.mark.slow
def test_local_cluster_equals_serial(serial_sweep):
    assert_same_sweep(serial_sweep, sweep(*GRID, seed=4, progress=False, jobs=2, scheduler="local", **SMALL))


# ------------------------------------------------------------------ the workers' memory allocator
@needs_dask
def test_local_cluster_workers_run_without_dasks_malloc_trim_threshold():
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 by default, which makes a Monte Carlo task
    cost about 1.5x its CPU time (page faults on every large array); the local cluster drops it."""
    from simulate.parallel import _trim_threshold
    with Executor(1, "local") as executor:
        assert set(executor.client().run(_trim_threshold).values()) == {None}


@needs_dask
def test_remote_workers_with_the_trim_threshold_draw_a_warning_naming_the_fix():
    from simulate.parallel import DASK_WORKER_ENV, _trim_threshold, code_fingerprint

    class Client:
        def run(self, func):
            return {"tcp://a:1": code_fingerprint(), "tcp://b:1": code_fingerprint()} if func is code_fingerprint \
                else {"tcp://a:1": None, "tcp://b:1": "65536"} if func is _trim_threshold else pytest.fail()

    executor = Executor(scheduler="tcp://a:8786")
    executor._client = Client()
    with pytest.warns(RuntimeWarning, match=r"tcp://b:1.*MALLOC_TRIM_THRESHOLD_") as record:
        executor._check_workers()
    assert DASK_WORKER_ENV in str(record[0].message) and "tcp://a:1" not in str(record[0].message)
    executor._client = None


def blas_task(seed):
    """A long dot product: OpenBLAS splits it over its threads, which changes the rounding."""
    x = np.random.default_rng(seed).standard_normal(200_000)
    return float(x @ x)


def test_blas_reductions_give_the_same_bits_serially_and_in_processes():
    """Serial tasks run in this process, whose BLAS may use several threads; worker tasks in
    processes limited to fewer. Every task runs with one BLAS thread, so the bits agree (without
    the limit, a multi-threaded OpenBLAS splits the sum and most such sums differ in the last bits;
    on a one-core machine the test cannot tell the two apart)."""
    items = list(range(12))
    serial = Executor(1).map(blas_task, items)
    with Executor(2) as executor:
        assert executor.map(blas_task, items) == serial
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        assert [blas_task(i) for i in items] == serial
