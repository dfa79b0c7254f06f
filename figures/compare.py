"""Are two drawings of a figure the same? Its data file (OUT/data/NAME.npz) array by array, bit
for bit, leaving out measured wall times (keys that name seconds, also inside JSON run records),
and the tables its sidecar lists (OUT/data/NAME.json "files": *.md, *.csv) less their wall-time
columns. Used by benchmarks/compare_galleries.py and by
tests/figures/test_gallery_executors.py (the same gallery whatever executor drew it)."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from .cache import JSON_PREFIX     # the keys under which lists and dicts are JSON text

WALL_TIME = re.compile(r"seconds")


def _without_wall_times(value):
    """A JSON value less every dict entry whose key names seconds, at any depth."""
    if isinstance(value, dict):
        return {k: _without_wall_times(v) for k, v in value.items() if not WALL_TIME.search(k)}
    if isinstance(value, list):
        return [_without_wall_times(v) for v in value]
    return value


def _arrays(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files if not WALL_TIME.search(key)}


# a table column that holds measured wall time: its header names seconds or the unit s as a word
# ("s/it", "init s", "train s depth 10")
WALL_TIME_COLUMN = re.compile(r"seconds|\bs/it\b|(^|[\s_])s([\s_]|$)")


def _cells(line: str, separator: str) -> list:
    if separator == "|":
        return [c.strip() for c in line.strip().strip("|").split("|")]
    return next(csv.reader([line]))         # a quoted cell may hold commas ("3, 2, 2")


def without_wall_time_columns(text: str, separator: str) -> str:
    """A markdown (separator "|") or CSV table text less its wall-time columns (WALL_TIME_COLUMN,
    read off each table's first row, its header); other lines unchanged."""
    drop, out = None, []
    for line in text.splitlines():
        if not (line.lstrip().startswith("|") if separator == "|" else "," in line):
            drop = None                 # between tables
            out.append(line)
            continue
        cells = _cells(line, separator)
        if drop is None:
            drop = {i for i, cell in enumerate(cells) if WALL_TIME_COLUMN.search(cell)}
        out.append(separator.join(c for i, c in enumerate(cells) if i not in drop))
    return "\n".join(out)


def _tables(out: Path, name: str) -> dict:
    files = json.loads((out / "data" / f"{name}.json").read_text())["files"]
    return {f: without_wall_time_columns((out / f).read_text(), "|" if f.endswith(".md") else ",")
            for f in files if Path(f).suffix in (".md", ".csv")}


def differences(reference, other, name: str) -> list[str]:
    """What differs between the drawings of figure ``name`` in two gallery folders (empty: identical)."""
    reference, other = Path(reference), Path(other)
    a, b = _arrays(reference / "data" / f"{name}.npz"), _arrays(other / "data" / f"{name}.npz")
    found = [f"keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
    for key in sorted(set(a) & set(b)):
        if key.startswith(JSON_PREFIX):
            # run records nested in JSON text carry their own wall times: compare the rest of them
            # (compared as canonical JSON text: NaN equals NaN there, as in the arrays below)
            texts = [json.dumps(_without_wall_times(json.loads(str(x[key]))), sort_keys=True) for x in (a, b)]
            if texts[0] != texts[1]:
                found.append(f"{key}: values differ")
        elif a[key].shape != b[key].shape or a[key].dtype != b[key].dtype:
            found.append(f"{key}: shape/dtype {a[key].shape} {a[key].dtype} vs {b[key].shape} {b[key].dtype}")
        elif not np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind in "fc"):
            found.append(f"{key}: values differ")
    if _tables(reference, name) != _tables(other, name):
        found.append("tables differ")
    return found
