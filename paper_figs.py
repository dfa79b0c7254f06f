"""Redraw every figure and table of the project: ``python paper_figs.py``.

    python paper_figs.py                 quick preset (minutes on 2 cores; says how long at the start)
    python paper_figs.py --full          paper-scale versions
    python paper_figs.py --preset medium --only training_curves   a named preset of some figures
    python paper_figs.py --only a,b      chosen figures;  --list  shows names and captions
    python paper_figs.py --out DIR       output folder (default figures/out)
    python paper_figs.py --jobs N        independent computations in N local processes (joblib; default:
                                         every core this process may use; --jobs 1 runs serially)
    python paper_figs.py --scheduler tcp://HOST:8786   ... on a Dask cluster (pip install ".[distributed]")
    python paper_figs.py --scheduler local --jobs N    ... on a local Dask cluster of N processes
    python paper_figs.py --no-cache      recompute everything

Computations are cached under .cache/figures (key: parameters + code version), so a second
run only redraws and an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time

import matplotlib

# a program's choice, made where it starts (importing the figures package changes no global state):
# files only, no window, the same output with or without a display
matplotlib.use("Agg")

from figures import all_figures  # noqa: E402
from figures.cache import Cache  # noqa: E402
from figures.runner import estimate, run, summary  # noqa: E402
from simulate.parallel import Executor, MissingExtraError  # noqa: E402


class _Parser(argparse.ArgumentParser):
    """argparse, but a user's mistake ends in one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; os.cpu_count() where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _unwritable(folder: str) -> str | None:
    """Why files cannot be written in ``folder`` (created if missing), or None if they can:
    a probe file is created and removed (permission bits alone say nothing for root or on a
    read-only file system)."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" + \
        (f" ({seconds / 3600:.1f} h)" if seconds >= 5400 else "")


def main(argv=None) -> int:
    # a program's choice, made where it starts (before the first parallel kernel starts the
    # OpenMP pool; --jobs workers inherit it): idle threads sleep instead of spinning
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = _Parser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="paper-scale presets")
    specs = all_figures()
    presets = sorted({name for spec in specs for name in spec.presets})
    parser.add_argument("--preset", choices=presets,
                        help="a named preset (default quick; --full is --preset full); a figure without "
                             "it is an error, so pick figures that have it with --only")
    parser.add_argument("--only", default=None, help="comma-separated figure names (default: every figure; "
                                                     "a name given twice is drawn once)")
    parser.add_argument("--list", action="store_true", help="list figures with captions and exit")
    parser.add_argument("--out", default="figures/out", help="output folder (default figures/out)")
    parser.add_argument("--cache-dir", default=".cache/figures", help="cache folder")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything")
    cores = available_cores()
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"parallel local processes (default: the {cores} core(s) this process may use; "
                             "--jobs 1 runs serially), or the size of the --scheduler local cluster")
    parser.add_argument("--scheduler", default=None,
                        help="run on a Dask cluster: 'tcp://HOST:8786' (a running 'dask scheduler') or 'local' "
                             "(a LocalCluster of --jobs processes); needs pip install \".[distributed]\"")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    if args.list:
        for spec in specs:
            print(f"{spec.name}\n" + textwrap.indent(textwrap.fill(spec.caption, 88), "    "))
        return 0
    preset = args.preset or ("full" if args.full else "quick")
    chosen = specs
    if args.only is not None:
        names = [name.strip() for name in args.only.split(",")]
        if not all(names):
            parser.error(f"--only: empty figure name in {args.only!r}; give comma-separated names (see --list)")
        wanted = list(dict.fromkeys(names))          # each figure once, in the order given
        known = {spec.name: spec for spec in specs}
        unknown = [name for name in wanted if name not in known]
        if unknown:
            parser.error(f"--only: unknown figure(s) {unknown}; known: {sorted(known)}")
        chosen = [known[name] for name in wanted]
    absent = [spec for spec in chosen if spec.missing()]
    if absent and args.only is not None:
        parser.error(f"--only: {', '.join(s.name for s in absent)} need(s) {', '.join(absent[0].missing())}, "
                     f"not installed: {absent[0].install_hint()}")
    chosen = [spec for spec in chosen if spec not in absent]
    lacking = [spec.name for spec in chosen if preset not in spec.presets]
    if lacking:
        parser.error(f"--preset {preset}: not defined for {lacking}; choose figures that have it with --only")
    if args.jobs is None:      # every core this process may use; a remote cluster brings its own workers
        args.jobs = 1 if args.scheduler not in (None, "local") else cores
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    try:   # a bad, missing or unreachable scheduler is the user's mistake: say so before any work
        executor = Executor(args.jobs, args.scheduler)
        if executor.kind == "dask" and args.scheduler != "local":
            executor.client()
    except (ValueError, MissingExtraError) as error:
        parser.error(str(error))
    for option, folder in (("--out", args.out), ("--out", os.path.join(args.out, "data")),
                           ("--cache-dir", None if args.no_cache else args.cache_dir)):
        if folder is not None:
            # an unusable destination is the user's mistake: say so before any work
            reason = _unwritable(folder)
            if reason is not None:
                parser.error(f"{option} {folder!r}: cannot write there ({reason})")
    cost = estimate(chosen, preset, Cache(None if args.no_cache else args.cache_dir))
    unknown = f"; no measured time for {', '.join(cost['unknown'])}" if cost["unknown"] else ""
    print(f"paper_figs: {len(chosen)} figure(s), preset {preset}: {len(cost['to_compute'])} to compute, "
          f"{len(cost['cached'])} from the cache; expected about {_duration(cost['seconds'])} with {args.jobs} "
          f"process(es) (the figures' wall times as last measured: "
          f"{'with --jobs 2 on a quiet 2-core machine, plus 20 %' if preset == 'full' else 'serially, on one core of a busy 2-core machine'}"
          f"; longer on a busier or slower one){unknown}", flush=True)

    for spec in absent:
        print(f"paper_figs: skipping {spec.name}: it needs {', '.join(spec.missing())} (an optional extra, not "
              f"installed); to draw it: {spec.install_hint()}", flush=True)
    start = time.perf_counter()
    with executor:
        results = run(chosen, all_specs=specs, preset=preset, out_dir=args.out,
                      cache_dir=None if args.no_cache else args.cache_dir, progress=not args.quiet,
                      executor=executor)
    print(f"\n{'figure':32s} {'seconds':>8s}  source")
    for r in results:
        source = "cache" if r.from_cache else f"computed ({r.computed_steps} steps, {r.reused_steps} reused)"
        print(f"{r.name:32s} {r.seconds:8.1f}  {source}")
    print(summary(results, executor.describe()))
    print(f"total {time.perf_counter() - start:.1f} s; figures and gallery in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
