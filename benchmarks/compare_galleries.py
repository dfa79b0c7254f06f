"""Are two drawn galleries the same? Compares the data files (OUT/data/NAME.npz) of the figures
both folders hold, array by array and bit for bit, leaving out measured wall times (keys that
name seconds), and their tables (*.md, *.csv beside the figures). Issue 15: "--full --scheduler
local and --jobs 2 give the same gallery as a serial run of the same items".

    python paper_figs.py --full --only A,B --out /tmp/serial
    python paper_figs.py --full --only A,B --out /tmp/dask --scheduler local --jobs 2
    python benchmarks/compare_galleries.py figures/out/full /tmp/serial /tmp/dask

Prints one line per figure and exits 1 when any figure differs (2 for a usage mistake).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

WALL_TIME = re.compile(r"seconds")


def _arrays(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files if not WALL_TIME.search(key)}


def _tables(out: Path, name: str) -> dict:
    return {p.name: p.read_text() for p in sorted(out.glob(f"{name}*")) if p.suffix in (".md", ".csv")}


def differences(reference: Path, other: Path, name: str) -> list[str]:
    """What differs between the two drawings of figure ``name`` (empty: identical)."""
    a, b = _arrays(reference / "data" / f"{name}.npz"), _arrays(other / "data" / f"{name}.npz")
    found = [f"keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
    for key in sorted(set(a) & set(b)):
        if a[key].shape != b[key].shape or a[key].dtype != b[key].dtype:
            found.append(f"{key}: shape/dtype {a[key].shape} {a[key].dtype} vs {b[key].shape} {b[key].dtype}")
        elif not np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind in "fc"):
            found.append(f"{key}: values differ")
    if _tables(reference, name) != _tables(other, name):
        found.append("tables differ")
    return found


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
