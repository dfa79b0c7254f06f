import numpy as np, theory
from theory.regimes import residual as R
from simulate.residual import branch_scale
print("depth scaling init xi_c_min slope_first chi_branch_max growth block_rate_mean stream_out out_rate")
for depth in (10, 20, 50, 100):
    N = depth - 3
    for scaling in ("depth_sqrt", "none"):
        a = branch_scale(scaling, N)
        for init in ("sew_add", "micheli"):
            stds = None
            if init == "micheli":
                stds = [theory.weight_std("micheli", 784, 100)] + [theory.weight_std("micheli", 100, 100)] * N + [theory.weight_std("micheli", 100, 10)]
            st = R.sew_trainability(depth, stds=stds, branch_scale=a, samples=4000, seed=0)
            print(depth, scaling, init, "%.3g" % st.xi_c, "%.4f" % st.slope[0], "%.3f" % st.chi_branch.max(),
                  "%.3g" % st.gradient_growth, "%.4f" % st.rate[2:-1].mean(), "%.3f" % st.stream_mean[-1].mean(),
                  "%.3f" % st.rate[-1].mean(), flush=True)
