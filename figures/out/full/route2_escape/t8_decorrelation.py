"""Spike-count correlation of input pairs over depth at T = 8, beta 0.5, subtract reset, width 1000:
identical inputs (c0 = 1) vs independent inputs (c0 = 0), static Gaussian input currents of variance 1.
D_l = corr_same_l - corr_diff_l; per-layer contraction D_{l+1}/D_l estimates exp(-1/xi_c) at T = 8."""
import sys
import numpy as np
from simulate.network import run_network
from theory import inits

width, depth, T, pairs, networks = 1000, 12, 8, 16, 4

def count_corr(spikes, pairs):
    k = spikes.sum(axis=0).astype(np.float64)          # (2P, n) counts
    a, b = k[:pairs].ravel(), k[pairs:].ravel()
    if a.std() == 0 or b.std() == 0:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1])

def run(init, firing, tau, c0, seed):
    rng = np.random.default_rng(seed)
    out = []
    for net in range(networks):
        params = {"tau": tau} if init == "escape_critical" else {}
        std = inits.weight_std(init, width, threshold=1.0, **params)
        weights = [(std * rng.standard_normal((width, width))).astype(np.float32) for _ in range(depth)]
        za, zb = rng.standard_normal((2, pairs, width))
        x = np.concatenate([za, c0 * za + np.sqrt(1 - c0 * c0) * zb])
        currents = np.ascontiguousarray(np.broadcast_to(x, (T,) + x.shape)).astype(np.float32)
        kw = dict(firing="escape", escape_noise=tau, noise_seed=seed * 100 + net) if firing == "escape" else {}
        r = run_network(weights, currents, beta=0.5, threshold=1.0, record_spikes=True, **kw)
        out.append([count_corr(s, pairs) for s in r.spikes] + list(r.rate.mean(axis=1)))
    return np.array(out)

for name, init, firing, tau in [("paper, deterministic", "micheli", "det", None),
                                ("paper, escape tau 0.5", "micheli", "escape", 0.5),
                                ("escape_critical tau 0.5", "escape_critical", "escape", 0.5),
                                ("paper, escape tau 0.1", "micheli", "escape", 0.1)]:
    same = run(init, firing, tau, 1.0, 1)
    diff = run(init, firing, tau, 0.0, 2)
    cs, cd = same[:, :depth + 1].mean(0), diff[:, :depth + 1].mean(0)
    rates = same[:, depth + 1:].mean(0)
    D = cs - cd
    ratio = D[1:] / D[:-1]
    print(f"{name}: rate l=1,4,8,12 {rates[[1,4,8,12]].round(3)}")
    print("  corr_same", cs.round(3))
    print("  corr_diff", cd.round(3))
    print("  D_l      ", D.round(4))
    print("  D ratio  ", ratio.round(3))
    sys.stdout.flush()
