"""Rate over depth in the networks practitioners build: convolutions with 'same' padding, pooling
stages, batch norm and residual blocks (SEW ADD, MS membrane shortcut), the paper's init in every
weight layer. Lines: the infinite-channel mean field of the description (theory.mean_field,
docs/theory.md §11); points: the Numba simulation of the same description (simulate.monte_carlo,
means over independent draws with Student-t intervals)."""
from __future__ import annotations

import numpy as np

from simulate.montecarlo import monte_carlo
from theory import LIF, MS, SEW, BatchNorm, Conv, MaxPool, Network, Repeat, mean_field, serial

from . import style
from ._spec import FigureSpec

NETWORKS = ("conv", "conv + BN", "VGG stages", "SEW blocks", "MS blocks")


def build(kind: str, params: dict) -> Network:
    """One of NETWORKS at the figure's channels, depth, map size, T (threshold 1, beta 0.5)."""
    c, depth, size, T = params["channels"], params["depth"], params["size"], params["steps"]
    n = LIF(1.0, 0.5)
    conv = lambda **kw: Conv(c, 3, padding=1, **kw)                           # noqa: E731
    if kind == "conv":
        layers = serial(n, Repeat(serial(conv(), n), depth))
    elif kind == "conv + BN":
        layers = serial(n, Repeat(serial(conv(), BatchNorm(), n), depth))
    elif kind == "VGG stages":       # pooling stages halve the map: as many as it allows
        stages = min(params["stages"], int(np.log2(size)))
        per = max(1, depth // stages)
        layers = serial(n, *[serial(Repeat(serial(conv(), n), per), MaxPool(2)) for _ in range(stages)])
    elif kind == "SEW blocks":
        a = 1.0 / np.sqrt(depth)
        layers = serial(n, conv(), n, Repeat(SEW(serial(conv(gain=params["branch_gain"]), n), "add", a), depth))
    elif kind == "MS blocks":
        layers = serial(n, conv(), Repeat(MS(serial(n, conv(), BatchNorm(1.0 / np.sqrt(depth)))), depth), n)
    else:
        raise ValueError(f"kind must be one of {NETWORKS}, got {kind!r}")
    return Network(layers, input=(c, size, size), T=T)


def simulate_network(item: dict) -> dict:
    mc = monte_carlo(build(item["kind"], item), draws=item["draws"], batch=item["batch"], seed=item["seed"])
    return {"rate": mc.rate.mean(axis=1), "low": mc.rate_low.mean(axis=1), "high": mc.rate_high.mean(axis=1),
            "se": np.sqrt(np.mean(mc.rate_se ** 2, axis=1))}


def predict_network(item: dict) -> dict:
    profile = mean_field(build(item["kind"], item), samples=item["samples"], seed=item["seed"])
    return {"rate": profile.time_averaged_rate, "se": np.sqrt(np.mean(profile.rate_se ** 2, axis=1)),
            "labels": list(profile.labels)}


def compute(params, ctx):
    kinds = [k for k in NETWORKS if k in params["networks"]]
    items = [dict(params, kind=k) for k in kinds]
    sims = ctx.map(simulate_network, items, version="1", desc="conv_depth simulations")
    theories = ctx.map(predict_network, items, version="1", desc="conv_depth mean field")
    data = {"kinds": kinds}
    for k, sim, th in zip(kinds, sims, theories):
        for key, value in sim.items():
            data[f"sim_{key}_{k}"] = np.asarray(value)
        data[f"theory_rate_{k}"] = np.asarray(th["rate"])
        data[f"theory_se_{k}"] = np.asarray(th["se"])
    return data


def _z(data, kind):
    return (data[f"sim_rate_{kind}"] - data[f"theory_rate_{kind}"]) / np.hypot(data[f"sim_se_{kind}"],
                                                                              data[f"theory_se_{kind}"])


def plot(data, params):
    kinds = data["kinds"]
    fig, axes = style.new_figure(1, len(kinds), width=3.0 * len(kinds) + 0.6, height=3.3)
    colour = style.colour("micheli")
    for ax, kind in zip(axes[0], kinds):
        theory_rate = data[f"theory_rate_{kind}"]
        rows = np.arange(len(theory_rate))
        ax.plot(rows, theory_rate, color=style.NEUTRAL["mean_field"] if hasattr(style, "NEUTRAL") else "black",
                lw=1.5, label="mean field (infinite channels)")
        sim = data[f"sim_rate_{kind}"]
        ax.errorbar(rows, sim, yerr=[np.clip(sim - data[f"sim_low_{kind}"], 0, None),
                                     np.clip(data[f"sim_high_{kind}"] - sim, 0, None)],
                    fmt="o", ms=3, color=colour, label="simulation (99 % t interval)")
        ax.set_title(kind, fontsize=9)
        ax.set_xlabel("neuron layer (row)")
        ax.set_ylim(bottom=0)
    axes[0, 0].set_ylabel("time-averaged firing rate")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{params['channels']} channels, {params['size']} x {params['size']} maps, 3 x 3 'same' convolutions, "
                 f"T = {params['steps']}, the paper's init; {params['draws']} draws x {params['batch']} inputs",
                 fontsize=9)
    return fig


