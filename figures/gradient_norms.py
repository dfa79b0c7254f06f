"""Per-layer weight-gradient norm at initialisation, predicted (theory.gradients.onestep) and measured
(simulate.loss_and_grads, BPTT with the surrogate), per initialiser and surrogate, T = 1."""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.lines import Line2D
from scipy import stats

from simulate.experiments import gradient_norm_draws
from theory import optimal_sigma
from theory.gradients import onestep as gradients
from theory import inits
from theory.core.surrogates import SURROGATES

from . import style
from ._spec import FigureSpec


def _widths(params):
    return [params["width"]] * params["depth"] + [params["n_classes"]]


def _init_params(name, params):
    """Registry parameters: the temporal init is solved for ``temporal_T`` steps (subtract reset)."""
    return {"T": params["temporal_T"], "reset": "subtract"} if name == "micheli_temporal" else {}


def measure_point(item):
    """||dW_l||^2 and ||delta_l||^2 of ``draws`` networks of one initialiser (simulate.experiments)."""
    return gradient_norm_draws(item["init"], _widths(item), item["threshold"], item["beta"], item["surrogates"],
                               item["draws"], item["seed"], item["n_classes"],
                               init_params=_init_params(item["init"], item))


def _profile_args(name, params):
    """gradient_profile's weight arguments: the registry name, or the per-layer stds of an init
    that needs registry parameters (looked up once per layer shape)."""
    extra = _init_params(name, params)
    if not extra:
        return {"init": name}
    widths = _widths(params)
    stds = {}
    for shape in zip(widths[:-1], widths[1:]):
        if shape not in stds:
            stds[shape] = inits.weight_std(name, *shape, params["threshold"], params["beta"], **extra)
    return {"sigma_w": np.array([stds[shape] for shape in zip(widths[:-1], widths[1:])])}


def compute(params, ctx):
    items = [{**{k: params[k] for k in ("depth", "width", "n_classes", "threshold", "beta", "draws", "seed",
                                         "surrogates", "temporal_T")}, "init": name} for name in params["inits"]]
    measured = ctx.map(measure_point, items, desc="BPTT draws")
    data = {"inits": list(params["inits"]), "surrogates": list(params["surrogates"]),
            "layers": np.arange(1, params["depth"] + 1)}
    for name, m in zip(params["inits"], measured):
        weights = _profile_args(name, params)
        for s in params["surrogates"]:
            profile = gradients.gradient_profile(params["depth"], params["width"], params["threshold"], s,
                                                 n_classes=params["n_classes"], beta=params["beta"], **weights)
            # per unit output error: removes the one-label-neuron lottery of ||delta_L||^2
            data[f"pred_{name}_{s}"] = profile.typical_weight_grad_sq[1:] / profile.delta_sq[-1]
            data[f"pred_mean_{name}_{s}"] = profile.weight_grad_sq[1:] / profile.delta_sq[-1]
            data[f"chi_{name}_{s}"] = float(profile.chi[1])
            ratio = m[f"weight_sq_{s}"] / m[f"delta_sq_{s}"][:, -1:]
            data[f"meas_{name}_{s}"] = ratio
    n, theta = params["width"], params["threshold"]
    sigma = optimal_sigma(theta, n)
    summary = []
    for s in params["surrogates"]:
        roots = gradients.chi_one_fixed_points(s, n, theta)
        summary.append({"surrogate": s, "default_scale": SURROGATES[s][1],
                        "chi_paper": gradients.chi(s, sigma, n, theta, q=1.0),
                        "cv2_paper": gradients.gain_cv2(s, 1.0, n, theta),
                        "chi_one_scale": gradients.chi_one_scale(s, sigma, n, theta),
                        "chi_one_points": [{"q": r.q, "gain": r.gain, "rate": r.rate, "slope": r.forward_slope}
                                           for r in roots]})
    data["summary"] = summary
    return data


