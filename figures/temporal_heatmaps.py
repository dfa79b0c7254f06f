"""Rate over layers x time steps: temporal mean field, the exact finite-width Gram chain and
simulation side by side, for the paper's init, the authors' leak/reset variant, the temporal
init and the two ANN initialisers users start from (Kaiming, Xavier), at several leaks beta."""
from __future__ import annotations

import numpy as np
from matplotlib import colors
from matplotlib.ticker import MaxNLocator

from theory.chains.gram import temporal_chain

from . import style
from ._spec import FigureSpec
from .common import predict_and_simulate

INITS = ("micheli", "micheli_reset", "micheli_temporal", "kaiming", "xavier")
KINDS = (("theory", "mean field"), ("chain", "exact chain"), ("sim", "simulation"))


def _items(params):
    keys = ("depth", "width", "steps", "threshold", "reset", "encoding", "samples", "batch", "draws", "seed",
            "init_samples", "init_depth", "chains")
    return [{"init": init, "beta": beta, **{k: params[k] for k in keys}}
            for init in INITS for beta in params["betas"]]


def predict_simulate_chain(item):
    """One (init, beta): temporal mean field and simulation (figures.common.predict_and_simulate)
    and the exact finite-width Gram chain (theory.chains.gram, float64) at the same width,
    depth and weight std: mean rate over ``chains`` independent chains, (depth + 1, T)."""
    result = predict_and_simulate(item)
    if result["defined"]:
        # seed + 1: independent of the random numbers of the mean field and the temporal init (seed)
        chain = temporal_chain(item["depth"], item["width"], item["steps"], result["sigma_w"], item["threshold"],
                               item["beta"], item["reset"], encoding=item["encoding"], input_std=1.0,
                               chains=item["chains"], seed=item["seed"] + 1)
        result["chain_rate"] = chain.rate_mean
    return result


def compute(params, ctx):
    items = _items(params)
    results = ctx.map(predict_simulate_chain, items, version="2", desc="temporal heat maps")
    data = {"inits": list(INITS), "betas": list(params["betas"])}
    for item, result in zip(items, results):
        tag = f"{item['init']}_{item['beta']}"
        if result["defined"]:
            data[f"theory_{tag}"] = result["theory_rate"]
            data[f"chain_{tag}"] = result["chain_rate"]
            data[f"sim_{tag}"] = result["sim_rate"]
            data[f"se_{tag}"] = result["sim_rate_se"]
    return data


def _gaps(data, tag):
    """Mean and largest |simulation - prediction| over the cells, for mean field and chain."""
    sim = np.asarray(data[f"sim_{tag}"])
    out = {}
    for kind in ("theory", "chain"):
        gap = np.abs(sim - np.asarray(data[f"{kind}_{tag}"]))
        out[kind] = (float(gap.mean()), float(gap.max()))
    return out


def plot(data, params):
    betas, names = data["betas"], data["inits"]
    ncols = len(KINDS) * len(betas)
    fig, axes = style.new_figure(len(names), ncols, width=1.75 * ncols + 1.4, height=2.3 * len(names) + 1.0,
                                 sharex=True, sharey=True)
    rates = [np.asarray(v) for k, v in data.items() if k.startswith(("theory_", "chain_", "sim_"))]
    vmax = max(float(np.max(r)) for r in rates)
    norm = colors.PowerNorm(0.5, vmin=0.0, vmax=vmax)       # sqrt scale: low rates stay visible
    image = None
    for row, name in enumerate(names):
        for col, beta in enumerate(betas):
            tag = f"{name}_{beta}"
            for offset, (kind, title) in enumerate(KINDS):
                ax = axes[row, len(KINDS) * col + offset]
                ax.grid(False)
                key = f"{kind}_{tag}"
                if key not in data:
                    ax.text(0.5, 0.5, "undefined", ha="center", va="center", transform=ax.transAxes)
                else:
                    rate = np.asarray(data[key])
                    image = ax.imshow(rate, aspect="auto", origin="lower", cmap="magma", norm=norm,
                                      extent=(0.5, rate.shape[1] + 0.5, -0.5, rate.shape[0] - 0.5),
                                      interpolation="nearest")
                    if kind == "sim":     # how far the simulation is from each prediction, per panel
                        gaps = _gaps(data, tag)
                        ax.text(0.03, 0.97, f"mean |sim - MF| {gaps['theory'][0]:.3f}\n"
                                f"mean |sim - chain| {gaps['chain'][0]:.3f}", transform=ax.transAxes,
                                ha="left", va="top", fontsize=5.5,
                                bbox={"facecolor": "white", "alpha": 0.8, "pad": 1.5, "edgecolor": "none"})
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
                if row == 0:
                    ax.set_title(rf"$\beta$={beta}: {title}", fontsize=8)
                if row == len(names) - 1:
                    ax.set_xlabel("time step t", fontsize=8)
                if col == 0 and offset == 0:
                    ax.set_ylabel(f"{style.label(name)}\nlayer l", color=style.colour(name), fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="rate (sqrt scale)")
    fig.suptitle(f"Rate per layer and step, width {params['width']}, {params['reset']} reset, "
                 f"{params['encoding']} input, threshold {params['threshold']}: mean field (infinite width), "
                 f"exact finite-width chain ({params['chains']} chains) and simulation ({params['draws']} draws "
                 f"x {params['batch']} inputs)", fontsize=10)
    return fig


