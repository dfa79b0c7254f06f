"""The 100-layer training claim as stated, epoch by epoch: the 20-epoch runs of figures/out/full/claim.

The runs themselves are hours of training each (`python -m simulate.train ... --epochs 20
--log-path ...`, the commands are in figures/out/full/claim/README.md); they write one JSON line
per epoch. This figure only reads those committed logs, so both galleries draw the same picture
in a second. The presets carry a digest of the logs: a new log changes the cache key, so a stale
picture is never drawn from the cache.

What the logs hold per epoch (simulate.train): training loss and accuracy averaged over the
epoch's batches, test loss and accuracy after the epoch, the firing rate of every LIF layer on
the test set after the epoch, and the mean gradient norm of every weight layer over the epoch.
The authors' metric (the running mean of the training accuracy over all batches of all epochs)
is the mean of the per-epoch training accuracies, because every epoch has the same number of
batches.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from . import style
from ._spec import FigureSpec

LOGS = Path(__file__).resolve().parent / "out" / "full" / "claim"
# (log file, initialiser, depth in LIF layers including input and output, T)
RUNS = (("d50_micheli_T5.jsonl", "micheli", 50, 5),
        ("d50_kaiming_T5.jsonl", "kaiming", 50, 5),
        ("d50_michelitemporal_T5.jsonl", "micheli_temporal", 50, 5),
        ("d100_micheli_T5.jsonl", "micheli", 100, 5),
        ("d50_micheli_T16.jsonl", "micheli", 50, 16))
# one line style per (depth, T): the colour is the initialiser's, as everywhere
DASHES = {(50, 5): "-", (100, 5): "--", (50, 16): ":"}
CHANCE_ACCURACY, CHANCE_LOSS = 0.10, float(np.log(10.0))
GRAD_FLOOR = 1e-12


def _digest(runs) -> str:
    """SHA-256 of the logs (first 16 hex digits): part of the preset, hence of the cache key."""
    sha = hashlib.sha256()
    for file, *_ in runs:
        path = LOGS / file
        sha.update(path.read_bytes() if path.exists() else b"missing")
    return sha.hexdigest()[:16]


def read_log(path: Path) -> list[dict]:
    """The epochs of one JSON-lines training log, in order; a ValueError names a broken log."""
    if not path.exists():
        raise ValueError(f"claim log {path} is missing: the commands that write it are in {LOGS / 'README.md'}")
    epochs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    numbers = [e["epoch"] for e in epochs]
    if numbers != list(range(1, len(epochs) + 1)):
        raise ValueError(f"claim log {path} must hold epochs 1, 2, ... in order, got {numbers}")
    return epochs


def compute(params, ctx):
    runs = []
    for file, init, depth, steps in params["runs"]:
        epochs = read_log(LOGS / file)
        runs.append({"file": file, "init": init, "depth": depth, "steps": steps,
                     "epoch": [e["epoch"] for e in epochs],
                     **{key: [e[key] for e in epochs] for key in
                        ("train_loss", "train_accuracy", "test_loss", "test_accuracy")},
                     "test_rates_first": epochs[0]["test_rates"], "test_rates_last": epochs[-1]["test_rates"],
                     "grad_norms_first": epochs[0]["grad_norms"], "grad_norms_last": epochs[-1]["grad_norms"]})
    return {"runs": runs}


def summary(run: dict) -> dict:
    """The numbers the claim's README and the caption state for one run: last-epoch test accuracy,
    the authors' running-mean metric, the best epoch and the lowest training loss."""
    test = np.asarray(run["test_accuracy"])
    best = int(np.argmax(test))
    return {"last": float(test[-1]), "running_mean": float(np.mean(run["train_accuracy"])),
            "best": float(test[best]), "best_epoch": run["epoch"][best],
            "min_train_loss": float(np.min(run["train_loss"])), "epochs": len(test)}


def _label(run) -> str:
    return f"{style.label(run['init'])}, depth {run['depth']}, T = {run['steps']}"


