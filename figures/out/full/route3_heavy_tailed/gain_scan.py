"""Gain x surrogate-scale scan at init, depth 100, T = 8, beta 0.5 (training network, width 100):
rates per layer (500 test images) and the geometric-mean per-layer gradient-norm ratio
(simulate.experiments.initial_statistics, 2 batches).

    python figures/out/full/route3_heavy_tailed/gain_scan.py > gain_scan.txt
"""
import json

from simulate.data import load_mnist
from simulate.experiments import initial_statistics

data = load_mnist(2000, 500)
rows = []
for gain in (1.5, 2.0, 2.5, 3.0):
    for scale in (0.25, 0.5, 2.0):
        stats = initial_statistics(dict(depth=100, width=100, steps=8, seed=42, init="stable", weight_gain=gain,
                                        surrogate_scale=scale), data, batches=2)
        rows.append({"gain": gain, "scale": scale, "rates": stats["rates"], "ratio": stats["norm_ratio"]})
        print(gain, scale, "rates", [round(x, 3) for x in stats["rates"][::10]], "out", round(stats["rates"][-1], 3),
              "| backward norm gain per layer", round(1 / stats["norm_ratio"], 3), flush=True)
print(json.dumps(rows))
