"""How fast do two inputs become indistinguishable over depth, at each T? The asymptotic
correlation depth scale xi_c against the decay actually seen over the first layers, at infinite
width (pair mean field) and at the authors' width (exact finite-width pair chain).

Two starts: the pair of inputs with input correlation c0 = 0.2 and the pair with c0 = 0.9 pass
through the same kind of network; both converge to the same fixed point c*, and the gap between
their spike-count correlations,

    gap_l = |c_l(c0 = 0.9) - c_l(c0 = 0.2)|  ~  A exp(-l / xi),

measures how much of the difference between inputs survives l weight layers. xi is fitted over
layers 1..depth where the gap is resolved (above 3 standard errors, and above 0.005 for the mean
field); xi_c = -1 / ln(slope at c*) is the asymptotic rate (theory.pair_fixed_point, the number
theory.trainability uses). Paper's init (and Kaiming), threshold 1, beta 0.5, subtract reset,
static input (the same current at every step, like the training loop's pixels).
"""
from __future__ import annotations

import numpy as np

from theory import inits
from theory.meanfield.pair import pair_fixed_point, propagate_pair
from theory.chains.pair_chain import correlation_decay

from . import style
from ._spec import FigureSpec

STARTS = (0.2, 0.9)
MEAN_FIELD_FLOOR = 0.005    # below this the mean field's gap is sampling noise (samples 20000)


def _fit(layers, gap):
    use = (layers >= 1) & np.isfinite(gap)
    if use.sum() < 2:
        return float("nan")
    slope = np.polyfit(layers[use], np.log(gap[use]), 1)[0]
    return float("inf") if slope >= 0.0 else float(-1.0 / slope)


def transient_row(item: dict) -> dict:
    """Gaps and fitted depth scales for one (T, init): mean field, chain at each width, xi_c."""
    sigma = inits.weight_std(item["init"], item["width"], item["width"], item["threshold"], item["beta"])
    common = dict(threshold=item["threshold"], beta=item["beta"], reset="subtract", encoding="static")
    correlations = [propagate_pair(item["depth"], item["T"], sigma, item["width"], input_correlation=c0,
                                   samples=item["samples"], seed=item["seed"], **common).count_correlation
                    for c0 in STARTS]
    field_gap = np.abs(correlations[1] - correlations[0])
    layers = np.arange(item["depth"] + 1)
    resolved = np.where(field_gap > MEAN_FIELD_FLOOR, field_gap, np.nan)
    out = {"field_gap": field_gap, "xi_field": _fit(layers, resolved)}
    for width in item["chain_widths"]:
        decay = correlation_decay(item["depth"], width, item["T"],
                                  inits.weight_std(item["init"], width, width, item["threshold"], item["beta"]),
                                  starts=STARTS, chains=item["chains"], seed=item["seed"], **common)
        out[f"chain_gap_{width}"] = decay["gap"]
        out[f"chain_gap_se_{width}"] = decay["gap_se"]
        out[f"xi_chain_{width}"] = decay["xi"]
    point = pair_fixed_point(item["T"], sigma, item["width"], item["threshold"], item["beta"], "subtract",
                             encoding="static", samples=item["samples"], seed=item["seed"])
    out["xi_c"] = float(point.xi_c)
    return out


def compute(params, ctx):
    rows = [(T, init) for init in params["inits"] for T in params["steps"]]
    fixed = {k: params[k] for k in ("depth", "width", "threshold", "beta", "samples", "chains", "seed",
                                     "chain_widths")}
    results = ctx.map(transient_row, [dict(fixed, T=T, init=init) for T, init in rows], version="1",
                      desc="pair map transients")
    data = {"rows": [[int(T), init] for T, init in rows], "chain_widths": list(params["chain_widths"]),
            "field_gap": np.array([r["field_gap"] for r in results]),
            "xi_field": np.array([r["xi_field"] for r in results]),
            "xi_c": np.array([r["xi_c"] for r in results])}
    for width in params["chain_widths"]:
        for key in ("chain_gap", "chain_gap_se"):
            data[f"{key}_{width}"] = np.array([r[f"{key}_{width}"] for r in results])
        data[f"xi_chain_{width}"] = np.array([r[f"xi_chain_{width}"] for r in results])
    return data


