"""Survival probability and rate at depth 100 versus width: exact chain, simulation, mean field.

Paper's init (std 1/sqrt(n Q(theta))), one time step, N(0, 1) input currents. Lines: the exact
spike-count chain (theory.chains.spike_count); points: run_network over independent draws (fresh
weights, batch 1) with Clopper-Pearson (survival) and Student-t (rate) 95 % intervals; dashed:
the Gaussian mean-field rate (theory.propagate), which knows no silence.
"""
from __future__ import annotations

import matplotlib
import numpy as np
from scipy import stats

from simulate.experiments import spike_count_draws
from theory import optimal_sigma, propagate, tail
from theory.chains import spike_count as finite_width

from . import style
from ._spec import FigureSpec

RATE_FLOOR = 1e-4   # log-scale rate axis: lower error bars and silent points are clipped here


def _threshold_colour(threshold, thresholds):
    """Thresholds on a sequential map (initialiser colours are reserved for initialisers)."""
    position = np.searchsorted(np.sort(thresholds), threshold) / max(len(thresholds) - 1, 1)
    return matplotlib.colormaps["viridis"](0.05 + 0.8 * position)


def chain_point(item):
    """Exact chain at one (threshold, width): survival and rate moments at every depth."""
    chain = finite_width.spike_count_chain(item["depth"], item["width"], item["threshold"])
    return {"survival": chain.survival, "rate_mean": chain.rate_mean, "rate_std": chain.rate_std}


def simulate_point(item):
    """Spike counts k_depth of ``draws`` independent networks (simulate.experiments)."""
    return {"counts": spike_count_draws(item["depth"], item["width"], item["threshold"], item["draws"],
                                        item["seed"])}


def compute(params, ctx):
    depth, thresholds = params["depth"], params["thresholds"]
    widths = sorted({int(round(w)) for w in np.geomspace(params["width_min"], params["width_max"], params["points"])})
    chain_items = [{"depth": depth, "width": w, "threshold": t} for t in thresholds for w in widths]
    chains = ctx.map(chain_point, chain_items, desc="chain")
    sim_items = []
    wide_draws = params["sim_draws_wide"]
    if len(wide_draws) != len(thresholds):
        raise ValueError(f"sim_draws_wide must give one number of draws per threshold ({len(thresholds)}), "
                         f"got {wide_draws}")
    for t, draws_wide in zip(thresholds, wide_draws):
        for w in params["sim_widths"]:
            draws = params["sim_draws"] if w < params["wide_from"] else draws_wide
            sim_items.append({"depth": depth, "width": int(w), "threshold": t, "draws": draws, "seed": params["seed"]})
    sims = ctx.map(simulate_point, sim_items, desc="simulate")
    data = {"widths": np.array(widths), "thresholds": np.array(thresholds, dtype=float),
            "sim_widths": np.array(params["sim_widths"])}
    shape = (len(thresholds), len(widths))
    data["chain_survival"] = np.array([c["survival"][-1] for c in chains]).reshape(shape)
    data["chain_rate"] = np.array([c["rate_mean"][-1] for c in chains]).reshape(shape)
    data["chain_rate_std"] = np.array([c["rate_std"][-1] for c in chains]).reshape(shape)
    # the rate mean field promises at every depth (the paper's fixed point q* = 1) ...
    data["meanfield_rate"] = np.array([float(tail(t)) for t in thresholds])
    # ... and where float64 iteration of the map ends after `depth` layers (differs where q* = 1
    # is unstable, theta > 1.19: rounding errors grow until the upper stable fixed point)
    data["propagate_rate"] = np.array([propagate(depth, optimal_sigma(t, 1000), 1000, t).rate[-1] for t in thresholds])
    shape = (len(thresholds), len(params["sim_widths"]))
    alive = np.array([np.sum(s["counts"] > 0) for s in sims])
    draws = np.array([len(s["counts"]) for s in sims])
    intervals = np.array([stats.binomtest(int(a), int(n)).proportion_ci(0.95, method="exact") for a, n in zip(alive, draws)])
    rates = [s["counts"] / item["width"] for s, item in zip(sims, sim_items)]
    rate_ci = np.array([stats.t.interval(0.95, len(r) - 1, r.mean(), r.std(ddof=1) / np.sqrt(len(r)))
                        if r.std() > 0 else (r.mean(), r.mean()) for r in rates])
    # the chain at the simulated widths themselves (they are in the grid only approximately)
    sim_chain = [finite_width.spike_count_chain(depth, it["width"], it["threshold"]) for it in sim_items]
    data.update({
        "sim_survival": (alive / draws).reshape(shape), "sim_survival_low": intervals[:, 0].reshape(shape),
        "sim_survival_high": intervals[:, 1].reshape(shape), "sim_draws": draws.reshape(shape),
        "sim_rate": np.array([r.mean() for r in rates]).reshape(shape),
        "sim_rate_low": rate_ci[:, 0].reshape(shape), "sim_rate_high": rate_ci[:, 1].reshape(shape),
        "sim_chain_survival": np.array([c.survival[-1] for c in sim_chain]).reshape(shape),
        "sim_chain_rate": np.array([c.rate_mean[-1] for c in sim_chain]).reshape(shape),
    })
    return data


