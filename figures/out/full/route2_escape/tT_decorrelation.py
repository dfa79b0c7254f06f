"""The decorrelation measurement of t8_decorrelation.py at another T (kept for the commands in
summary.txt): python figures/out/full/route2_escape/tT_decorrelation.py T"""
import runpy
import sys
from pathlib import Path

sys.argv = [sys.argv[0], sys.argv[1] if len(sys.argv) > 1 else "8"]
runpy.run_path(str(Path(__file__).with_name("t8_decorrelation.py")), run_name="__main__")
