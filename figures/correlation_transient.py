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
from theory.chains.pair_chain import correlation_decay, efold_depth

from matplotlib.patches import Patch

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
        out[f"efold_chain_{width}"] = decay["xi_efold"]          # window-free: theory.trainability's xi_transient
        out[f"efold_chain_se_{width}"] = decay["xi_efold_se"]
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
        for key in ("xi_chain", "efold_chain", "efold_chain_se"):
            data[f"{key}_{width}"] = np.array([r[f"{key}_{width}"] for r in results])
    return data


def resolved_layers(data, i):
    """Layers at which row ``i``'s gaps are resolved: the mean field above MEAN_FIELD_FLOOR and
    every chain above three standard errors (boolean per layer)."""
    ok = np.asarray(data["field_gap"][i]) > MEAN_FIELD_FLOOR
    for width in data["chain_widths"]:
        ok &= np.asarray(data[f"chain_gap_{width}"][i]) > 3 * np.asarray(data[f"chain_gap_se_{width}"][i])
    return ok


def common_window(data, i) -> int:
    """The last layer L such that every curve of row ``i`` is resolved at every layer 1..L (0 if
    layer 1 is not): the window over which the figure fits every xi of the row."""
    ok = resolved_layers(data, i)
    last = 0
    while last + 1 < ok.size and ok[last + 1]:
        last += 1
    return last


def fit_window(gap, last, first=1):
    """xi from an unweighted least-squares line through log gap over layers first..last (NaN if
    fewer than two layers, inf if the gap does not shrink)."""
    layers = np.arange(len(gap))
    use = (layers >= first) & (layers <= last)
    if use.sum() < 2 or not np.all(np.asarray(gap)[use] > 0):
        return float("nan")
    slope = np.polyfit(layers[use], np.log(np.asarray(gap)[use]), 1)[0]
    return float("inf") if slope >= 0 else float(-1.0 / slope)


def curves(data, i):
    """(label, gap) of every curve of row ``i``: the mean field, then each chain width."""
    return [("mean field", np.asarray(data["field_gap"][i]))] + \
        [(f"chain width {w}", np.asarray(data[f"chain_gap_{w}"][i])) for w in data["chain_widths"]]


def same_window_xi(data, i):
    """{label: xi over layers 1..common_window} for row ``i``."""
    last = common_window(data, i)
    return {label: fit_window(gap, last) for label, gap in curves(data, i)}


def efold_depths(data, i):
    """{label: first e-folding depth of the gap} for row ``i`` (theory.chains.pair_chain.efold_depth,
    the window-free scale theory.trainability calls xi_transient): the mean field's from its gap
    here, each chain's as the theory returned it. Empty for data drawn before it existed."""
    if f"efold_chain_{data['chain_widths'][0]}" not in data:
        return {}
    gap = np.where(np.asarray(data["field_gap"][i]) > MEAN_FIELD_FLOOR, data["field_gap"][i], np.nan)
    out = {"mean field": efold_depth(gap)}
    out.update({f"chain width {w}": float(data[f"efold_chain_{w}"][i]) for w in data["chain_widths"]})
    return out


CHAIN_MARKERS = ("o", "s", "^")