def _geometric(ratio, confidence=0.95):
    """Geometric mean over draws with a t interval in log space; NaN where any draw is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(ratio)
        ok = np.all(np.isfinite(logs), axis=0)
        mean = np.where(ok, logs.mean(axis=0), np.nan)
        half = stats.t.ppf(0.5 + confidence / 2, len(ratio) - 1) * logs.std(axis=0, ddof=1) / np.sqrt(len(ratio))
    half = np.where(ok, half, np.nan)
    return np.exp(mean), np.exp(mean - half), np.exp(mean + half)


def _positive(values):
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, np.nan)


def survivors(data, surrogate) -> list:
    """Initialisers whose predicted gradient is positive at every layer (forward pass alive)."""
    return [name for name in data["inits"]
            if np.all(np.isfinite(_positive(data[f"pred_{name}_{surrogate}"])))]


CHI_FIT_FIRST = 5       # measured chi: slope of log ||dW_l||^2 over layers CHI_FIT_FIRST..depth-1


def measured_chi(data, name, surrogate, confidence=0.95):
    """chi measured from the BPTT draws: per draw, exp(-slope) of log ||dW_l||^2 / ||delta_L||^2
    against l over layers CHI_FIT_FIRST..depth-1 (||dW_l||^2 ~ prod of the gains above l); the
    mean over draws with a Student-t interval. NaN where a draw has a zero gradient there."""
    ratio = np.asarray(data[f"meas_{name}_{surrogate}"], dtype=float)
    layers = np.asarray(data["layers"])
    use = (layers >= CHI_FIT_FIRST) & (layers <= layers[-1] - 1)
    if use.sum() < 2 or np.any(ratio[:, use] <= 0):
        return np.nan, np.nan, np.nan
    chis = np.exp(-np.polyfit(layers[use], np.log(ratio[:, use]).T, 1)[0])
    mean = float(chis.mean())
    if chis.size < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(0.5 + confidence / 2, chis.size - 1) * chis.std(ddof=1) / np.sqrt(chis.size)
    return mean, mean - half, mean + half


def _panel(ax, data, surrogate, names, layers):
    drawn, underflow, zero_measured = [], [], []
    for name in names:
        colour = style.colour(name)
        predicted = _positive(data[f"pred_{name}_{surrogate}"])
        centre, low, high = _geometric(data[f"meas_{name}_{surrogate}"])
        if np.all(np.isnan(predicted)) and np.all(np.isnan(centre)):
            underflow.append(style.label(name))
            continue
        drawn.append(predicted)
        ax.plot(layers, predicted, color=colour, **style.THEORY, **style.line_style(name, names))
        if np.all(np.isnan(centre)):
            zero_measured.append(style.label(name))
        ax.errorbar(layers, centre, yerr=[centre - low, high - centre], color=colour,
                    **style.simulation_style(name, names))
    ax.set_yscale("log")
    if drawn:
        top, bottom = np.nanmax([np.nanmax(p) for p in drawn]), np.nanmin([np.nanmin(p) for p in drawn])
        span = max(np.log10(top / bottom), 1.0)
        ax.set_ylim(bottom * 10 ** (-0.08 * span), top * 10 ** (0.08 * span))
    notes = []
    if underflow:
        notes.append(textwrap.fill("not drawable: " + ", ".join(underflow), 34)
                     + "\n(gradient < 1e-308: float64 underflow;\nBPTT gives exactly 0)")
    if zero_measured:
        notes.append(textwrap.fill("lines only, BPTT gives exactly 0 (float32 underflow): "
                                   + ", ".join(zero_measured), 34))
    if notes:       # an empty legend placed where it hides the fewest lines ("best")
        box = ax.legend(handles=[], title="\n".join(notes), loc="best", title_fontsize=6.5, framealpha=0.9)
        box.get_title().set_multialignment("left")


def plot(data, params):
    """Top row: the initialisers whose forward pass survives (their own y range, so the gradient's
    growth or decay per layer is visible); bottom row: the others, which die within a few layers."""
    surrogates = data["surrogates"]
    fig, axes = style.new_figure(2, len(surrogates), width=3.4 * len(surrogates) + 0.6, height=7.6, sharex=True)
    layers = data["layers"]
    for index, s in enumerate(surrogates):
        alive = survivors(data, s)
        top, bottom = axes[0, index], axes[1, index]
        _panel(top, data, s, alive, layers)
        _panel(bottom, data, s, [n for n in data["inits"] if n not in alive], layers)
        chis = [f"{style.label(n).split(' (')[0]}:\n{measured_chi(data, n, s)[0]:.3f} "
                f"[{measured_chi(data, n, s)[1]:.3f}, {measured_chi(data, n, s)[2]:.3f}], theory "
                f"{data[f'chi_{n}_{s}']:.3f}" for n in alive if n == "micheli"]
        top.set_title(f"{s} (scale {SURROGATES[s][1]:g}): forward pass alive"
                      + ("\nchi from the BPTT slope (95 % CI), " + "; ".join(chis) if chis else ""), fontsize=8)
        bottom.set_title(f"{s}: forward pass dies", fontsize=9)
        bottom.set_xlabel("layer l")
        if index == 0:
            for ax in (top, bottom):
                ax.set_ylabel(r"$\|\partial L/\partial W_l\|^2 / \|\delta_L\|^2$")
    handles = [Line2D([], [], color=style.colour(n), marker=style.marker(n), markersize=4,
                      **{**style.THEORY, **style.line_style(n, data["inits"])}, label=style.label(n))
               for n in data["inits"]]
    labels = [h.get_label() for h in handles]
    if "micheli_temporal" in data["inits"]:
        labels[data["inits"].index("micheli_temporal")] += f" (std solved for T = {params['temporal_T']})"
    fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=8)
    fig.suptitle(f"Gradient norms at init, T = 1, width {params['width']}, theta {params['threshold']:g} "
                 f"(lines: theory, typical value; points: BPTT, geometric mean of {params['draws']} draws, 95 % CI)",
                 fontsize=9)
    return fig


def agreement(data, params):
    """Paper's init: measured vs predicted log-profile at layer 1, per surrogate (in e-folds)."""
    parts = []
    for s in data["surrogates"]:
        centre, low, high = _geometric(data[f"meas_micheli_{s}"])
        predicted = data[f"pred_micheli_{s}"][0]
        inside = low[0] <= predicted <= high[0]
        parts.append(f"{s} {np.log(centre[0] / predicted):+.2f}{'' if inside else ' (outside CI)'}")
    return "paper's init, log(measured/predicted) ||dW_1||^2 at depth %d: " % params["depth"] + ", ".join(parts)


