"""Gain x surrogate-scale scan at init, depth 100, T = 8, beta 0.5 (training network, width 100):
rates per layer (500 test images) and the geometric-mean per-layer gradient-norm ratio."""
import json, numpy as np
from simulate.train import TrainConfig, build_network, evaluate
from simulate.encodings import pixel_currents
from simulate.backprop import forward_backward
from simulate.data import load_mnist
data = load_mnist(2000, 500)
rows = []
for gain in (1.5, 2.0, 2.5, 3.0):
    cfg = TrainConfig(depth=100, width=100, steps=8, seed=42, init="stable", weight_gain=gain).validate()
    w, b = build_network(cfg, 784, 10)
    ev = evaluate(w, b, data.x_test, data.y_test, cfg)
    for scale in (0.25, 0.5, 2.0):
        norms = []
        for s in range(2):
            idx = np.arange(64 * s, 64 * (s + 1))
            res = forward_backward(w, b(data.x_train[idx], 8), data.y_train[idx].astype(np.int64),
                                   beta=0.5, threshold=1.0, reset="subtract", surrogate="atan", surrogate_scale=scale)
            norms.append([float(np.linalg.norm(g.astype(np.float64))) for g in res.weight_grads])
        logn = np.log(np.maximum(np.array(norms), 1e-300))
        ratio = float(np.exp(np.mean(np.diff(logn[:, 1:-1], axis=1))))
        rows.append({"gain": gain, "scale": scale, "rates": ev["rates"], "ratio": ratio})
        print(gain, scale, "rates", [round(x, 3) for x in ev["rates"][::10]], "out", round(ev["rates"][-1], 3),
              "| backward norm gain per layer", round(1 / ratio, 3), flush=True)
json.dump(rows, open("/work/sweeps/route3/gain_scan.json", "w"))
