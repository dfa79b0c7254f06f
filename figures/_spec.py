"""The contract every figure module fulfils, and the computation context it is given.

A figure module defines ``FIGURE = FigureSpec(...)`` (or ``FIGURES = [...]``):

    compute(params, ctx) -> data      pure numbers: dict of numpy arrays, numbers, strings,
                                      or JSON-able lists/dicts; cached on disk by figures.cache
    plot(data, params) -> Figure      matplotlib only, no computation
    tables(data, params) -> {filename: text}     optional (markdown, CSV)
    agreement(data, params) -> str               optional one-line theory-vs-simulation summary
    findings(data, params) -> str                optional: the caption's statements that carry numbers,
                                                 computed from the data with the budget they hold for
                                                 (the static caption says what is drawn, never a result)

``presets`` maps "quick" (default run, minutes), "full" (paper scale) and "tiny" (tests,
seconds) to parameter dicts. Bump ``version`` whenever ``compute`` changes its numbers:
the cache key contains it, so stale entries are never plotted. ``needs``: the importable
packages of an optional extra the figure computes with (the torch-extra part of the gallery);
paper_figs skips such a figure, saying what to install, where they are missing.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

# how to install each optional package a figure may need (README "Using it with PyTorch")
INSTALL = {"torch": 'pip install ".[torch]"', "snntorch": 'pip install ".[torch]"',
           "spikingjelly": 'pip install --no-deps "spikingjelly==2.0.0" loguru'}


@dataclass(frozen=True)
class FigureSpec:
    name: str
    caption: str
    compute: Callable[[dict, Any], dict]
    plot: Callable[[dict, dict], Any]
    presets: dict
    version: str = "1"
    tables: Callable[[dict, dict], dict] | None = None
    agreement: Callable[[dict, dict], str] | None = None
    findings: Callable[[dict, dict], str] | None = None
    order: int = 100                      # position in the gallery (lower first)
    title: str = ""                       # one line for the gallery's contents (default: the caption's start)
    # preset -> wall seconds as last measured (quick: serially; full: --jobs 2 on 2 cores, + 20 %)
    expected_seconds: dict = field(default_factory=dict)
    # preset -> what that preset leaves out of the science and why (printed in the gallery)
    preset_notes: dict = field(default_factory=dict)
    needs: tuple = ()

    def missing(self) -> list:
        """The packages of ``needs`` that cannot be imported here."""
        return [name for name in self.needs if importlib.util.find_spec(name) is None]

    def install_hint(self) -> str:
        """The commands that install what :meth:`missing` lists."""
        return " && ".join(dict.fromkeys(INSTALL.get(name, f"pip install {name}") for name in self.missing()))

    def params(self, preset: str) -> dict:
        if preset not in self.presets:
            raise ValueError(f"preset must be one of {sorted(self.presets)} for figure {self.name!r}, got {preset!r}")
        return dict(self.presets[preset])
