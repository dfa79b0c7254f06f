"""Trainability phase diagram: test accuracy after a fixed training budget over depth x T, with
the predicted trainable depth L* = constant * xi_c on top (Schoenholz et al. 2017's figure, for
spiking networks).

Each cell is one run of simulate.experiments.training_run (the authors' MLP on the embedded
MNIST: width 100, threshold 1, subtract reset, ATan, Adam 1e-3 with the per-batch cosine
schedule, batch 64, seed 42; pixels as static input current), cached per run by ctx.map (an
interrupted sweep resumes, --jobs runs cells in parallel). The budget is the preset's
train_size x epochs. "Trains" is defined before looking at any result: final test accuracy
>= TRAINS (twice chance). The measured boundary of a row is the band between the deepest
depth that trains with every shallower depth also training and the next depth of the grid.
Prediction: theory.trainability at each (T, init) with the static encoding, whose xi_c is in
weight layers; a stack of L LIF layers has L - 1 weight layers, so L* is drawn at L* + 1.
"""
from __future__ import annotations

import numpy as np
from matplotlib import patheffects

from simulate.experiments import training_run
from theory.network.description import LIF, Encoding, Network
from theory.gradients.temporal import temporal_chi
from theory.network.trainability import SCHOENHOLZ_CONSTANT, TRANSIENT_CONSTANT, trainability

from . import style
from ._spec import FigureSpec

TRAINS = 0.2    # twice chance (10 classes): fixed before the sweep was run
# "training starts" (a cheaper signal than accuracy), fixed before it was first computed: the mean
# training loss of batches STARTS_STEPS - STARTS_WINDOW + 1 .. STARTS_STEPS of the first epoch is
# at least STARTS_MARGIN nats below chance, ln 10 (the loss of equal output counts)
STARTS_STEPS, STARTS_WINDOW, STARTS_MARGIN = 50, 10, 0.1
CHANCE_LOSS = float(np.log(10.0))


def run_cell(item: dict) -> dict:
    """One training run; returns its test accuracies per epoch (0 = untrained), the per-layer
    rates at initialisation and the loss of each of the first STARTS_STEPS batches."""
    result = training_run(item)
    return {"test_accuracy": result["test_accuracy"], "init_rates": result["init_rates"],
            "early_losses": result["train_loss_batches"][:STARTS_STEPS]}


def training_starts(early_losses) -> bool:
    """Whether the loss fell below chance within the first STARTS_STEPS batches (module constants)."""
    losses = np.asarray(early_losses, dtype=float)
    if losses.size < STARTS_STEPS:
        raise ValueError(f"training_starts needs {STARTS_STEPS} batch losses (an epoch of at least "
                         f"{STARTS_STEPS} batches), got {losses.size}")
    return bool(losses[STARTS_STEPS - STARTS_WINDOW:STARTS_STEPS].mean() < CHANCE_LOSS - STARTS_MARGIN)


def predict_row(item: dict) -> dict:
    """theory.trainability for one row of the diagram (its T, init, beta, width, reset, weight
    gain = the training's weight_scale times the initialiser's std, bias variance = bias_std^2),
    with Monte Carlo errors: xi_c's from the pair map's slope error (delta method), chi_T's from
    its spread over ``chi_replicates`` more seeds of the path sample (theory.temporal_chi, the same
    call trainability makes; NaN without replicates) and xi_grad's from chi_T's (delta method)."""
    reset = item.get("reset", "subtract")
    scale = item.get("weight_scale", 1.0)
    own = float(Network(depth=1, width=item["width"], neuron=LIF(item["threshold"], item["beta"], reset),
                        init=item["init"], T=item["steps"], encoding=Encoding("static")).weight_stds()[0])
    sigma_w = None if scale == 1.0 else scale * own
    bias_var = item.get("bias_std", 0.0) ** 2
    point = trainability(threshold=item["threshold"], beta=item["beta"], T=item["steps"], encoding="static",
                         reset=reset, init=item["init"], sigma_w=sigma_w, fan_in=item["width"],
                         bias_var=bias_var, samples=item["samples"], seed=item["seed"])
    chis = [point.chi]
    if np.isfinite(point.chi):
        chis += [temporal_chi(item["steps"], scale * own, item["width"], item["threshold"], item["beta"], reset,
                              bias_var=bias_var, samples=item["samples"], seed=item["seed"] + r, depth=100)
                 for r in range(1, item.get("chi_replicates", 0) + 1)]
    chi_se = float(np.std(chis, ddof=1)) if len(chis) > 1 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        xi_c_se = point.slope_se / (point.slope * np.log(point.slope) ** 2)
        xi_grad_se = chi_se / (point.chi * np.log(point.chi) ** 2)
    return {"xi_c": point.xi_c, "xi_grad": point.xi_grad, "c_star": point.c_star, "chi": point.chi,
            "slope": point.slope, "xi_transient": point.xi_transient, "xi_transient_se": point.xi_transient_se,
            "slope_se": point.slope_se, "xi_c_se": float(xi_c_se), "chi_se": chi_se,
            "xi_grad_se": float(xi_grad_se), "xi_transient_fit": getattr(point, "xi_transient_fit", float("nan"))}


