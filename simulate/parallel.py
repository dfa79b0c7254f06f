"""Map independent tasks: serially, in local processes (joblib's loky backend), or on a Dask
distributed cluster. The one way the toolkit runs many computations (``simulate.monte_carlo``
and ``sweep``, the figures' cached map, hence ``paper_figs.py`` and the training grids).

    results = map_tasks(func, items, jobs=1, scheduler=None, progress=False, desc=None)

computes ``[func(item) for item in items]`` (in the order of ``items``) with

- ``jobs=1, scheduler=None``: serially, in this process;
- ``jobs=N > 1``: in N local worker processes of joblib's loky backend (fresh interpreters,
  never a fork of this one: a fork after Numba's OpenMP threads started kills the child);
- ``scheduler="tcp://HOST:PORT"``: on the workers of a running Dask distributed scheduler
  (``dask scheduler`` on one machine, ``dask worker tcp://HOST:8786`` on each of the others);
  the address is probed with a plain socket first (:func:`probe_scheduler`, within
  :data:`PROBE_SECONDS`): nothing listening, a service that never answers or one that is not
  Dask is a ValueError saying so, never a hang or a crash inside the Dask client;
- ``scheduler="local"``: a Dask ``LocalCluster`` of ``jobs`` worker processes (one thread each),
  started for the call (or for the life of an :class:`Executor`), for testing the Dask path.

Dask is the optional extra ``pip install "snn-init[distributed]"`` (``pip install
".[distributed]"`` from a checkout); asking for a scheduler without it raises
:class:`MissingExtraError` (an ImportError) naming the extra.

Same answers whatever runs them: ``func`` must be a module-level (picklable) function whose
result depends on ``item`` alone; every task of the toolkit carries its randomness in the item
(a ``numpy.random.SeedSequence`` child, or a seed, derived from the task's parameters), never
from the worker or from the order of completion, so the results are bit-identical for 1 process,
N processes and a Dask cluster of any size (tests/simulate/test_parallel.py).

Progress: one tqdm bar, advanced as each result arrives (``as_completed``), wherever it ran.
Numba threads: a task in a local worker runs cpu_count // jobs Numba threads (at least 1), a
task on a Dask worker one thread (start one single-threaded worker process per core:
``dask worker ADDRESS --nworkers auto --nthreads 1``); the results do not depend on it. BLAS
(numpy's linear algebra) runs one thread in every task, serial ones included: a reduction split
over BLAS threads rounds differently, and the thread count would otherwise differ between this
process, loky workers (cpu_count // jobs) and Dask workers (1).
Compiled kernels are cached on disk (``cache=True``), so each worker process loads them once,
not once per task.

Memory allocator: Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``
(``distributed.nanny.pre-spawn-environ``). That fixes glibc's mmap threshold at 128 KiB, so
every array of a task above it is a fresh ``mmap`` whose pages fault in one by one; a Monte
Carlo task then costs about 1.5 times its CPU time (benchmarks/RESULTS.md). The local cluster
is started without it; workers of a remote cluster that have it set draw a RuntimeWarning
naming :data:`DASK_WORKER_ENV`, the setting to start them with.

Faults: Dask re-runs the tasks of a worker that dies on another worker (up to its
``distributed.scheduler.allowed-failures``, 3 by default, then ``KilledWorker``). joblib/loky
aborts the whole call with ``TerminatedWorkerError`` when a worker dies; :class:`Executor`
catches it, keeps every result already received and runs the unfinished tasks again in a
fresh pool, at most ``retries`` times (a RuntimeWarning says so each time), then re-raises.
A task that raises an ordinary exception is not retried: the exception reaches the caller.
Results already received are handed to ``on_result`` as they arrive, so a caller that stores
them (the figures' cache) loses nothing when the call fails or is interrupted.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterable

import numpy as np
from tqdm.auto import tqdm

import snn_validation as validation

__all__ = ["Executor", "MissingExtraError", "map_tasks", "check_scheduler", "probe_scheduler", "task_seed",
           "DASK_EXTRA", "PROBE_SECONDS"]

DASK_EXTRA = 'pip install "snn-init[distributed]"  (from a checkout: pip install ".[distributed]")'
# the environment for `dask worker` that keeps glibc's adaptive mmap threshold (see the module doc)
DASK_WORKER_ENV = "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None"
_TRIM = "MALLOC_TRIM_THRESHOLD_"
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")
# how long probe_scheduler waits for an address to resolve, accept and greet (a Dask scheduler
# greets within milliseconds of accepting); the Dask client then gets CONNECT_SECONDS
PROBE_SECONDS = 5.0
CONNECT_SECONDS = "10s"
_DASK_PORT = 8786


def _canonical(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"task parameters must be JSON-like (numbers, strings, lists, dicts), got {type(value).__name__}")


def task_seed(seed, params: dict) -> np.random.SeedSequence:
    """The SeedSequence of one task, derived from its parameters, not from its position:

        SeedSequence(entropy = root.entropy, spawn_key = root.spawn_key + (w_1, .., w_4)),

    root = SeedSequence(seed) (or ``seed`` itself when it is a SeedSequence), w_i the four
    leading 32-bit words of sha256(canonical JSON of ``params``, sorted keys). The same
    parameters get the same stream in any grid, order or worker; different parameters get
    independent streams (up to a hash collision, probability ~2^-128 per pair)."""
    if isinstance(seed, np.random.SeedSequence):
        root_entropy, root_key = seed.entropy, tuple(seed.spawn_key)
    else:
        root_entropy, root_key = int(validation.non_negative_int(seed, "seed")), ()
    text = json.dumps(params, sort_keys=True, default=_canonical)
    digest = hashlib.sha256(text.encode()).digest()
    words = tuple(int.from_bytes(digest[4 * i:4 * i + 4], "little") for i in range(4))
    return np.random.SeedSequence(root_entropy, spawn_key=root_key + words)


class MissingExtraError(ImportError):
    """A scheduler was asked for but Dask (the optional extra "distributed") is not importable."""


def _import_dask():
    try:
        import distributed
    except ImportError as error:
        raise MissingExtraError(f"scheduler: Dask is not installed (import failed: {error}); install the "
                                f"optional extra with {DASK_EXTRA}") from None
    return distributed


def _scheduler_form(scheduler) -> str | None:
    """The scheduler if its form is valid (None, "local" or "tcp://HOST:PORT"); ValueError otherwise."""
    if scheduler is None:
        return None
    if not isinstance(scheduler, str) or not (scheduler == "local" or _ADDRESS.match(scheduler)):
        raise ValueError(f"scheduler must be None, 'local' or a Dask scheduler address such as "
                         f"'tcp://HOST:8786', got {scheduler!r}")
    return scheduler


def check_scheduler(scheduler, *, connect: bool = False) -> str | None:
    """Validate a scheduler: None (local), "local" (a Dask LocalCluster) or a Dask address such as
    "tcp://HOST:8786". Raises ValueError for any other value and MissingExtraError when a
    scheduler is asked for and Dask is not installed. ``connect=True`` also probes an address
    (:func:`probe_scheduler`: ValueError within seconds saying what is there if it is not a
    Dask scheduler). Returns the scheduler."""
    scheduler = _scheduler_form(scheduler)
    if scheduler is not None:
        _import_dask()
        if connect and scheduler != "local":
            probe_scheduler(scheduler)
    return scheduler


def _flat(text) -> str:
    """``text`` on one line (an error message of the OS or of Dask may span several)."""
    return " ".join(str(text).split())


def _host_port(address: str):
    """(scheme, host, port) of "scheme://HOST[:PORT]" (Dask's default port 8786 when absent)."""
    scheme, _, rest = address.partition("://")
    if rest.startswith("["):                        # IPv6: [addr] or [addr]:port
        host, bracket, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else (None if not tail else "bad")
        if not bracket:
            port = "bad"
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            host, port = rest, None
    if port is None:
        port = _DASK_PORT
    elif not (port.isdigit() and 0 < int(port) < 65536) or not host:
        raise ValueError(f"scheduler: {address!r} is not an address of the form {scheme}://HOST:PORT "
                         f"(PORT in 1..65535)")
    return scheme, host, int(port)


def _resolve(host: str, port: int, seconds: float):
    """getaddrinfo with a deadline (a resolver may wait much longer than that)."""
    found: dict = {}

    def work():
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            found["error"] = error
    thread = threading.Thread(target=work, daemon=True, name="probe-scheduler-resolve")
    thread.start()
    thread.join(seconds)
    if "infos" in found:
        return found["infos"]
    if "error" in found:
        raise ValueError(f"scheduler: cannot resolve the host {host!r} ({_flat(found['error'])})")
    raise ValueError(f"scheduler: the host {host!r} did not resolve within {seconds:g} s")


def _shown(data: bytes) -> str:
    """The first bytes a service sent, printable."""
    text = data[:48].decode("ascii", "backslashreplace").strip()
    return repr(text + ("..." if len(data) > 48 else ""))


def _dask_greeting(data: bytes) -> bool:
    """Whether ``data`` starts like a Dask TCP message (the handshake a scheduler sends as soon as
    it accepts): a uint64 length (the handshake is a small msgpack message) and a uint64 frame count."""
    (length,) = struct.unpack("=Q", data[:8])
    (frames,) = struct.unpack("=Q", data[8:16])
    return 16 <= length <= 1 << 20 and 1 <= frames <= 1024


def probe_scheduler(scheduler: str, timeout: float | None = None) -> str:
    """Check, within ``timeout`` seconds, that a Dask scheduler answers at ``scheduler``
    ("tcp://HOST:PORT"), with a plain socket before any Dask client touches it: the host
    resolves, the port accepts a connection and (tcp://) the service there greets with a Dask
    handshake frame. Otherwise ValueError, one line saying what was found at the address
    (nothing listening, no answer, a service that does not speak Dask with its first bytes).
    tls:// and ws(s):// are checked up to the connection (their greeting is encrypted or comes
    later); inproc:// and ucx:// are not probed. ``timeout``: seconds (None: :data:`PROBE_SECONDS`).
    Returns a one-line description of the answer. A Dask scheduler logs the probe's connection at
    level INFO ("closed before handshake completed")."""
    scheduler = _scheduler_form(scheduler)
    if scheduler in (None, "local"):
        raise ValueError(f"scheduler must be a Dask scheduler address such as 'tcp://HOST:8786' to probe, "
                         f"got {scheduler!r}")
    timeout = PROBE_SECONDS if timeout is None else float(validation.positive(timeout, "timeout"))
    scheme, host, port = _host_port(scheduler)
    if scheme in ("inproc", "ucx"):
        return f"{scheduler}: not probed ({scheme}://)"
    deadline = time.monotonic() + timeout
    errors = []
    sock = None
    for family, kind, proto, _, sockaddr in _resolve(host, port, timeout):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        sock.settimeout(left)
        try:
            sock.connect(sockaddr)
            break
        except OSError as error:
            sock.close()
            sock = None
            errors.append(error)
    if sock is None:
        if errors and all(isinstance(e, ConnectionRefusedError) for e in errors):
            raise ValueError(f"scheduler: nothing listens at {scheduler} (connection refused): start "
                             f"'dask scheduler' there or correct the address")
        if not errors or any(isinstance(e, (socket.timeout, TimeoutError)) for e in errors):
            raise ValueError(f"scheduler: no answer from {scheduler} within {timeout:g} s (host down, or a "
                             f"firewall drops the connection)")
        raise ValueError(f"scheduler: cannot connect to {scheduler} ({_flat(errors[-1])})")
    with sock:
        if scheme != "tcp":
            return f"{scheduler}: accepts connections ({scheme}:// not probed further)"
        data = b""
        try:
            while len(data) < 16:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                chunk = sock.recv(16 - len(data))
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, TimeoutError):
            pass
        except OSError as error:
            raise ValueError(f"scheduler: the service at {scheduler} accepted the connection, then failed "
                             f"({_flat(error)}); not a Dask scheduler") from None
        if len(data) == 16 and _dask_greeting(data):
            return f"{scheduler}: a Dask scheduler"
        if data:
            try:   # whatever else the service sent at once, to show it
                sock.settimeout(0.05)
                data += sock.recv(64)
            except OSError:
                pass
        if not data:
            if time.monotonic() >= deadline:
                raise ValueError(f"scheduler: something at {scheduler} accepts connections but sent nothing "
                                 f"within {timeout:g} s; a Dask scheduler greets at once (another service, or a "
                                 f"hung scheduler?)")
            raise ValueError(f"scheduler: the service at {scheduler} accepted the connection and closed it "
                             f"without a word; not a Dask scheduler")
        raise ValueError(f"scheduler: the service at {scheduler} is not a Dask scheduler (it greeted with "
                         f"{_shown(data)})")


