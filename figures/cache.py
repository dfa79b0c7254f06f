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

JSON_PREFIX = "json:"
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


def _bound_names(node) -> set:
    """Names a module-level statement defines (def, class, assignment targets, imports)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _used_names(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _reachable_code(source: str, entry: str):
    """The module-level statements of ``source`` that the function ``entry`` can reach (the
    statements defining every name it uses, transitively, plus every statement that defines no
    name, e.g. an ``if`` block), and the imports among them; None if ``entry`` is not defined at
    module level. A docstring is not code."""
    body = [node for node in ast.parse(source).body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str))]
    defines = {}
    for node in body:
        for name in _bound_names(node):
            defines.setdefault(name, []).append(node)
    if entry not in defines:
        return None
    kept, todo, seen = [], [entry], set()
    kept_ids = set()
    for node in body:        # statements that define nothing are kept whole (conservative)
        if not _bound_names(node):
            kept.append(node)
            kept_ids.add(id(node))
            todo += list(_used_names(node))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in defines.get(name, []):
            if id(node) not in kept_ids:
                kept_ids.add(id(node))
                kept.append(node)
                todo += list(_used_names(node))
    return [node for node in body if id(node) in kept_ids]


def code_version(module_name: str, entry: str | None = None) -> str:
    """Short hash of the code that computes an entry: the module's source, the source of every
    other ``figures`` module it uses (e.g. a shared training run), and all of theory/ and
    simulate/. Part of every cache key, so editing any of that code invalidates the entries it
    computed even if nobody bumps the hand-written version (stale entries are never plotted).

    ``entry``: the name of the module-level function whose results are cached (a figure's
    ``compute``, a ``ctx.map`` function). In a ``figures`` module, where drawing code sits next
    to computing code, only the code that function can reach is hashed (the statements defining
    the names it uses, transitively; comments and docstrings aside), with the whole source of
    every other figures module it uses; so editing a caption, a plot or a table keeps the
    computed data. Any other module, or an entry not defined at module level, is hashed whole."""
    try:
        module = importlib.import_module(module_name)
        files = {inspect.getsourcefile(module)}
        source = inspect.getsource(module)
    except (OSError, TypeError, ImportError):
        return "nosource"
    reachable = None
    if entry is not None and module_name.startswith("figures."):
        reachable = _reachable_code(source, entry)
    if reachable is None:
        owners = {getattr(value, "__module__", None) if not inspect.ismodule(value) else value.__name__
                  for value in vars(module).values()}
        owners |= _imported_figures_modules(source)   # constants carry no __module__
    else:
        used = set().union(*(_used_names(node) for node in reachable)) if reachable else set()
        owners = set()
        for name in used:
            value = vars(module).get(name)
            if value is None:
                continue
            owners.add(value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None))
        # constants imported from another figures module carry no __module__: their import statement says
        owners |= _imported_figures_modules(ast.unparse(ast.Module(
            body=[node for node in reachable if isinstance(node, ast.ImportFrom)
                  and _bound_names(node) & used], type_ignores=[])))
        files = set()
    for owner in owners:
        if isinstance(owner, str) and owner.startswith("figures.") and owner != module_name:
            files.add(inspect.getsourcefile(importlib.import_module(owner)))
    digest = hashlib.sha256(_library_version().encode())
    for path in sorted(files):
        digest.update(_source_hash(path).encode())
    if reachable is not None:
        digest.update(f"{module_name}:{entry}".encode())
        for node in reachable:
            digest.update(ast.dump(node, include_attributes=False).encode())
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
        if name.startswith(JSON_PREFIX) or name == _KEY_FIELD:
            raise ValueError(f"data key {name!r} is reserved")
        if isinstance(value, np.ndarray) and value.dtype != object:
            out[name] = value
        else:
            out[JSON_PREFIX + name] = np.array(json.dumps(value, default=_default))
    return out


def decode(arrays) -> dict:
    data = {}
    for name in arrays.files:
        if name == _KEY_FIELD:
            continue
        if name.startswith(JSON_PREFIX):
            data[name[len(JSON_PREFIX):]] = json.loads(str(arrays[name]))
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

    def contains(self, kind: str, key: str) -> bool:
        """Whether an entry is stored under ``key`` (reads the stored key only, not the data)."""
        if self.directory is None or not self.path(kind, key).exists():
            return False
        try:
            with np.load(self.path(kind, key), allow_pickle=False) as arrays:
                return _KEY_FIELD in arrays.files and str(arrays[_KEY_FIELD]) == key
        except Exception:
            return False

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
