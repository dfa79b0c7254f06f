"""Spike-count correlation of input pairs over depth at T = 8 (tT_decorrelation.py: any T), beta 0.5,
subtract reset, width 1000: identical inputs (c0 = 1) vs independent inputs (c0 = 0), static
Gaussian input currents of variance 1. D_l = corr_same_l - corr_diff_l; the per-layer contraction
D_{l+1}/D_l estimates exp(-1/xi_c). A call of simulate.experiments.count_correlation.

    python figures/out/full/route2_escape/t8_decorrelation.py [T]        (T defaults to 8)
"""
import sys

import numpy as np

from simulate.experiments import count_correlation
from theory import LIF, Encoding, Escape, Network

T = int(sys.argv[1]) if len(sys.argv) > 1 else 8
WIDTH, DEPTH = 1000, 12
CASES = [("paper, deterministic", "micheli", None), ("paper, escape tau 0.5", "micheli", 0.5),
         ("escape_critical tau 0.5", "escape_critical", 0.5), ("paper, escape tau 0.1", "micheli", 0.1)]

for name, init, tau in CASES:
    neuron = LIF(1.0, 0.5, firing=Escape(tau)) if tau else LIF(1.0, 0.5)
    net = Network(depth=DEPTH, width=WIDTH, neuron=neuron, init=init, T=T, encoding=Encoding("static"))
    same = count_correlation(net, 1.0, networks=4, seed=1)
    diff = count_correlation(net, 0.0, networks=4, seed=2)
    cs, cd = same["correlation"].mean(0), diff["correlation"].mean(0)
    gap = cs - cd
    print(f"{name}: rate l=1,4,8,12 {same['rate'].mean(0)[[1, 4, 8, 12]].round(3)}")
    print("  corr_same", cs.round(3))
    print("  corr_diff", cd.round(3))
    print("  D_l      ", gap.round(4))
    print("  D ratio  ", (gap[1:] / gap[:-1]).round(3), flush=True)
