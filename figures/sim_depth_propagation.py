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
    # the theory lines of this figure use the registry's defaults (the temporal init solved for
    # T = 10, subtract reset); the simulation says so explicitly, since monte_carlo would otherwise
    # solve it for this network's own T = 1
    params = {"T": 10, "reset": "subtract"} if item["init"] == "micheli_temporal" else None
    mc = monte_carlo(item["init"], item["depth"], item["width"], threshold=item["threshold"],
                     beta=item["beta"], steps=1, batch=item["batch"], draws=item["draws"],
                     seed=item["seed"], confidence=item["confidence"], keep_active=True, init_params=params)
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


def survivors(data) -> list:
    """Initialisers whose simulated layers are never all silent (the lines the zoom panels show)."""
    return [name for name in data["names"] if np.all(np.asarray(data[f"sim_rate_{name}"]) > 0)]


def plot(data, params):
    fig, axes = style.new_figure(2, 3, width=13.5, height=8.6)
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
    rate_ax.set_title("(a) rate, first step (dashed: exact finite-width chain)", fontsize=10)
    q_ax.set_title("(b) membrane variance, first step", fontsize=10)
    silent_ax.set_title("(c) fraction of samples silent", fontsize=10)
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
    silent_ax.legend(loc="center right", fontsize=8)
    _zoom(axes[1], data, params)
    handles, labels = rate_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5), fontsize=8,
               title="lines: mean-field theory; dashed: exact finite-width chain; points: simulation (same colour)",
               title_fontsize=8)
    fig.suptitle(f"Depth propagation at θ = {params['threshold']}, width {params['width']}, T = 1 "
                 f"(run_network, {params['draws']} draws x {params['batch']} samples, "
                 f"{100 * params['confidence']:g}% t-intervals)", fontsize=10)
    return fig


def _zoom(axes, data, params):
    """Bottom row: the surviving initialisers on linear axes at every layer, as the percentage
    by which the simulation (band: its interval) and the finite-width chain (dashed) depart from
    the mean field (zero line), so the slow finite-width decline that the log panels flatten shows."""
    names = survivors(data)
    layer = data["layer"]
    rate_ax, q_ax, silent_ax = axes
    for name in names:
        colour = style.colour(name)
        for ax, key in ((rate_ax, "rate"), (q_ax, "q")):
            theory = np.asarray(data[f"theory_{key}_{name}"], dtype=float)

            def relative(values):
                return 100.0 * (np.asarray(values, dtype=float) / theory - 1.0)
            if name == names[0]:      # the first survivor (the paper's init) with its interval
                ax.fill_between(layer, relative(data[f"sim_{key}_low_{name}"]),
                                relative(data[f"sim_{key}_high_{name}"]), color=colour, alpha=0.2, linewidth=0)
            ax.plot(layer, relative(data[f"sim_{key}_{name}"]), color=colour, linewidth=0.7,
                    alpha=1.0 if name == names[0] else 0.6)
        rate_ax.plot(layer, 100.0 * (np.asarray(data[f"chain_rate_{name}"]) / data[f"theory_rate_{name}"] - 1.0),
                     color=colour, linestyle="--", linewidth=1.4)
        silent_ax.plot(layer, data[f"chain_silent_{name}"], color=colour, linestyle="--")
        silent_ax.plot(layer, data[f"sim_silent_{name}"], color=colour, marker=style.marker(name), markersize=2,
                       linestyle="none")
    for ax in (rate_ax, q_ax):
        ax.axhline(0.0, color=style.NEUTRAL["mean_field"], linewidth=1.0)
    shown = ", ".join(style.label(n) for n in names) or "none"
    rate_ax.set_title("(d) zoom: rate vs the mean field (0 line), survivors", fontsize=10)
    q_ax.set_title("(e) zoom: membrane variance vs the mean field", fontsize=10)
    silent_ax.set_title("(f) zoom: P(layer silent), survivors", fontsize=10)
    rate_ax.set_ylabel("rate / mean field - 1  (%)\nthin: simulation; dashed: chain")
    q_ax.set_ylabel("Var[u] / mean field - 1  (%)")
    silent_ax.set_ylabel("P(layer silent)")
    for ax in axes:
        ax.set_xlim(0, layer[-1])
        ax.set_xlabel("layer (linear)")
    rate_ax.text(0.02, 0.03, f"shown: {shown}\nband: {style.label(names[0]) if names else ''} simulation's interval",
                 transform=rate_ax.transAxes, fontsize=7, va="bottom")