def _boundary(ok, depths):
    """(deepest depth that passes with all shallower ones passing, next grid depth), NaN where none."""
    if not ok[0]:
        return np.nan, depths[0]
    last = 0
    while last + 1 < len(depths) and ok[last + 1]:
        last += 1
    return depths[last], depths[last + 1] if last + 1 < len(depths) else np.nan


def _bands(passes, depths):
    """Per row of the boolean matrix ``passes``: (low, high) arrays of :func:`_boundary`, float."""
    low, high = np.array([_boundary(row, depths) for row in passes], dtype=float).T
    return low, high


ROW_KEYS = ("steps", "init", "beta", "width", "reset", "weight_scale", "bias_std")   # TrainConfig fields


def _rows(params) -> list[dict]:
    """The rows: every (T, init) of the preset, or its explicit list of settings (``rows``)."""
    if "rows" in params:
        for row in params["rows"]:
            unknown = set(row) - set(ROW_KEYS)
            if unknown:
                raise ValueError(f"rows may set only {ROW_KEYS}, got {sorted(unknown)}")
        return [dict(row) for row in params["rows"]]
    return [{"steps": T, "init": init} for init in params["inits"] for T in params["steps"]]


def _row_label(row, params) -> str:
    names = {"weight_scale": "gain", "bias_std": "bias std"}
    extra = [f"{names.get(key, key)} {row[key]}" for key in ("beta", "width", "reset", "weight_scale", "bias_std")
             if key in row and row[key] != params.get(key)]
    return ", ".join([f"T = {row['steps']}", style.label(row["init"])] + extra)


def compute(params, ctx):
    fixed = {k: params[k] for k in ("train_size", "test_size", "width", "epochs", "beta", "threshold", "seed",
                                     "batch_size")}
    rows = _rows(params)
    # a row with a bias variance trains with biases (drawn N(0, bias_std^2))
    items = [dict(fixed, **row, depth=depth, **({"bias": True} if row.get("bias_std", 0) > 0 else {}))
             for row in rows for depth in params["depths"]]
    runs = ctx.map(run_cell, items, version="1", desc="training cells")
    predictions = ctx.map(predict_row, [dict(fixed, **row, samples=params["samples"],
                                             chi_replicates=params.get("chi_replicates", 0)) for row in rows],
                          version="1", desc="trainability theory")
    shape = (len(rows), len(params["depths"]))
    accuracy = np.array([r["test_accuracy"][-1] for r in runs]).reshape(shape)
    data = {"depths": list(params["depths"]), "rows": [_row_label(row, params) for row in rows],
            "row_settings": rows,
            "accuracy": accuracy,
            "output_rate": np.array([r["init_rates"][-1] for r in runs]).reshape(shape)}
    for key in ("xi_c", "xi_grad", "c_star", "chi", "slope", "xi_transient", "xi_transient_se", "slope_se",
                "xi_c_se", "chi_se", "xi_grad_se", "xi_transient_fit"):
        data[key] = np.array([p.get(key, np.nan) for p in predictions])
    data["band_low"], data["band_high"] = _bands(accuracy >= TRAINS, params["depths"])
    if all(len(r["early_losses"]) >= STARTS_STEPS for r in runs):     # budgets shorter than that: no signal
        data["starts"] = np.array([training_starts(r["early_losses"]) for r in runs]).reshape(shape)
        data["starts_low"], data["starts_high"] = _bands(data["starts"], params["depths"])
    return data


def _measured_constant(data, scale="xi_c"):
    """Midpoint of each row's band in weight layers (LIF layers - 1) over the depth scale."""
    mids = (data["band_low"] + data["band_high"]) / 2.0 - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = mids / data[scale]
    return ratio[np.isfinite(ratio)]