def agreement(data, params):
    """Which prediction the simulation follows: per-cell gaps to the mean field and to the chain."""
    rows = []
    for name in data["inits"]:
        for beta in data["betas"]:
            tag = f"{name}_{beta}"
            if f"theory_{tag}" in data:
                rows.append((tag, _gaps(data, tag)))
    mean_field = np.mean([g["theory"][0] for _, g in rows])
    chain = np.mean([g["chain"][0] for _, g in rows])
    worst_field = max(rows, key=lambda r: r[1]["theory"][1])
    worst_chain = max(rows, key=lambda r: r[1]["chain"][1])
    closer = sum(g["chain"][0] < g["theory"][0] for _, g in rows)
    follows = "the exact finite-width chain" if chain < mean_field else "the mean field"
    return (f"the simulation follows {follows}: mean |sim - chain| of the per-layer per-step rate "
            f"{chain:.4f} vs mean |sim - mean field| {mean_field:.4f} over all panels; the chain is closer in "
            f"{closer} of {len(rows)} panels; largest single-cell gap to the chain {worst_chain[1]['chain'][1]:.3f} "
            f"({worst_chain[0]}), to the mean field {worst_field[1]['theory'][1]:.3f} ({worst_field[0]})")


SILENT = 1e-3      # a layer whose simulated rate is below this at every step counts as silent


def findings(data, params) -> str:
    """Per initialiser and leak: the simulated rate of the last layer (mean over steps) and the
    first layer that is silent at every step, if any (the reader's question for the ANN inits)."""
    parts = []
    for name in data["inits"]:
        cells = []
        for beta in data["betas"]:
            key = f"sim_{name}_{beta}"
            if key not in data:
                cells.append(f"beta {beta}: undefined")
                continue
            rate = np.asarray(data[key])
            silent = np.nonzero(np.all(rate < SILENT, axis=1))[0]
            cells.append(f"beta {beta}: last-layer rate {rate[-1].mean():.3f}"
                         + (f", silent from layer {silent[0]}" if len(silent) else ""))
        parts.append(f"{style.label(name)}: " + ", ".join(cells))
    return (f"Simulated rate at width {params['width']}, depth {params['depth']}, T = {params['steps']} "
            f"(silent: below {SILENT:g} at every step): " + "; ".join(parts) + ".")


_BASE = {"threshold": 1.0, "reset": "subtract", "encoding": "gaussian", "steps": 10, "seed": 0,
         "betas": [0.0, 0.5, 0.9],
         "init_samples": 10000, "init_depth": 100}
FIGURE = FigureSpec(
    name="temporal_heatmaps",
    title="Rate per layer and time step: mean field, finite-width chain, simulation",
    caption="Firing rate per layer (vertical) and time step (horizontal) for the paper's init, the "
            "authors' leak/reset variant, the temporal init of this toolkit and the ANN initialisers "
            "Kaiming (std sqrt(2/n)) and Xavier (sqrt(1/n) for square layers), at leak beta 0, 0.5 "
            "and 0.9 (subtract reset, i.i.d. N(0,1) input currents). Each triple: temporal mean-field "
            "theory (infinite width), the exact finite-width Gram chain (theory.chains.gram, same width, "
            "depth and weight std, mean over independent chains) and the simulated network (mean over "
            "independent draws); the simulation panel states its mean gap to each prediction. For the "
            "paper's init at beta 0 and 0.5 the mean field predicts silence in the upper layers at some "
            "steps (black) where the finite-width network still fires: finite-width fluctuations keep "
            "those steps alive. The chain predicts this and the simulation follows the chain (numbers in "
            "the agreement line).",
    compute=compute, plot=plot, agreement=agreement, findings=findings, order=70, version="2",
    presets={"quick": {**_BASE, "depth": 30, "width": 500, "samples": 8000, "batch": 4, "draws": 4, "chains": 64},
             "full": {**_BASE, "depth": 100, "width": 2000, "samples": 30000, "batch": 8, "draws": 4,
                      "chains": 64},
             "tiny": {**_BASE, "depth": 4, "width": 60, "steps": 3, "samples": 500, "batch": 2, "draws": 2,
                      "betas": [0.0, 0.5], "init_samples": 500, "init_depth": 20, "chains": 4}},
    expected_seconds={"quick": 18, "full": 350},
)
