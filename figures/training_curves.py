"""The paper's training claim on MNIST: test accuracy per epoch and epochs to 90 % by init.

Every (depth, initialiser) pair is one training run of simulate.train (cached per run by
ctx.map, so an interrupted figure resumes, and parallel with --jobs). The runs use the
authors' set-up (docs/theory.md §8: width 100, threshold 1, beta 0.5, subtract reset, ATan,
Adam 1e-3 with cosine T_max = 10 stepped per batch, batch 64, seed 42) on the embedded MNIST;
the presets differ in data size, epochs and T. Accuracies are honest end-of-epoch test
accuracies (not the authors' running mean); epoch 0 is the untrained network.

Results: the generated gallery (figures/out/README.md, training_accuracy.md) for the preset
that was run; the medium preset's findings, with the commands that reproduce them, are in
benchmarks/RESULTS.md ("Findings moved out of docstrings"). The theory behind them: the
backward gain chi (docs/theory.md §6) and the open question of trainable depth (§9).
"""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from simulate.experiments import epochs_to, training_run

from . import style
from ._spec import FigureSpec
from .common import TARGET


def run_one(item: dict) -> dict:
    """One training run (simulate.experiments.training_run; module-level so ctx.map can cache
    and parallelise it)."""
    return training_run({k: v for k, v in item.items() if k != "label"})


def compute(params, ctx):
    fixed = {k: params[k] for k in ("train_size", "test_size", "width", "steps", "epochs", "beta",
                                     "threshold", "seed", "batch_size")}
    items = [dict(fixed, depth=depth, init=name) for depth in params["depths"] for name in params["inits"]]
    runs = ctx.map(run_one, items, version="1", desc="training runs")
    shape = (len(params["depths"]), len(params["inits"]))
    data = {"depths": list(params["depths"]), "inits": list(params["inits"]),
            "epoch": np.arange(params["epochs"] + 1)}
    for key in ("test_accuracy", "test_loss"):
        data[key] = np.array([r[key] for r in runs]).reshape(shape + (-1,))
    for key in ("train_loss", "train_accuracy", "train_loss_batches"):
        data[key] = np.array([r[key] for r in runs]).reshape(shape + (-1,))
    data["epochs_to_90"] = np.array([epochs_to(r["test_accuracy"], TARGET) for r in runs]).reshape(shape)
    data["train_seconds"] = np.array([r["train_seconds"] for r in runs]).reshape(shape)
    for i, depth in enumerate(params["depths"]):
        data[f"init_rates_depth{depth}"] = np.array([runs[i * shape[1] + j]["init_rates"] for j in range(shape[1])])
        data[f"grad_norms_depth{depth}"] = np.array([runs[i * shape[1] + j]["grad_norms_epoch1"]
                                                     for j in range(shape[1])])
    return data


MARKERS = ("o", "s", "^", "D", "v", "P", "X")
CHANCE_BAND = 0.02      # final accuracies within 2 points of each other and of chance: "curves coincide"
RATE_FLOOR, GRAD_FLOOR = 1e-6, 1e-12


def preset_name(params) -> str:
    """Name of the preset these parameters are (the figure states it), or "custom"."""
    for name, preset in FIGURE.presets.items():
        if dict(preset) == dict(params):
            return name
    return "custom"


def _coinciding(names, curves, floor):
    """Labels of the initialisers whose whole curve lies on the floor (drawn on top of each other)."""
    return [style.label(n) for n, c in zip(names, curves) if np.all(np.asarray(c) <= floor)]


def _note(ax, text, y=0.04):
    ax.text(0.97, y, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9, "boxstyle": "round,pad=0.3"})


def _below(ax, label, note):
    """A note under the panel, in its x label, where it cannot hide a line."""
    ax.set_xlabel(label + ("\n" + note if note else ""), fontsize=9 if note else None)