def _inside(data, predicted, slack=0.0):
    """Rows whose predicted boundary (LIF layers) +- slack meets the measured band."""
    low = np.where(np.isfinite(data["band_low"]), data["band_low"], 0.0)
    high = np.where(np.isfinite(data["band_high"]), data["band_high"], np.inf)
    return int(np.sum((low <= predicted + slack) & (predicted - slack <= high)))


# what is not an initialiser is drawn in black, white and greys (style.NEUTRAL)
XI_C_STYLE = {"color": "black", "linestyle": (0, (1.5, 1.0)),
              "path_effects": [patheffects.withStroke(linewidth=4.5, foreground="white")]}
TRANSIENT_STYLE = {"color": "white", "path_effects": [patheffects.withStroke(linewidth=4.5, foreground="black")]}


def plot(data, params):
    rows, depths = data["rows"], data["depths"]
    first_start = tuple(np.argwhere(data["starts"])[0]) if "starts" in data and data["starts"].any() else None
    fig, axes = style.new_figure(1, 2, width=12.5, height=0.55 * len(rows) + 3.0,
                                 gridspec_kw={"width_ratios": [1.6, 1.0]})
    ax = axes[0, 0]
    image = ax.imshow(100 * data["accuracy"], aspect="auto", cmap="viridis", vmin=0, vmax=100, origin="lower")
    ax.set_xticks(range(len(depths)), [str(d) for d in depths])
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel("depth (LIF layers incl. input and output)")
    ax.grid(False)
    for i in range(len(rows)):
        for j in range(len(depths)):
            value = 100 * data["accuracy"][i, j]
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 50 else "black")
            if "starts" in data and data["starts"][i, j]:
                ax.plot(j + 0.36, i + 0.3, marker="^", markersize=3.5, color="white", markeredgecolor="black",
                        markeredgewidth=0.4, linestyle="none",
                        label=(f"training starts: loss < ln 10 - {STARTS_MARGIN:g} over steps "
                               f"{STARTS_STEPS - STARTS_WINDOW + 1}-{STARTS_STEPS}")
                        if (i, j) == first_start else None)
        predicted = data["xi_c"][i] * SCHOENHOLZ_CONSTANT + 1.0
        if not np.isfinite(predicted):      # silent fixed point: no correlation, no prediction
            ax.text(len(depths) - 0.5, i - 0.3, "no active fixed point at infinite width: no 6 xi_c + 1 ",
                    ha="right", va="center", fontsize=6.5, color="white")
            continue
        x = np.interp(predicted, depths, np.arange(len(depths)), left=-0.5, right=len(depths) - 0.5)
        ax.plot([x, x], [i - 0.45, i - 0.02], lw=2.2, dash_capstyle="butt", **XI_C_STYLE,
                label=f"{SCHOENHOLZ_CONSTANT:g} xi_c + 1 (Schoenholz et al.'s constant)" if i == 0 else None)
    labelled = False
    for i in range(len(rows)):
        transient = TRANSIENT_CONSTANT * data["xi_transient"][i] + 1.0
        if np.isfinite(transient):
            x = np.interp(transient, depths, np.arange(len(depths)), left=-0.5, right=len(depths) - 0.5)
            ax.plot([x, x], [i + 0.02, i + 0.45], lw=2.2, solid_capstyle="butt", **TRANSIENT_STYLE,
                    label=None if labelled else f"transient rule {TRANSIENT_CONSTANT:g} xi_transient + 1")
            labelled = True
    fig.colorbar(image, ax=ax, label="test accuracy after the budget (%)", pad=0.01)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=7, frameon=False, ncol=1)
    ax.set_title(f"MNIST {params['train_size']:,} images x {params['epochs']} epoch(s), width {params['width']}, "
                 f"beta {params['beta']}{' unless the row says' if 'rows' in params else ''}; one seed; 'trains' = "
                 f"accuracy >= {100 * TRAINS:.0f} %", fontsize=9)
    _scales(axes[0, 1], data)
    return fig


