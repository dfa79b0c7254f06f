"""Block theory of the residual SEW-ADD networks at depth 10-100 (LIF layers), branch multiplier
1/sqrt(N) or 1, sew_add init or the paper's in every layer: theory.trainability of the network
(theory.sew_network builds it; its detail is theory.regimes.residual's SewTrainability).

    python figures/out/full/route4_residual/predict.py > predictions.txt
"""
import numpy as np

import theory
from theory import LIF, Init

print("depth scaling init xi_c_min slope_first chi_branch_max growth block_rate_mean stream_out out_rate")
for depth in (10, 20, 50, 100):
    N = depth - 3
    for scaling, a in (("depth_sqrt", 1.0 / np.sqrt(N)), ("none", 1.0)):
        for init in ("sew_add", "micheli"):
            net = theory.sew_network(N, 100, multiplier=a, neuron=LIF(1.0, 0.5), T=8, init=init, samples=4000)
            st = theory.trainability(net, samples=4000, seed=0).detail
            print(depth, scaling, init, "%.3g" % st.xi_c, "%.4f" % st.slope[0], "%.3f" % st.chi_branch.max(),
                  "%.3g" % st.gradient_growth, "%.4f" % st.rate[2:-1].mean(), "%.3f" % st.stream_mean[-1].mean(),
                  "%.3f" % st.rate[-1].mean(), flush=True)