def smoothed_loss(losses, batches_per_epoch: int):
    """The per-batch training loss as a running mean over a tenth of an epoch (at least one batch),
    against the epoch (batch k of the run at (k + 1) / batches_per_epoch): (epoch, loss)."""
    losses = np.asarray(losses, dtype=float)
    window = max(1, min(len(losses), batches_per_epoch // 10))
    kernel = np.ones(window) / window
    mean = np.convolve(losses, kernel, mode="valid")
    epoch = (np.arange(len(losses)) + 1)[window - 1:] / batches_per_epoch
    return epoch, mean


def plot(data, params):
    depths, names = data["depths"], data["inits"]
    fig, axes = style.new_figure(4, len(depths), width=4.4 * len(depths) + 0.6, height=13.8)
    # small horizontal offsets and distinct markers: coinciding accuracy curves stay distinguishable
    offsets = (np.arange(len(names)) - (len(names) - 1) / 2) * 0.06
    chance = 1.0 / 10
    for i, depth in enumerate(depths):
        ax = axes[0, i]
        accuracy = 100 * np.asarray(data["test_accuracy"][i])
        for j, name in enumerate(names):
            ax.plot(data["epoch"] + offsets[j], accuracy[j], marker=MARKERS[j % len(MARKERS)], markersize=3.5,
                    color=style.colour(name), label=style.label(name))
        ax.axhline(100 * TARGET, color="k", lw=0.8, ls=":")
        ax.text(0.02, 100 * TARGET + 1.2, f"{100 * TARGET:.0f} % (target of 'epochs to 90 %')", fontsize=7,
                transform=ax.get_yaxis_transform(), va="bottom")
        final = accuracy[:, -1]
        if np.ptp(final) <= 100 * CHANCE_BAND and np.all(np.abs(final - 100 * chance) <= 100 * CHANCE_BAND):
            _note(ax, f"all {len(names)} initialisers at chance (10 %):\ncurves coincide (offset markers)", y=0.25)
        ax.set_ylim(0, 100)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (0 = at initialisation)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"depth L = {depth} LIF layers, width {params['width']}")
        ax = axes[1, i]
        rates = data[f"init_rates_depth{depth}"]
        for j, name in enumerate(names):
            ax.plot(np.arange(rates.shape[1]), np.maximum(rates[j], RATE_FLOOR), color=style.colour(name),
                    label=style.label(name))
        silent = [style.label(n) for n, r in zip(names, rates) if r[-1] <= 0]
        ax.set_yscale("log")
        ax.set_ylim(RATE_FLOOR / 2, 1)
        _below(ax, "LIF layer l (0 = input)", "silent at the output (drawn at 1e-6, lines coincide):\n"
               + ", ".join(silent) if len(silent) > 1 else "")
        ax.set_ylabel("firing rate at init\n(test set; 0 drawn at 1e-6)")
        ax = axes[2, i]
        norms = data[f"grad_norms_depth{depth}"]
        for j, name in enumerate(names):
            ax.plot(np.arange(1, norms.shape[1] + 1), np.maximum(norms[j], GRAD_FLOOR), color=style.colour(name),
                    label=style.label(name))
        floored = _coinciding(names, norms, GRAD_FLOOR)
        ax.set_yscale("log")
        ax.set_ylim(GRAD_FLOOR / 2, 10)
        _below(ax, "weight layer l (W_l feeds LIF layer l)", "gradient <= 1e-12 in every layer (drawn at 1e-12, "
               "lines coincide):\n" + ", ".join(floored) if len(floored) > 1 else "")
        ax.set_ylabel("||dL/dW_l||, mean over epoch 1\n(0 drawn at 1e-12)")
        ax = axes[3, i]
        losses = np.asarray(data["train_loss_batches"][i])
        per_epoch = losses.shape[-1] // params["epochs"]
        for j, name in enumerate(names):
            epoch, mean = smoothed_loss(losses[j], per_epoch)
            ax.plot(epoch, mean, color=style.colour(name), label=style.label(name))
        ax.axhline(np.log(10.0), color="k", lw=0.8, ls=":")
        flat = [style.label(n) for n, c in zip(names, losses) if np.ptp(c) <= 1e-3]
        _below(ax, f"epoch (running mean over {max(1, per_epoch // 10)} batches; dotted: ln 10, a uniform output)",
               "loss constant to 1e-3 (lines coincide): " + ", ".join(flat) if len(flat) > 1 else "")
        ax.set_ylabel("training loss per batch")
    style.legend_below(fig, axes, ncol=len(names))
    fig.suptitle(f"MNIST ({params['train_size'] or 60000} train / {params['test_size'] or 10000} test images), "
                 f"T = {params['steps']}, {params['epochs']} epochs, threshold {params['threshold']}, "
                 f"beta {params['beta']}, one seed ({params['seed']}); preset '{preset_name(params)}'")
    return fig


LOSS_TARGET = 2.0     # learning has started: clearly below chance, ln 10 = 2.303 (a uniform output)


def batches_to_loss(losses, batches_per_epoch: int, target: float = LOSS_TARGET):
    """First batch (1-based) at which the running-mean training loss (:func:`smoothed_loss`) is
    below ``target``, or None if it never is."""
    epoch, mean = smoothed_loss(losses, batches_per_epoch)
    hits = np.nonzero(mean < target)[0]
    return int(round(epoch[hits[0]] * batches_per_epoch)) if len(hits) else None


def _rows(data, params):
    for i, depth in enumerate(data["depths"]):
        for j, name in enumerate(data["inits"]):
            acc = data["test_accuracy"][i, j]
            to90 = int(data["epochs_to_90"][i, j])
            losses = np.asarray(data["train_loss_batches"][i, j])
            yield (depth, name, acc[0], acc[-1], acc.max(), to90 if to90 >= 0 else None,
                   data[f"init_rates_depth{depth}"][j][-1],
                   batches_to_loss(losses, len(losses) // params["epochs"]))


def tables(data, params):
    header = ["depth", "init", "test acc at init", "final test acc", "best test acc",
              "epochs to 90%", "output rate at init", f"batches to loss < {LOSS_TARGET:g}"]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    csv = [",".join(h.replace(" ", "_").replace("%", "pct") for h in header)]
    # no wall times here: the table is committed, and a re-run must not dirty a checkout
    for depth, name, a0, a_end, a_best, to90, rate, to_loss in _rows(data, params):
        reach = str(to90) if to90 is not None else f"not in {params['epochs']}"
        loss_reach = str(to_loss) if to_loss is not None else "never"
        md.append(f"| {depth} | {name} | {100 * a0:.1f} % | {100 * a_end:.2f} % | {100 * a_best:.2f} % | "
                  f"{reach} | {rate:.4f} | {loss_reach} |")
        csv.append(f"{depth},{name},{a0:.4f},{a_end:.4f},{a_best:.4f},{'' if to90 is None else to90},"
                   f"{rate:.6f},{'' if to_loss is None else to_loss}")
    preset = preset_name(params)
    flag = {"quick": "", "full": " --full"}.get(preset, f" --preset {preset}")
    head = (f"Preset `{preset}`: MNIST {params['train_size'] or 60000} train / {params['test_size'] or 10000} test "
            f"images, {params['epochs']} epochs, T = {params['steps']} (redraw: "
            f"`python paper_figs.py{flag} --only training_curves`)\n\n")
    return {"training_accuracy.md": head + "\n".join(md) + "\n", "training_accuracy.csv": "\n".join(csv) + "\n"}


def agreement(data, params):
    """Final accuracies per depth, unranked: one seed cannot order initialisers a few points apart."""
    parts = []
    for i, depth in enumerate(data["depths"]):
        final = {name: data["test_accuracy"][i, j, -1] for j, name in enumerate(data["inits"])}
        at_chance = all(abs(a - 0.1) <= CHANCE_BAND for a in final.values())
        parts.append(f"depth {depth}: " + ("every initialiser at chance (within 2 points of 10 %): " if at_chance else "")
                     + ", ".join(f"{n} {100 * a:.1f}" for n, a in final.items()))
    return (f"Final test accuracy (%) after {params['epochs']} epochs on {params['train_size'] or 60000:,} MNIST images, "
            f"T = {params['steps']}, one seed ({params['seed']}; nothing here measures the seed-to-seed spread, so "
            "differences of a few points are not a ranking): " + "; ".join(parts))


_BASE = {"width": 100, "beta": 0.5, "threshold": 1.0, "seed": 42, "batch_size": 64,
         "inits": ["micheli", "kaiming", "xavier", "pytorch_default", "fluctuation"]}
FIGURE = FigureSpec(
    name="training_curves",
    title="Test accuracy per epoch, rates and gradients at initialisation, per depth",
    caption="Training deep SNNs on MNIST from each initialiser (the paper's claim): honest "
            "end-of-epoch test accuracy per epoch (top; dotted line 90 %), the firing rate of "
            "each LIF layer at initialisation (second row), the gradient norm of each weight layer "
            "during the first epoch (third) and the training loss against the batch step (bottom; the "
            "paper's convergence-speed claim), for depths 10 and 50 (LIF layers including "
            "input and output), width 100, threshold 1, beta 0.5, subtract reset, ATan surrogate, "
            "Adam 1e-3 with the authors' per-batch cosine schedule. The title and the table name the "
            "preset: quick, a subset of MNIST; medium (--preset medium), all of MNIST for 4 epochs; "
            "full (--full), the medium budget with depth 100 too. Accuracy curves are offset "
            "sideways with distinct markers so that coinciding ones (e.g. all at chance) stay visible; "
            "notes under the panels name the initialisers whose curves lie on top of each other. One seed: "
            "the accuracies are not a ranking of initialisers a few points apart.",
    compute=compute, plot=plot, tables=tables, agreement=agreement, order=60,
    version="2",
    presets={
        "quick": {**_BASE, "depths": [10, 50], "train_size": 5000, "test_size": 1000, "epochs": 3, "steps": 5},
        "medium": {**_BASE, "depths": [10, 50], "train_size": None, "test_size": None, "epochs": 4,
                   "steps": 5},
        "full": {**_BASE, "depths": [10, 50, 100], "train_size": None, "test_size": None, "epochs": 4,
                 "steps": 5},
        "tiny": {**_BASE, "depths": [3], "inits": ["micheli", "kaiming"], "width": 16, "train_size": 128,
                 "test_size": 64, "epochs": 1, "steps": 3},
    },
    expected_seconds={"quick": 21, "medium": 1800, "full": 1180},
    preset_notes={"full": "4 epochs at T = 5 (the medium preset with depth 100 added) instead of 10 epochs at T = 10 (about 1.7 h of the 3-hour budget on 2 cores that the full gallery must fit); 20 epochs at depth 50 and 100 are the claim runs in figures/out/full/claim/."},
)
