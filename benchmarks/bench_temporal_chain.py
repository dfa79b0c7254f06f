"""Exact finite-width Gram chain vs simulated networks, per independent sample (T steps).

    python benchmarks/bench_temporal_chain.py

Width 2000 (and 1000), depth 100, T = 10, beta 0.5, subtract reset, theta 1, the paper's sigma.
One chain sample and one simulated sample have the same law (tests/theory/test_temporal_chain.py):
one network draw (fresh float32 weights + simulate.run_network) on one input. Times: the chain
run of 64 samples / 64 against the median of 3 simulated draws (batch 1); wall clock, after a
warm-up that loads the Numba kernels. The ratio is what the chain saves per sample of the
finite-width law; batch > 1 in the simulation gives more inputs per draw but they share weights,
so they are not independent samples of the per-network spread.
"""
from __future__ import annotations

import os
import time

import numpy as np

from bench_finite_width import DEPTH, THRESHOLD, time_draw  # sibling script (run from anywhere)
from simulate import run_network
from theory import optimal_sigma
from theory.chains.gram import temporal_chain

STEPS, BETA, CHAINS = 10, 0.5, 64


def time_chain(width):
    sigma = optimal_sigma(THRESHOLD, width)
    start = time.perf_counter()
    temporal_chain(DEPTH, width, STEPS, sigma, THRESHOLD, BETA, chains=CHAINS, seed=0)
    return (time.perf_counter() - start) / CHAINS


def main():
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    run_network([np.zeros((4, 4), np.float32)], np.zeros((2, 1, 4), np.float32), beta=BETA, threshold=THRESHOLD)
    temporal_chain(2, 10, 2, 0.3, chains=2)
    print(f"warm-up (Numba compile or cache load): {time.perf_counter() - start:.2f} s")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'width':>6} {'chain s/sample':>15} {'draw s/sample':>14} {'draw/chain':>11}")
    for width in (1000, 2000):
        chain_s, draw_s = time_chain(width), time_draw(width, rng, STEPS, BETA)
        print(f"{width:6d} {chain_s:15.4f} {draw_s:14.4f} {draw_s / chain_s:11.1f}")


if __name__ == "__main__":
    main()
