"""The paper's training claim on MNIST: test accuracy per epoch and epochs to 90 % by init.

Every (depth, initialiser, seed) is one training run of simulate.train (cached per run by
ctx.map, so an interrupted figure resumes, and parallel with --jobs); up to depth
``seeded_depth`` each initialiser is trained from ``n_seeds`` seeds, deeper from one. The runs use the
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
from .common import TARGET, seed_summary


def run_one(item: dict) -> dict:
    """One training run (simulate.experiments.training_run; module-level so ctx.map can cache
    and parallelise it)."""
    return training_run({k: v for k, v in item.items() if k != "label"})


def seeds_at(params, depth) -> list:
    """The seeds trained at ``depth``: ``n_seeds`` consecutive seeds from ``seed`` up to depth
    ``seeded_depth``, the first alone deeper (the budget: a run's cost grows with depth, and the
    deep runs all sit at chance)."""
    return [params["seed"] + k for k in range(params["n_seeds"] if depth <= params["seeded_depth"] else 1)]


def compute(params, ctx):
    fixed = {k: params[k] for k in ("train_size", "test_size", "width", "steps", "epochs", "beta",
                                     "threshold", "batch_size")}
    depths, names = list(params["depths"]), list(params["inits"])
    items = [dict(fixed, depth=depth, init=name, seed=seed)
             for depth in depths for name in names for seed in seeds_at(params, depth)]
    runs = iter(ctx.map(run_one, items, version="1", desc="training runs"))
    n_seeds = max(len(seeds_at(params, d)) for d in depths)
    shape = (len(depths), len(names), n_seeds)
    data = {"depths": depths, "inits": names, "epoch": np.arange(params["epochs"] + 1),
            "seeds": [seeds_at(params, d) for d in depths]}
    keys = ("test_accuracy", "test_loss", "train_loss", "train_accuracy", "train_loss_batches")
    first = {}
    for i, seeds in enumerate(data["seeds"]):
        for j in range(len(names)):
            for k in range(len(seeds)):
                run = next(runs)
                for key in keys:
                    if key not in data:     # a seed not trained at a depth stays NaN (the summaries skip it)
                        data[key] = np.full(shape + (len(run[key]),), np.nan)
                    data[key][i, j, k] = run[key]
                if k == 0:      # at initialisation and in epoch 1: the first seed's network
                    first[(depths[i], j)] = run
    # -1: not reached (also for an untrained seed's NaN curve, which no summary reads)
    data["epochs_to_90"] = np.apply_along_axis(epochs_to, -1, data["test_accuracy"], TARGET)
    for depth in depths:
        data[f"init_rates_depth{depth}"] = np.array([first[(depth, j)]["init_rates"] for j in range(len(names))])
        data[f"grad_norms_depth{depth}"] = np.array([first[(depth, j)]["grad_norms_epoch1"]
                                                     for j in range(len(names))])
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
        accuracy = 100 * np.asarray(data["test_accuracy"][i])          # (inits, seeds, epochs + 1)
        n_seeds = len(data["seeds"][i])
        for j, name in enumerate(names):
            ax.plot(data["epoch"] + offsets[j], np.nanmean(accuracy[j], axis=0), marker=MARKERS[j % len(MARKERS)],
                    markersize=3.5, color=style.colour(name), label=style.label(name))
            if n_seeds > 1:
                ax.fill_between(data["epoch"] + offsets[j], np.nanmin(accuracy[j], axis=0),
                                np.nanmax(accuracy[j], axis=0), color=style.colour(name), alpha=0.18, lw=0)
        ax.axhline(100 * TARGET, color="k", lw=0.8, ls=":")
        ax.text(0.02, 100 * TARGET + 1.2, f"{100 * TARGET:.0f} % (target of 'epochs to 90 %')", fontsize=7,
                transform=ax.get_yaxis_transform(), va="bottom")
        final = np.nanmean(accuracy[:, :, -1], axis=1)
        if np.ptp(final) <= 100 * CHANCE_BAND and np.all(np.abs(final - 100 * chance) <= 100 * CHANCE_BAND):
            _note(ax, f"all {len(names)} initialisers at chance (10 %):\ncurves coincide (offset markers)", y=0.25)
        ax.set_ylim(0, 100)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (0 = at initialisation)")
        ax.set_ylabel("test accuracy (%)")
        seeds = data["seeds"][i]
        ax.set_title(f"depth L = {depth} LIF layers, width {params['width']}\n"
                     + (f"mean and range over {len(seeds)} seeds ({seeds[0]}-{seeds[-1]})" if len(seeds) > 1
                        else f"one seed ({seeds[0]})"), fontsize=10)
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
        losses = np.nanmean(np.asarray(data["train_loss_batches"][i]), axis=1)     # mean over the seeds
        per_epoch = losses.shape[-1] // params["epochs"]
        for j, name in enumerate(names):
            epoch, mean = smoothed_loss(losses[j], per_epoch)
            ax.plot(epoch, mean, color=style.colour(name), label=style.label(name))
        ax.axhline(np.log(10.0), color="k", lw=0.8, ls=":")
        if n_seeds > 1:
            ax.set_title(f"training loss: mean over the {n_seeds} seeds", fontsize=9)
        flat = [style.label(n) for n, c in zip(names, losses) if np.ptp(c) <= 1e-3]
        _below(ax, f"epoch (running mean over {max(1, per_epoch // 10)} batches)\ndotted: ln 10, a uniform output",
               "loss constant to 1e-3 (lines coincide):\n" + ", ".join(flat) if len(flat) > 1 else "")
        ax.set_ylabel("training loss per batch")
    style.legend_below(fig, axes, ncol=len(names))
    fig.suptitle(f"MNIST ({params['train_size'] or 60000} train / {params['test_size'] or 10000} test images), "
                 f"T = {params['steps']}, {params['epochs']} epochs, threshold {params['threshold']}, "
                 f"beta {params['beta']}; rates and gradients at init: seed {params['seed']}; "
                 f"preset '{preset_name(params)}'")
    return fig


LOSS_TARGET = 2.0     # learning has started: clearly below chance, ln 10 = 2.303 (a uniform output)


def batches_to_loss(losses, batches_per_epoch: int, target: float = LOSS_TARGET):
    """First batch (1-based) at which the running-mean training loss (:func:`smoothed_loss`) is
    below ``target``, or None if it never is."""
    epoch, mean = smoothed_loss(losses, batches_per_epoch)
    hits = np.nonzero(mean < target)[0]
    return int(round(epoch[hits[0]] * batches_per_epoch)) if len(hits) else None


def _per_seed(values, fmt):
    return ", ".join(fmt(v) for v in values)


def _rows(data, params):
    for i, depth in enumerate(data["depths"]):
        seeds = data["seeds"][i]
        for j, name in enumerate(data["inits"]):
            acc = np.asarray(data["test_accuracy"][i, j])[:len(seeds)]          # (seeds, epochs + 1)
            to90 = [int(v) for v in data["epochs_to_90"][i, j][:len(seeds)]]
            losses = np.asarray(data["train_loss_batches"][i, j])[:len(seeds)]
            to_loss = [batches_to_loss(run, run.size // params["epochs"]) for run in losses]
            yield (depth, name, len(seeds), seed_summary(acc[:, 0]), seed_summary(acc[:, -1]),
                   seed_summary(acc.max(axis=1)), to90, data[f"init_rates_depth{depth}"][j][-1], to_loss)


def _range(summary, scale=100, digits=2):
    mean, low, high = (scale * summary[k] for k in ("mean", "min", "max"))
    return f"{mean:.{digits}f}" if low == high else f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def tables(data, params):
    header = ["depth", "init", "seeds", "test acc at init (%)", "final test acc (%)", "best test acc (%)",
              "epochs to 90% (per seed)", "output rate at init (first seed)",
              f"batches to loss < {LOSS_TARGET:g} (per seed)"]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    csv = [",".join(h.replace(" ", "_").replace("%", "pct").replace("(", "").replace(")", "") for h in header)]
    # no wall times here: the table is committed, and a re-run must not dirty a checkout
    for depth, name, n, a0, a_end, a_best, to90, rate, to_loss in _rows(data, params):
        reach = _per_seed(to90, lambda v: str(v) if v >= 0 else "-")
        loss_reach = _per_seed(to_loss, lambda v: str(v) if v is not None else "never")
        md.append(f"| {depth} | {name} | {n} | {_range(a0, digits=1)} | {_range(a_end)} | {_range(a_best)} | "
                  f"{reach} | {rate:.4f} | {loss_reach} |")
        csv.append(f"{depth},{name},{n},{a0['mean']:.4f},{a_end['mean']:.4f},{a_best['mean']:.4f},\"{reach}\",{rate:.6f},"
                   f"\"{loss_reach}\"")
    preset = preset_name(params)
    flag = {"quick": "", "full": " --full"}.get(preset, f" --preset {preset}")
    head = (f"Preset `{preset}`: MNIST {params['train_size'] or 60000} train / {params['test_size'] or 10000} test "
            f"images, {params['epochs']} epochs, T = {params['steps']}; accuracies are the mean over the seeds "
            f"with [min, max] where more than one seed was trained; '-': not reached in {params['epochs']} epochs "
            f"(redraw: `python paper_figs.py{flag} --only training_curves`)\n\n")
    return {"training_accuracy.md": head + "\n".join(md) + "\n", "training_accuracy.csv": "\n".join(csv) + "\n"}


def separated(summaries: dict) -> list:
    """Pairs (a, b) of initialisers whose final-accuracy seed ranges do not overlap, a above b:
    the only order the figure states (a range of 3 seeds, not a confidence interval)."""
    return [(a, b) for a, sa in summaries.items() for b, sb in summaries.items() if sa["min"] > sb["max"]]


def agreement(data, params):
    """Final accuracies per depth with their seed ranges; an order only where the ranges are apart."""
    parts = []
    for i, depth in enumerate(data["depths"]):
        seeds = data["seeds"][i]
        final = {name: seed_summary(data["test_accuracy"][i, j, :len(seeds), -1])
                 for j, name in enumerate(data["inits"])}
        at_chance = all(abs(v["mean"] - 0.1) <= CHANCE_BAND for v in final.values())
        text = (f"depth {depth} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}): "
                + ("every initialiser at chance (within 2 points of 10 %): " if at_chance else "")
                + ", ".join(f"{n} {_range(v, digits=1)}" for n, v in final.items()))
        if len(seeds) > 1 and not at_chance:
            pairs = separated(final)
            text += ("; seed ranges apart: " + ", ".join(f"{a} > {b}" for a, b in pairs)) if pairs else \
                "; every seed range overlaps another: no order"
        parts.append(text)
    return (f"Final test accuracy (%) after {params['epochs']} epochs on {params['train_size'] or 60000:,} MNIST images, "
            f"T = {params['steps']}, mean [min, max] over the seeds: " + "; ".join(parts))


_BASE = {"width": 100, "beta": 0.5, "threshold": 1.0, "seed": 42, "n_seeds": 3, "seeded_depth": 10, "batch_size": 64,
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
            "notes under the panels name the initialisers whose curves lie on top of each other. Up to "
            "depth 10 every initialiser is trained from 3 seeds (line: mean; band: the range of the "
            "seeds; the agreement line orders two initialisers only where their ranges are apart); deeper "
            "networks from one seed (a run's cost grows with depth, and there every initialiser sits at "
            "chance). Rates and gradients at initialisation are the first seed's network.",
    compute=compute, plot=plot, tables=tables, agreement=agreement, order=60,
    version="3",
    presets={
        "quick": {**_BASE, "depths": [10, 50], "train_size": 5000, "test_size": 1000, "epochs": 3, "steps": 5},
        "medium": {**_BASE, "depths": [10, 50], "train_size": None, "test_size": None, "epochs": 4,
                   "steps": 5},
        "full": {**_BASE, "depths": [10, 50, 100], "train_size": None, "test_size": None, "epochs": 4,
                 "steps": 5},
        "tiny": {**_BASE, "depths": [3, 12], "inits": ["micheli", "kaiming"], "width": 16, "train_size": 128,
                 "test_size": 64, "epochs": 1, "steps": 3, "n_seeds": 2},
    },
    expected_seconds={"quick": 35, "medium": 1900, "full": 1300},
    preset_notes={"full": "4 epochs at T = 5 (the medium preset with depth 100 added) instead of 10 epochs at T = 10 (about 1.7 h of the 3-hour budget on 2 cores that the full gallery must fit); 20 epochs at depth 50 and 100 are the claim runs in figures/out/full/claim/."},
)