def _scales(ax, data):
    """Right panel: the depth scales of each row as horizontal bars, on the heatmap's rows (so
    every label is the heatmap's), with the value written at each bar's end."""
    rows = len(data["rows"])
    y = np.arange(rows)
    h = 0.26
    xi_c = np.asarray(data["xi_c"], dtype=float)
    transient, se = np.asarray(data["xi_transient"], dtype=float), np.asarray(data["xi_transient_se"], dtype=float)
    grad = np.asarray(data["xi_grad"], dtype=float)
    finite = np.concatenate([xi_c[np.isfinite(xi_c)], (transient + np.nan_to_num(se))[np.isfinite(transient)],
                             grad[np.isfinite(grad)]])
    top = 1.25 * min(np.max(finite, initial=1.0), 3.0 * np.max(np.concatenate([xi_c[np.isfinite(xi_c)],
                                                                                 transient[np.isfinite(transient)],
                                                                                 [1.0]])))
    def error(key):
        return np.asarray(data[key], dtype=float) if key in data else None
    bars = (("xi_c (pair mean field, infinite width; +- Monte Carlo se)", xi_c, error("xi_c_se"),
             {"color": "black", "ecolor": style.NEUTRAL["chain"]}, h),
            ("xi_transient (e-fold depth, exact pair chain, width n; +- se)", transient, se,
             {"color": "white", "edgecolor": "black", "hatch": "////"}, 0.0),
            ("xi_grad = 1 / |ln chi_T| (infinite width; +- Monte Carlo se)", grad, error("xi_grad_se"),
             {"color": style.NEUTRAL["light"]}, -h))
    for label, values, err, kwargs, offset in bars:
        shown = np.where(np.isfinite(values), np.minimum(values, top), 0.0)
        err = None if err is None else np.where(np.asarray(values) > top, 0.0, np.nan_to_num(err))
        ax.barh(y + offset, shown, height=h, label=label, xerr=err, capsize=2, linewidth=0.6, **kwargs)
        ends = shown + (err if err is not None else 0.0)
        for yi, value, end in zip(y + offset, values, ends):
            text = "none" if not np.isfinite(value) else f"{value:.2f}" + (" >" if value > top else "")
            ax.text(end, yi, " " + text, va="center", ha="left", fontsize=6.5)
    ax.set_yticks(y, [""] * rows)
    ax.set_ylim(-0.5, rows - 0.5)
    ax.set_xlim(0, top * 1.18)
    ax.set_xlabel("depth scale (weight layers)")
    ax.grid(axis="y", visible=False)
    ax.set_title("depth scales of each row (same rows as the left panel)", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=7, frameon=False)


def tables(data, params):
    fit = ["xi_transient windowed fit (earlier definition)"] if "xi_transient_fit" in data else []
    header = ["row", "xi_c (se)", "xi_grad (se)", "c*", "chi_T (se)", "xi_transient (se)"] + fit + ["trains up to (LIF layers)",
              "fails from", "predicted L* + 1 (6 xi_c + 1)", f"transient rule ({TRANSIENT_CONSTANT:g} xi_transient + 1)",
              "band midpoint / xi_transient"] + (["training starts up to", "starts fails from"] if "starts" in data
                                                 else []) + [f"acc depth {d}" for d in data["depths"]]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    def band(low, high):
        return ["none" if np.isnan(low) else f"{low:.0f}", "-" if np.isnan(high) else f"{high:.0f}"]

    for i, label in enumerate(data["rows"]):
        low, high = data["band_low"][i], data["band_high"][i]
        def with_se(key, digits=3):
            se = data[f"{key}_se"][i] if f"{key}_se" in data else np.nan
            return f"{data[key][i]:.{digits}f}" + ("" if not np.isfinite(se) else f" ({se:.{digits}f})")
        cells = [label, with_se("xi_c"), with_se("xi_grad"), f"{data['c_star'][i]:.3f}",
                 with_se("chi"), f"{data['xi_transient'][i]:.2f} ({data['xi_transient_se'][i]:.2f})",
                 *([f"{data['xi_transient_fit'][i]:.2f}"] if fit else []),
                 *band(low, high), f"{SCHOENHOLZ_CONSTANT * data['xi_c'][i] + 1:.1f}",
                 f"{TRANSIENT_CONSTANT * data['xi_transient'][i] + 1:.1f}",
                 f"{((low + high) / 2 - 1) / data['xi_transient'][i]:.2f}"]
        if "starts" in data:
            cells += band(data["starts_low"][i], data["starts_high"][i])
        cells += [f"{100 * a:.1f} %" for a in data["accuracy"][i]]
        md.append("| " + " | ".join(cells) + " |")
    # forward death or lost information? the output layer's rate before training, per cell
    md += ["", "Output-layer firing rate at initialisation (test images; 0 = silent output)", "",
           "| row | " + " | ".join(f"depth {d}" for d in data["depths"]) + " |",
           "|" + "---|" * (len(data["depths"]) + 1)]
    md += ["| " + " | ".join([label] + [f"{r:.4f}" for r in data["output_rate"][i]]) + " |"
           for i, label in enumerate(data["rows"])]
    return {f"{params.get('table', 'trainability_phase')}.md": "\n".join(md) + "\n"}