def tables(data, params):
    lines = ["| network | row | theory rate | simulated rate | 99 % interval | z |", "|---|---|---|---|---|---|"]
    for kind in data["kinds"]:
        z = _z(data, kind)
        rows = len(data[f"theory_rate_{kind}"])
        for r in sorted(set(range(0, rows, max(1, rows // 6))) | {rows - 1}):
            lines.append(f"| {kind} | {r} | {data[f'theory_rate_{kind}'][r]:.4g} | {data[f'sim_rate_{kind}'][r]:.4g} | "
                         f"[{data[f'sim_low_{kind}'][r]:.4g}, {data[f'sim_high_{kind}'][r]:.4g}] | {z[r]:+.1f} |")
    return {"conv_depth.md": "\n".join(lines) + "\n"}


def agreement(data, params):
    parts = []
    for kind in data["kinds"]:
        z = _z(data, kind)
        finite = np.isfinite(z)
        parts.append(f"{kind}: |z| <= 4 at {int(np.sum(np.abs(z[finite]) <= 4))}/{int(finite.sum())} rows")
    return f"{params['channels']} channels: " + "; ".join(parts)


_BASE = {"networks": list(NETWORKS), "size": 8, "steps": 2, "stages": 3, "branch_gain": 0.5, "seed": 3,
         "samples": 20000}
FIGURE = FigureSpec(
    name="conv_depth",
    caption="Firing rate over depth in convolutional networks with the paper's init in every layer (3 x 3 "
            "convolutions with 'same' padding): a plain convolution stack, the same with batch norm before each "
            "neuron, VGG-like stages with 2 x 2 max pooling after the neurons, SEW blocks (ADD, branch multiplier "
            "1/sqrt(blocks)) and MS blocks (membrane shortcut, batch norm at the branch end). Lines: the mean field "
            "of the description at infinite channels, position by position on the map (border units have fewer "
            "inputs); points: the simulation of the same description. The plain stack drains from the borders "
            "inwards, batch norm holds the rate wherever the weight scale puts it, the residual streams keep theirs; "
            "fewer channels than the full preset's add a finite-channel decline (docs/theory.md §11).",
    compute=compute, plot=plot, tables=tables, agreement=agreement, order=58, version="1",
    presets={
        "quick": {**_BASE, "channels": 64, "depth": 12, "draws": 6, "batch": 8},
        "full": {**_BASE, "channels": 256, "depth": 20, "draws": 10, "batch": 8, "samples": 40000},
        "tiny": {**_BASE, "channels": 8, "depth": 2, "size": 4, "steps": 1, "stages": 1, "draws": 2, "batch": 2,
                 "samples": 500},
    },
    expected_seconds={"quick": 12, "full": 600},
)
