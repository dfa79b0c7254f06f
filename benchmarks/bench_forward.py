"""Forward-pass benchmark of simulate.run_network against the dense float32 GEMM floor.

    python benchmarks/bench_forward.py              timing (the reference configuration)
    python benchmarks/bench_forward.py --cold       also measure true JIT compile time
                                                    (empty Numba cache in a temp folder)
    python benchmarks/bench_forward.py --memory     width 4096, depth 100: peak RSS (subprocess)
    python benchmarks/bench_forward.py --threads 1  simulator AND BLAS on one thread each (a
                                                    fairer ratio when other jobs load the machine)

Timing configuration: depth 100, width 1000, T = 10, batch 256, micheli init, threshold 1,
beta 0.5, subtract reset, i.i.d. N(0, 1) input currents. Floor: numpy ``a @ W`` with
a (256, 1000) and W (1000, 1000) float32, 1000 times (= the dense work of the same forward
pass). Simulator and floor runs are interleaved and each is repeated; the ratio uses medians,
so a load spike from other jobs on the machine hits both; wall-clock and process CPU time (the
robust one with --threads 1 on a shared machine). The JIT compile time (or the on-disk cache
load time) is the first call's, excluded from the timing.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup(depth, width, steps, batch, seed=0):
    import numpy as np

    from simulate import gaussian_currents
    from theory.inits.registry import sample_weights
    rng = np.random.default_rng(seed)
    weights = [sample_weights("micheli", width, width, rng, threshold=1.0, beta=0.5) for _ in range(depth)]
    return weights, gaussian_currents(steps, batch, width, rng)


def timing(repeats: int) -> None:
    import numba
    import numpy as np

    from simulate import run_network
    depth, width, steps, batch = 100, 1000, 10, 256
    print(f"load average before: {os.getloadavg()}, numba threads {numba.get_num_threads()}")
    start = time.perf_counter()
    tiny = _setup(2, 200, 2, 3)
    run_network(*tiny, beta=0.5, threshold=1.0)
    first_call = time.perf_counter() - start
    weights, currents = _setup(depth, width, steps, batch)
    a = np.random.default_rng(1).standard_normal((batch, width)).astype(np.float32)
    w = weights[0]
    a @ w
    sim_times, gemm_times = [], []     # (wall, CPU) seconds per run
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run_network(weights, currents, beta=0.5, threshold=1.0)
        sim_times.append((time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(depth * steps):
            a @ w
        gemm_times.append((time.perf_counter() - wall, time.process_time() - cpu))
    print(f"first call (JIT compile or cache load, tiny network): {first_call:.2f} s")
    for kind, k in (("wall", 0), ("cpu", 1)):
        sim = float(np.median([x[k] for x in sim_times]))
        gemm = float(np.median([x[k] for x in gemm_times]))
        best_sim, best_gemm = min(x[k] for x in sim_times), min(x[k] for x in gemm_times)
        print(f"[{kind}] simulator depth {depth} width {width} T {steps} batch {batch}: median {sim:.3f} s "
              f"(runs {', '.join(f'{x[k]:.3f}' for x in sim_times)}); GEMM floor {depth * steps} x "
              f"(256,1000)@(1000,1000) float32: median {gemm:.3f} s")
        print(f"[{kind}] simulator / floor = {sim / gemm:.3f}x (best-of {best_sim / best_gemm:.3f}x); "
              f"floor / simulator = {gemm / sim:.2f}x")
    print(f"mean rate over layers and steps {result.rate[1:].mean():.4f}; "
          f"rate at t=1, layer 100: {result.rate[-1, 0]:.4f}")
    print(f"load average after: {os.getloadavg()}")


def memory_child(width: int, depth: int, steps: int, batch: int) -> None:
    import resource

    from simulate import run_network
    start = time.perf_counter()
    weights, currents = _setup(depth, width, steps, batch)
    drawn = time.perf_counter()
    result = run_network(weights, currents, beta=0.5, threshold=1.0)
    done = time.perf_counter()
    weight_gb = sum(w.nbytes for w in weights) / 1e9
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(f"width {width} depth {depth} T {steps} batch {batch}: weights {weight_gb:.2f} GB, "
          f"peak RSS {peak_gb:.2f} GB, drawing {drawn - start:.1f} s, forward {done - drawn:.1f} s, "
          f"rate layer {depth} t=1: {result.rate[-1, 0]:.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="measure compile time with an empty cache")
    parser.add_argument("--memory", action="store_true", help="width 4096 depth 100 peak RSS")
    parser.add_argument("--threads", type=int, default=0, help="threads for Numba and BLAS (0: default)")
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1 or args.threads < 0:   # a user's mistake: one line, exit status 2
        parser.exit(2, f"{parser.prog}: error: --repeats must be >= 1 and --threads >= 0, got "
                       f"{args.repeats} and {args.threads}\n")
    # a program's choice, made where it starts: idle OpenMP threads sleep instead of spinning
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.threads:
        # must be set before numpy / numba are imported (they are imported lazily above)
        for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    if args.child:
        memory_child(*args.child)
        return 0
    if args.cold:
        with tempfile.TemporaryDirectory() as cache:
            code = ("import time, sys; sys.path.insert(0, %r); t = time.perf_counter(); "
                    "import numpy as np; from simulate import run_network; "
                    "run_network([np.ones((3, 2), np.float32)], np.ones((2, 2, 3), np.float32), beta=0.5, "
                    "threshold=1.0); run_network([np.ones((300, 300), np.float32)] * 2, "
                    "np.ones((8, 64, 300), np.float32), beta=0.5, threshold=1.0); "
                    "print(f'JIT compile (empty cache, all kernels): {time.perf_counter() - t:.1f} s')") % str(ROOT)
            subprocess.run([sys.executable, "-c", code], check=True,
                           env={**os.environ, "NUMBA_CACHE_DIR": cache})
    if args.memory:
        subprocess.run([sys.executable, __file__, "--child", "4096", "100", "10", "256"], check=True)
        return 0
    timing(args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
