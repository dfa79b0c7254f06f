"""Predicted membrane variance and firing rate versus depth for every initialiser."""
from __future__ import annotations

import numpy as np

from theory import inits

from . import style
from ._spec import FigureSpec


def compute(params, ctx):
    data = {"depth": np.arange(params["depth"] + 1), "names": inits.names(regime="plain")}
    for name in inits.names(regime="plain"):
        try:
            run = inits.predict(name, params["depth"], params["width"], params["threshold"], params["beta"])
        except ValueError:
            continue
        data[f"q_{name}"], data[f"rate_{name}"] = run.q, run.rate
    data["names"] = [n for n in data["names"] if f"q_{n}" in data]
    return data


def plot(data, params):
    fig, axes = style.new_figure(1, 2, width=9.0, height=4.2)
    floor = 1e-12  # the mean-field reaches exactly 0; draw it at the floor of the log axis
    for name in data["names"]:
        for ax, key in zip(axes[0], ("q", "rate")):
            ax.plot(data["depth"], np.maximum(data[f"{key}_{name}"], floor), color=style.colour(name),
                    label=style.label(name), **style.line_style(name))
    axes[0, 0].set_ylabel(r"membrane variance $q_l$")
    axes[0, 1].set_ylabel(r"firing probability $P(u_l>\theta)$")
    for ax in axes[0]:
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, 10)
        ax.set_xscale("symlog", linthresh=10)  # first ten layers linear: that is where ANN inits die
        ax.set_xlim(0, data["depth"][-1])
        ticks = [t for t in (0, 2, 4, 6, 8, 10, 20, 50, 100, 200, 500, 1000) if t <= data["depth"][-1]]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("layer $l$ (linear to 10, log beyond)")
    style.legend_below(fig, axes, ncol=4)
    fig.suptitle(rf"Mean-field over depth (first step, $\theta$ = {params['threshold']}, "
                 f"width {params['width']}; values < 1e-12 drawn at 1e-12)")
    return fig


_PARAMS = {"depth": 100, "width": 1000, "threshold": 1.0, "beta": 0.5}
FIGURE = FigureSpec(
    name="theory_depth_profile",
    caption="Mean-field prediction (theory.propagate) of the membrane variance and firing "
            "probability per layer, first time step from rest, threshold 1, width 1000, for every "
            "initialiser of the plain LIF stack (the regime-specific ones are in deep_training). Only the paper's init keeps q = 1 and rate Q(1) = 0.159; the ANN schemes "
            "fall to exact silence within a few layers; the leak/reset variant settles at a higher "
            "fixed point. Kaiming and Ding (lambda = 1, theta = 1) coincide, as do Xavier and LeCun for "
            "square layers: Kaiming and Xavier are the wide pale lines under the thin Ding and LeCun lines.",
    compute=compute, plot=plot, expected_seconds={"quick": 1, "full": 5}, order=11, version="2",
    presets={"quick": _PARAMS, "full": _PARAMS, "tiny": {**_PARAMS, "depth": 10}},
)
