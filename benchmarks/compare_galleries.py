"""Are two drawn galleries the same? For every figure both folders hold, figures.compare.differences:
the data file bit for bit (measured wall times aside) and the tables its sidecar lists. Purpose:
"--full --scheduler local and --jobs 2 give the same gallery as a serial run of the same items".

    python paper_figs.py --full --only A,B --out /tmp/serial
    python paper_figs.py --full --only A,B --out /tmp/dask --scheduler local --jobs 2
    python benchmarks/compare_galleries.py figures/out/full /tmp/serial /tmp/dask

Prints one line per figure and exits 1 when any figure differs (2 for a usage mistake).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from figures.compare import differences  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="gallery folder (holding data/NAME.npz)")
    parser.add_argument("others", nargs="+", help="galleries to compare with the reference")
    args = parser.parse_args(argv)
    folders = [Path(args.reference)] + [Path(o) for o in args.others]
    for folder in folders:
        if not (folder / "data").is_dir():
            parser.error(f"{str(folder)!r}: no data/ folder of a drawn gallery there")
    same = True
    for other in folders[1:]:
        names = sorted({p.stem for p in (other / "data").glob("*.npz")}
                       & {p.stem for p in (folders[0] / "data").glob("*.npz")})
        if not names:
            parser.error(f"{str(other)!r} and {args.reference!r} hold no figure in common")
        for name in names:
            found = differences(folders[0], other, name)
            same &= not found
            shown = "; ".join(found[:4]) + (f"; and {len(found) - 4} more" if len(found) > 4 else "")
            print(f"{other} {name}: " + ("identical (data bit for bit, tables)" if not found else shown))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
