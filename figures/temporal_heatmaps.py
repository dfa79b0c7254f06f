"""Rate over layers x time steps: temporal mean-field beside simulation, for the paper's init,
the authors' leak/reset variant and the temporal init, at several leaks beta."""
from __future__ import annotations

import numpy as np
from matplotlib import colors


from . import style
from ._spec import FigureSpec
from .common import predict_and_simulate

INITS = ("micheli", "micheli_reset", "micheli_temporal")


def _items(params):
    keys = ("depth", "width", "steps", "threshold", "reset", "encoding", "samples", "batch", "draws", "seed",
            "init_samples", "init_depth")
    return [{"init": init, "beta": beta, **{k: params[k] for k in keys}}
            for init in INITS for beta in params["betas"]]


def compute(params, ctx):
    items = _items(params)
    results = ctx.map(predict_and_simulate, items, version="1", desc="temporal heat maps")
    data = {"inits": list(INITS), "betas": list(params["betas"])}
    for item, result in zip(items, results):
        tag = f"{item['init']}_{item['beta']}"
        if result["defined"]:
            data[f"theory_{tag}"] = result["theory_rate"]
            data[f"sim_{tag}"] = result["sim_rate"]
            data[f"se_{tag}"] = result["sim_rate_se"]
    return data


def plot(data, params):
    betas, names = data["betas"], data["inits"]
    fig, axes = style.new_figure(len(names), 2 * len(betas), width=2.0 * 2 * len(betas) + 1.2,
                                 height=2.3 * len(names) + 0.8, sharex=True, sharey=True)
    rates = [np.asarray(v) for k, v in data.items() if k.startswith(("theory_", "sim_"))]
    vmax = max(float(np.max(r)) for r in rates)
    norm = colors.PowerNorm(0.5, vmin=0.0, vmax=vmax)       # sqrt scale: low rates stay visible
    image = None
    for row, name in enumerate(names):
        for col, beta in enumerate(betas):
            for offset, kind in enumerate(("theory", "sim")):
                ax = axes[row, 2 * col + offset]
                ax.grid(False)
                key = f"{kind}_{name}_{beta}"
                if key not in data:
                    ax.text(0.5, 0.5, "undefined", ha="center", va="center", transform=ax.transAxes)
                else:
                    rate = np.asarray(data[key])
                    image = ax.imshow(rate, aspect="auto", origin="lower", cmap="magma", norm=norm,
                                      extent=(0.5, rate.shape[1] + 0.5, -0.5, rate.shape[0] - 0.5),
                                      interpolation="nearest")
                if row == 0:
                    ax.set_title(rf"$\beta$={beta}: {'theory' if kind == 'theory' else 'simulation'}", fontsize=9)
                if row == len(names) - 1:
                    ax.set_xlabel("time step t")
                if col == 0 and offset == 0:
                    ax.set_ylabel(f"{style.label(name)}\nlayer l", color=style.colour(name), fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="rate (sqrt scale)")
    fig.suptitle(f"Rate per layer and step, width {params['width']}, {params['reset']} reset, "
                 f"{params['encoding']} input, threshold {params['threshold']}", fontsize=11)
    return fig


def agreement(data, params):
    gaps = []
    for name in data["inits"]:
        for beta in data["betas"]:
            key = f"{name}_{beta}"
            if f"theory_{key}" in data:
                gap = np.abs(np.asarray(data[f"sim_{key}"]) - np.asarray(data[f"theory_{key}"]))
                gaps.append((float(np.mean(gap)), float(np.max(gap)), key))
    worst = max(gaps, key=lambda g: g[1])
    return (f"mean |sim - theory| of the per-layer per-step rate {np.mean([g[0] for g in gaps]):.4f} over all "
            f"panels; largest single-cell gap {worst[1]:.3f} ({worst[2]})")


_BASE = {"threshold": 1.0, "reset": "subtract", "encoding": "gaussian", "steps": 10, "seed": 0,
         "betas": [0.0, 0.5, 0.9],
         "init_samples": 10000, "init_depth": 100}
FIGURE = FigureSpec(
    name="temporal_heatmaps",
    caption="Firing rate per layer (vertical) and time step (horizontal) for the paper's init, the "
            "authors' leak/reset variant and the temporal init of this toolkit, at leak beta 0, 0.5 "
            "and 0.9 (subtract reset, i.i.d. N(0,1) input currents): temporal mean-field theory (left "
            "of each pair) beside the simulated network (right, mean over independent draws).",
    compute=compute, plot=plot, agreement=agreement, order=70, version="1",
    presets={"quick": {**_BASE, "depth": 30, "width": 500, "samples": 8000, "batch": 4, "draws": 2},
             "full": {**_BASE, "depth": 100, "width": 2000, "samples": 30000, "batch": 8, "draws": 4},
             "tiny": {**_BASE, "depth": 4, "width": 60, "steps": 3, "samples": 500, "batch": 2, "draws": 2,
                      "betas": [0.0, 0.5], "init_samples": 500, "init_depth": 20}},
    expected_seconds={"quick": 30, "full": 1500},
)
