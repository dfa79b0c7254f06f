"""One module per figure; each defines FIGURE (or FIGURES), a figures._spec.FigureSpec.

``all_figures()`` discovers them, so adding a figure means adding a module, nothing else.
"""
from __future__ import annotations

import importlib
import pkgutil

from ._spec import FigureSpec

_INFRASTRUCTURE = {"cache", "context", "style", "runner"}


def all_figures() -> list[FigureSpec]:
    """Every FigureSpec in the package, in gallery order (``order``, then name)."""
    specs = []
    for module_info in pkgutil.iter_modules(__path__):
        name = module_info.name
        if name.startswith("_") or name in _INFRASTRUCTURE:
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        specs.extend(getattr(module, "FIGURES", []))
        if hasattr(module, "FIGURE"):
            specs.append(module.FIGURE)
    names = [spec.name for spec in specs]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise RuntimeError(f"figure names defined twice: {sorted(duplicated)}")
    return sorted(specs, key=lambda spec: (spec.order, spec.name))


__all__ = ["FigureSpec", "all_figures"]
