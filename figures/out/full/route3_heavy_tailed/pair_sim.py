"""Per-layer rate and pair spike correlation of a Cauchy-weight stack (one step by default)
against the heavy-tailed maps: simulate.experiments.count_correlation on theory.Network.

    C0=0.5 python figures/out/full/route3_heavy_tailed/pair_sim.py WIDTH DEPTH RATE DRAWS [T [BETA]]
"""
import os
import sys

import numpy as np

from simulate.experiments import count_correlation
from theory import LIF, Encoding, Init, Network
from theory.regimes import heavy_tailed as ht

W, D, rate, draws = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
steps = int(sys.argv[5]) if len(sys.argv) > 5 else 1
beta = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
r0, c0 = 0.2, float(os.environ.get("C0", "0.5"))
gain = ht.gain_for_rate(rate, 1.0)
net = Network(depth=D, width=W, neuron=LIF(1.0, beta), init=Init("stable", alpha=1.0, gain=gain), T=steps,
              encoding=Encoding("bernoulli", rate=r0))
sim = count_correlation(net, c0, pairs=8, networks=draws, seed=11)
mr, mc = ht.propagate_pair(D, 1.0, gain, rate0=r0, correlation0=c0)
chain = ht.count_chain(D, W, 1.0, gain, rate0=r0)
for l in range(D + 1):
    r, c = sim["rate"][:, l], sim["correlation"][:, l]
    print(l, f"sim r {r.mean():.4f}+-{r.std(ddof=1) / np.sqrt(draws):.4f} chain {chain.rate[l]:.4f} mf {mr[l]:.4f} | "
          f"sim c {np.nanmean(c):.4f}+-{np.nanstd(c, ddof=1) / np.sqrt(draws):.4f} mf {mc[l]:.4f}")
