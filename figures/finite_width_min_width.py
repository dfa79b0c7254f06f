"""Minimum width for 99 % survival at depth 10, 50, 100 versus threshold (exact chain), and the
finite-width optimal sigma next to the paper's, with the depth each one buys."""
from __future__ import annotations

import numpy as np

from theory import critical_threshold, optimal_sigma
from theory.chains import spike_count as finite_width

from . import style
from ._spec import FigureSpec


def min_width_point(item):
    """Minimum widths at every depth for one threshold, shallowest depth first. theory.min_width
    raises ValueError when ``max_width`` does not reach the target: that depth and every deeper
    one (survival only falls with depth) are NaN ("> max_width"); ``survival_at_max`` keeps the
    survival the chain reaches at max_width for the first such depth (NaN elsewhere)."""
    depths = list(item["depths"])
    widths = np.full(len(depths), np.nan)
    reached = np.full(len(depths), np.nan)
    for j in np.argsort(depths):
        try:
            widths[j] = finite_width.min_width(depths[j], item["threshold"], survival=item["survival"],
                                               max_width=item["max_width"])
        except ValueError:
            chain = finite_width.spike_count_chain(depths[j], item["max_width"], item["threshold"])
            reached[j] = chain.survival[-1]
            break
    return {"min_width": widths, "survival_at_max": reached}


def sigma_point(item):
    """Paper's sigma and the rate-keeping finite-width sigma at one width, with the survival at
    ``depth`` and the deepest layer that still spikes in ``survival`` of draws (<= max_depth)."""
    width, depth, threshold = item["width"], item["depth"], item["threshold"]
    out = {}
    for name, sigma in (("paper", optimal_sigma(threshold, width)),
                        ("finite", finite_width.finite_width_sigma(width, depth, threshold))):
        chain = finite_width.spike_count_chain(item["max_depth"], width, threshold, sigma_w=sigma)
        below = np.nonzero(chain.survival < item["survival"])[0]
        out[f"{name}_sigma"] = float(sigma)
        out[f"{name}_survival"] = float(chain.survival[depth])
        out[f"{name}_rate"] = float(chain.rate_mean[depth])
        out[f"{name}_depth"] = int(below[0] - 1) if len(below) else item["max_depth"]
    return out


def compute(params, ctx):
    thresholds = params["thresholds"]
    items = [{"threshold": t, "depths": params["depths"], "survival": params["survival"],
              "max_width": params["max_width"]} for t in thresholds]
    widths = ctx.map(min_width_point, items, desc="min width")
    sigma_items = [{"width": w, "depth": params["sigma_depth"], "threshold": 1.0, "max_depth": params["max_depth"],
                    "survival": params["survival"]} for w in params["sigma_widths"]]
    sigmas = ctx.map(sigma_point, sigma_items, desc="finite-width sigma")
    data = {"thresholds": np.array(thresholds, dtype=float), "depths": np.array(params["depths"]),
            "min_width": np.array([w["min_width"] for w in widths]),
            "survival_at_max": np.array([w["survival_at_max"] for w in widths]),
            "critical_threshold": critical_threshold(), "sigma_widths": np.array(params["sigma_widths"])}
    for key in sigmas[0]:
        data[key] = np.array([s[key] for s in sigmas])
    return data