def tables(data, params):
    rows = ["| surrogate (default scale) | chi at paper's init | gain CV^2 at width %d | scale giving chi = 1 | "
            "fixed points with chi = 1: q, n sigma^2, rate, forward slope |" % params["width"], "|---|---|---|---|---|"]
    for entry in data["summary"]:
        points = "; ".join(f"q={p['q']:.3g}, n s^2={p['gain']:.3g}, rate={p['rate']:.3g}, slope={p['slope']:.2f}"
                           for p in entry["chi_one_points"]) or "none"
        scale = "none" if entry["chi_one_scale"] is None else f"{entry['chi_one_scale']:.3g}"
        rows.append(f"| {entry['surrogate']} ({entry['default_scale']:g}) | {entry['chi_paper']:.4g} | "
                    f"{entry['cv2_paper']:.3g} | {scale} | {points} |")
    chi_rows = ["| init | " + " | ".join(data["surrogates"]) + " |", "|---|" + "---|" * len(data["surrogates"])]
    csv = ["init," + ",".join(data["surrogates"])]
    for name in data["inits"]:
        values = [data[f"chi_{name}_{s}"] for s in data["surrogates"]]
        chi_rows.append(f"| {name} | " + " | ".join(f"{v:.3g}" for v in values) + " |")
        csv.append(f"{name}," + ",".join(f"{v:.6g}" for v in values))
    measured = [f"| init | " + " | ".join(f"{s} theory / BPTT (95 % CI)" for s in data["surrogates"]) + " |",
                "|---|" + "---|" * len(data["surrogates"])]
    for name in data["inits"]:
        cells = []
        for s in data["surrogates"]:
            mean, low, high = measured_chi(data, name, s)
            cells.append(f"{data[f'chi_{name}_{s}']:.3g} / " + ("-" if not np.isfinite(mean) else
                         f"{mean:.3f} [{low:.3f}, {high:.3f}]"))
        measured.append(f"| {name} | " + " | ".join(cells) + " |")
    text = ("Backward gain chi per surrogate at the paper's init (theta = %g, width %d)\n\n" % (params["threshold"], params["width"])
            + "\n".join(rows) + "\n\nchi of the first hidden layer per initialiser (forward mean field from q0 = 1)\n\n"
            + "\n".join(chi_rows) + "\n\nchi: theory (first hidden layer) / measured from the BPTT draws (exp(-slope) "
            "of log ||dW_l||^2 over layers %d..%d, mean over %d draws with a 95 %% t-interval; '-' where a draw's "
            "gradient is 0 there)\n\n" % (CHI_FIT_FIRST, params["depth"] - 1, params["draws"])
            + "\n".join(measured) + "\n")
    return {"gradient_norms.md": text, "gradient_norms_chi.csv": "\n".join(csv) + "\n"}


