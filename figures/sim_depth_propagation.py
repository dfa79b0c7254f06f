"""The paper's central picture, simulated: per-layer rate and membrane variance at the first
step for every initialiser; mean-field theory as lines, run_network Monte Carlo as points with
Student-t intervals, plus the exact finite-width chain's probability of silence."""
from __future__ import annotations

import numpy as np

from simulate.montecarlo import monte_carlo
from theory import inits
from theory.chains.spike_count import spike_count_chain

from . import style
from ._spec import FigureSpec

FLOOR = 1e-6          # log axes: exact zeros (silent layers) are drawn at this floor
SHOWN_LAYERS = (0, 1, 2, 3, 5, 10, 20, 50, 100)


def simulate_init(item: dict) -> dict:
    """Monte Carlo of one initialiser (float32 simulation, float64 statistics)."""
    mc = monte_carlo(item["init"], item["depth"], item["width"], threshold=item["threshold"],
                     beta=item["beta"], steps=1, batch=item["batch"], draws=item["draws"],
                     seed=item["seed"], confidence=item["confidence"], keep_active=True)
    sample_silent = (mc.active[:, :, 0, :] == 0).mean(axis=(0, 2))
    return {"rate": mc.rate[:, 0], "rate_se": mc.rate_se[:, 0], "rate_low": mc.rate_low[:, 0],
            "rate_high": mc.rate_high[:, 0], "q": mc.mem_var[:, 0], "q_se": mc.mem_var_se[:, 0],
            "q_low": mc.mem_var_low[:, 0], "q_high": mc.mem_var_high[:, 0], "silent": sample_silent}


def _usable(name, params):
    try:
        inits.weight_std(name, params["width"], params["width"], params["threshold"], params["beta"])
        return True
    except ValueError:      # formula undefined at these parameters
        return False


def compute(params, ctx):
    names = [n for n in inits.names(regime="plain") if _usable(n, params)]
    items = [dict(init=name, depth=params["depth"], width=params["width"], threshold=params["threshold"],
                  beta=params["beta"], batch=params["batch"], draws=params["draws"],
                  seed=params["seed"] + index, confidence=params["confidence"])
             for index, name in enumerate(names)]
    sims = ctx.map(simulate_init, items, version="1", desc="sim_depth_propagation")
    data = {"layer": np.arange(params["depth"] + 1), "names": names}
    for name, sim in zip(names, sims):
        theory = inits.predict(name, params["depth"], params["width"], params["threshold"], params["beta"])
        chain = spike_count_chain(params["depth"], params["width"], params["threshold"], init=name,
                                  beta=params["beta"])
        data[f"theory_rate_{name}"], data[f"theory_q_{name}"] = theory.rate, theory.q
        data[f"chain_rate_{name}"], data[f"chain_silent_{name}"] = chain.rate_mean, chain.silent
        for key, value in sim.items():
            data[f"sim_{key}_{name}"] = np.asarray(value)
    return data


def _errorbar(ax, x, mean, low, high, colour, name):
    shown = np.maximum(mean, FLOOR)
    lower = np.clip(shown - np.maximum(low, FLOOR), 0, None)
    upper = np.clip(np.maximum(high, FLOOR) - shown, 0, None)
    ax.errorbar(x, shown, yerr=[lower, upper], color=colour, **style.simulation_style(name))


def plot(data, params):
    fig, axes = style.new_figure(1, 3, width=13.5, height=5.0)
    layer = data["layer"]
    # every layer up to 10, then about 12 points per decade on the log part of the x axis
    pick = np.unique(np.concatenate([np.arange(min(11, len(layer))),
                                     np.unique(np.geomspace(10, max(10, len(layer) - 1), 14).astype(int))]))
    pick = pick[pick < len(layer)]
    rate_ax, q_ax, silent_ax = axes[0]
    for name in data["names"]:
        colour = style.colour(name)
        rate_ax.plot(layer, np.maximum(data[f"theory_rate_{name}"], FLOOR), color=colour,
                     label=style.label(name), **style.THEORY, **style.line_style(name))
        rate_ax.plot(layer, np.maximum(data[f"chain_rate_{name}"], FLOOR), color=colour, linestyle="--",
                     linewidth=0.9)
        _errorbar(rate_ax, layer[pick], data[f"sim_rate_{name}"][pick], data[f"sim_rate_low_{name}"][pick],
                  data[f"sim_rate_high_{name}"][pick], colour, name)
        q_ax.plot(layer, np.maximum(data[f"theory_q_{name}"], FLOOR), color=colour, **style.THEORY,
                  **style.line_style(name))
        _errorbar(q_ax, layer[pick], data[f"sim_q_{name}"][pick], data[f"sim_q_low_{name}"][pick],
                  data[f"sim_q_high_{name}"][pick], colour, name)
        silent_ax.plot(layer, data[f"chain_silent_{name}"], color=colour,
                       **{**style.line_style(name), "linestyle": "--"})
        sim_style = style.simulation_style(name)
        silent_ax.plot(layer[pick], data[f"sim_silent_{name}"][pick], color=colour, marker=sim_style["marker"],
                       linestyle="none", markersize=sim_style["markersize"], alpha=sim_style.get("alpha", 1.0))
    for ax, ylabel in ((rate_ax, "firing rate  P(u > θ)"), (q_ax, "membrane variance  Var[u]")):
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 2, None)
        ax.axhline(FLOOR, color="0.6", linewidth=0.8, linestyle=":")
        ax.set_ylabel(ylabel + f"   (0 drawn at {FLOOR:g})")
    rate_ax.set_title("(a) rate, first step (dashed: exact finite-width chain)")
    q_ax.set_title("(b) membrane variance, first step")
    silent_ax.set_title("(c) fraction of samples silent")
    silent_ax.set_ylabel("P(layer silent)")
    silent_ax.set_ylim(-0.03, 1.03)
    for ax in axes[0]:
        # linear up to layer 10 (where the ANN inits die), logarithmic beyond (to layer 100)
        ax.set_xscale("symlog", linthresh=10, linscale=1.5)
        ax.set_xlim(-0.3, layer[-1] * 1.05)
        ticks = [t for t in (0, 2, 4, 6, 8, 10, 20, 50, 100, 200, 500, 1000) if t <= layer[-1]]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("layer (linear to 10, log beyond)")
    silent_ax.plot([], [], color="0.3", linestyle="--", label="exact finite-width chain")
    silent_ax.plot([], [], color="0.3", marker="o", linestyle="none", label="simulation")
    silent_ax.legend(loc="center right", fontsize=7)
    handles, labels = rate_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5), fontsize=8,
               title="lines: mean-field theory; points: simulation (same colour)",
               title_fontsize=8)
    fig.suptitle(f"Depth propagation at θ = {params['threshold']}, width {params['width']}, T = 1 "
                 f"(run_network, {params['draws']} draws x {params['batch']} samples, "
                 f"{100 * params['confidence']:g}% t-intervals)", fontsize=10)
    return fig