def findings(data, params) -> str:
    """The caption's claims about the two depth rules, counted from the data of this run."""
    rows = len(data["rows"])
    fixed = _inside(data, SCHOENHOLZ_CONSTANT * data["xi_c"] + 1.0)
    rule = TRANSIENT_CONSTANT * data["xi_transient"] + 1.0
    transient = _inside(data, rule)
    within = _inside(data, rule, slack=3 * TRANSIENT_CONSTANT * np.nan_to_num(data["xi_transient_se"], nan=0.0))
    defined = int(np.sum(np.isfinite(data["xi_c"])))
    return (f"MNIST {params['train_size']:,} training images x {params['epochs']} epoch, "
            f"{params['test_size']:,} test images, one seed per cell; theory with {params['samples']:,} samples. "
            f"Schoenholz et al.'s rule, {SCHOENHOLZ_CONSTANT:g} xi_c + 1 LIF layers, lands inside the measured band "
            f"in {fixed} of {rows} rows" + (f" ({rows - defined} of them have no xi_c)" if defined < rows else "")
            + f"; the transient rule "
            f"{TRANSIENT_CONSTANT:g} xi_transient + 1 in {transient} of {rows} (within 3 se of the band in {within}).")


def agreement(data, params):
    rows = len(data["rows"])
    fixed = _inside(data, SCHOENHOLZ_CONSTANT * data["xi_c"] + 1.0)
    rule = TRANSIENT_CONSTANT * data["xi_transient"] + 1.0
    transient = _inside(data, rule)
    # the rule's sampling error (exact pair chain): consistent when the band meets rule +- 3 se
    within = _inside(data, rule, slack=3 * TRANSIENT_CONSTANT * np.nan_to_num(data["xi_transient_se"], nan=0.0))
    starts = ""
    if "starts" in data:
        same = int(np.sum((np.nan_to_num(data["starts_low"], nan=-1) == np.nan_to_num(data["band_low"], nan=-1))
                          & (np.nan_to_num(data["starts_high"], nan=-1) == np.nan_to_num(data["band_high"], nan=-1))))
        starts = (f"; training starts (loss below chance within {STARTS_STEPS} steps) has the accuracy's band in "
                  f"{same} of {rows} rows")

    def spread(values):
        return f"{np.min(values):.1f}-{np.max(values):.1f}" if len(values) else "undefined"
    return (f"inside the measured band: 6 xi_c + 1 in {fixed} of {rows} rows, {TRANSIENT_CONSTANT:g} xi_transient + 1 "
            f"in {transient} of {rows} (within 3 se in {within}){starts}; measured constant (band midpoint in weight layers / scale): "
            f"over xi_c {spread(_measured_constant(data))}, over xi_transient "
            f"{spread(_measured_constant(data, 'xi_transient'))}; xi_c = {np.nanmin(data['xi_c']):.2f}-"
            f"{np.nanmax(data['xi_c']):.2f}, xi_transient = {np.nanmin(data['xi_transient']):.2f}-"
            f"{np.nanmax(data['xi_transient']):.2f} weight layers")


_BASE = {"width": 100, "beta": 0.5, "threshold": 1.0, "seed": 42, "batch_size": 64, "samples": 4000,
         "chi_replicates": 3}
