"""Weight std (times sqrt(fan_in)) versus threshold for every registered initialiser."""
from __future__ import annotations

import numpy as np

from theory import inits

from . import style
from ._spec import FigureSpec


def compute(params, ctx):
    thresholds = np.linspace(params["threshold_min"], params["threshold_max"], params["points"])
    fan_in = params["fan_in"]
    scaled = {}
    for name in inits.names():
        values = []
        for threshold in thresholds:
            try:
                values.append(inits.weight_std(name, fan_in, fan_in, threshold, params["beta"]) * np.sqrt(fan_in))
            except ValueError:  # formula undefined there (e.g. micheli_reset numerator <= 0)
                values.append(np.nan)
        scaled[name] = np.array(values)
    return {"thresholds": thresholds, "names": list(scaled), **{f"std_{k}": v for k, v in scaled.items()}}


def plot(data, params):
    fig, axes = style.new_figure(1, 1, width=5.4, height=3.8)
    ax = axes[0, 0]
    for name in data["names"]:
        ax.plot(data["thresholds"], data[f"std_{name}"], color=style.colour(name), label=style.label(name))
    ax.set_yscale("log")
    ax.set_xlabel(r"threshold $\theta$")
    ax.set_ylabel(r"weight std $\times\sqrt{n}$")
    ax.set_title(rf"Initialiser scale vs threshold (n = {params['fan_in']}, $\beta$ = {params['beta']})")
    ax.legend(loc="upper left", ncol=2)
    return fig


_PARAMS = {"threshold_min": 0.0, "threshold_max": 3.0, "points": 121, "fan_in": 1000, "beta": 0.5}
FIGURE = FigureSpec(
    name="theory_weight_scale",
    caption="Weight standard deviation times sqrt(fan_in) versus threshold for every initialiser in "
            "the registry (fan_in 1000, beta 0.5 where an initialiser uses it). The paper's scale "
            "1/sqrt(Q(theta)) grows fast with the threshold; ANN schemes ignore it.",
    compute=compute, plot=plot, order=10,
    presets={"quick": _PARAMS, "full": _PARAMS, "tiny": {**_PARAMS, "points": 7}},
)