def plot(data, params):
    rows = data["rows"]
    panels = len(rows) + 1
    ncols = 3 if panels > 4 else 2
    nrows = -(-panels // ncols)
    fig, axes = style.new_figure(nrows, ncols, width=4.0 * ncols + 0.4, height=3.3 * nrows + 0.9)
    layers = np.arange(params["depth"] + 1)
    # x axes end where the data end: the deepest resolved layer of any row
    end = max(int(np.max(np.nonzero(np.asarray(data["field_gap"][i]) > MEAN_FIELD_FLOOR)[0], initial=1))
              for i in range(len(rows)))
    for i, (T, init) in enumerate(rows):
        ax = axes.flat[i]
        colour = style.colour(init)
        last = common_window(data, i)
        if last >= 2:
            ax.axvspan(0.6, last + 0.4, color=style.NEUTRAL["light"], alpha=0.25, linewidth=0)
        xi = same_window_xi(data, i)
        gap = np.where(data["field_gap"][i] > MEAN_FIELD_FLOOR, data["field_gap"][i], np.nan)
        ax.semilogy(layers, gap, color=colour, lw=1.6, label="pair mean field (infinite width)")
        for k, width in enumerate(data["chain_widths"]):
            chain, se = data[f"chain_gap_{width}"][i], data[f"chain_gap_se_{width}"][i]
            shown = chain > 3 * se         # unresolved points are noise: not drawn
            shift = 0.15 * (k - (len(data["chain_widths"]) - 1) / 2)    # side by side, not on top
            ax.errorbar(layers[shown] + shift, chain[shown], yerr=se[shown], fmt=CHAIN_MARKERS[k % 3], ms=4,
                        capsize=2, color=colour, mfc="white" if k == 0 else colour,
                        label=f"exact pair chain, width {width} (+- se)")
        if np.isfinite(data["xi_c"][i]):
            start = gap[1] if np.isfinite(gap[1]) else data["field_gap"][i][1]
            ax.semilogy(layers[1:], start * np.exp(-(layers[1:] - 1) / data["xi_c"][i]),
                        color=style.NEUTRAL["mean_field"], ls="--", lw=1, label="asymptotic slope exp(-l / xi_c)")
        else:
            ax.text(0.5, 0.05, "silent fixed point: no xi_c", transform=ax.transAxes, ha="center", fontsize=8)
        text = [f"xi_c {data['xi_c'][i]:.2f}"]
        if last >= 2:
            text.append(f"fit, layers 1-{last}: " + ", ".join(f"{v:.2f}" for v in xi.values()))
        efolds = efold_depths(data, i)
        if efolds:
            text.append("e-fold depth: " + ", ".join(f"{v:.2f}" for v in efolds.values()))
        text.append("(mean field, " + ", ".join(f"w {w}" for w in data["chain_widths"]) + ")")
        ax.text(0.97, 0.97, "\n".join(text), transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})
        ax.set_title(f"T = {T}, {style.label(init)}", fontsize=10)
        ax.set_xlabel("weight layer l")
        ax.set_xlim(-0.3, end + 0.5)
        ax.set_ylim(1e-3, 1.5)
        if i % ncols == 0:
            ax.set_ylabel("|c_l(c0 = 0.9) - c_l(c0 = 0.2)|")
    ax = axes.flat[len(rows)]
    steps = [T for T, _ in rows]
    for i, (T, init) in enumerate(rows):
        colour = style.sequence_colour(T, steps)
        for k, (label, gap) in enumerate(curves(data, i)):
            ok = resolved_layers(data, i) if k else np.asarray(data["field_gap"][i]) > MEAN_FIELD_FLOOR
            ends = [L for L in range(2, len(gap)) if ok[1:L + 1].all()]
            values = [fit_window(gap, L) for L in ends]
            if k == 0:
                ax.plot(ends, values, color=colour, lw=1.6, label=f"T = {T}")
            else:
                ax.plot(ends, values, linestyle="none", marker=CHAIN_MARKERS[(k - 1) % 3], ms=4, color=colour,
                        mfc="white" if k == 1 else colour)
        efolds = efold_depths(data, i)
        if "mean field" in efolds:
            ax.axhline(efolds["mean field"], color=colour, linestyle=":", linewidth=1.2)
    ax.plot([], [], color="0.3", linestyle=":", label="e-fold depth (no window)")
    ax.set_xlabel("window end L (fit over layers 1..L)")
    ax.set_ylabel("fitted xi (weight layers)")
    ax.set_title("xi depends on the fit window", fontsize=10)
    ax.legend(fontsize=8, title="line: mean field; markers: chains", title_fontsize=7)
    ax.set_xlim(1.5, end + 0.5)
    for extra in list(axes.flat)[panels:]:
        extra.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles.append(Patch(color=style.NEUTRAL["light"], alpha=0.25))
    labels.append("window where every curve is resolved (the fits in each panel's box)")
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    return fig


def tables(data, params):
    ends = [L for L in (4, 6, 8, 10, 12, 16) if L <= params["depth"]]
    header = (["T", "init", "xi_c (asymptotic)", "same window (layers)", "xi mean field"]
              + [f"xi chain width {w}" for w in data["chain_widths"]]
              + [f"mean field, layers 1-{L}" for L in ends]
              + [f"theory's fit, width {w} (gap > 3 se)" for w in data["chain_widths"]]
              + (["e-fold depth, mean field"] + [f"e-fold depth, width {w} (se)" for w in data["chain_widths"]]
                 if efold_depths(data, 0) else []))
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, (T, init) in enumerate(data["rows"]):
        last = common_window(data, i)
        xi = same_window_xi(data, i)
        field = np.asarray(data["field_gap"][i])
        resolved_field = field > MEAN_FIELD_FLOOR
        cells = [str(T), init, f"{data['xi_c'][i]:.2f}", f"1-{last}" if last >= 2 else "none"]
        cells += [f"{v:.2f}" for v in xi.values()]
        cells += [f"{fit_window(field, L):.2f}" if resolved_field[1:L + 1].all() else "unresolved" for L in ends]
        cells += [f"{data[f'xi_chain_{w}'][i]:.2f}" for w in data["chain_widths"]]
        efolds = efold_depths(data, i)
        if efolds:
            cells.append(f"{efolds['mean field']:.2f}")
            cells += [f"{data[f'efold_chain_{w}'][i]:.2f} ({data[f'efold_chain_se_{w}'][i]:.2f})"
                      for w in data["chain_widths"]]
        md.append("| " + " | ".join(cells) + " |")
    return {"correlation_transient.md": "\n".join(md) + "\n"}