FIGURE = FigureSpec(
    name="trainability_phase",
    title="Trainable depth over depth x T, against two depth rules",
    caption="How deep can a spiking MLP be trained? Test accuracy on MNIST after a fixed budget for each "
            "depth (columns, LIF layers) and number of time steps T and initialiser (rows), with the "
            "trainable depth predicted from the correlation depth scale of the pair mean field, "
            "L* = 6 xi_c weight layers (dashed black marks, lower half of a row; Schoenholz et al.'s constant), and the "
            "predicted depth scales xi_c, xi_transient and xi_grad of each row (right, on the same rows). The slope of the pair map is the "
            "largest per-step slope and step 1 is the one-step map, so xi_c does not grow with T; rows "
            "whose infinite-width fixed point is silent (Kaiming) have no xi_c and no dashed mark. Solid white marks (upper half): the "
            "transient rule, L* = 4 xi_transient with xi_transient the first e-folding depth of the difference "
            "between two inputs on the exact pair chain at the network's width (the layers for the gap to fall "
            "e-fold from layer 1; no fit window; it grows with T; figure correlation_transient). Standard errors "
            "(+- on the bars, in brackets in the table): xi_transient's from a bootstrap over the chain's runs, "
            "chi_T's from its spread over independent path samples (replicates), xi_c's and xi_grad's from "
            "those by the delta method (0 where the pair map's slope is exact). "
            "White triangles: cells where training starts, a cheaper signal (mean training loss of "
            "steps 41-50 at least 0.1 nats below chance, ln 10).",
    compute=compute, plot=plot, tables=tables, agreement=agreement, findings=findings, order=65, version="3",
    presets={
        "quick": {**_BASE, "depths": [4, 6, 8, 12, 16, 24], "steps": [2, 8], "inits": ["micheli"],
                  "train_size": 10000, "test_size": 1000, "epochs": 1, "samples": 2000, "chi_replicates": 0},
        "full": {**_BASE, "depths": [4, 6, 8, 10, 12, 16, 24, 32, 50, 100], "steps": [2, 8, 16],
                 "inits": ["micheli", "kaiming"], "train_size": 10000, "test_size": 2000, "epochs": 1,
                 "samples": 8000},
        "tiny": {**_BASE, "depths": [3, 4], "steps": [2], "inits": ["micheli"], "width": 16,
                 "train_size": 128, "test_size": 64, "epochs": 1, "samples": 500},
    },
    expected_seconds={"quick": 11, "full": 240},
)

# the other knobs of the diagram, one changed at a time from the T = 8 row of the paper's init
KNOBS = FigureSpec(
    name="trainability_knobs",
    title="The trainability diagram's other knobs: leak, reset, width, weight gain, bias",
    caption="The trainability diagram's other knobs, one at a time from the paper's init at T = 8 (beta 0.5, width "
            "100, subtract reset): slower leak (beta 0.9), no leak (integrate-and-fire, beta 1), zero reset and "
            "wider networks (width 300; the full preset adds width 1000, the weight gain (every weight times "
            "0.9, 1.2 or 1.5) and a bias variance (biases N(0, 0.3^2) or N(0, 0.6^2))), with both predicted boundaries (dashed black: 6 xi_c + 1, solid white: 4 xi_transient + 1) "
            "on the measured accuracy. A test of the transient rule beyond the time steps it was measured on.",
    compute=compute, plot=plot, tables=tables, agreement=agreement, findings=findings, order=65.5, version="1",
    presets={
        "quick": {**_BASE, "depths": [6, 8, 12, 16], "table": "trainability_knobs",
                  "rows": [{"steps": 8, "init": "micheli", "beta": 0.9}, {"steps": 8, "init": "micheli", "beta": 1.0},
                           {"steps": 8, "init": "micheli", "reset": "zero"},
                           {"steps": 8, "init": "micheli", "width": 300}],
                  "train_size": 10000, "test_size": 1000, "epochs": 1, "samples": 2000, "chi_replicates": 0},
        "full": {**_BASE, "depths": [4, 6, 8, 10, 12, 16, 24], "table": "trainability_knobs",
                 "rows": [{"steps": 8, "init": "micheli", "beta": 0.9}, {"steps": 8, "init": "micheli", "beta": 1.0},
                          {"steps": 8, "init": "micheli", "reset": "zero"},
                          {"steps": 8, "init": "micheli", "width": 300},
                          {"steps": 8, "init": "micheli", "width": 1000},
                          {"steps": 8, "init": "micheli", "weight_scale": 0.9},
                          {"steps": 8, "init": "micheli", "weight_scale": 1.2},
                          {"steps": 8, "init": "micheli", "weight_scale": 1.5},
                          {"steps": 8, "init": "micheli", "bias_std": 0.3},
                          {"steps": 8, "init": "micheli", "bias_std": 0.6}],
                 "train_size": 10000, "test_size": 2000, "epochs": 1, "samples": 8000},
        "tiny": {**_BASE, "depths": [3, 4], "width": 16, "table": "trainability_knobs",
                 "rows": [{"steps": 2, "init": "micheli", "beta": 0.9},
                          {"steps": 2, "init": "micheli", "weight_scale": 1.2, "bias_std": 0.3}],
                 "train_size": 128, "test_size": 64, "epochs": 1, "samples": 500},
    },
    expected_seconds={"quick": 31, "full": 450},
)
FIGURES = [KNOBS]