def plot(data, params):
    fig, axes = style.new_figure(1, 2, width=9.6, height=3.9)
    ax_survival, ax_rate = axes[0]
    for i, threshold in enumerate(data["thresholds"]):
        colour = _threshold_colour(threshold, data["thresholds"])
        ax_survival.plot(data["widths"], data["chain_survival"][i], color=colour, **style.THEORY,
                         label=rf"$\theta$ = {threshold:g} (exact chain)")
        ax_rate.plot(data["widths"], data["chain_rate"][i], color=colour, **style.THEORY)
        ax_rate.axhline(data["meanfield_rate"][i], color=colour, linestyle="--", linewidth=1.0)
        survival = data["sim_survival"][i]
        ax_survival.errorbar(data["sim_widths"], survival,
                             yerr=[survival - data["sim_survival_low"][i], data["sim_survival_high"][i] - survival],
                             color=colour, **style.SIMULATION)
        rate = np.maximum(data["sim_rate"][i], RATE_FLOOR)
        low = np.maximum(data["sim_rate_low"][i], RATE_FLOOR)
        high = np.maximum(data["sim_rate_high"][i], RATE_FLOOR)
        ax_rate.errorbar(data["sim_widths"], rate, yerr=[rate - low, high - rate], color=colour, **style.SIMULATION)
    ax_survival.plot([], [], "ko", markersize=3.5, label="simulation (95 % CI)")
    ax_rate.plot([], [], "k--", linewidth=1.0, label=r"Gaussian mean field $Q(\theta)$")
    ax_rate.plot([], [], "k-", label="exact chain")
    for ax in (ax_survival, ax_rate):
        ax.set_xscale("log")
        ax.set_xlabel("width n")
    ax_survival.set_ylabel(f"P(layer {params['depth']} still spikes)")
    ax_survival.set_ylim(-0.02, 1.02)
    ax_survival.set_title(f"Survival at depth {params['depth']} (paper's init)")
    ax_survival.legend(loc="lower right")
    ax_rate.set_yscale("log")
    ax_rate.set_ylim(RATE_FLOOR * 0.7, 0.6)
    ax_rate.set_ylabel(f"mean rate at depth {params['depth']} (silent = 0)")
    ax_rate.set_title("Rate: finite width vs mean field")
    ax_rate.legend(loc="lower right")
    return fig


def agreement(data, params):
    """Largest distance between simulated survival and the exact chain, in units of the
    binomial standard error, and how many points lie inside their 95 % interval."""
    inside = ((data["sim_chain_survival"] >= data["sim_survival_low"] - 1e-12)
              & (data["sim_chain_survival"] <= data["sim_survival_high"] + 1e-12))
    p = data["sim_chain_survival"]
    se = np.sqrt(np.maximum(p * (1 - p), 1e-12) / data["sim_draws"])
    worst = np.max(np.abs(data["sim_survival"] - p) / se)
    j = int(np.argmax(data["sim_widths"]))
    widest = "; ".join(
        f"theta {t:g}: {data['sim_rate'][i, j]:.4f} [{data['sim_rate_low'][i, j]:.4f}, {data['sim_rate_high'][i, j]:.4f}] "
        f"({data['sim_draws'][i, j]} draws; chain {data['sim_chain_rate'][i, j]:.4f}, mean field {data['meanfield_rate'][i]:.4f})"
        for i, t in enumerate(data["thresholds"]))
    return (f"survival at depth {params['depth']}: {inside.sum()}/{inside.size} simulated points inside their "
            f"95 % CI around the exact chain (worst {worst:.1f} SE); simulated rate at depth {params['depth']} "
            f"at width {data['sim_widths'][j]} (95 % CI): {widest}")


