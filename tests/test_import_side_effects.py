"""Importing the toolkit changes no global state: no matplotlib backend chosen, no OpenMP
environment variable set (programs do that where they start: paper_figs.py, the training CLI,
the benchmarks)."""
import os
import subprocess
import sys

CHECK = """
import os, matplotlib
before = dict.__getitem__(matplotlib.rcParams, "backend")
import theory, simulate, figures, figures.style, simulate.bptt_kernels  # noqa: F401
after = dict.__getitem__(matplotlib.rcParams, "backend")
assert before is after or before == after, (before, after)
assert "OMP_WAIT_POLICY" not in os.environ, os.environ["OMP_WAIT_POLICY"]
print("clean")
"""


def test_import_changes_no_global_state():
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"