def plot(data, params):
    fig, axes = style.new_figure(1, 1, width=6.2, height=4.4)
    ax = axes[0, 0]
    shades = [0.25, 0.55, 0.85]
    max_width = params["max_width"]
    colour = style.INIT_COLOURS["micheli"]
    for j, depth in enumerate(data["depths"]):
        alpha = shades[j % len(shades)] + 0.15
        widths = data["min_width"][:, j]
        ax.plot(data["thresholds"], widths, marker="o", markersize=3.5, color=colour, alpha=alpha,
                label=f"depth {depth}")
        beyond = np.isnan(widths)
        if beyond.any():
            # "> max_width" drawn as triangles above the bound (one row per depth), the first one
            # joined to the curve by a dotted segment and labelled with the survival reached there
            row = max_width * 1.15 ** (j + 1)
            found = np.nonzero(~beyond)[0]
            first = np.nonzero(beyond)[0][0]
            if found.size and found[-1] == first - 1:
                ax.plot(data["thresholds"][first - 1:first + 1], [widths[first - 1], row], color=colour,
                        alpha=alpha, linestyle=":")
            ax.plot(data["thresholds"][beyond], np.full(beyond.sum(), row), marker="^", markersize=6,
                    linestyle="none", color=colour, alpha=alpha)
            reached = data["survival_at_max"][first, j]
            if np.isfinite(reached):
                ax.annotate(f"{reached:.2f}", (data["thresholds"][first], row), textcoords="offset points",
                            xytext=(-4, 0), ha="right", va="center", fontsize=6.5, color=colour)
    ax.axhline(max_width, color="0.5", linewidth=0.8, linestyle="--")
    ax.plot([], [], marker="^", linestyle="none", color=colour,
            label=f"> {max_width} = max_width (dashed): target not\nreached; number: survival at {max_width}")
    ax.axvline(data["critical_threshold"], color="k", linestyle=":", linewidth=1.0)
    ax.set_yscale("log")
    ax.set_ylim(None, max_width * 2.6)
    ax.text(data["critical_threshold"], 0.03, r" $\theta_c$ = %.2f: fixed point unstable above" % data["critical_threshold"],
            rotation=90, va="bottom", ha="left", fontsize=8, transform=ax.get_xaxis_transform())
    ax.set_xlabel(r"threshold $\theta$")
    ax.set_ylabel(f"minimum width for {100 * params['survival']:.0f} % survival")
    ax.set_title("Width the paper's init needs (exact chain, one step)")
    ax.legend(loc="upper left", fontsize=7.5)
    return fig


def above_critical(data, params) -> list:
    """For each threshold above theta_c: (threshold, [(depth, min width or None, survival at
    max_width or NaN)]), from the data."""
    out = []
    for t, widths, reached in zip(data["thresholds"], data["min_width"], data["survival_at_max"]):
        if t > data["critical_threshold"]:
            out.append((float(t), [(int(d), None if np.isnan(w) else int(w), float(r))
                                   for d, w, r in zip(data["depths"], widths, reached)]))
    return out


def findings(data, params) -> str:
    """What holds above theta_c, from the data: which depths some width up to max_width keeps
    alive, and which no width up to it does."""
    crit, max_width = data["critical_threshold"], params["max_width"]
    parts = []
    for t, per_depth in above_critical(data, params):
        found = [f"depth {d} needs width {w}" for d, w, _ in per_depth if w is not None]
        beyond = [(d, r) for d, w, r in per_depth if w is None]
        text = f"threshold {t:g}: " + ", ".join(found)
        if beyond:
            reached = "; ".join(f"{r:.2f} at depth {d}" for d, r in beyond if np.isfinite(r))
            text += ((", " if found else "") + f"depth {', '.join(str(d) for d, _ in beyond)} exceed"
                     f"{'s' if len(beyond) == 1 else ''} max_width {max_width}"
                     + (f" (survival at width {max_width}: {reached})" if reached else ""))
        parts.append(text)
    if not parts:
        return f"theta_c = {crit:.3f}; no threshold above it on this grid."
    some = any(w is not None for _, per_depth in above_critical(data, params) for _, w, _ in per_depth)
    verdict = ("yet a network of a given depth still survives at a large enough finite width: \"no width "
               "suffices\" holds only for the deeper networks, and only as far as the search went"
               if some else
               "and no depth reaches the target within the widths searched; the survival reached at "
               "max_width says how close each depth comes, so this grid cannot say whether a wider layer would do")
    return (f"Exact chain, one step, {100 * params['survival']:.0f} % survival, widths searched up to {max_width}. "
            f"Above theta_c = {crit:.3f} the paper's fixed point is unstable, {verdict}: " + "; ".join(parts) + ".")


