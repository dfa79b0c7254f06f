"""Cost of the pair theory at T = 8, depth 100 (target: under 10 s): the infinite-width pair
mean field (theory.propagate_pair, default 20000 sampled paths per layer) and the exact
finite-width pair chain (theory.chains.pair_chain, width 100, 64 chains), each after a warm-up call that
loads or compiles the Numba kernels (its time printed separately). Wall clock, median of 3.

    python benchmarks/bench_pair.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from theory import optimal_sigma, propagate_pair  # noqa: E402
from theory.chains import pair_chain


def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    sigma = optimal_sigma(1.0, 100)
    calls = {
        "propagate_pair(depth 100, T 8, 20000 paths)": lambda: propagate_pair(
            100, 8, sigma, 100, beta=0.5, encoding="static", input_correlation=0.5),
        "pair_chain(depth 100, width 100, T 8, 64 chains)": lambda: pair_chain(
            100, 100, 8, sigma, beta=0.5, encoding="static", input_correlation=0.5, chains=64),
    }
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    for name, call in calls.items():
        warm = _timed(lambda: propagate_pair(2, 2, sigma, 100) if "propagate" in name
                      else pair_chain(2, 10, 2, sigma, chains=1))
        times = [_timed(call) for _ in range(3)]
        print(f"{name}: median {statistics.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}; "
              f"warm-up {warm:.2f} s)")


if __name__ == "__main__":
    main()