_BASE = {"depth": 30, "n_classes": 10, "threshold": 1.0, "beta": 0.5, "seed": 0, "temporal_T": 10,
         "surrogates": ["atan", "sigmoid", "fast_sigmoid", "straight_through"],
         "inits": ["micheli", "micheli_reset", "micheli_temporal", "kaiming", "xavier", "lecun", "pytorch_default",
                   "fluctuation", "ding"]}
FIGURE = FigureSpec(
    name="gradient_norms",
    title="Gradient norm per layer at initialisation per surrogate: theory and BPTT, chi",
    caption="Per-layer weight-gradient norm at initialisation relative to the output error, "
            "||dL/dW_l||^2 / ||delta_L||^2, one time step, depth 30, for every initialiser (colour; the "
            "temporal init with its std solved for T = 10 steps, drawn here at the first step) and four "
            "surrogates (panels, snnTorch default scales). Lines: theory (n p_{l-1} prod chi, typical value "
            "with the finite-width spread of the gains); points: BPTT of the training code, geometric mean "
            "over independent draws with 95 % intervals. Top row: the initialisers whose forward pass "
            "survives, on their own y range; bottom row: those whose forward pass dies, whose curves stop "
            "where it is silent (the weight gradient is then exactly 0). Each top panel's title gives "
            "the paper's init's chi measured from the slope of the BPTT profile (mean over draws, 95 % "
            "t-interval) next to the theory's. A note in a panel names the initialisers it cannot draw (gradient "
            "below 1e-308) and those whose BPTT gradient underflows float32 to exactly 0 (line only). "
            + style.OVERLAP_NOTE + ". Triangular (snnTorch) has g^2 = scale^2 and equals "
            "straight-through at scale 1.",
    compute=compute, plot=plot, agreement=agreement, tables=tables, order=62, version="2",
    presets={
        "quick": {**_BASE, "width": 500, "draws": 4},
        "full": {**_BASE, "width": 1000, "draws": 12},
        "tiny": {**_BASE, "depth": 4, "width": 50, "draws": 2, "inits": ["micheli", "kaiming"],
                 "surrogates": ["atan", "straight_through"]},
    },
    expected_seconds={"quick": 10, "full": 80},
)