def tables(data, params):
    depths = list(data["depths"])
    rows = ["| threshold | " + " | ".join(f"min width, depth {d}" for d in depths) + " |",
            "|---|" + "---|" * len(depths)]
    csv = ["threshold," + ",".join(f"depth_{d}" for d in depths)]
    for t, widths, survival_at_max in zip(data["thresholds"], data["min_width"], data["survival_at_max"]):
        text = [f"> {params['max_width']}" if np.isnan(w) else f"{int(w)}" for w in widths]
        text = [f"{t} (survival {r:.3f} at {params['max_width']})" if np.isfinite(r) else t
                for t, r in zip(text, survival_at_max)]
        rows.append(f"| {t:g} | " + " | ".join(text) + " |")
        csv.append(f"{t:g}," + ",".join("" if np.isnan(w) else str(int(w)) for w in widths))
    d, max_depth = params["sigma_depth"], params["max_depth"]
    sigma_rows = [f"| width | paper sigma*sqrt(n) | finite-width sigma*sqrt(n) | survival at depth {d} (paper / finite) "
                  f"| rate at depth {d} (paper / finite) | depth with {100 * params['survival']:.0f} % survival "
                  f"(paper / finite, capped at {max_depth}) |", "|---|---|---|---|---|---|"]
    for i, w in enumerate(data["sigma_widths"]):
        root = np.sqrt(w)
        sigma_rows.append(
            f"| {w} | {data['paper_sigma'][i] * root:.4f} | {data['finite_sigma'][i] * root:.4f} | "
            f"{data['paper_survival'][i]:.4f} / {data['finite_survival'][i]:.4f} | "
            f"{data['paper_rate'][i]:.4f} / {data['finite_rate'][i]:.4f} | "
            f"{data['paper_depth'][i]} / {data['finite_depth'][i]} |")
    text = ("Minimum width for survival (paper's init, theta_c = %.3f)\n\n" % data["critical_threshold"]
            + "\n".join(rows) + "\n\nFinite-width sigma (keeps E[rate at depth %d] = Q(1), theta = 1) vs the paper's\n\n" % d
            + "\n".join(sigma_rows) + "\n")
    return {"finite_width_min_width.md": text, "finite_width_min_width.csv": "\n".join(csv) + "\n"}


_BASE = {"depths": [10, 50, 100], "survival": 0.99, "sigma_depth": 100, "max_depth": 1000}
FIGURE = FigureSpec(
    name="finite_width_min_width",
    title="Minimum width for 99 % survival versus threshold, and a finite-width sigma",
    caption="Smallest width at which the paper's init keeps layer 10, 50 or 100 spiking in 99 % of "
            "weight draws (exact spike-count chain, one time step, N(0, 1) inputs), versus threshold, "
            "densely sampled between 1 and the critical threshold theta_c (dotted) where the paper's fixed "
            "point loses stability: the required width grows steeply towards theta_c (like g'(q*)^(2 depth)) "
            "and exceeds the search bound max_width (dashed; triangles above it, labelled with the "
            "survival the chain reaches at max_width) for the deeper networks before theta_c is reached. "
            "The findings say which depths still survive above theta_c. The table repeats those survivals, the finite-width "
            "sigma (expected rate at depth 100 kept at Q(1)) and the depth each sigma buys.",
    compute=compute, plot=plot, tables=tables, findings=findings, order=61, version="2",
    presets={
        "quick": {**_BASE, "thresholds": [0.25, 0.5, 0.75, 0.9, 1.0, 1.05, 1.1, 1.15, 1.18, 1.25],
                  "max_width": 2500,
                  "sigma_widths": [100, 300, 1000]},
        "full": {**_BASE, "thresholds": [0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.05, 1.1, 1.15, 1.18, 1.25, 1.5],
                 "max_width": 5000, "sigma_widths": [100, 200, 300, 500, 1000, 2000]},
        "tiny": {**_BASE, "depths": [5, 10], "thresholds": [0.5, 1.0], "max_width": 300, "sigma_depth": 10,
                 "max_depth": 30, "sigma_widths": [30]},
    },
    expected_seconds={"quick": 7, "full": 100},
    preset_notes={"full": "search bound max_width 5000 instead of 20,000 (widths above it are drawn as \"> 5000\" with the survival reached there), for the 3-hour budget on 2 cores that the full gallery must fit."},
)