def agreement(data, params):
    micheli = [i for i, (_, init) in enumerate(data["rows"]) if init == "micheli"]
    parts = []
    for i in micheli:
        last = common_window(data, i)
        xi = same_window_xi(data, i)
        parts.append(f"T={data['rows'][i][0]}: xi_c {data['xi_c'][i]:.2f}; over layers 1-{last} mean field "
                     f"{xi['mean field']:.2f}" + "".join(f", width {w} {xi[f'chain width {w}']:.2f}"
                                                         for w in data["chain_widths"]))
    return "paper's init, every xi of a row fitted over the same layers: " + "; ".join(parts)


def _span(values):
    low, high = np.nanmin(values), np.nanmax(values)
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}"


def findings(data, params):
    """Same-window comparison and the window dependence, from the data."""
    micheli = [i for i, (_, init) in enumerate(data["rows"]) if init == "micheli"]
    if not micheli:
        return ""
    lasts = [common_window(data, i) for i in micheli]
    diffs = []
    for i in micheli:
        xi = same_window_xi(data, i)
        diffs += [abs(xi[f"chain width {w}"] - xi["mean field"]) / xi["mean field"] for w in data["chain_widths"]]
    spans = []
    for i in micheli:
        field = np.asarray(data["field_gap"][i])
        ends = [L for L in range(2, field.size) if (field[1:L + 1] > MEAN_FIELD_FLOOR).all()]
        values = [fit_window(field, L) for L in ends if L >= 4]
        if values:
            spans.append((data["rows"][i][0], min(values), max(values), min(ends[-1], max(L for L in ends))))
    text = (f"Pair mean field ({params['samples']:,} samples) and exact pair chains ({params['chains']} chains per "
            f"start, widths {', '.join(str(w) for w in data['chain_widths'])}), paper's init, depth {params['depth']}. "
            f"Fitted over the same layers (1 to {min(lasts)}-{max(lasts)}, where every curve is resolved), the "
            f"chains' xi differ from the mean field's by at most {100 * np.nanmax(diffs):.0f} %: at these widths the "
            f"transient is the mean field's. xi_c is {_span(data['xi_c'])} at every T.")
    efolds = [(data["rows"][i][0], efold_depths(data, i)) for i in micheli]
    if efolds and efolds[0][1]:
        text += (" The first e-folding depth of the gap (no window; theory.trainability's xi_transient) is "
                 + "; ".join(f"{_span(list(e.values()))} at T = {T}" for T, e in efolds)
                 + " (mean field and chains).")
    if spans:
        text += (" The fitted xi depends on the window: the mean field's moves over "
                 + "; ".join(f"{lo:.2f}-{hi:.2f} at T = {T}" for T, lo, hi, _ in spans)
                 + " as the window ends anywhere from layer 4 to the last resolved layer: a fitted scale carries the "
                 "window as a free parameter, which the e-fold depth does not.")
    return text


_BASE = {"width": 100, "threshold": 1.0, "beta": 0.5, "seed": 1, "chain_widths": [100, 1000]}
FIGURE = FigureSpec(
    name="correlation_transient",
    title="How fast two inputs become indistinguishable with depth, and the fit window",
    caption="Two inputs become indistinguishable over depth: the gap between the spike-count correlations of a "
            "similar pair (c0 = 0.9) and a dissimilar pair (c0 = 0.2) at each weight layer, one panel per T, for "
            "the pair mean field (line) and the exact finite-width pair chain (markers with standard errors, side "
            "by side around each layer; unresolved points omitted), against the asymptotic decay set by xi_c "
            "(black dashed). Each panel's box gives xi fitted to every curve over the same layers (grey band: "
            "the layers where every curve is resolved; an unweighted line through log gap). xi_c is the same at "
            "every T (step 1's map dominates the fixed point), but over the first layers the gap decays more "
            "slowly the more time steps there are: the later steps carry the difference while they are still "
            "active. Last panel: the fitted xi against the end of its window (which has no natural choice), "
            "with the first e-folding depth of the gap (dotted: the layers for the gap to fall e-fold from "
            "layer 1, read where the data cross that level; no window), which theory.trainability reports as "
            "xi_transient. The table adds the theory's own windowed fit (weighted, over the layers where the "
            "chain's gap exceeds 3 se). Static input, threshold 1, beta 0.5, subtract reset.",
    compute=compute, plot=plot, tables=tables, agreement=agreement, findings=findings, order=64, version="2",
    presets={
        "quick": {**_BASE, "depth": 12, "steps": [2, 8, 16], "inits": ["micheli"], "samples": 20000, "chains": 64},
        "full": {**_BASE, "depth": 16, "steps": [1, 2, 4, 8, 16], "inits": ["micheli"], "samples": 40000,
                 "chains": 256},
        "tiny": {**_BASE, "depth": 3, "steps": [2], "inits": ["micheli"], "samples": 500, "chains": 8,
                 "chain_widths": [50]},
    },
    expected_seconds={"quick": 10, "full": 40},
)
