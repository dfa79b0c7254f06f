"""Wall time of the default test suite, in one process and on every core the process may use
(the default: `-n auto`, pytest-xdist with tests/conftest.py's worker count), one after the other
in one run, so the ratio compares like with like.

    python benchmarks/bench_suite.py                 # both, in that order
    python benchmarks/bench_suite.py --only parallel

Each suite runs as `python -m pytest -q -p no:cacheprovider -n N` in a fresh process (Numba's
kernel cache is warm after the first: the one-process run goes first and pays any compilation,
so the ratio does not flatter the parallel run). Prints one markdown row per run and the ratio.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"serial": ["-n", "0"], "parallel": ["-n", "auto"]}


def run_suite(extra: list[str]) -> tuple[float, str]:
    """Wall seconds and pytest's summary line of one default-suite run; exits if a test fails."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = [line for line in done.stdout.splitlines() if re.search(r"\d+ passed", line)]
    if done.returncode != 0:
        sys.exit(f"bench_suite: {' '.join(command)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
    return seconds, summary[-1].strip("= ") if summary else "?"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RUNS), help="run one of the two suites")
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(RUNS)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores this process may use: {cores}; load before: {os.getloadavg()[0]:.2f}")
    print("| suite | pytest options | wall seconds | pytest says |\n|---|---|---|---|")
    seconds = {}
    for name in names:
        seconds[name], summary = run_suite(RUNS[name])
        print(f"| {name} | `{' '.join(RUNS[name])}` | {seconds[name]:.1f} | {summary} |", flush=True)
    if len(seconds) == 2:
        print(f"\nserial / parallel: {seconds['serial'] / seconds['parallel']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
