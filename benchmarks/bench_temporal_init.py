"""Temporal init: cost and answer of one call, the solver before issue 12 vs now, in one run.

    python benchmarks/bench_temporal_init.py            # every configuration below (18 min at load 10)
    python benchmarks/bench_temporal_init.py --only issue

Old = theory/temporal_init.py and theory/temporal_chain.py as of commit f334bb1 (read from git
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
        "from .gaussian import": "from theory.gaussian import",
        "from .temporal import": "from theory.temporal import",
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), help="run one group of configurations")
    args = parser.parse_args()
    os.environ["SNN_INIT_CACHE"] = ""            # first calls only (the disk cache is timed apart)

    from theory import temporal_init
    from theory.temporal_chain import _rates_at_depth, temporal_chain
    old = _load_old()

    start = time.perf_counter()
    temporal_chain(2, 10, 2, 0.3, chains=2)
    _rates_at_depth(5.0, 2, 10, 2, 1.0, 0.5, "subtract", 0.2, 2, 0)
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
        # beta 0.8 is off the table's grid
        _, solve = _timed(temporal_init.optimal_sigma_temporal, 1.0, 1000, 0.8, 8, progress=False)
        temporal_init._GAINS.clear()
        _, cached = _timed(temporal_init.optimal_sigma_temporal, 1.0, 1000, 0.8, 8, progress=False)
        print(f"width 1000, beta 0.8, T 8 (off the table) from the disk cache: {cached * 1e3:.2f} ms "
              f"(search {solve:.2f} s, {solve / cached:.0f}x)")

    # the chain itself (theory.temporal_chain), old NumPy layer loop vs compiled layer, same samples
    old_chain = sys.modules["old_temporal_chain"].temporal_chain
    arguments = (100, 2000, 10, math.sqrt(5.87 / 2000), 1.0, 0.9, "subtract")
    before, t_before = _timed(old_chain, *arguments, chains=64, seed=0)
    after, t_after = _timed(temporal_chain, *arguments, chains=64, seed=0)
    same = "identical samples" if (before.rate == after.rate).all() else "samples differ"
    print(f"temporal_chain width 2000, depth 100, T 10, 64 chains: old {t_before:.2f} s, new {t_after:.2f} s, "
          f"{t_before / t_after:.1f}x ({same})")


if __name__ == "__main__":
    main()