def _first_silent(values):
    dead = np.nonzero(values == 0)[0]
    return int(dead[0]) if dead.size else None


def tables(data, params):
    layers = [l for l in SHOWN_LAYERS if l <= params["depth"]]
    header = ["initialiser", "layer", "rate theory", "rate sim", "rate CI", "Var[u] theory", "Var[u] sim",
              "Var[u] CI", "P(silent) chain", "P(silent) sim"]
    rows = []
    for name in data["names"]:
        for l in layers:
            rows.append([name, str(l), f"{data[f'theory_rate_{name}'][l]:.4g}", f"{data[f'sim_rate_{name}'][l]:.4g}",
                         f"[{data[f'sim_rate_low_{name}'][l]:.4g}, {data[f'sim_rate_high_{name}'][l]:.4g}]",
                         f"{data[f'theory_q_{name}'][l]:.4g}", f"{data[f'sim_q_{name}'][l]:.4g}",
                         f"[{data[f'sim_q_low_{name}'][l]:.4g}, {data[f'sim_q_high_{name}'][l]:.4g}]",
                         f"{data[f'chain_silent_{name}'][l]:.3g}", f"{data[f'sim_silent_{name}'][l]:.3g}"])
    markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    markdown += ["| " + " | ".join(r) + " |" for r in rows]
    csv = [",".join(header)] + [",".join(c.replace(",", ";") for c in r) for r in rows]
    return {"sim_depth_propagation.md": "\n".join(markdown) + "\n",
            "sim_depth_propagation.csv": "\n".join(csv) + "\n"}


def agreement(data, params):
    parts = []
    if "micheli" in data["names"]:
        theory = data["theory_rate_micheli"]
        inside = (data["sim_rate_low_micheli"] <= theory) & (theory <= data["sim_rate_high_micheli"])
        parts.append(f"micheli: mean-field rate inside the simulated {100 * params['confidence']:g}% interval at "
                     f"{inside.sum()}/{inside.size} layers, simulated rate at layer {params['depth']} "
                     f"{data['sim_rate_micheli'][-1]:.3f} [{data['sim_rate_low_micheli'][-1]:.3f}, "
                     f"{data['sim_rate_high_micheli'][-1]:.3f}] (mean field {theory[-1]:.3f}, exact finite-width "
                     f"chain {data['chain_rate_micheli'][-1]:.3f})")
    for name in ("kaiming", "xavier"):
        if name in data["names"]:
            parts.append(f"{name}: simulation silent from layer {_first_silent(data[f'sim_rate_{name}'])}, "
                         f"chain P(silent) > 0.99 from layer "
                         f"{int(np.argmax(data[f'chain_silent_{name}'] > 0.99))}")
    return "; ".join(parts)


_QUICK = dict(threshold=1.0, width=1000, depth=100, beta=0.5, batch=32, draws=8, seed=100, confidence=0.95)
FIGURE = FigureSpec(
    name="sim_depth_propagation",
    caption="The paper's central picture, simulated with run_network: threshold 1, width 1000, first "
            "step (T = 1) from rest, i.i.d. N(0, 1) input currents, depth 100, every initialiser of the "
            "registry for the plain LIF stack (escape-noise, residual and heavy-tailed entries belong to other "
            "networks: figure deep_training). (a) firing rate and (b) membrane variance per layer: mean-field theory "
            "(theory.inits.predict) as lines, simulation means over independent draws (fresh weights and "
            "inputs) as points with Student-t intervals; exact zeros are drawn on the dotted floor. "
            "Dashed in (a): expected rate from the exact finite-width spike-count chain (theory.chains.spike_count), "
            "which explains the slow decline of the paper's init at width 1000 (samples that fall silent). "
            "(c) fraction of samples whose layer is silent: exact finite-width spike-count chain (dashed) "
            "against simulation. The paper's init keeps the rate at Q(1) = 0.159 through 100 layers; "
            "Kaiming, Xavier, LeCun and the PyTorch default are silent within a few layers. beta = 0.5 "
            "enters only the initialisers that use it (T = 1 does not depend on it). "
            + style.OVERLAP_NOTE + ".",
    compute=compute, plot=plot, tables=tables, agreement=agreement, order=20, version="2",
    expected_seconds={"quick": 160, "full": 200},
    presets={"quick": _QUICK,
             "full": {**_QUICK, "batch": 128, "draws": 20},
             "tiny": {**_QUICK, "width": 100, "depth": 8, "batch": 4, "draws": 2}},
)