def findings(data, params) -> str:
    """Per threshold, from the exact chain at depth: survival over the width grid and, where
    about half the networks die at any width, the rate of those that survive."""
    parts = []
    widths = data["widths"]
    for i, t in enumerate(data["thresholds"]):
        survival, rate = data["chain_survival"][i], data["chain_rate"][i]
        wide = widths >= 100
        lo, hi = float(np.min(survival[wide])), float(np.max(survival[wide]))
        if hi < 0.9:
            parts.append(f"at threshold {t:g} survival to layer {params['depth']} stays between {lo:.2f} and {hi:.2f} "
                         f"over the widths from 100 to {widths[-1]} (it never approaches 1), and the networks that survive fire at "
                         f"{rate[-1] / survival[-1]:.3f} (chain rate / survival at width {widths[-1]}; mean field "
                         f"{data['meanfield_rate'][i]:.3f})")
        else:
            reach = widths[np.argmax(survival >= 0.99)] if np.any(survival >= 0.99) else None
            parts.append(f"at threshold {t:g} survival is at least 0.99 " + (f"from grid width {reach} on"
                                                                            if reach is not None else "at no width of the grid"))
    return f"Exact spike-count chain, depth {params['depth']}: " + "; ".join(parts) + "."


def tables(data, params):
    rows = ["| threshold | width | chain survival | simulated survival (95 % CI) | chain rate | simulated rate | mean-field rate |",
            "|---|---|---|---|---|---|---|"]
    csv = ["threshold,width,chain_survival,sim_survival,sim_low,sim_high,chain_rate,sim_rate,meanfield_rate"]
    for i, t in enumerate(data["thresholds"]):
        for j, w in enumerate(data["sim_widths"]):
            values = (data["sim_chain_survival"][i, j], data["sim_survival"][i, j], data["sim_survival_low"][i, j],
                      data["sim_survival_high"][i, j], data["sim_chain_rate"][i, j], data["sim_rate"][i, j],
                      data["meanfield_rate"][i])
            rows.append(f"| {t:g} | {w} | {values[0]:.4f} | {values[1]:.3f} [{values[2]:.3f}, {values[3]:.3f}] | "
                        f"{values[4]:.4f} | {values[5]:.4f} | {values[6]:.4f} |")
            csv.append(f"{t:g},{w}," + ",".join(f"{v:.6g}" for v in values))
    return {"finite_width_survival.md": "\n".join(rows) + "\n", "finite_width_survival.csv": "\n".join(csv) + "\n"}


_BASE = {"depth": 100, "thresholds": [0.5, 1.0, 1.5], "width_min": 10, "width_max": 3000, "points": 40,
         "seed": 0, "wide_from": 1000}
FIGURE = FigureSpec(
    name="finite_width_survival",
    title="Survival and rate of layer 100 versus width: exact chain, simulation, mean field",
    caption="Probability that layer 100 still spikes (left) and its mean rate (right, silent networks "
            "count as 0) versus width, for the paper's init at thresholds 0.5, 1 and 1.5, one time step. "
            "Lines: exact spike-count Markov chain; points: simulation with run_network up to width 1000, "
            "the regime where the chain and the README's minimum widths say "
            "depth 100 survives (fresh weights per draw, 95 % intervals; the number of draws per point is in "
            "the table, most at threshold 1 for the widest networks; rates below 1e-4 and silent draws drawn "
            "at 1e-4); dashed: Gaussian mean field, "
            "which predicts the rate Q(theta) at every width and depth. Above the critical threshold theta_c "
            "(figure theory_length_map) the paper's fixed point is unstable: fluctuations send each network "
            "either to silence or to the upper fixed point (findings: the numbers).",
    compute=compute, plot=plot, agreement=agreement, findings=findings, tables=tables, order=60, version="2",
    presets={
        # the widest simulated networks cost most (depth 100 x width^2 weights per draw): their draws are
        # spent mainly at threshold 1, the README's headline regime (width >= 1000)
        "quick": {**_BASE, "points": 20, "sim_widths": [10, 30, 100, 300, 1000], "sim_draws": 40,
                  "sim_draws_wide": [4, 12, 4]},
        "full": {**_BASE, "sim_widths": [10, 30, 100, 300, 1000], "sim_draws": 200,
                 "sim_draws_wide": [30, 100, 30]},
        "tiny": {**_BASE, "depth": 10, "width_max": 100, "points": 5, "sim_widths": [10, 30], "sim_draws": 10,
                 "sim_draws_wide": [2, 2, 2]},
    },
    expected_seconds={"quick": 50, "full": 230},
    preset_notes={"full": "no simulated width 3000 (the exact chain covers it; one draw there costs about 9 times a width-1000 draw) and 200 draws per width below 1000 instead of 400 (binomial standard error at most 0.035), for the 3-hour budget on 2 cores that the full gallery must fit."},
)
