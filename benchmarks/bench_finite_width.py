"""Exact spike-count chain vs Monte Carlo simulation for P(silent at depth 100).

    python benchmarks/bench_finite_width.py

For widths 300, 1000, 2000 (depth 100, theta 1, paper's init, one step) it times one exact chain
run (theory.spike_count_chain: the whole distribution of k_l at every layer) and one simulated
draw (fresh float32 weights + simulate.run_network, batch 1), and prints their ratio and the
number of draws the simulation would need to match the chain's answer to +-1e-3 absolute in
P(silent) (95 %: 1.96^2 p(1-p) / 1e-6 draws). Wall-clock medians of 3 repeats, after a warm-up
that also compiles the Numba kernels (compile time reported separately).
"""
from __future__ import annotations

import os
import time

import numpy as np

from simulate import run_network
from theory import optimal_sigma, spike_count_chain

DEPTH, THRESHOLD = 100, 1.0


def time_chain(width):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        chain = spike_count_chain(DEPTH, width, THRESHOLD)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(chain.silent[-1])


def time_draw(width, rng, steps=1, beta=0.0):
    """Median wall time of 3 simulated draws (fresh float32 weights, batch 1, ``steps`` steps)."""
    sigma = np.float32(optimal_sigma(THRESHOLD, width))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        weights = [rng.standard_normal((width, width), dtype=np.float32) * sigma for _ in range(DEPTH)]
        currents = rng.standard_normal((steps, 1, width), dtype=np.float32)
        run_network(weights, currents, beta=beta, threshold=THRESHOLD)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    run_network([np.zeros((4, 4), np.float32)], np.zeros((1, 1, 4), np.float32), beta=0.0, threshold=1.0)
    spike_count_chain(2, 10)
    print(f"warm-up (Numba compile or cache load): {time.perf_counter() - start:.2f} s")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'width':>6} {'chain s':>8} {'draw s':>8} {'chain/draw':>10} {'P(silent)':>10} {'draws for +-1e-3':>16}")
    for width in (300, 1000, 2000):
        chain_s, silent = time_chain(width)
        draw_s = time_draw(width, rng)
        draws = int(np.ceil(1.96**2 * max(silent * (1 - silent), 1e-12) / 1e-6))
        print(f"{width:6d} {chain_s:8.3f} {draw_s:8.3f} {chain_s / draw_s:10.2f} {silent:10.3g} {draws:16d}")


if __name__ == "__main__":
    main()
