"""Per-batch cost of a training pass, deterministic vs escape firing (depth D weight layers, width
100, T 8, batch 64, 1 thread): the escape neuron is the same kernel with its firing rule folded in.

    python figures/out/full/route2_escape/bench_escape.py
"""
import time

import numba
import numpy as np

from simulate.backprop import forward_backward

numba.set_num_threads(1)
rng = np.random.default_rng(0)
for D in (50, 100):
    widths = [784] + [100] * (D - 1) + [10]
    W = [(rng.standard_normal((a, b)) * np.sqrt(8.39 / a)).astype(np.float32) for a, b in zip(widths[:-1], widths[1:])]
    x = np.ascontiguousarray(np.broadcast_to(rng.random((64, 784)).astype(np.float32), (8, 64, 784)))
    y = rng.integers(0, 10, 64)
    for name, kw in (("deterministic", {}), ("escape", dict(firing="escape", escape_noise=0.5, noise_seed=1))):
        forward_backward(W, None, x, y, beta=0.5, threshold=1.0, **kw)
        times = []
        for rep in range(7):
            t0 = time.perf_counter()
            forward_backward(W, None, x, y, beta=0.5, threshold=1.0, **kw)
            times.append(time.perf_counter() - t0)
        print(f"depth {D} {name}: median {np.median(times):.3f} s, min {min(times):.3f} s per batch")
