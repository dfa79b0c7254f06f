"""Are two drawings of a figure the same? Its data file (OUT/data/NAME.npz) array by array, bit
for bit, leaving out measured wall times (keys that name seconds), and the tables its sidecar
lists (OUT/data/NAME.json "files": *.md, *.csv). Used by benchmarks/compare_galleries.py and by
tests/figures/test_gallery_executors.py (the same gallery whatever executor drew it)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

WALL_TIME = re.compile(r"seconds")


def _arrays(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files if not WALL_TIME.search(key)}


def _tables(out: Path, name: str) -> dict:
    files = json.loads((out / "data" / f"{name}.json").read_text())["files"]
    return {f: (out / f).read_text() for f in files if Path(f).suffix in (".md", ".csv")}


def differences(reference, other, name: str) -> list[str]:
    """What differs between the drawings of figure ``name`` in two gallery folders (empty: identical)."""
    reference, other = Path(reference), Path(other)
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