def plot(data, params):
    fig, axes = style.new_figure(1, 4, width=17.0, height=4.6)
    for run in data["runs"]:
        line = {"color": style.colour(run["init"]), "linestyle": DASHES.get((run["depth"], run["steps"]), "-.")}
        epoch = np.asarray(run["epoch"])
        axes[0, 0].plot(epoch, 100 * np.asarray(run["test_accuracy"]), marker="o", markersize=2.5,
                        label=_label(run), **line)
        axes[0, 1].plot(epoch, run["train_loss"], marker="o", markersize=2.5, **line)
        # per layer: after the first epoch faint, after the last bold
        for ax, key, floor in ((axes[0, 2], "test_rates", 0.0), (axes[0, 3], "grad_norms", GRAD_FLOOR)):
            first, last = (np.maximum(run[f"{key}_{when}"], floor) for when in ("first", "last"))
            index = np.arange(len(last)) + (key == "grad_norms")      # weight layers count from 1
            ax.plot(index, first, lw=0.8, alpha=0.45, **line)
            ax.plot(index, last, lw=1.6, **line)
    ax = axes[0, 0]
    ax.axhline(100 * CHANCE_ACCURACY, color="k", lw=0.8, ls=":")
    ax.text(0.98, 0.02, "dotted: chance (10 %)", fontsize=7, ha="right", transform=ax.transAxes)
    ax.set_ylabel("test accuracy after the epoch (%)")
    ax.set_title("Test accuracy per epoch")
    ax = axes[0, 1]
    ax.axhline(CHANCE_LOSS, color="k", lw=0.8, ls=":")
    ax.text(0.98, 0.02, f"dotted: ln 10 = {CHANCE_LOSS:.3f} (uniform output)", fontsize=7, ha="right",
            transform=ax.transAxes)
    ax.set_ylabel("training loss, mean over the epoch")
    ax.set_title("Loss per epoch")
    for ax in axes[0, :2]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax = axes[0, 2]
    ax.set_xlabel("LIF layer l (0 = input)")
    ax.set_ylabel("firing rate on the test set")
    ax.set_title("Rate per layer: after epoch 1 (faint), last (bold)")
    ax = axes[0, 3]
    ax.set_yscale("log")
    ax.set_xlabel("weight layer l (W_l feeds LIF layer l)")
    ax.set_ylabel(f"||dL/dW_l||, mean over the epoch\n(0 drawn at {GRAD_FLOOR:g})")
    ax.set_title("Gradient per layer: epoch 1 (faint), last (bold)")
    style.legend_below(fig, axes, ncol=3)
    budget = params["budget"]
    fig.suptitle(f"The 100-layer claim as stated: {budget}; one seed ({params['seed']}) per run")
    return fig


def findings(data, params) -> str:
    parts = []
    for run in data["runs"]:
        s = summary(run)
        text = (f"{_label(run)}: {100 * s['last']:.2f} % after epoch {s['epochs']} (authors' running mean "
                f"{100 * s['running_mean']:.2f} %)")
        if s["best"] - s["last"] > 0.01:
            text += f", best {100 * s['best']:.2f} % at epoch {s['best_epoch']}"
        text += f", lowest training loss {s['min_train_loss']:.3f}"
        parts.append(text)
    lowest = min(summary(run)["min_train_loss"] for run in data["runs"])
    return (f"Test accuracy ({params['budget']}, one seed each): " + "; ".join(parts)
            + f". Chance is 10 % and a uniform output's loss ln 10 = {CHANCE_LOSS:.3f}; the lowest training loss of "
            f"any run is {lowest:.3f}.")


def tables(data, params):
    header = ["run (log)", "init", "depth", "T", "epochs", "last-epoch test acc", "authors' running mean",
              "best test acc (epoch)", "lowest train loss"]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in data["runs"]:
        s = summary(run)
        md.append(f"| `{run['file']}` | {run['init']} | {run['depth']} | {run['steps']} | {s['epochs']} | "
                  f"{100 * s['last']:.2f} % | {100 * s['running_mean']:.2f} % | {100 * s['best']:.2f} % "
                  f"({s['best_epoch']}) | {s['min_train_loss']:.3f} |")
    head = (f"The claim runs ({params['budget']}); logs and their commands: `figures/out/full/claim/`. "
            "Redraw: `python paper_figs.py --only claim_curves` (either gallery).\n\n")
    return {"claim_curves.md": head + "\n".join(md) + "\n"}


_PARAMS = {"runs": [list(r) for r in RUNS], "digest": _digest(RUNS), "seed": 42,
           "budget": "all of MNIST (60,000 train / 10,000 test images), 20 epochs, width 100, batch 64, "
                     "Adam 1e-3 with the authors' per-batch cosine schedule"}
FIGURE = FigureSpec(
    name="claim_curves",
    title="The 100-layer claim's 20-epoch runs, epoch by epoch",
    caption="The paper's training claim tested as stated (docs/theory.md §8): the authors' MLP (width 100, "
            "threshold 1, beta 0.5, subtract reset, ATan surrogate) trained on all of MNIST for 20 epochs, "
            "at depth 50 from the paper's init, Kaiming and the temporal init, at depth 100 from the paper's "
            "init, and at depth 50 with T = 16. Colour is the initialiser, line style the depth and T. From "
            "left: test accuracy after each epoch (on a zoomed axis), the training loss per epoch (the "
            "paper's convergence-speed claim: a loss that stays at ln 10 has not started to converge), the "
            "firing rate of every LIF layer after the first and the last epoch, and every weight layer's "
            "gradient norm in the first and the last epoch. The runs are read from the committed logs in "
            "figures/out/full/claim (their commands are in its README); drawing them takes a second, "
            "training them took hours each.",
    compute=compute, plot=plot, findings=findings, tables=tables, order=61,
    expected_seconds={"quick": 2, "full": 2},
    presets={"quick": _PARAMS, "full": _PARAMS, "tiny": _PARAMS},
)
