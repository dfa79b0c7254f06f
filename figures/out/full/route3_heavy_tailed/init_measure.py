"""Per-layer rates (T = 8, beta 0.5, pixel input, 500 test images) and per-layer gradient norms
||dL/dW_l|| (BPTT, ATan scale 2, batch 64 of training images) at initialisation, training network of width 100."""
import sys, json, numpy as np
from simulate.train import TrainConfig, build_network, evaluate
from simulate.encodings import pixel_currents
from simulate.backprop import forward_backward
from simulate.data import load_mnist
data = load_mnist(2000, 500)
out = {}
for name, kw in [("micheli", {"init": "micheli"}), ("stable_rQ", {"init": "stable"}),
                 ("stable_r005", {"init": "stable", "weight_rate": 0.05})]:
    for depth in (20, 100):
        cfg = TrainConfig(depth=depth, width=100, steps=8, seed=42, **kw).validate()
        w, b = build_network(cfg, 784, 10)
        ev = evaluate(w, b, data.x_test, data.y_test, cfg)
        norms = []
        for s in range(3):
            idx = np.arange(64 * s, 64 * (s + 1))
            res = forward_backward(w, b(data.x_train[idx], 8), data.y_train[idx].astype(np.int64),
                                   beta=0.5, threshold=1.0, reset="subtract", surrogate="atan", surrogate_scale=2.0)
            norms.append([float(np.linalg.norm(g.astype(np.float64))) for g in res.weight_grads])
        norms = np.array(norms)
        logn = np.log(np.maximum(norms, 1e-300))
        ratio = np.exp(np.mean(np.diff(logn[:, 1:-1], axis=1))) if depth > 4 else float("nan")
        out[f"{name}_d{depth}"] = {"rates": ev["rates"], "grad_norms_median": np.median(norms, axis=0).tolist(),
                                   "per_layer_norm_ratio_geomean": float(ratio)}
        print(name, depth, "rates", [round(x, 3) for x in ev["rates"][::max(1, depth // 10)]], "out", round(ev["rates"][-1], 3),
              "| grad", ["%.2g" % x for x in np.median(norms, axis=0)[::max(1, depth // 10)]], "| ratio (l -> l+1, hidden)", round(float(ratio), 3))
json.dump(out, open("/work/sweeps/route3/init_measure.json", "w"))
