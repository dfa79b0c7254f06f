"""Sweeps on simulate.parallel: parallel efficiency with 2 local workers, the per-task overhead of
the Dask path, and the per-worker cost of loading the Numba kernels.

    python benchmarks/bench_parallel.py                 all three (a few minutes on 2 cores)
    python benchmarks/bench_parallel.py --tasks 16      more grid points (a longer, steadier run)
    python benchmarks/bench_parallel.py --no-dask       without the Dask measurements

Task: one grid point of a Monte Carlo sweep, ``monte_carlo("micheli", depth 20, width W, T = 5,
batch 32, draws 4)`` with W = 400, 420, ... (``--tasks`` points), seeded from its parameters
(simulate.parallel.task_seed). Measured in one run, on one machine:

1. serial: the grid in this process with ONE Numba thread (the one-worker reference; kernels
   loaded before timing);
2. joblib, 2 local processes (``jobs=2``): the same grid, first with a fresh pool (process start,
   imports and kernel loads included), then again on the warm pool;
3. Dask LocalCluster of 2 worker processes (``scheduler="local"``): the same grid cold and warm,
   and 200 no-op tasks (per-task overhead of submit + as_completed + result);
   in every warm run, each task also reports the CPU seconds its process spent meanwhile (all
   threads: a Dask worker's own background threads count) and those of its own thread;
4. a fresh Python process: import time (numpy, scipy, numba, theory, simulate), the first task
   (kernels loaded from Numba's on-disk cache, ``cache=True``), and the second task of the same
   shape (warm): their difference is what a worker process pays once for the kernels.

Steps 1-3 (warm) are repeated ``--repeat`` times, interleaved (serial, joblib, Dask, serial, ...),
so that a change of the machine's load hits all of them; the efficiencies use the medians.

Parallel efficiency = t_serial / (2 t_parallel) (1 = ideal on 2 workers). Every parallel result
is checked bit-identical to the serial one. The machine may be shared: the load average before
and after is printed; a busy machine lowers the efficiency (the workers compete with other jobs
for the 2 cores), it cannot raise it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TASK = dict(depth=20, steps=5, batch=32, draws=4)


def mc_point(item: dict):
    """One grid point (module-level: picklable by reference for the workers)."""
    from simulate import monte_carlo
    from simulate.parallel import task_seed
    mc = monte_carlo("micheli", item["depth"], item["width"], threshold=1.0, beta=0.5, steps=item["steps"],
                     batch=item["batch"], draws=item["draws"], seed=task_seed(0, item))
    return mc.rate_draws, mc.mem_var_draws


def measured_point(item: dict):
    """mc_point with the CPU seconds its process spent meanwhile (all threads: a Dask worker's
    own background work counts) and those of the thread that ran it (the task alone)."""
    start, own = time.process_time(), time.thread_time()
    out = mc_point(item)
    return out, (time.process_time() - start, time.thread_time() - own)


def noop(item):
    return item


def _grid(tasks: int) -> list:
    return [dict(TASK, width=400 + 20 * k) for k in range(tasks)]


def _same(a, b) -> bool:
    import numpy as np
    return all(np.array_equal(x, y) for pa, pb in zip(a, b) for x, y in zip(pa, pb))


def _timed(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


_FRESH = """
import time, sys
t0 = time.perf_counter()
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
import numba; numba.set_num_threads(1)
import simulate, simulate.parallel
from bench_parallel import mc_point, TASK
t1 = time.perf_counter(); mc_point(dict(TASK, width=400)); t2 = time.perf_counter()
mc_point(dict(TASK, width=400)); t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="grid points (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions of the warm runs (default 3)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask measurements")
    args = parser.parse_args(argv)
    if args.tasks < 2 or args.repeat < 1:
        parser.exit(2, f"{parser.prog}: error: --tasks must be >= 2 and --repeat >= 1\n")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numba

    from simulate.parallel import Executor
    grid = _grid(args.tasks)
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} cores; {args.tasks} tasks of {TASK}, "
          f"widths {grid[0]['width']}-{grid[-1]['width']}", flush=True)

    # 4. a fresh process: imports, first task (kernel load from the on-disk cache), warm task
    code = _FRESH.format(root=str(ROOT), bench=str(Path(__file__).parent))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)    # fill the on-disk cache
    fresh = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    t_import, t_first, t_warm = map(float, fresh.stdout.split())

    # 1-3: serial with one Numba thread, joblib (2 processes), Dask LocalCluster (2 workers)
    import numpy as np

    cpu = {}

    def serial_run():
        numba.set_num_threads(1)
        try:
            return _unpack("serial", [measured_point(item) for item in grid])
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)

    def _unpack(name, pairs):
        cpu.setdefault(name, []).extend(seconds for _, seconds in pairs)
        return [out for out, _ in pairs]
    serial_run()                                        # kernels loaded in this process
    executors = {"joblib/loky, 2 processes": Executor(jobs=2)}
    if not args.no_dask:
        executors["Dask LocalCluster, 2 workers"] = Executor(jobs=2, scheduler="local")
    times = {"serial": [], **{name: [] for name in executors}}
    cold, noop_cost, start_cost = {}, {}, {}
    try:
        for name, executor in executors.items():
            if executor.kind == "dask":
                start_cost[name], _ = _timed(executor.client)
            cold[name], out = _timed(lambda: executor.map(mc_point, grid))
            assert _same(out, serial_run()), f"{name}: results differ from serial"
            noop_cost[name] = _timed(lambda: executor.map(noop, list(range(200))))[0] / 200
        cpu.clear()                                     # warm runs only
        for _ in range(args.repeat):
            t, serial = _timed(serial_run)
            times["serial"].append(t)
            for name, executor in executors.items():
                t, out = _timed(lambda: executor.map(measured_point, grid))
                assert _same(_unpack(name, out), serial), f"{name}: results differ from serial"
                times[name].append(t)
    finally:
        for executor in executors.values():
            executor.close()
    t_serial = float(np.median(times["serial"]))
    per_task = t_serial / len(grid)
    print(f"serial (1 Numba thread): median {t_serial:.2f} s of {args.repeat} "
          f"({', '.join(f'{t:.2f}' for t in times['serial'])}), {per_task:.3f} s per task")
    print(f"\n{'executor':30s} {'cold s':>7s} {'eff.':>5s} {'warm s (median; all)':>28s} {'eff.':>5s} "
          f"{'overhead/task':>14s} {'% of task':>9s}")
    for name in executors:
        hot = float(np.median(times[name]))
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        label = name + (f" (start {start_cost[name]:.1f} s)" if name in start_cost else "")
        print(f"{label:30s} {cold[name]:7.2f} {t_serial / (2 * cold[name]):5.2f} {hot:7.2f} ({runs:>18s}) "
              f"{t_serial / (2 * hot):5.2f} {1e3 * noop_cost[name]:11.2f} ms {100 * noop_cost[name] / per_task:8.2f}%")
    load = t_first - t_warm
    tasks_per_worker = len(grid) / 2
    print(f"\nfresh process: import {t_import:.2f} s, first task {t_first:.3f} s, warm task {t_warm:.3f} s: "
          f"kernel load {load:.3f} s once per worker process = {100 * load / t_warm:.1f}% of one task, "
          f"{100 * load / tasks_per_worker / t_warm:.1f}% per task over this grid's {tasks_per_worker:g} tasks "
          f"per worker")
    print("\nCPU seconds per task, median over the warm runs (process: all threads of the process that ran it; "
          "task: its own thread)")
    for name, values in cpu.items():
        values = np.array(values)
        print(f"  {name:30s} process {np.median(values[:, 0]):.3f} s, task {np.median(values[:, 1]):.3f} s")
    print(f"every parallel result bit-identical to the serial one; load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
