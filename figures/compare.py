"""Are two drawings of a figure the same? Its data file (OUT/data/NAME.npz) array by array, bit
for bit, leaving out measured wall times (keys that name seconds, also inside JSON run records),
and the tables its sidecar lists (OUT/data/NAME.json "files": *.md, *.csv) less their wall-time
columns. Used by benchmarks/compare_galleries.py and by
tests/figures/test_gallery_executors.py (the same gallery whatever executor drew it)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

WALL_TIME = re.compile(r"seconds")
JSON_PREFIX = "json:"        # figures.cache stores lists and dicts as JSON text under such keys


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
    return [c.strip() for c in (line.strip().strip("|").split("|") if separator == "|" else line.split(","))]


def without_wall_time_columns(text: str, separator: str) -> str:
    """A markdown (separator "|") or CSV table text less its wall-time columns (WALL_TIME_COLUMN);
    other lines unchanged. A markdown table's header is the row above its |---| line."""
    lines = text.splitlines()
    drop, out = None, []
    for index, line in enumerate(lines):
        is_row = line.lstrip().startswith("|") if separator == "|" else "," in line
        if not is_row:
            drop = None
            out.append(line)
            continue
        if drop is None:
            header = (separator == ",") or (index + 1 < len(lines) and set(lines[index + 1].replace("|", "").strip()) <= set("-: ")
                                          and "-" in lines[index + 1])
            drop = {i for i, cell in enumerate(_cells(line, separator)) if WALL_TIME_COLUMN.search(cell)} if header else set()
        out.append(separator.join(c for i, c in enumerate(_cells(line, separator)) if i not in drop))
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
