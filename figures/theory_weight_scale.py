"""Weight std (times sqrt(fan_in)) versus threshold for every registered initialiser."""
from __future__ import annotations

import numpy as np

from theory import inits

from . import style
from ._spec import FigureSpec


def scaled_std(item):
    """std * sqrt(fan_in) of one initialiser at one threshold; NaN where the formula is undefined
    (e.g. micheli_reset's numerator <= 0, or no temporal fixed point with the target rate)."""
    try:
        std = inits.weight_std(item["name"], item["fan_in"], item["fan_in"], item["threshold"], item["beta"])
    except ValueError:
        return {"value": float("nan")}
    return {"value": std * np.sqrt(item["fan_in"])}


def compute(params, ctx):
    fine = np.linspace(params["threshold_min"], params["threshold_max"], params["points"])
    coarse = np.linspace(params["threshold_min"], params["threshold_max"], params["coarse_points"])
    data = {"names": inits.names(regime="plain"), "coarse_names": []}
    for name in inits.names(regime="plain"):
        # initialisers found by a root search (seconds each) get a coarse, cached grid
        slow = name in params["slow"]
        grid = coarse if slow else fine
        items = [{"name": name, "fan_in": params["fan_in"], "threshold": float(t), "beta": params["beta"]}
                 for t in grid]
        values = ctx.map(scaled_std, items, desc=name) if slow else [scaled_std(item) for item in items]
        data[f"thresholds_{name}"] = grid
        data[f"std_{name}"] = np.array([v["value"] for v in values], dtype=float)
        if slow:
            data["coarse_names"].append(name)
    return data


def plot(data, params):
    fig, axes = style.new_figure(1, 1, width=5.6, height=4.6)
    ax = axes[0, 0]
    for name in data["names"]:
        marker = "o" if name in data["coarse_names"] else None
        ax.plot(data[f"thresholds_{name}"], data[f"std_{name}"], color=style.colour(name),
                label=style.label(name), marker=marker, ms=3, **style.line_style(name))
    ax.set_yscale("log")
    ax.set_xlabel(r"threshold $\theta$")
    ax.set_ylabel(r"weight std $\times\sqrt{n}$")
    ax.set_title(rf"Initialiser scale vs threshold (n = {params['fan_in']}, $\beta$ = {params['beta']})")
    style.legend_below(fig, axes, ncol=3)
    return fig


_PARAMS = {"threshold_min": 0.0, "threshold_max": 3.0, "points": 121, "coarse_points": 7, "fan_in": 1000,
           "beta": 0.5, "slow": ["micheli_temporal"]}
FIGURE = FigureSpec(
    name="theory_weight_scale",
    title="Weight scale of every initialiser versus threshold",
    caption="Weight standard deviation times sqrt(fan_in) versus threshold for every initialiser of "
            "the plain LIF stack in the registry (fan_in 1000, beta 0.5 where an initialiser uses it; the temporal init is "
            "found by a root search, so it is drawn at the marked thresholds only, and is missing where "
            "no stable temporal fixed point has the target rate). The paper's scale 1/sqrt(Q(theta)) "
            "grows fast with the threshold; ANN schemes ignore it. Xavier and LeCun coincide for square "
            "layers (Xavier is the wide pale line under LeCun); Ding et al. crosses Kaiming at theta = 1.",
    compute=compute, plot=plot, expected_seconds={"quick": 2, "full": 40}, order=10, version="2",
    presets={"quick": {**_PARAMS, "coarse_points": 5}, "full": {**_PARAMS, "coarse_points": 31},
             "tiny": {**_PARAMS, "points": 7, "coarse_points": 2, "threshold_max": 1.0}},
)
