"""Training deep SNNs: test accuracy versus depth (10, 20, 50, 100 LIF layers) for the paper's
init at its settings and for each regime (escape noise, heavy-tailed weights, residual blocks) with its own initialiser, next to the
depth scales the theory predicts for it (docs/theory.md §9).

Every point is one run of simulate.experiments.training_run (the authors' MLP on the embedded
MNIST: width 100, threshold 1, beta 0.5, subtract reset, ATan unless the regime says otherwise,
Adam 1e-3 with the per-batch cosine schedule, batch 64, seed 42, T steps of the image as static
input current), cached per run by ctx.map. A regime is a set of TrainConfig fields (the same
flags as ``python -m simulate.train``) plus the theory call that predicts its correlation depth
scale xi_c and per-layer gradient gain chi (NaN where that theory does not apply, and said so in
the table). The residual regime's theory is evaluated at the deepest depth of the preset (its
block maps depend on the number of blocks); the others do not depend on depth.
"""
from __future__ import annotations

import numpy as np

from simulate.experiments import training_run
from simulate.train import TrainConfig
from theory import LIF, sew_network, trainability

from . import style
from ._spec import FigureSpec

CHANCE = 0.1


# label -> TrainConfig fields of the regime (the flags of python -m simulate.train); every regime's
# theory is theory.trainability of the network the configuration trains, one call for all
REGIMES = {
    "paper's init (plain LIF)": {"init": "micheli"},
    "Kaiming (plain LIF)": {"init": "kaiming"},
    "escape noise tau 0.5, escape_critical": {"init": "escape_critical", "firing": "escape", "escape_noise": 0.5},
    "Cauchy weights (stable, rate 0.05)": {"init": "stable", "weight_rate": 0.05},
    "residual SEW-ADD blocks (sew_add)": {"architecture": "sew_add", "init": "sew_add"},
}


def regime_network(item: dict):
    """The network a regime trains at the figure's deepest depth (simulate.train.describe); the
    residual blocks' sew_add stds designed with the figure's samples and seed."""
    fields = {k: v for k, v in item.items() if k not in ("regime", "samples", "max_depth", "train_size",
                                                         "test_size", "epochs", "batch_size")}
    if fields.get("init") == "sew_add":
        return sew_network(item["max_depth"] - 3, item["width"], neuron=LIF(item["threshold"], item["beta"]),
                           T=item["steps"], samples=item["samples"], seed=item["seed"])
    return TrainConfig(depth=item["max_depth"], **fields).network()


def run_point(item: dict) -> dict:
    """One training run; its test accuracy per epoch (0 = untrained) and rates at init."""
    result = training_run(item)
    return {"test_accuracy": result["test_accuracy"], "init_rates": result["init_rates"],
            "train_seconds": result["train_seconds"]}


def predict_regime(item: dict) -> dict:
    """xi_c and chi of one regime at the figure's settings: theory.trainability of its network
    (dispatched to the regime's theory: plain pair map, escape, heavy-tailed or residual blocks)."""
    point = trainability(regime_network(item), samples=item["samples"], seed=item["seed"])
    return {"xi_c": float(point.xi_c), "chi": float(point.chi)}


def compute(params, ctx):
    fixed = {k: params[k] for k in ("train_size", "test_size", "width", "epochs", "beta", "threshold", "seed",
                                     "batch_size", "steps")}
    labels = [label for label in REGIMES if label in params["regimes"]]
    items = [dict(fixed, depth=depth, **REGIMES[label]) for label in labels for depth in params["depths"]]
    runs = ctx.map(run_point, items, version="1", desc="training runs")
    predictions = ctx.map(predict_regime, [dict(fixed, regime=label, samples=params["samples"],
                                                max_depth=max(params["depths"]), **REGIMES[label])
                                           for label in labels], version="1", desc="regime theory")
    shape = (len(labels), len(params["depths"]))
    return {"regimes": labels, "depths": list(params["depths"]),
            "accuracy": np.array([r["test_accuracy"][-1] for r in runs]).reshape(shape),
            "output_rate": np.array([r["init_rates"][-1] for r in runs]).reshape(shape),
            "seconds": np.array([r["train_seconds"] for r in runs]).reshape(shape),
            "xi_c": np.array([p["xi_c"] for p in predictions]), "chi": np.array([p["chi"] for p in predictions])}