def plot(data, params):
    rows = data["rows"]
    fig, axes = style.new_figure(1, len(rows), width=3.3 * len(rows), height=3.6, sharey=True)
    layers = np.arange(params["depth"] + 1)
    for i, (T, init) in enumerate(rows):
        ax = axes[0, i]
        gap = np.where(data["field_gap"][i] > MEAN_FIELD_FLOOR, data["field_gap"][i], np.nan)
        ax.semilogy(layers, gap, "k-", lw=1.5, label=f"mean field (xi {data['xi_field'][i]:.2f})")
        for k, (width, marker) in enumerate(zip(data["chain_widths"], "os^")):
            chain = data[f"chain_gap_{width}"][i]
            se = data[f"chain_gap_se_{width}"][i]
            shown = chain > 3 * se         # unresolved points are noise: not drawn
            shift = 0.15 * (k - (len(data["chain_widths"]) - 1) / 2)    # side by side, not on top
            ax.errorbar(layers[shown] + shift, chain[shown], yerr=se[shown], fmt=marker, ms=3.5, capsize=2,
                        label=f"chain width {width} (xi {data[f'xi_chain_{width}'][i]:.2f})")
        if np.isfinite(data["xi_c"][i]):
            start = gap[1] if np.isfinite(gap[1]) else data["field_gap"][i][1]
            ax.semilogy(layers[1:], start * np.exp(-(layers[1:] - 1) / data["xi_c"][i]), "r--", lw=1,
                        label=f"asymptotic slope (xi_c {data['xi_c'][i]:.2f})")
        else:
            ax.text(0.5, 0.05, "silent fixed point: no xi_c", transform=ax.transAxes, ha="center", fontsize=7)
        ax.set_title(f"T = {T}, {style.label(init)}", fontsize=9)
        ax.set_xlabel("weight layer l")
        ax.set_ylim(1e-3, 1.5)
        ax.legend(fontsize=6, loc="lower left")
    axes[0, 0].set_ylabel("|c_l(c0 = 0.9) - c_l(c0 = 0.2)|")
    return fig


def tables(data, params):
    header = ["T", "init", "xi_c (asymptotic)", "xi mean field (first layers)"] + \
             [f"xi chain width {w}" for w in data["chain_widths"]]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, (T, init) in enumerate(data["rows"]):
        cells = [str(T), init, f"{data['xi_c'][i]:.2f}", f"{data['xi_field'][i]:.2f}"]
        cells += [f"{data[f'xi_chain_{w}'][i]:.2f}" for w in data["chain_widths"]]
        md.append("| " + " | ".join(cells) + " |")
    return {"correlation_transient.md": "\n".join(md) + "\n"}


def agreement(data, params):
    micheli = [i for i, (_, init) in enumerate(data["rows"]) if init == "micheli"]
    parts = [f"T={data['rows'][i][0]}: xi_c {data['xi_c'][i]:.2f}, first-layer xi {data['xi_field'][i]:.2f} (mean field)"
             + "".join(f", {data[f'xi_chain_{w}'][i]:.2f} (width {w})" for w in data["chain_widths"])
             for i in micheli]
    return "paper's init: " + "; ".join(parts)


_BASE = {"width": 100, "threshold": 1.0, "beta": 0.5, "seed": 1, "chain_widths": [100, 1000]}
FIGURE = FigureSpec(
    name="correlation_transient",
    caption="Two inputs become indistinguishable over depth: the gap between the spike-count correlations of a "
            "similar pair (c0 = 0.9) and a dissimilar pair (c0 = 0.2) at each weight layer, for the pair mean "
            "field (black) and the exact finite-width pair chain (markers, with standard errors, drawn side by "
            "side around each layer; unresolved points omitted), against the asymptotic decay set by xi_c (red). xi_c is the same at every T "
            "(step 1's map dominates the fixed point), but over the first ten layers the gap decays more "
            "slowly the more time steps there are: the later steps carry the difference while they are "
            "still active. Static input, threshold 1, beta 0.5, subtract reset.",
    compute=compute, plot=plot, tables=tables, agreement=agreement, order=64, version="1",
    presets={
        "quick": {**_BASE, "depth": 12, "steps": [2, 8, 16], "inits": ["micheli"], "samples": 20000, "chains": 64},
        "full": {**_BASE, "depth": 16, "steps": [1, 2, 4, 8, 16], "inits": ["micheli"], "samples": 40000,
                 "chains": 256},
        "tiny": {**_BASE, "depth": 3, "steps": [2], "inits": ["micheli"], "samples": 500, "chains": 8,
                 "chain_widths": [50]},
    },
    expected_seconds={"quick": 200, "full": 40},
)