def code_fingerprint() -> str:
    """sha256 of the source files of the packages theory, simulate and figures (those importable),
    by path relative to each package: equal on two machines that run the same toolkit code."""
    import importlib
    from pathlib import Path
    digest = hashlib.sha256()
    for package in ("theory", "simulate", "figures"):
        try:
            root = Path(importlib.import_module(package).__file__).parent
        except ImportError:
            continue
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(root).as_posix()}".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _trim_threshold():
    """This process's MALLOC_TRIM_THRESHOLD_ (None when unset), asked of every Dask worker."""
    return os.environ.get(_TRIM)


# this process's threadpoolctl controller, made on the first task (scanning the loaded libraries
# on every task would cost more than the limit itself). By then the task's modules are loaded
# (theory imports numpy and scipy, each with its own OpenBLAS), so both BLAS libraries are limited.
_BLAS = None


def _call(func, index, item, threads):
    """Run one task: (index, func(item)) with ``threads`` Numba threads (None: leave) and one
    BLAS thread. A BLAS reduction split over threads rounds differently, so the task gets one
    BLAS thread wherever it runs (serially, in loky, on Dask) and gives the same bits."""
    global _BLAS
    if threads is not None:
        import numba
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        return index, func(item)


class Executor:
    """Where tasks run; reusable over many :meth:`map` calls (a Dask client, and the local
    cluster of ``scheduler="local"``, are started on first use and kept until :meth:`close`).

    jobs: local worker processes (loky), or the size of the local Dask cluster; must stay 1 with
    a scheduler address (the cluster's workers decide). retries: how often the unfinished tasks
    of a loky pool whose worker died are run again (Dask retries by itself).
    """

    def __init__(self, jobs: int = 1, scheduler: str | None = None, retries: int = 2):
        self.jobs = int(validation.positive_int(jobs, "jobs"))
        # every argument is checked before Dask is imported: a wrong combination is the user's
        # mistake whether or not the extra is installed
        if _scheduler_form(scheduler) not in (None, "local") and self.jobs != 1:
            raise ValueError(f"jobs must be 1 with a scheduler address ({scheduler}): the cluster's "
                             f"workers decide how many tasks run at once, got jobs={jobs}")
        self.scheduler = check_scheduler(scheduler)
        self.retries = int(validation.non_negative_int(retries, "retries"))
        self._client = None
        self._cluster = None

    @property
    def kind(self) -> str:
        """"serial", "processes" (joblib/loky) or "dask"."""
        if self.scheduler is not None:
            return "dask"
        return "serial" if self.jobs == 1 else "processes"

    def describe(self) -> str:
        """One line saying where tasks run."""
        if self.kind == "serial":
            return "serial (this process)"
        if self.kind == "processes":
            return f"{self.jobs} local processes (joblib/loky)"
        if self.scheduler == "local":
            return f"Dask LocalCluster of {self.jobs} worker processes"
        return f"Dask cluster at {self.scheduler}"

    # ------------------------------------------------------------------ running
    def imap_unordered(self, func: Callable, items: list) -> Iterable:
        """(index, func(items[index])) for every item, in the order the results arrive."""
        items = list(items)
        if not items:
            return iter(())
        if self.kind == "dask":
            return self._dask(func, items)
        if self.kind == "serial" or len(items) == 1:
            return (_call(func, i, item, None) for i, item in enumerate(items))
        return self._loky(func, items)

    def map(self, func: Callable, items, *, progress: bool = False, desc: str | None = None, initial: int = 0,
            on_result: Callable | None = None) -> list:
        """``[func(item) for item in items]`` with one progress bar advanced as results arrive.

        ``on_result(index, result)``, when given, is called in this process as each result
        arrives and its return value is kept instead of the result (the figures store it in
        their cache there). ``initial``: work already done (e.g. cache hits) the bar starts from.
        """
        items = list(items)
        results = [None] * len(items)
        bar = tqdm(total=len(items) + initial, initial=initial, desc=desc, disable=not progress, leave=False,
                   dynamic_ncols=True)
        try:
            for index, result in self.imap_unordered(func, items):
                results[index] = on_result(index, result) if on_result is not None else result
                bar.update()
        finally:
            bar.close()
        return results

    def _loky(self, func, items):
        from joblib import Parallel, delayed
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        workers = min(self.jobs, len(items))
        threads = max(1, (os.cpu_count() or 1) // workers)
        todo = list(range(len(items)))
        attempt = 0
        while todo:
            done = set()
            try:
                parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered", batch_size=1,
                                    max_nbytes=None)
                for index, result in parallel(delayed(_call)(func, i, items[i], threads) for i in todo):
                    done.add(index)
                    yield index, result
                return
            except TerminatedWorkerError:
                attempt += 1
                todo = [i for i in todo if i not in done]
                if attempt > self.retries:
                    raise
                warnings.warn(f"a worker process died; running the {len(todo)} unfinished task(s) again in "
                              f"a fresh pool (retry {attempt} of {self.retries})", RuntimeWarning, stacklevel=2)

    def client(self):
        """The Dask client (started on first use)."""
        if self._client is None:
            distributed = _import_dask()
            if self.scheduler == "local":
                import dask
                # the workers' statistical profiler (a stack sample every 10 ms) costs CPU on every task
                with dask.config.set({"distributed.worker.profile.enabled": False,
                                      f"distributed.nanny.pre-spawn-environ.{_TRIM}": None}):
                    self._cluster = distributed.LocalCluster(n_workers=self.jobs, threads_per_worker=1,
                                                             processes=True, dashboard_address=":0",
                                                             silence_logs=logging.CRITICAL)
                self._client = distributed.Client(self._cluster)
            else:
                # a plain socket first: a silent service would hold the Dask client for minutes, and
                # a service with a banner makes it read the banner as a frame length (probe_scheduler)
                probe_scheduler(self.scheduler)
                try:
                    self._client = distributed.Client(self.scheduler, timeout=CONNECT_SECONDS)
                except (OSError, ValueError) as error:
                    raise ValueError(f"scheduler: cannot connect to the Dask scheduler at {self.scheduler} "
                                     f"within {CONNECT_SECONDS} ({_flat(error)})") from None
                self._check_workers()
        return self._client

    def _check_workers(self):
        """Every worker connected now must run the same toolkit code as this process (a worker
        with other code would compute other numbers under the same cache key)."""
        ours = code_fingerprint()
        theirs = self._client.run(code_fingerprint)
        stale = sorted(address for address, value in theirs.items() if value != ours)
        if stale:
            self.close()
            raise ValueError(f"scheduler: worker(s) {stale} run other code of theory/simulate/figures than this "
                             f"process (install the same version of snn-init on every machine)")
        trimmed = sorted(address for address, value in self._client.run(_trim_threshold).items()
                         if value is not None)
        if trimmed:
            warnings.warn(f"Dask worker(s) {trimmed} run with {_TRIM} set (Dask's default): numpy-heavy tasks "
                          f"take about 1.5x their CPU time there; start the workers with {DASK_WORKER_ENV}",
                          RuntimeWarning, stacklevel=3)

    def _dask(self, func, items):
        distributed = _import_dask()
        client = self.client()
        futures = [client.submit(_call, func, i, item, 1, pure=False) for i, item in enumerate(items)]
        try:
            for future in distributed.as_completed(futures):
                yield future.result()
        finally:
            client.cancel([f for f in futures if not f.done()])

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the Dask client and the local cluster, if started (loky's pool is reused by joblib)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        raise TypeError("an Executor runs tasks from the process that made it; it cannot be sent to a worker")


def map_tasks(func: Callable, items, *, jobs: int = 1, scheduler=None, progress: bool = False,
              desc: str | None = None) -> list:
    """``[func(item) for item in items]`` on the executor that ``jobs`` and ``scheduler`` describe
    (module docstring), or on ``scheduler`` itself when it is an open :class:`Executor` (then
    ``jobs`` must be 1). A Dask client or local cluster started here is closed before returning."""
    if isinstance(scheduler, Executor):
        if int(validation.positive_int(jobs, "jobs")) != 1:
            raise ValueError(f"jobs must be 1 when scheduler is an Executor (it has its own), got jobs={jobs}")
        return scheduler.map(func, items, progress=progress, desc=desc)
    with Executor(jobs, scheduler) as executor:
        return executor.map(func, items, progress=progress, desc=desc)
