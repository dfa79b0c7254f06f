"""The length map: cobwebs, and its fixed points and their stability versus threshold."""
from __future__ import annotations

import numpy as np

import theory

from . import style
from ._spec import FigureSpec


def compute(params, ctx):
    fan_in = params["fan_in"]
    q_grid = np.linspace(0.0, params["q_max"], 400)
    cobwebs = {}
    for threshold in params["cobweb_thresholds"]:
        sigma = theory.optimal_sigma(threshold, fan_in)
        starts = params["cobweb_starts"]
        paths = [theory.propagate(params["cobweb_steps"], sigma, fan_in, threshold, q0=q0).q.tolist() for q0 in starts]
        cobwebs[str(threshold)] = {"map": np.asarray(theory.length_map(q_grid, sigma, fan_in, threshold)).tolist(),
                                   "paths": paths}
    thresholds = np.linspace(params["threshold_min"], params["threshold_max"], params["points"])
    branches = []  # (threshold, q, slope, stable)
    for threshold in thresholds:
        for point in theory.fixed_points(theory.optimal_sigma(threshold, fan_in), fan_in, threshold):
            branches.append((threshold, point.q, point.slope, point.stable))
    return {"q_grid": q_grid, "cobwebs": cobwebs, "thresholds": thresholds,
            "branches": np.array(branches), "critical": theory.critical_threshold()}


def plot(data, params):
    fig, axes = style.new_figure(1, 3, width=12.5, height=3.8)
    ax = axes[0, 0]
    q = data["q_grid"]
    ax.plot(q, q, color="k", lw=0.8, label="identity")
    cobweb_thresholds = [float(t) for t in data["cobwebs"]]
    for threshold in data["cobwebs"]:
        colour = style.sequence_colour(float(threshold), cobweb_thresholds + [max(cobweb_thresholds) * 1.6])
        entry = data["cobwebs"][threshold]
        ax.plot(q, entry["map"], color=colour, label=rf"$g(q)$, $\theta$ = {threshold}")
        for path in entry["paths"]:
            xs, ys = [path[0]], [0.0]
            for a, b in zip(path[:-1], path[1:]):
                xs += [a, b]
                ys += [b, b]
            ax.plot(xs, ys, color=colour, lw=0.6, alpha=0.7)
    ax.set_xlabel(r"$q_{l-1}$")
    ax.set_ylabel(r"$q_l$")
    ax.set_title("Cobweb (paper's init)")
    ax.legend(loc="upper left")

    branches = data["branches"]
    ax = axes[0, 1]
    for stable, marker, text in ((True, "o", "stable"), (False, "x", "unstable")):
        sel = branches[:, 3] == stable
        ax.plot(branches[sel, 0], branches[sel, 1], marker, ms=2.5, linestyle="none",
                color=style.NEUTRAL["mean_field"] if stable else style.NEUTRAL["chain"], label=f"{text} fixed point")
    ax.axvline(data["critical"], color="k", ls="--", lw=0.8, label=rf"$\theta_c$ = {data['critical']:.4f}")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_ylim(0, branches[:, 1].max() * 1.5)
    ax.set_xlabel(r"threshold $\theta$")
    ax.set_ylabel(r"fixed point $q^*$")
    ax.set_title("Fixed points vs threshold")
    ax.legend(loc="upper left")

    ax = axes[0, 2]
    active = branches[np.isclose(branches[:, 1], 1.0, rtol=1e-6)]
    ax.plot(active[:, 0], active[:, 2], color=style.colour("micheli"), label=r"slope at $q^*=1$ (paper's init)")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axvline(data["critical"], color="k", ls="--", lw=0.8)
    ax.set_xlabel(r"threshold $\theta$")
    ax.set_ylabel(r"$g'(q^*)$")
    ax.set_title(r"Stability of $q^* = 1$")
    ax.legend(loc="upper left")
    return fig


def findings(data, params) -> str:
    """The numbers the caption quotes, read off the data: at threshold 1 (the grid point nearest
    it) the slope at q* = 1 and the unstable fixed point between 0 and 1; theta_c."""
    branches = data["branches"]
    t = branches[np.argmin(np.abs(branches[:, 0] - 1.0)), 0]
    at = branches[branches[:, 0] == t]
    one = at[np.isclose(at[:, 1], 1.0, rtol=1e-6)]
    unstable = at[(at[:, 3] == 0) & (at[:, 1] > 0) & (at[:, 1] < 1.0 - 1e-9)]
    text = f"At threshold {t:g} (fan-in {params['fan_in']}): q* = 1 has slope {one[0, 2]:.4f}" if one.size else ""
    if unstable.size:
        text += (f"; the unstable fixed point at q = {unstable[0, 1]:.3f} separates starts that die from starts "
                 "that reach q* = 1")
    return text + f". The slope at q* = 1 crosses 1 at theta_c = {data['critical']:.4f}."


_PARAMS = {"fan_in": 1000, "q_max": 2.5, "cobweb_thresholds": [1.0, 1.4], "cobweb_starts": [0.3, 0.6, 1.8],
           "cobweb_steps": 12, "threshold_min": 0.1, "threshold_max": 2.5, "points": 121}
FIGURE = FigureSpec(
    name="theory_length_map",
    title="The length map: its fixed points and their stability versus threshold",
    caption="Length map q_l = n sigma_w^2 Q(theta/sqrt(q_{l-1})) under the paper's init. Left: cobwebs "
            "at theta = 1 (q* = 1 stable; starts below the unstable fixed point die) and "
            "theta = 1.4 (q* = 1 unstable, activity runs away to a larger fixed point). Middle: all fixed "
            "points versus threshold (q = 0 always stable). Right: slope at q* = 1, crossing 1 at the "
            "computed critical threshold theta_c. Thresholds are drawn on a sequential map, never in an "
            "initialiser's colour.",
    compute=compute, plot=plot, findings=findings, expected_seconds={"quick": 1, "full": 5}, order=12,
    presets={"quick": _PARAMS, "full": _PARAMS, "tiny": {**_PARAMS, "points": 9}},
)
