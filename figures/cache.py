"""On-disk cache for figure computations, keyed by parameters and code version.

Entries are .npz files written atomically (temporary file + os.replace), so an interrupted
run never leaves a half-written entry under a valid name. Each entry stores its own key;
an entry that fails to load, or whose stored key differs, is treated as missing and
recomputed (corrupt or stale entries are never plotted).
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import json
import os
import tempfile
from functools import lru_cache
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


_LIBRARY_PACKAGES = ("theory", "simulate")


@lru_cache(maxsize=None)
def _source_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def _library_version() -> str:
    """Hash of every source file of the packages that compute figure data (theory, simulate)."""
    digest = hashlib.sha256()
    for package in _LIBRARY_PACKAGES:
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(_source_hash(str(path)).encode())
    return digest.hexdigest()


def _imported_figures_modules(source: str) -> set:
    """Names of the figures modules a module's source imports from (``from .x import`` or
    ``from figures.x import``)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                names.add(f"figures.{node.module}")
            elif node.level == 0 and (node.module or "").startswith("figures."):
                names.add(node.module)
    return names


def code_version(module_name: str) -> str:
    """Short hash of the code that computes an entry: the module's source, the source of every
    other ``figures`` module it uses (e.g. a shared training run), and all of theory/ and
    simulate/. Part of every cache key, so editing any of that code invalidates the entries it
    computed even if nobody bumps the hand-written version (stale entries are never plotted)."""
    try:
        module = importlib.import_module(module_name)
        files = {inspect.getsourcefile(module)}
    except (OSError, TypeError, ImportError):
        return "nosource"
    owners = {getattr(value, "__module__", None) if not inspect.ismodule(value) else value.__name__
              for value in vars(module).values()}
    owners |= _imported_figures_modules(inspect.getsource(module))   # constants carry no __module__
    for owner in owners:
        if isinstance(owner, str) and owner.startswith("figures.") and owner != module_name:
            files.add(inspect.getsourcefile(importlib.import_module(owner)))
    digest = hashlib.sha256(_library_version().encode())
    for path in sorted(files):
        digest.update(_source_hash(path).encode())
    return digest.hexdigest()[:12]


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
        # mkstemp creates 0600; give the file the mode open() would: 0666 minus the user's umask
        # (read by setting and restoring it: os has no other portable way to query it)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
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

    def store(self, kind: str, key: str, data: dict) -> dict:
        """Write ``data`` and return it as a later load will (JSON values normalised), so
        fresh and cached runs plot identical objects."""
        if self.directory is not None:
            save_npz(self.path(kind, key), data, key)
            loaded = self.load(kind, key)
            if loaded is not None:
                return loaded
        return _decode_roundtrip(data)

    def get_or_compute(self, kind: str, version: str, params: dict, func):
        """Cached ``func(params)``; returns (data, came_from_cache)."""
        key = make_key(kind, version, params)
        data = self.load(kind, key)
        if data is not None:
            return data, True
        return self.store(kind, key, func(params)), False


def _decode_roundtrip(data: dict) -> dict:
    """What ``data`` looks like after a store/load cycle (JSON values normalised)."""
    return {k: (v if isinstance(v, np.ndarray) and v.dtype != object
                else json.loads(json.dumps(v, default=_default))) for k, v in data.items()}
