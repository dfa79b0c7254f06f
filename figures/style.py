"""One style for every figure: colours per initialiser, markers, sizes, saving.

Theory is drawn as lines, simulation as points with error bars; an initialiser has the
same colour in every figure.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

INIT_COLOURS = {
    "micheli": "#d62728",
    "micheli_reset": "#ff7f0e",
    "micheli_temporal": "#8c564b",
    "micheli_temporal_finite": "#393b79",
    "finite_width": "#e377c2",
    "kaiming": "#1f77b4",
    "xavier": "#2ca02c",
    "lecun": "#17becf",
    "pytorch_default": "#7f7f7f",
    "fluctuation": "#9467bd",
    "ding": "#bcbd22",
    # the other regimes' initialisers (escape noise, heavy-tailed weights, residual blocks)
    "escape_critical": "#e7ba52",
    "stable": "#7b4173",
    "sew_add": "#00a087",
}
_FALLBACK = plt.rcParams["axes.prop_cycle"].by_key()["color"]

INIT_LABELS = {
    "micheli": "Micheli (paper)",
    "micheli_reset": "Micheli leak/reset (code)",
    "micheli_temporal": "temporal (this toolkit)",
    "micheli_temporal_finite": "temporal, finite width (this toolkit)",
    "finite_width": "finite-width (this toolkit)",
    "kaiming": "Kaiming",
    "xavier": "Xavier",
    "lecun": "LeCun",
    "pytorch_default": "PyTorch default",
    "fluctuation": "fluctuation-driven",
    "ding": "Ding et al.",
    "escape_critical": "escape noise, critical (this toolkit)",
    "stable": "Cauchy / alpha-stable weights",
    "sew_add": "residual SEW-ADD blocks (this toolkit)",
}

# What is not an initialiser (a kind of estimate, a reference line, a threshold) is drawn in
# black, greys or a sequential map, never in an initialiser's colour.
NEUTRAL = {"mean_field": "black", "reference": "0.35", "chain": "0.45", "light": "0.7"}


def sequence_colour(value, values, cmap="viridis"):
    """Colour of one value of an ordered parameter (threshold, T, ...) on a sequential map, so it
    is never mistaken for an initialiser's colour."""
    import numpy as np
    ordered = np.sort(np.asarray(values, dtype=float))
    position = np.searchsorted(ordered, value) / max(len(ordered) - 1, 1)
    return plt.get_cmap(cmap)(0.05 + 0.8 * position)


def regime_colour(fields: dict) -> str:
    """Colour of a training regime given as TrainConfig fields (figure deep_training's REGIMES):
    its initialiser's colour (``fields["init"]``), so a regime matches its init in every figure."""
    return colour(fields["init"])

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
    "errorbar.capsize": 2,
}
plt.rcParams.update(RC)

THEORY = {"linestyle": "-"}
SIMULATION = {"marker": "o", "linestyle": "none", "markersize": 3.5, "elinewidth": 1}


# Initialisers that coincide in several figures (theta = 1, square layers: Kaiming = Ding,
# Xavier = LeCun). The first of each pair is drawn wide and translucent under the second (thin),
# and their simulation markers differ, so both colours stay visible where the curves overlap.
UNDERLAID = {"kaiming": "ding", "xavier": "lecun"}
_ON_TOP = set(UNDERLAID.values())
MARKERS = {"ding": "s", "lecun": "s"}
OVERLAP_NOTE = ("Kaiming and Ding et al. coincide at theta = 1, as do Xavier and LeCun for square layers: "
                "Kaiming and Xavier are drawn as wide pale lines under the thin Ding and LeCun lines "
                "(square markers)")


def line_style(name: str, present=None) -> dict:
    """Line keyword arguments of an initialiser: wide and translucent for the underlaid one of a
    coinciding pair (UNDERLAID), default otherwise (also when ``present``, the names drawn in the
    figure, lacks its partner)."""
    if present is not None and name in UNDERLAID and UNDERLAID[name] not in present:
        return {}
    if name in UNDERLAID:
        return {"linewidth": 4.2, "alpha": 0.45, "solid_capstyle": "butt"}
    if name in _ON_TOP:
        return {"linewidth": 1.3}
    return {}


def marker(name: str) -> str:
    """Simulation marker of an initialiser (squares for the top line of a coinciding pair)."""
    return MARKERS.get(name, "o")


def simulation_style(name: str, present=None) -> dict:
    """style.SIMULATION with the initialiser's marker (larger and translucent under a coinciding
    partner, if that partner is ``present``)."""
    kwargs = {**SIMULATION, "marker": marker(name)}
    if name in UNDERLAID and (present is None or UNDERLAID[name] in present):
        kwargs.update(markersize=6.5, alpha=0.6)
    return kwargs


def colour(name: str) -> str:
    """Colour of an initialiser (stable across figures); unknown names get a fixed fallback."""
    if name in INIT_COLOURS:
        return INIT_COLOURS[name]
    return _FALLBACK[sum(map(ord, name)) % len(_FALLBACK)]


def label(name: str) -> str:
    return INIT_LABELS.get(name, name)


def new_figure(nrows=1, ncols=1, width=None, height=None, **kwargs):
    """plt.subplots with the project's default size (3.6 x 3.0 inches per panel)."""
    width = width or 3.6 * ncols + 0.6
    height = height or 3.0 * nrows + 0.4
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kwargs)


def legend_below(fig, axes, ncol=4):
    """One legend for the whole figure, below the panels, so it never hides data."""
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol)
