"""Temporal init: cost and answer of one call, the root-search solver vs the table, in one run.

    python benchmarks/bench_temporal_init.py            # every configuration below (18 min at load 10)
    python benchmarks/bench_temporal_init.py --only issue
    python benchmarks/bench_temporal_init.py --only off_grid   # off the table's grid (no old solver)

Old = theory/inits/temporal.py and theory/chains/gram.py as of commit f334bb1 (read from git
and loaded as private modules): the default was the infinite-width mean-field solve (width=None),
the finite-width solve (width=n) ran Brent on the NumPy Gram chain with 64 runs per evaluation.
New = the current package: the default solves on the compiled chain of width fan_in in stages
of 4, 16 and 32 runs ("new search": the shipped table switched off), or finds the answer in the
table shipped with the package ("new call": what a user's first call costs; a look-up for the
configurations below, all on the table's grid). Every call here is a first call: the on-disk
cache is switched off (SNN_INIT_CACHE="") and the in-process caches are cleared; a last line
times a cached call off the table's grid (a new process reading the disk cache, simulated by
clearing the in-process cache). Wall clock,
after a warm-up that compiles or loads the Numba kernels (its time printed separately).
The machine is shared: compare times of one run, not across runs.

--only off_grid: the 36 held-out points of tests/theory/test_temporal_interpolation.py (off the
table's grid, inside its hull), each a first call in a fresh state (table re-read from disk,
in-process caches cleared, disk cache off): the interpolated answer (the default now) against
the staged chain search the default ran there before (what `tabulate_gains` runs), their times,
and the chain's mean rate at each gain over 64 independent runs (seed 12345) with
z = (mean - target) / sqrt(s^2/32 + s^2/64), the test's criterion.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OLD_COMMIT = "f334bb1"
ROOT = Path(__file__).resolve().parents[1]

# (name, threshold, fan_in, beta, T): the example, then the accuracy grid of the tests
CONFIGS = {
    "issue": [("issue example", 1.0, 1000, 0.9, 8)],
    "grid": [(f"width 2000, beta {beta}", 1.0, 2000, beta, 10) for beta in (0.0, 0.5, 0.9)],
}


def _load_old():
    """The old solver modules, loaded from git under private names (relative imports rewritten)."""
    folder = Path(tempfile.mkdtemp(prefix="old_temporal_"))
    replacements = {
        "from . import validation": "from theory import validation",
        "from .gaussian import": "from theory.core.gaussian import",
        "from .temporal import": "from theory.meanfield.temporal import",
        "from .inits import register": "register = lambda *args, **kwargs: (lambda function: function)",
        "from .temporal_chain import temporal_chain": "from old_temporal_chain import temporal_chain",
    }
    for name in ("temporal_chain", "temporal_init"):
        source = subprocess.run(["git", "show", f"{OLD_COMMIT}:theory/{name}.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
        for old, new in replacements.items():
            source = source.replace(old, new)
        (folder / f"old_{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    modules = {}
    for name in ("old_temporal_chain", "old_temporal_init"):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[name] = modules[name]
        spec.loader.exec_module(modules[name])
    return modules["old_temporal_init"]


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def off_grid():
    import numpy as np

    # the pre-registered held-out points and the pass criterion are the test's (one definition)
    sys.path.insert(0, str(ROOT))
    from tests.theory.test_temporal_interpolation import HELD_OUT, check_rate
    from theory.inits import temporal as temporal_init
    from theory.core.gaussian import tail
    from theory.chains.gram import rates_at_depth

    rates_at_depth(5.0, 2, 10, 2, 1.0, 0.5, "subtract", 0.2, 2, 0)
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    target = float(tail(1.0))
    print("| reset | T | beta | width | interpolated call | search | gain interpolated | gain searched "
          "| z interpolated | z searched | pass (K 3.5) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    calls, searches, z_interpolated, z_searched = [], [], [], []
    for reset, T, beta, width in HELD_OUT:
        temporal_init._TABLE, temporal_init._GAINS = None, {}        # a new process: read the table
        sigma, t_call = _timed(temporal_init.optimal_sigma_temporal, 1.0, width, beta, T, reset, progress=False)
        interpolated = sigma ** 2 * width
        temporal_init._GAINS.clear()
        searched, t_search = _timed(temporal_init._optimal_gain, 1.0, beta, T, reset, target, 100, 10000, 0, 1e-7,
                                    width, temporal_init.CHAINS, False, default_target=True, table=False)
        (excess, bound, z_in), (_, _, z_se) = (check_rate(gain, reset, T, beta, width)
                                               for gain in (interpolated, searched))
        calls.append(t_call)
        searches.append(t_search)
        z_interpolated.append(z_in)
        z_searched.append(z_se)
        print(f"| {reset} | {T} | {beta} | {width} | {t_call * 1e3:.2f} ms | {t_search:.2f} s | {interpolated:.4f} "
              f"| {searched:.4f} | {z_in:+.2f} | {z_se:+.2f} | {'yes' if abs(excess) <= bound else 'NO'} |", flush=True)
    print(f"interpolated call: median {np.median(calls) * 1e3:.2f} ms, max {max(calls) * 1e3:.2f} ms; search: median "
          f"{np.median(searches):.2f} s, max {max(searches):.2f} s; median search / call "
          f"{np.median(np.array(searches) / np.array(calls)):.0f}x")
    print(f"rms z: interpolated {np.sqrt(np.mean(np.square(z_interpolated))):.2f}, searched "
          f"{np.sqrt(np.mean(np.square(z_searched))):.2f}; max |z|: interpolated {np.max(np.abs(z_interpolated)):.2f}, "
          f"searched {np.max(np.abs(z_searched)):.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS) + ["off_grid"], help="run one group of configurations")
    args = parser.parse_args()
    os.environ["SNN_INIT_CACHE"] = ""            # first calls only (the disk cache is timed apart)
    if args.only == "off_grid":
        off_grid()
        return

    from theory.inits import temporal as temporal_init
    from theory.chains.gram import rates_at_depth, temporal_chain
    old = _load_old()

    start = time.perf_counter()
    temporal_chain(2, 10, 2, 0.3, chains=2)
    rates_at_depth(5.0, 2, 10, 2, 1.0, 0.5, "subtract", 0.2, 2, 0)
    print(f"warm-up (Numba compile or cache load): {time.perf_counter() - start:.2f} s")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    header = (f"{'configuration':<22} {'old default (mean field)':>25} {'old width=n':>18} "
              f"{'new search':>18} {'new call':>10} {'old n / new search':>18} {'old default / new call':>22}")
    print(header)
    table = temporal_init._table()
    groups = [args.only] if args.only else list(CONFIGS)
    for group in groups:
        for name, threshold, fan_in, beta, T in CONFIGS[group]:
            old._GAINS.clear()
            old_default, t_old_default = _timed(old.optimal_sigma_temporal, threshold, fan_in, beta, T, progress=False)
            old._GAINS.clear()
            old_finite, t_old_finite = _timed(old.optimal_sigma_temporal, threshold, fan_in, beta, T, width=fan_in,
                                              progress=False)
            temporal_init._GAINS.clear()
            temporal_init._TABLE = {}
            new, t_new = _timed(temporal_init.optimal_sigma_temporal, threshold, fan_in, beta, T, progress=False)
            temporal_init._GAINS.clear()
            temporal_init._TABLE = table
            tabulated, t_call = _timed(temporal_init.optimal_sigma_temporal, threshold, fan_in, beta, T, progress=False)
            print(f"{name:<22} {t_old_default:8.1f} s (std {old_default:.5f}) {t_old_finite:6.1f} s ({old_finite:.5f}) "
                  f"{t_new:6.2f} s ({new:.5f}) {t_call * 1e3:6.2f} ms {t_old_finite / t_new:17.1f}x "
                  f"{t_old_default / t_call:21.0f}x   table std {tabulated:.5f}", flush=True)

    # a cached call: a new process finds the solved gain on disk
    with tempfile.TemporaryDirectory() as folder:
        os.environ["SNN_INIT_CACHE"] = folder
        temporal_init._GAINS.clear()
        # threshold 1.1 is outside the table's hull (beta 0.8, used before, is now on its grid)
        _, solve = _timed(temporal_init.optimal_sigma_temporal, 1.1, 1000, 0.8, 8, progress=False)
        temporal_init._GAINS.clear()
        _, cached = _timed(temporal_init.optimal_sigma_temporal, 1.1, 1000, 0.8, 8, progress=False)
        print(f"threshold 1.1, width 1000, beta 0.8, T 8 (outside the table) from the disk cache: {cached * 1e3:.2f} ms "
              f"(search {solve:.2f} s, {solve / cached:.0f}x)")

    # the chain itself (theory.chains.gram), old NumPy layer loop vs compiled layer, same samples
    old_chain = sys.modules["old_temporal_chain"].temporal_chain
    arguments = (100, 2000, 10, math.sqrt(5.87 / 2000), 1.0, 0.9, "subtract")
    before, t_before = _timed(old_chain, *arguments, chains=64, seed=0)
    after, t_after = _timed(temporal_chain, *arguments, chains=64, seed=0)
    same = "identical samples" if (before.rate == after.rate).all() else "samples differ"
    print(f"temporal_chain width 2000, depth 100, T 10, 64 chains: old {t_before:.2f} s, new {t_after:.2f} s, "
          f"{t_before / t_after:.1f}x ({same})")


if __name__ == "__main__":
    main()
