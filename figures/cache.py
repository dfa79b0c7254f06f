"""On-disk cache for figure computations, keyed by parameters and code version.

Entries are .npz files written atomically (temporary file + os.replace), so an interrupted
run never leaves a half-written entry under a valid name. Each entry stores its own key;
an entry that fails to load, or whose stored key differs, is treated as missing and
recomputed (corrupt or stale entries are never plotted).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

_JSON_PREFIX = "json:"
_KEY_FIELD = "__cache_key__"


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot put {type(obj).__name__} in a cache key")


def code_version(module_name: str) -> str:
    """Short hash of a module's source file: part of every cache key, so editing the code that
    computes an entry invalidates it even if nobody bumps the hand-written version."""
    import importlib
    import inspect

    try:
        source = inspect.getsource(importlib.import_module(module_name))
    except (OSError, TypeError, ImportError):
        return "nosource"
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def make_key(kind: str, version: str, params: dict) -> str:
    """sha256 of the canonical JSON of (kind, version, params)."""
    text = json.dumps({"kind": kind, "version": str(version), "params": params},
                      sort_keys=True, default=_default)
    return hashlib.sha256(text.encode()).hexdigest()


def encode(data: dict) -> dict:
    """numpy arrays stay arrays; everything else is stored as JSON text."""
    out = {}
    for name, value in data.items():
        if name.startswith(_JSON_PREFIX) or name == _KEY_FIELD:
            raise ValueError(f"data key {name!r} is reserved")
        if isinstance(value, np.ndarray) and value.dtype != object:
            out[name] = value
        else:
            out[_JSON_PREFIX + name] = np.array(json.dumps(value, default=_default))
    return out


def decode(arrays) -> dict:
    data = {}
    for name in arrays.files:
        if name == _KEY_FIELD:
            continue
        if name.startswith(_JSON_PREFIX):
            data[name[len(_JSON_PREFIX):]] = json.loads(str(arrays[name]))
        else:
            data[name] = arrays[name]
    return data


def save_npz(path: Path, data: dict, key: str | None = None) -> None:
    """Atomic write of ``data`` (see :func:`encode`) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = encode(data)
    if key is not None:
        arrays[_KEY_FIELD] = np.array(key)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Cache:
    """A directory of cache entries. ``Cache(None)`` caches nothing."""

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = None if directory is None else Path(directory)
        self.hits = 0
        self.misses = 0

    def path(self, kind: str, key: str) -> Path:
        return self.directory / f"{kind}-{key[:20]}.npz"

    def load(self, kind: str, key: str):
        """The stored data, or None if absent, unreadable or stored under another key."""
        if self.directory is None:
            return None
        path = self.path(kind, key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as arrays:
                if _KEY_FIELD not in arrays.files or str(arrays[_KEY_FIELD]) != key:
                    return None
                return decode(arrays)
        except Exception:  # corrupt entry: recompute rather than plot garbage
            return None

    def store(self, kind: str, key: str, data: dict) -> None:
        if self.directory is not None:
            save_npz(self.path(kind, key), data, key)

    def get_or_compute(self, kind: str, version: str, params: dict, func):
        """Cached ``func(params)``; returns (data, came_from_cache)."""
        key = make_key(kind, version, params)
        data = self.load(kind, key)
        if data is not None:
            self.hits += 1
            return data, True
        self.misses += 1
        data = func(params)
        self.store(kind, key, data)
        # read back what was stored so cached and fresh runs plot identical objects
        return (self.load(kind, key) if self.directory is not None else decode_roundtrip(data)), False


def decode_roundtrip(data: dict) -> dict:
    """What ``data`` looks like after a store/load cycle (JSON values normalised)."""
    return {k: (v if isinstance(v, np.ndarray) and v.dtype != object
                else json.loads(json.dumps(v, default=_default))) for k, v in data.items()}
