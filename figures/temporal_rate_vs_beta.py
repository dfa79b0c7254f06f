"""Time-averaged rate at depth versus the leak beta, per initialiser: temporal mean-field
(lines) and simulated networks (points with standard errors over draws)."""
from __future__ import annotations

import numpy as np

from theory.gaussian import tail

from . import style
from ._spec import FigureSpec
from .temporal_heatmaps import INITS, predict_and_simulate


def _items(params):
    keys = ("depth", "width", "steps", "threshold", "reset", "encoding", "samples", "batch", "draws", "seed",
            "init_samples", "init_depth")
    return [{"init": init, "beta": float(beta), **{k: params[k] for k in keys}}
            for init in INITS for beta in params["betas"]]


def compute(params, ctx):
    items = _items(params)
    results = ctx.map(predict_and_simulate, items, version="1", desc="rate vs beta")
    betas = np.asarray(params["betas"], dtype=float)
    data = {"inits": list(INITS), "betas": betas, "target": float(tail(params["threshold"]))}
    shape = (len(INITS), len(betas))
    theory, sim, sim_se = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for index, result in enumerate(results):
        row, col = divmod(index, len(betas))
        if not result["defined"]:
            continue
        theory[row, col] = np.mean(result["theory_rate"][-1])
        sim[row, col] = np.mean(result["sim_rate"][-1])
        # steps of one draw are correlated: the se of the time average is at most the mean per-step se
        sim_se[row, col] = np.mean(result["sim_rate_se"][-1])
    data.update(theory=theory, sim=sim, sim_se=sim_se)
    return data


def plot(data, params):
    fig, axes = style.new_figure(1, 1, width=5.6, height=4.0)
    ax = axes[0, 0]
    betas = np.asarray(data["betas"])
    for row, name in enumerate(data["inits"]):
        colour = style.colour(name)
        ax.plot(betas, data["theory"][row], color=colour, label=f"{style.label(name)}: theory", **style.THEORY)
        ax.errorbar(betas, data["sim"][row], yerr=data["sim_se"][row], color=colour,
                    label=f"{style.label(name)}: simulation", **style.SIMULATION)
    ax.axhline(data["target"], color="black", linestyle=":", linewidth=1,
               label=rf"target $Q(\theta)$ = {data['target']:.3f}")
    ax.axhspan(0.9 * data["target"], 1.1 * data["target"], color="grey", alpha=0.15, label="target +-10 %")
    ax.set_xlabel(r"leak $\beta$")
    ax.set_ylabel(f"time-averaged rate at depth {params['depth']}")
    ax.set_title(f"Rate at depth {params['depth']} over T = {params['steps']} steps\n"
                 f"width {params['width']}, {params['reset']} reset, threshold {params['threshold']}")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def agreement(data, params):
    gap = np.abs(np.asarray(data["sim"]) - np.asarray(data["theory"]))
    temporal = list(data["inits"]).index("micheli_temporal")
    off_target = np.abs(np.asarray(data["sim"])[temporal] / data["target"] - 1.0)
    return (f"|sim - theory| of the time-averaged rate at depth {params['depth']}: mean {np.nanmean(gap):.4f}, "
            f"max {np.nanmax(gap):.4f}; temporal init's simulated rate within {100 * np.nanmax(off_target):.1f} % "
            f"of its target over beta in [{min(data['betas'])}, {max(data['betas'])}]")


def tables(data, params):
    header = "| init | " + " | ".join(f"beta {b:g}" for b in data["betas"]) + " |"
    lines = [f"Time-averaged rate at depth {params['depth']} (theory / simulation):", "", header,
             "|---|" + "---|" * len(data["betas"])]
    csv = ["init,beta,theory,simulation,simulation_se"]
    for row, name in enumerate(data["inits"]):
        cells = [f"{data['theory'][row][k]:.4f} / {data['sim'][row][k]:.4f}" for k in range(len(data["betas"]))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        csv += [f"{name},{b:g},{data['theory'][row][k]:.6g},{data['sim'][row][k]:.6g},{data['sim_se'][row][k]:.3g}"
                for k, b in enumerate(data["betas"])]
    return {"temporal_rate_vs_beta.md": "\n".join(lines) + "\n", "temporal_rate_vs_beta.csv": "\n".join(csv) + "\n"}


_BASE = {"threshold": 1.0, "reset": "subtract", "encoding": "gaussian", "steps": 10, "seed": 0,
         "init_samples": 10000, "init_depth": 100}
FIGURE = FigureSpec(
    name="temporal_rate_vs_beta",
    caption="Time-averaged firing rate of the deepest layer versus the leak beta (subtract reset, "
            "i.i.d. N(0,1) input, T = 10) for the paper's init, the authors' leak/reset variant and "
            "the temporal init: temporal mean-field (lines) and simulation (points, mean +- se over "
            "independent networks). The temporal init is built to hold the target Q(theta).",
    compute=compute, plot=plot, agreement=agreement, tables=tables, order=71, version="1",
    presets={"quick": {**_BASE, "depth": 100, "width": 1000, "samples": 5000, "batch": 4, "draws": 2,
                       "betas": [0.0, 0.3, 0.6, 0.9], "init_samples": 6000},
             "full": {**_BASE, "depth": 100, "width": 2000, "samples": 30000, "batch": 8, "draws": 4,
                      "betas": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]},
             "tiny": {**_BASE, "depth": 4, "width": 60, "steps": 3, "samples": 500, "batch": 2, "draws": 2,
                      "betas": [0.0, 0.5], "init_samples": 500, "init_depth": 20}},
    expected_seconds={"quick": 60, "full": 2400},
)
