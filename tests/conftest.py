import os

os.environ.setdefault("MPLBACKEND", "Agg")
# idle OpenMP threads sleep instead of spinning (set by programs, not on import of simulate)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