def findings(data, params) -> str:
    """The caption's statements about the paper's init, computed from the data: the simulated
    rate at the last layer with its interval, the chain's and the mean field's prediction, and at
    how many layers each prediction lies inside the simulation's interval."""
    if "micheli" not in data["names"]:
        return ""
    depth, width = params["depth"], params["width"]
    low, high, sim = data["sim_rate_low_micheli"], data["sim_rate_high_micheli"], data["sim_rate_micheli"]
    theory, chain = data["theory_rate_micheli"], data["chain_rate_micheli"]
    inside = (low <= theory) & (theory <= high)
    chain_inside = (low <= chain) & (chain <= high)
    outside = np.nonzero(~inside)[0]
    measured = f"{sim[-1]:.3f} [{low[-1]:.3f}, {high[-1]:.3f}] at layer {depth}"
    flat = "at every depth" if np.allclose(theory, theory[0], rtol=1e-6) else f"at layer {depth}"
    counts = (f"The mean field ({theory[-1]:.3f} {flat}) is inside the interval at {inside.sum()} of "
              f"{inside.size} layers" + (f" (first outside: layer {outside[0]})" if outside.size else "")
              + f", the finite-width chain at {chain_inside.sum()} of {chain_inside.size}.")
    if inside[-1]:
        head = (f"Paper's init at width {width}: the simulation gives {measured}; at this budget the interval holds "
                f"both the mean field and the exact finite-width chain ({chain[-1]:.3f}), so it cannot tell them apart "
                f"at depth. ")
    else:
        head = (f"Paper's init at width {width}: the rate does not stay at the mean field's Q(θ) through {depth} layers; "
                f"the simulation gives {measured}, which the exact finite-width chain predicts ({chain[-1]:.3f}): "
                f"finite width, not the mean field, sets the rate at depth. ")
    return (head + counts + f" The drop is the samples whose layer fell silent (P(silent) at layer {depth}: chain "
            f"{data['chain_silent_micheli'][-1]:.3f}, simulation {data['sim_silent_micheli'][-1]:.3f}).")


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
    title="Rate and membrane variance over 100 layers for every initialiser: theory and simulation",
    caption="The paper's central picture, simulated with run_network: threshold 1, width 1000, first "
            "step (T = 1) from rest, i.i.d. N(0, 1) input currents, depth 100, every initialiser of the "
            "registry for the plain LIF stack (escape-noise, residual and heavy-tailed entries belong to other "
            "networks: figure deep_training). (a) firing rate and (b) membrane variance per layer: mean-field theory "
            "(theory.inits.predict) as lines, simulation means over independent draws (fresh weights and "
            "inputs) as points with Student-t intervals; exact zeros are drawn on the dotted floor. "
            "Dashed in (a): expected rate from the exact finite-width spike-count chain (theory.chains.spike_count), "
            "which explains the slow decline of the paper's init at this width (samples that fall silent). "
            "(c) fraction of samples whose layer is silent: exact finite-width spike-count chain (dashed) "
            "against simulation. (d-f) zoom on the initialisers that survive, linear axes, every layer: the "
            "simulated rate and membrane variance as a percentage departure from their mean field (thin lines; "
            "band: the paper's init's interval; dashed: the chain), and P(silent). Kaiming, Xavier, LeCun and the PyTorch default are silent within a few "
            "layers; the mean-field lines are theory.inits.predict for every initialiser. beta = 0.5 "
            "enters only the initialisers that use it (T = 1 does not depend on it). "
            + style.OVERLAP_NOTE + ".",
    compute=compute, plot=plot, tables=tables, agreement=agreement, findings=findings, order=20, version="2",
    expected_seconds={"quick": 48, "full": 200},
    # quick: the cost is one weight draw per layer (width^2 normals), so fewer draws of more samples
    presets={"quick": {**_QUICK, "draws": 4, "batch": 64},
             "full": {**_QUICK, "batch": 128, "draws": 20},
             "tiny": {**_QUICK, "width": 100, "depth": 8, "batch": 4, "draws": 2}},
)
