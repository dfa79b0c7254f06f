"""Per-layer rates (T = 8, beta 0.5, pixel input, 500 test images) and per-layer gradient norms
||dL/dW_l|| (BPTT, ATan scale 2, 3 batches of 64 training images) at initialisation, training
network of width 100: simulate.experiments.initial_statistics.

    python figures/out/full/route3_heavy_tailed/init_measure.py > init_measure.txt
"""
import json

import numpy as np

from simulate.data import load_mnist
from simulate.experiments import initial_statistics

data = load_mnist(2000, 500)
out = {}
for name, kw in [("micheli", {"init": "micheli"}), ("stable_rQ", {"init": "stable"}),
                 ("stable_r005", {"init": "stable", "weight_rate": 0.05})]:
    for depth in (20, 100):
        stats = initial_statistics(dict(depth=depth, width=100, steps=8, seed=42, surrogate_scale=2.0, **kw), data)
        median = np.median(stats["grad_norms"], axis=0)
        out[f"{name}_d{depth}"] = {"rates": stats["rates"], "grad_norms_median": median.tolist(),
                                   "per_layer_norm_ratio_geomean": stats["norm_ratio"]}
        step = max(1, depth // 10)
        print(name, depth, "rates", [round(x, 3) for x in stats["rates"][::step]], "| grad",
              ["%.2g" % x for x in median[::step]], "| ratio (l -> l+1, hidden)", round(stats["norm_ratio"], 3),
              flush=True)
print(json.dumps(out))