def plot(data, params):
    fig, axes = style.new_figure(1, 2, width=11.5, height=4.2)
    ax = axes[0, 0]
    depths = data["depths"]
    markers = "osD^v<>"
    for i, label in enumerate(data["regimes"]):
        # a small horizontal offset per regime keeps coinciding points (all at chance) visible
        offset = 1.0 + 0.025 * (i - (len(data["regimes"]) - 1) / 2)
        ax.plot(np.array(depths) * offset, 100 * data["accuracy"][i], marker=markers[i % len(markers)],
                label=label, lw=1.5, ms=5, color=style.colour(REGIMES[label]["init"]))
    ax.axhline(100 * CHANCE, color="grey", ls=":", lw=1, label="chance (10 %)")
    ax.set_xscale("log")
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlabel("depth (LIF layers incl. input and output)")
    ax.set_ylabel("test accuracy after the budget (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    budget = "all" if params["train_size"] is None else f"{params['train_size']}"
    ax.set_title(f"MNIST {budget} images x {params['epochs']} epoch(s), width {params['width']}, T {params['steps']} "
                 f"(points offset sideways so equal values stay visible)", fontsize=8)
    ax = axes[0, 1]
    x = np.arange(len(data["regimes"]))
    # log scale: the scales span 0.01 (Kaiming's chi) to hundreds of layers (residual xi_c)
    for values, shift, colour, name in ((data["xi_c"], -0.2, "#444444", "xi_c (layers)"),
                                        (data["chi"], 0.2, "#aaaaaa", "chi (per-layer gradient gain)")):
        finite = np.isfinite(values) & (values > 0)
        ax.bar(x[finite] + shift, values[finite], width=0.4, color=colour, label=name)
        for k in range(len(x)):
            text = f"{values[k]:.3g}" if finite[k] else "none"
            ax.text(x[k] + shift, values[k] * 1.1 if finite[k] else 0.02, text, ha="center", va="bottom", fontsize=6,
                    rotation=90 if not finite[k] else 0)
    ax.set_yscale("log")
    ax.set_ylim(0.005, 2000)
    ax.axhline(1.0, color="red", lw=0.8, ls="--", label="chi = 1 (critical)")
    ax.set_xticks(x, [label.replace(" (", "\n(").replace(", ", ",\n") for label in data["regimes"]], fontsize=6.5)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("predicted depth scale and gradient gain per regime ('none': silent fixed point, no xi_c)",
                 fontsize=8)
    return fig


def tables(data, params):
    header = ["regime", "xi_c (layers)", "chi"] + [f"acc depth {d}" for d in data["depths"]] + \
             [f"train s depth {d}" for d in data["depths"]]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, label in enumerate(data["regimes"]):
        cells = [label, f"{data['xi_c'][i]:.3f}", f"{data['chi'][i]:.3f}"]
        cells += [f"{100 * a:.1f} %" for a in data["accuracy"][i]]
        cells += [f"{s:.0f}" for s in data["seconds"][i]]
        md.append("| " + " | ".join(cells) + " |")
    return {"deep_training.md": "\n".join(md) + "\n"}


def agreement(data, params):
    best = np.argmax(data["accuracy"][:, -1])
    return (f"at depth {data['depths'][-1]}: best {data['regimes'][best]} "
            f"{100 * data['accuracy'][best, -1]:.1f} %; above twice chance at depth {data['depths'][-1]}: "
            f"{int(np.sum(data['accuracy'][:, -1] >= 2 * CHANCE))} of {len(data['regimes'])} regimes")


_BASE = {"width": 100, "beta": 0.5, "threshold": 1.0, "seed": 42, "batch_size": 64, "samples": 4000, "steps": 8,
         "regimes": list(REGIMES)}
FIGURE = FigureSpec(
    name="deep_training",
    caption="Training deep SNNs: test accuracy on MNIST after a fixed budget versus depth for the paper's init "
            "at its settings and for each regime (escape noise, heavy-tailed weights, residual blocks) with its own initialiser (left), and the "
            "correlation depth scale xi_c and gradient gain chi its theory predicts (right; xi_c in blocks of one "
            "layer for the residual regime, evaluated at the deepest depth). Plain LIF stacks lose the difference "
            "between inputs within a few layers, escape noise shortens xi_c further and heavy-tailed weights buy "
            "a longer xi_c with exploding gradients; only the residual blocks, whose shortcut carries the "
            "input's correlation, keep xi_c far above the depth with chi near 1.",
    compute=compute, plot=plot, tables=tables, agreement=agreement, order=66, version="1",
    presets={
        "quick": {**_BASE, "depths": [10, 20, 50, 100], "train_size": 5000, "test_size": 2000, "epochs": 1},
        "full": {**_BASE, "depths": [10, 20, 50, 100], "train_size": 20000, "test_size": 10000, "epochs": 3,
                 "samples": 8000},
        "tiny": {**_BASE, "depths": [3, 4], "width": 16, "steps": 2, "train_size": 128, "test_size": 64,
                 "epochs": 1, "samples": 500},
    },
    expected_seconds={"quick": 80, "full": 1180},
)
