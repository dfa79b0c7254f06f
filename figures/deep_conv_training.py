"""Deep convolutional SNNs: which initialiser trains which architecture at which depth.

Two figures, both runs of ``snn_bridge.train`` (PyTorch autograd through SpikingJelly's own
neurons; the command of each run is in the table):

* ``deep_conv_training`` -- test accuracy and loss after a fixed budget against depth (weight
  layers) for SEW-ResNet (ADD), MS-ResNet and a plain VGG-style stack, one line per initialiser,
  three seeds with their t-interval and range; next to them, what the bridge's theory says of
  each initialised model (snn_bridge.diagnose on a batch of training images: the mean field's
  rates beside the measured ones, the per-layer backward gain chi of
  snn_bridge.initialize.backward_gains, theory.trainability of the translated network, with the
  theory's own reason where it makes no prediction); second panel set: "depth pays", a residual
  network of >= 50 weight layers against the best shallow plain stack (<= 4 weight layers) with
  one larger budget.
* ``deep_conv_1000`` -- the training loss over the first iterations of one 1000-layer SEW-ADD
  network per initialiser (run once per initialiser).

The neuron is SpikeInit's (Shi & Yu 2026): SpikingJelly LIFNode, tau = 2 (beta = 0.5), hard reset
to 0 (``reset="zero"``), decay_input False with threshold 1 (the paper's decay_input True with
threshold 0.5 is the same neuron with the input halved: v = 2u), ATan surrogate of scale 2 unless
an initialiser sets it; the image is a static current over T steps; the loss is the cross-entropy
of the output layer's spike counts. That neuron is also the toolkit's zero-reset LIF exactly
(snn_bridge.models), so the bridge's translation has no approximation in the neuron.

Initialisers (entries of snn_bridge.train.INITIALISERS):
``toolkit`` (snn_bridge.initialize_: micheli per layer, SEW-ADD and MS blocks near the identity;
VGG has no blocks, so toolkit = the registry's micheli law there),
``toolkit_chi1`` (the same with every neuron's surrogate scale set for a one-step backward gain
chi = 1 where the bridge derives chi), ``spikeinit`` (snn_bridge.spikeinit), ``kaiming_bn``
(Kaiming weights with batch norm after every convolution, BN weight = threshold: tdBN-style;
SpikingJelly's BN normalises over T, B, H, W as tdBN does), ``pytorch_default``, ``micheli``
(the paper's plain init on every layer).

Every training run is one ``ctx.map`` item (cached by its parameters); with ``store`` set (the
full preset) each finished run is also kept as a JSON file named by the hash of its training
configuration (snn_bridge.train's ``identity()``), so an interrupted or re-keyed sweep does not
train a finished run again. This module imports torch only inside its computing functions.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from functools import lru_cache

import numpy as np

from . import style
from ._spec import FigureSpec
from .common import seed_summary

CHANCE = 0.1
STAGES = 3
FAMILY_LABELS = {"sew_add": "SEW-ResNet (ADD)", "ms": "MS-ResNet", "vgg": "plain VGG-style stack"}
INIT_LABELS = {"toolkit": "toolkit (initialize_)", "toolkit_chi1": "toolkit, surrogate for chi = 1",
               "spikeinit": "SpikeInit", "kaiming_bn": "Kaiming + BN (tdBN-style)",
               "pytorch_default": "PyTorch default", "micheli": "paper's plain init"}
# the toolkit's residual colour (style.INIT_COLOURS["sew_add"]) and a darker twin; the baselines
# keep their registry colours (micheli, pytorch_default); SpikeInit and Kaiming + BN get their own
COLOURS = {"toolkit": style.INIT_COLOURS["sew_add"], "toolkit_chi1": "#005a4c", "spikeinit": "#b5651d",
           "kaiming_bn": "#1f77b4", "pytorch_default": style.INIT_COLOURS["pytorch_default"],
           "micheli": style.INIT_COLOURS["micheli"]}
MARKERS = {"toolkit": "o", "toolkit_chi1": "s", "spikeinit": "D", "kaiming_bn": "^", "pytorch_default": "v",
           "micheli": "x"}
# bump when a stored run's numbers would change (the run store keys runs by their configuration)
STORE_VERSION = "1"


def _need_torch():
    try:
        import torch  # noqa: F401
        import spikingjelly  # noqa: F401
    except ImportError as exc:
        raise ImportError('figures deep_conv_training / deep_conv_1000 train PyTorch models: they need the torch '
                          'extra with SpikingJelly (pip install ".[torch]" spikingjelly)') from exc


# ---------------------------------------------------------------------------------------------
# depth in weight layers <-> blocks per stage
# ---------------------------------------------------------------------------------------------

def weight_layers(family, blocks, stages=STAGES) -> int:
    """Weight layers (convolutions and the classifier) of a model of snn_bridge.models with
    ``blocks`` per stage: residual 1 stem + 2 blocks stages + (stages - 1) downsampling 1x1 + 1;
    VGG blocks stages + 1."""
    if family == "vgg":
        return blocks * stages + 1
    return 1 + 2 * blocks * stages + (stages - 1) + 1


def blocks_for(family, depth, stages=STAGES) -> int:
    """Blocks per stage giving ``depth`` weight layers (ValueError if none does)."""
    if family == "vgg":
        blocks, rest = divmod(depth - 1, stages)
    else:
        blocks, rest = divmod(depth - 1 - (stages - 1) - 1, 2 * stages)
    if rest or blocks < 1:
        raise ValueError(f"no {family} model of {stages} stages has {depth} weight layers")
    return blocks


# ---------------------------------------------------------------------------------------------
# one run
# ---------------------------------------------------------------------------------------------

_RUN_FIELDS = ("family", "library", "channels", "steps", "beta", "threshold", "reset", "surrogate_scale", "dataset",
               "train_size", "test_size", "epochs", "batch_size", "lr", "schedule", "seed", "init")


def run_config(item: dict) -> dict:
    """The snn_bridge.train configuration (TorchTrainConfig fields) of one item: the depth as
    blocks per stage, batch norm for kaiming_bn only, cosine schedule over the whole run."""
    fields = {k: item[k] for k in _RUN_FIELDS}
    fields["channels"] = tuple(item["channels"])
    fields["blocks"] = blocks_for(item["family"], item["depth"], len(item["channels"]))
    fields["bn"] = item["init"] == "kaiming_bn"
    iterations = -(-item["train_size"] // item["batch_size"]) * item["epochs"]
    fields["t_max"] = iterations if item["schedule"] == "cosine" else 10
    return dict(fields, schedule_per="batch", progress=False, threads=1)


def command(item: dict) -> str:
    """The ``python -m snn_bridge.train`` command of one item."""
    cfg = run_config(item)
    flags = [f"--family {cfg['family']}", f"--library {cfg['library']}", f"--blocks {cfg['blocks']}",
             f"--channels {','.join(map(str, cfg['channels']))}", "--bn" if cfg["bn"] else "--no-bn",
             f"--T {cfg['steps']}", f"--beta {cfg['beta']:g}", f"--threshold {cfg['threshold']:g}",
             f"--reset {cfg['reset']}", f"--init {cfg['init']}", f"--dataset {cfg['dataset']}",
             f"--train-size {cfg['train_size']}", f"--test-size {cfg['test_size']}", f"--epochs {cfg['epochs']}",
             f"--batch-size {cfg['batch_size']}", f"--lr {cfg['lr']:g}", f"--schedule {cfg['schedule']}",
             f"--t-max {cfg['t_max']}", f"--seed {cfg['seed']}", "--threads 1"]
    return "python -m snn_bridge.train " + " ".join(flags)


@lru_cache(maxsize=4)
def _data(dataset, train_size, test_size):
    from simulate.data import load_dataset
    return load_dataset(dataset, None, train_size, test_size)


def _store_path(store, kind, identity):
    """The run's file: a relative ``store`` is taken from the project's root (where the committed
    runs are), whatever the working directory."""
    key = hashlib.sha256(json.dumps({"kind": kind, "identity": identity}, sort_keys=True).encode()).hexdigest()[:24]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(store if os.path.isabs(store) else os.path.join(root, store), f"{kind}-{key}.json")


def _store_load(path, identity):
    try:
        with open(path) as handle:
            saved = json.load(handle)
    except (OSError, ValueError):
        return None
    return saved["result"] if saved.get("identity") == identity else None


def _stored(item, kind, config, **extra):
    """(identity, the store's path for this run or None without a store, its saved result or
    None): a run is identified by its training configuration, ``extra`` and STORE_VERSION."""
    identity = {"config": json.loads(json.dumps(config.identity())), **extra, "store": STORE_VERSION}
    path = _store_path(item["store"], kind, identity) if item.get("store") else None
    return identity, path, (None if path is None else _store_load(path, identity))


def _store_save(path, identity, result):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as handle:
        json.dump({"identity": identity, "result": result}, handle)
    os.replace(tmp, path)


def train_point(item: dict) -> dict:
    """One training run of snn_bridge.train (module docstring). A run whose loss or gradient
    turns non-finite is recorded as diverged (accuracy and loss NaN, the batch it stopped at)."""
    _need_torch()
    from snn_bridge.train import TorchTrainConfig, train
    config = TorchTrainConfig(**run_config(item)).validate()
    identity, path, saved = _stored(item, "train", config, epochs=config.epochs)
    if saved is not None:
        return saved
    data = _data(item["dataset"], item["train_size"], item["test_size"])
    start = time.perf_counter()
    try:
        history = train(config, data).history
    except FloatingPointError as error:
        result = {"diverged": 1, "message": str(error), "test_accuracy": float("nan"), "test_loss": float("nan"),
                  "train_loss": float("nan"), "train_accuracy": float("nan"), "loss_batches": [],
                  "seconds_per_iteration": float("nan"), "seconds": time.perf_counter() - start,
                  "output_rate": float("nan"), "weight_layers": item["depth"]}
    else:
        last = history[-1]
        rates = last["train_rates"]
        result = {"diverged": 0, "message": "", "test_accuracy": last["test_accuracy"], "test_loss": last["test_loss"],
                  "train_loss": last["train_loss"], "train_accuracy": last["train_accuracy"],
                  "loss_batches": [v for record in history for v in record["train_loss_batches"]],
                  "seconds_per_iteration": float(np.mean([r["seconds_per_iteration"] for r in history])),
                  "seconds": time.perf_counter() - start, "output_rate": float(list(rates.values())[-1]),
                  "weight_layers": history[0]["model"]["weight_layers"]}
    if path is not None:
        _store_save(path, identity, result)
    return result


def predict_point(item: dict) -> dict:
    """What the bridge's theory says of one initialised model (seed ``item['seed']``): the
    initialiser's report, snn_bridge.diagnose on the first ``probe`` training images (measured
    and predicted rate per neuron layer, mean over T), the one-step backward gain chi per neuron
    layer (snn_bridge.initialize.backward_gains; NaN where it is not derived) and
    theory.trainability of the translated network (NaN and the theory's reason where it makes
    no prediction)."""
    _need_torch()
    import warnings

    import torch

    import theory
    from snn_bridge import diagnose
    from snn_bridge.initialize import backward_gains
    from snn_bridge.train import TorchTrainConfig, build

    config = TorchTrainConfig(**run_config(item)).validate()
    identity, path, saved = _stored(item, "predict", config, probe=item["probe"], samples=item["samples"])
    if saved is not None:
        return saved
    data = _data(item["dataset"], item["train_size"], item["test_size"])
    images = torch.from_numpy(np.ascontiguousarray(data.x_train[:item["probe"]])).float().div_(255).view(-1, 1, 28, 28)
    torch.manual_seed(config.seed)
    start = time.perf_counter()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, _ = build(config, input_second_moment=float(
            (torch.from_numpy(data.x_train.astype(np.float64)) / 255.0).pow(2).mean()))
        init_seconds = time.perf_counter() - start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            diag = diagnose(model, images, steps=config.steps, verbose=False, samples=item["samples"], seed=0,
                            unpaired="list", warn=False)
        notes = list(diag.notes)
        if diag.profile is not None:
            chis = backward_gains(diag.translation, diag.profile)
        else:
            chis = [None] * len(diag.modules)
        trainability = {"regime": "none", "xi_c": float("nan"), "depth": float("nan"),
                        "depth_transient": float("nan"), "chi": float("nan"), "notes": []}
        if diag.translation.own_blocks:     # as initialize_: not in theory.trainability
            trainability["notes"] = ["blocks with a layer path on the shortcut (the downsampling blocks' 1x1 "
                                     "convolutions) are not in theory.trainability"]
        else:
            try:
                spec = diag.translation.neurons[0].surrogate or ("atan", config.surrogate_scale)
                tr = theory.trainability(diag.translation.network, surrogate=spec[0], scale=spec[1],
                                         samples=item["samples"], seed=0)
                trainability = {"regime": tr.regime, "xi_c": float(tr.xi_c), "depth": float(tr.depth),
                                "depth_transient": float(tr.depth_transient), "chi": float(tr.chi),
                                "notes": list(tr.notes)}
            except ValueError as exc:
                trainability["notes"] = [str(exc)]
    finally:
        torch.set_num_threads(previous)
    result = {"modules": list(diag.modules), "rate": diag.rate.mean(axis=1).tolist(),
              "predicted_rate": diag.predicted_rate.mean(axis=1).tolist(),
              "chi": [float("nan") if c is None else float(c) for c in chis],
              "dead": int(np.sum(diag.dead)), "trainability": trainability, "notes": notes[:6],
              "init_seconds": init_seconds}
    if path is not None:
        _store_save(path, identity, result)
    return result


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------

def _common(params):
    return {k: params[k] for k in ("library", "channels", "steps", "beta", "threshold", "reset", "surrogate_scale",
                                   "dataset", "train_size", "test_size", "epochs", "batch_size", "lr", "schedule")}


def grid_items(params) -> list:
    """One item per (family, init, depth, seed) of ``params['grid']``, in that order."""
    common = dict(_common(params), store=params.get("store"))
    return [dict(common, family=row["family"], init=init, depth=depth, seed=seed)
            for row in params["grid"] for init in row["inits"] for depth in row["depths"] for seed in params["seeds"]]


def prediction_items(params) -> list:
    common = dict(_common(params), store=params.get("store"), probe=params["probe"], samples=params["samples"])
    return [dict(common, family=row["family"], init=init, depth=depth, seed=params["seeds"][0])
            for row in params["grid"] for init in row["inits"] for depth in row["depths"]]


def depth_pays_items(params) -> list:
    spec = params.get("depth_pays")
    if not spec:
        return []
    common = dict(_common(params), store=params.get("store"))
    common.update(spec["budget"])
    return [dict(common, family=model["family"], depth=model["depth"], channels=list(model["channels"]),
                 init=model["init"], seed=seed, role=role)
            for role in ("deep", "shallow") for model in spec[role] for seed in params["seeds"]]


def _strip(item):
    return {k: v for k, v in item.items() if k != "role"}


def compute(params, ctx):
    _need_torch()
    items = grid_items(params)
    runs = ctx.map(train_point, items, version="1", desc="training runs")
    predictions = ctx.map(predict_point, prediction_items(params), version="1", desc="theory of each model")
    pays_items = depth_pays_items(params)
    pays = ctx.map(train_point, [_strip(i) for i in pays_items], version="1", desc="depth pays") if pays_items else []
    keep = ("test_accuracy", "test_loss", "train_loss", "train_accuracy", "seconds_per_iteration", "diverged",
            "message", "output_rate", "seconds")
    rows = [dict({k: item[k] for k in ("family", "init", "depth", "seed")}, **{k: run[k] for k in keep},
                 loss_batches=run["loss_batches"], command=command(item))
            for item, run in zip(items, runs)]
    pred_rows = [dict({k: item[k] for k in ("family", "init", "depth", "seed")}, **prediction)
                 for item, prediction in zip(prediction_items(params), predictions)]
    pays_rows = [dict({k: item[k] for k in ("family", "init", "depth", "seed", "role", "channels")},
                      **{k: run[k] for k in keep}, command=command(_strip(item)))
                 for item, run in zip(pays_items, pays)]
    return {"runs": rows, "predictions": pred_rows, "depth_pays": pays_rows}


# ---------------------------------------------------------------------------------------------
# statistics over seeds
# ---------------------------------------------------------------------------------------------

def _select(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _accuracy(row):
    """Test accuracy, with a diverged run counted at chance (it predicts nothing)."""
    return CHANCE if row["diverged"] else row["test_accuracy"]


def summary(data) -> list:
    """One dict per (family, init, depth): accuracy, loss and s/it over seeds."""
    out, seen = [], []
    for r in data["runs"]:
        key = (r["family"], r["init"], r["depth"])
        if key in seen:
            continue
        seen.append(key)
        group = _select(data["runs"], family=key[0], init=key[1], depth=key[2])
        out.append({"family": key[0], "init": key[1], "depth": key[2], **_over_seeds(group)})
    return out


def _over_seeds(group) -> dict:
    """Accuracy, loss and s/it over the seeds of one configuration's runs, with its command."""
    return {"accuracy": seed_summary([_accuracy(g) for g in group]),
            "loss": seed_summary([g["test_loss"] for g in group]),
            "seconds_per_iteration": seed_summary([g["seconds_per_iteration"] for g in group]),
            "diverged": int(sum(g["diverged"] for g in group)), "seeds": len(group), "command": group[0]["command"]}


def _prediction(data, family, init, depth):
    rows = _select(data["predictions"], family=family, init=init, depth=depth)
    return rows[0] if rows else None


def _chi_text(prediction):
    if prediction is None:
        return "-", "-"
    chi = np.asarray(prediction["chi"], dtype=float)
    finite = chi[np.isfinite(chi)]
    if not len(finite):
        return "n/a", "n/a"
    return f"{np.median(finite):.3g} [{finite.min():.2g}, {finite.max():.2g}] ({len(finite)}/{len(chi)})", \
        f"{np.sum(np.log10(np.maximum(finite, 1e-300))):.3g}"


def _trainability_text(prediction):
    if prediction is None:
        return "-"
    tr = prediction["trainability"]
    if np.isfinite(tr["depth"]):
        return f"{tr['regime']}: 6 xi_c = {tr['depth']:.3g}"
    if np.isfinite(tr.get("depth_transient", float("nan"))):
        return f"{tr['regime']}: 4 xi_transient = {tr['depth_transient']:.3g}"
    reason = "; ".join(tr["notes"]) or "no reason given"
    return f"no prediction ({reason})"


def _interval(s, scale=100.0, digits=1):
    if s["n"] == 0:
        return "-"
    text = f"{scale * s['mean']:.{digits}f}"
    if s["n"] > 1:
        text += f" ± {scale * s['half']:.{digits}f} [{scale * s['min']:.{digits}f}, {scale * s['max']:.{digits}f}]"
    return text


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------

def plot(data, params):
    table = summary(data)
    families = list(dict.fromkeys(r["family"] for r in table))
    fig, axes = style.new_figure(2, len(families), width=4.3 * len(families) + 0.6, height=7.4, sharex=False)
    for j, family in enumerate(families):
        rows = [r for r in table if r["family"] == family]
        inits = list(dict.fromkeys(r["init"] for r in rows))
        for i, init in enumerate(inits):
            sel = [r for r in rows if r["init"] == init]
            depths = np.array([r["depth"] for r in sel], dtype=float)
            offset = 1.0 + 0.03 * (i - (len(inits) - 1) / 2)
            for ax, key, scale in ((axes[0, j], "accuracy", 100.0), (axes[1, j], "loss", 1.0)):
                mean = np.array([r[key]["mean"] for r in sel]) * scale
                # clipped at 0: equal seeds give mean - min = -1 ulp
                low = np.maximum(mean - np.array([r[key]["min"] for r in sel]) * scale, 0.0)
                high = np.maximum(np.array([r[key]["max"] for r in sel]) * scale - mean, 0.0)
                ax.errorbar(depths * offset, mean, yerr=[np.nan_to_num(low), np.nan_to_num(high)],
                            color=COLOURS.get(init, "black"), marker=MARKERS.get(init, "o"), ms=4.5, lw=1.4,
                            capsize=2, label=INIT_LABELS.get(init, init))
                for r, d in zip(sel, depths * offset):
                    if r["diverged"]:
                        ax.annotate(f"{r['diverged']}/{r['seeds']} diverged", (d, scale * (CHANCE if key ==
                                    "accuracy" else r[key]["mean"] if np.isfinite(r[key]["mean"]) else 2.3)),
                                    fontsize=6, color=COLOURS.get(init, "black"), rotation=90)
        for ax in axes[:, j]:
            ax.set_xscale("log")
            ticks = sorted({r["depth"] for r in rows})
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("depth (weight layers)")
        axes[0, j].axhline(100 * CHANCE, color=style.NEUTRAL["reference"], ls=":", lw=1)
        axes[0, j].set_title(FAMILY_LABELS.get(family, family), fontsize=10)
        axes[0, j].set_ylabel("test accuracy (%)")
        axes[1, j].set_ylabel("test loss (cross-entropy)")
        axes[0, j].legend(fontsize=6.5, loc="lower left")
    budget = (f"{params['dataset']}: {params['train_size']} training images x {params['epochs']} epoch(s), "
              f"test {params['test_size']}; T {params['steps']}, batch {params['batch_size']}, channels "
              f"{'/'.join(map(str, params['channels']))}; {len(params['seeds'])} seed(s): mean, bars = min..max")
    fig.suptitle(budget, fontsize=8)
    figures = [fig]
    if data["depth_pays"]:
        figures.append(_plot_depth_pays(data, params))
    return figures


def _pays_summary(data):
    out, seen = [], []
    for r in data["depth_pays"]:
        key = (r["role"], r["family"], r["depth"], tuple(r["channels"]), r["init"])
        if key in seen:
            continue
        seen.append(key)
        group = [g for g in data["depth_pays"] if (g["role"], g["family"], g["depth"], tuple(g["channels"]),
                                                     g["init"]) == key]
        out.append({"role": key[0], "family": key[1], "depth": key[2], "channels": list(key[3]), "init": key[4],
                    **_over_seeds(group)})
    return out


def _pays_label(r):
    return (f"{FAMILY_LABELS.get(r['family'], r['family'])}, {r['depth']} layers, "
            f"{'/'.join(map(str, r['channels']))}, {INIT_LABELS.get(r['init'], r['init'])}")


def _plot_depth_pays(data, params):
    rows = _pays_summary(data)
    fig, axes = style.new_figure(1, 1, width=8.0, height=0.45 * len(rows) + 1.6)
    ax = axes[0, 0]
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows):
        s = r["accuracy"]
        colour = COLOURS.get(r["init"], "black")
        ax.errorbar([100 * s["mean"]], [yi], xerr=[[max(100 * (s["mean"] - s["min"]), 0.0)], [max(100 * (s["max"] - s["mean"]), 0.0)]],
                    color=colour, marker="o" if r["role"] == "deep" else "s", ms=6, capsize=3)
        if s["n"] > 1:
            ax.plot([100 * (s["mean"] - s["half"]), 100 * (s["mean"] + s["half"])], [yi, yi], color=colour, lw=4,
                    alpha=0.35)
    ax.set_yticks(y, [("deep: " if r["role"] == "deep" else "shallow: ") + _pays_label(r) for r in rows], fontsize=7)
    ax.set_xlabel("test accuracy (%)  (dot: mean; thick: 95 % t-interval; whiskers: min..max over seeds)")
    budget = params["depth_pays"]["budget"]
    ax.set_title(f"depth pays? {params['dataset']}, {budget.get('train_size', params['train_size'])} training images "
                 f"x {budget.get('epochs', params['epochs'])} epoch(s), test {budget.get('test_size', params['test_size'])}"
                 f", {len(params['seeds'])} seeds", fontsize=8)
    return fig


def tables(data, params):
    table = summary(data)
    header = ["architecture", "init", "depth", "test accuracy % (mean ± t95 [min, max])", "test loss",
              "s/it", "diverged", "output rate at init (measured / theory)", "chi per layer: median [min, max] (derived/all)",
              "sum log10 chi", "trainability (theory)"]
    md = [f"Budget: {params['dataset']}, first {params['train_size']} training images x {params['epochs']} epoch(s), "
          f"first {params['test_size']} test images; batch {params['batch_size']}, Adam lr {params['lr']:g} "
          f"({params['schedule']} over the run), T = {params['steps']}, channels {'/'.join(map(str, params['channels']))}, "
          f"seeds {params['seeds']}; SpikingJelly LIF tau 2, hard reset, threshold 1, ATan. s/it: training wall "
          f"seconds per iteration on one thread of a shared 2-core machine. Theory columns: the model of the first "
          f"seed at initialisation, snn_bridge.diagnose on {params['probe']} training images.", "",
          "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in table:
        p = _prediction(data, r["family"], r["init"], r["depth"])
        rate = "-" if p is None else f"{p['rate'][-1]:.3f} / {p['predicted_rate'][-1]:.3f}"
        chi, logchi = _chi_text(p)
        cells = [FAMILY_LABELS.get(r["family"], r["family"]), r["init"], str(r["depth"]), _interval(r["accuracy"]),
                 _interval(r["loss"], 1.0, 3), f"{r['seconds_per_iteration']['mean']:.3f}",
                 f"{r['diverged']}/{r['seeds']}", rate, chi, logchi, _trainability_text(p)]
        md.append("| " + " | ".join(cells) + " |")
    md += ["", "Commands (seed 0 of each row; the other seeds change --seed):", ""]
    md += [f"    {r['command']}" for r in table]
    out = {"deep_conv_training.md": "\n".join(md) + "\n"}
    if data["depth_pays"]:
        pays = _pays_summary(data)
        lines = ["| role | model | init | test accuracy % (mean ± t95 [min, max]) | test loss | s/it | diverged |",
                 "|---|---|---|---|---|---|---|"]
        for r in pays:
            lines.append(f"| {r['role']} | {FAMILY_LABELS.get(r['family'], r['family'])}, {r['depth']} layers, "
                         f"{'/'.join(map(str, r['channels']))} | {r['init']} | {_interval(r['accuracy'])} | "
                         f"{_interval(r['loss'], 1.0, 3)} | {r['seconds_per_iteration']['mean']:.3f} | "
                         f"{r['diverged']}/{r['seeds']} |")
        lines += ["", "Commands:", ""] + [f"    {r['command']}" for r in pays]
        out["deep_conv_depth_pays.md"] = "\n".join(lines) + "\n"
    return out


def findings(data, params):
    table = summary(data)
    lines = []
    for family in dict.fromkeys(r["family"] for r in table):
        for depth in sorted({r["depth"] for r in table if r["family"] == family}):
            rows = [r for r in table if r["family"] == family and r["depth"] == depth]
            best = max(rows, key=lambda r: r["accuracy"]["mean"])
            parts = [f"{FAMILY_LABELS.get(family, family)}, {depth} layers: best {best['init']} "
                     f"{_interval(best['accuracy'])} %"]
            tk = next((r for r in rows if r["init"] == "toolkit"), None)
            si = next((r for r in rows if r["init"] == "spikeinit"), None)
            if tk and si:
                parts.append(f"toolkit {_interval(tk['accuracy'])} % vs SpikeInit {_interval(si['accuracy'])} %")
            lines.append("; ".join(parts) + ".")
    seeds = len(params["seeds"])
    lines.append(f"(Grid: {params['dataset']}, {params['train_size']} images x {params['epochs']} epoch(s), "
                 f"{params['test_size']} test images, {seeds} seed(s).)")
    if data["depth_pays"]:
        pays = _pays_summary(data)
        deep = max((r for r in pays if r["role"] == "deep"), key=lambda r: r["accuracy"]["mean"])
        shallow = max((r for r in pays if r["role"] == "shallow"), key=lambda r: r["accuracy"]["mean"])
        verdict = "beats" if deep["accuracy"]["mean"] - deep["accuracy"]["half"] > \
            shallow["accuracy"]["mean"] + shallow["accuracy"]["half"] else \
            "does not beat (intervals overlap or below)"
        budget = {**{k: params[k] for k in ("train_size", "test_size", "epochs")}, **params["depth_pays"]["budget"]}
        lines.append(f"Depth pays: best deep {_pays_label(deep)} {_interval(deep['accuracy'])} % {verdict} best shallow "
                     f"{_pays_label(shallow)} {_interval(shallow['accuracy'])} % ({params['dataset']}, "
                     f"{budget['train_size']} images x {budget['epochs']} epoch(s), {budget['test_size']} test images, "
                     f"{seeds} seed(s)).")
    return " ".join(lines)


def agreement(data, params):
    table = summary(data)
    deepest = max(r["depth"] for r in table)
    rows = [r for r in table if r["depth"] == deepest]
    best = max(rows, key=lambda r: r["accuracy"]["mean"])
    return (f"at {deepest} weight layers the best is {best['init']} on {best['family']} "
            f"({100 * best['accuracy']['mean']:.1f} %); diverged runs: {sum(r['diverged'] for r in table)}")


# ---------------------------------------------------------------------------------------------
# the 1000-layer network's first iterations
# ---------------------------------------------------------------------------------------------

def first_iterations(item: dict) -> dict:
    """``iterations`` Adam steps of one SEW-ADD network from ``init``; per step the loss, the
    gradient norm, the output layer's rate and the seconds. A non-finite loss or gradient ends
    the run (recorded: the step). The toolkit initialiser is the bridge's initialize_ with the
    item's mean-field ``samples`` (the trainer's entry fixes 4000: the near-identity design walks
    every block, too slow at 1000 layers)."""
    _need_torch()
    import torch
    import torch.nn.functional as F

    from snn_bridge.train import TorchTrainConfig, build
    config = TorchTrainConfig(**run_config(dict(item, epochs=1, schedule="constant"))).validate()
    identity, path, saved = _stored(item, "first", config, iterations=item["iterations"], samples=item["samples"])
    if saved is not None:
        return saved
    data = _data(item["dataset"], item["train_size"], item["test_size"])
    x = torch.from_numpy(np.ascontiguousarray(data.x_train)).float().div_(255).view(-1, 1, 28, 28)
    y = torch.from_numpy(data.y_train.astype(np.int64))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    try:
        start = time.perf_counter()
        second = float(x.double().pow(2).mean())
        if item["init"] in ("toolkit", "toolkit_chi1"):
            model, report = _toolkit_model(config, second, item["samples"], chi_one=item["init"] == "toolkit_chi1")
        else:
            model, report = build(config, input_second_moment=second)
        init_seconds = time.perf_counter() - start
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        order = np.random.default_rng([config.seed, 1]).permutation(len(x))
        losses, norms, rates, seconds = [], [], [], []
        stopped = ""
        out_neuron = model.neurons()[-1][1]
        captured = {}
        handle = out_neuron.register_forward_hook(lambda m, a, o: captured.__setitem__("s", float(o.detach().mean())))
        for k in range(item["iterations"]):
            t0 = time.perf_counter()
            index = torch.from_numpy(order[(k * config.batch_size) % len(x):][:config.batch_size])
            optimizer.zero_grad(set_to_none=True)
            out = model(x[index].unsqueeze(0).expand(config.steps, *x[index].shape))
            loss = F.cross_entropy(out, y[index])
            value = float(loss.detach())
            losses.append(value)
            rates.append(captured.get("s", float("nan")))
            if not math.isfinite(value):
                norms.append(float("nan"))
                stopped = f"non-finite loss at iteration {k + 1}"
                seconds.append(time.perf_counter() - t0)
                break
            loss.backward()
            norm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters()
                                        if p.grad is not None)))
            norms.append(norm)
            if not math.isfinite(norm):
                stopped = f"non-finite gradient at iteration {k + 1}"
                seconds.append(time.perf_counter() - t0)
                break
            optimizer.step()
            seconds.append(time.perf_counter() - t0)
        handle.remove()
    finally:
        torch.set_num_threads(previous)
    result = {"loss": losses, "grad_norm": norms, "output_rate": rates, "seconds": seconds, "stopped": stopped,
              "init_seconds": init_seconds, "weight_layers": model.describe()["weight_layers"],
              "parameters": model.describe()["parameters"],
              "init_notes": [str(n) for n in (report.get("notes", []) if isinstance(report, dict) else [])][:4]}
    if path is not None:
        _store_save(path, identity, result)
    return result


def _toolkit_model(config, second_moment, samples, chi_one):
    """A model of ``config`` initialised by snn_bridge.train's toolkit initialiser with ``samples``
    mean-field paths (the trainer's 4000 walk a 1000-layer network's blocks too slowly)."""
    import dataclasses

    from snn_bridge.models import build_model
    from snn_bridge.train import toolkit_initialiser
    model = build_model(config.family, config.library, blocks=config.blocks, channels=config.channels, bn=config.bn,
                        beta=config.beta, threshold=config.threshold, reset=config.reset,
                        surrogate_scale=config.surrogate_scale, readout=config.readout, head=config.head)
    config = dataclasses.replace(config, input_second_moment=second_moment)
    return model, toolkit_initialiser(model, config, chi_one=chi_one, samples=samples)


def compute_1000(params, ctx):
    _need_torch()
    common = dict(_common(params), store=params.get("store"), family="sew_add", depth=params["depth"],
                  iterations=params["iterations"], samples=params["samples"], seed=params["seed"])
    items = [dict(common, init=init) for init in params["inits"]]
    runs = ctx.map(first_iterations, items, version="1", desc="first iterations")
    return {"inits": list(params["inits"]), "runs": runs,
            "commands": [command(dict(item, epochs=1, schedule="constant")) for item in items]}


def plot_1000(data, params):
    fig, axes = style.new_figure(1, 2, width=10.5, height=3.8)
    for init, run in zip(data["inits"], data["runs"]):
        steps = np.arange(1, len(run["loss"]) + 1)
        colour = COLOURS.get(init, "black")
        label = INIT_LABELS.get(init, init) + (f" ({run['stopped']})" if run["stopped"] else "")
        axes[0, 0].plot(steps, run["loss"], color=colour, lw=1.2, label=label)
        axes[0, 1].plot(steps, run["grad_norm"], color=colour, lw=1.2, label=INIT_LABELS.get(init, init))
    axes[0, 0].axhline(math.log(10), color=style.NEUTRAL["reference"], ls=":", lw=1, label="ln 10 (chance)")
    axes[0, 0].set_xlabel("iteration")
    axes[0, 0].set_ylabel("training loss (batch)")
    axes[0, 0].set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].set_xlabel("iteration")
    axes[0, 1].set_ylabel("gradient norm (all parameters)")
    axes[0, 1].set_yscale("log")
    layers = data["runs"][0]["weight_layers"] if data["runs"] else params["depth"]
    fig.suptitle(f"SEW-ResNet (ADD), {layers} weight layers, channels {'/'.join(map(str, params['channels']))}, "
                 f"T {params['steps']}, batch {params['batch_size']}, Adam lr {params['lr']:g}, {params['dataset']}, "
                 f"seed {params['seed']}", fontsize=8)
    return fig


def _window(values, lo, hi):
    v = np.asarray(values[lo:hi], dtype=float)
    return float(np.mean(v)) if len(v) else float("nan")


def tables_1000(data, params):
    lines = ["| init | loss it. 1 | mean loss it. 1-10 | mean loss last 10 | min loss | stopped | s/it | init s |",
             "|---|---|---|---|---|---|---|---|"]
    for init, run in zip(data["inits"], data["runs"]):
        loss = run["loss"]
        n = len(loss)
        lines.append(f"| {init} | {loss[0]:.4g} | {_window(loss, 0, 10):.4g} | {_window(loss, max(0, n - 10), n):.4g} | "
                     f"{np.nanmin(loss):.4g} | {run['stopped'] or 'no'} | {np.mean(run['seconds']):.2f} | "
                     f"{run['init_seconds']:.0f} |")
    lines += ["", "Commands (the trainer's run of the same model; the figure runs its own loop of "
                  f"{params['iterations']} iterations, constant lr, and continues no further):", ""]
    lines += [f"    {c}" for c in data["commands"]]
    return {"deep_conv_1000.md": "\n".join(lines) + "\n"}


def findings_1000(data, params):
    parts = []
    for init, run in zip(data["inits"], data["runs"]):
        loss = run["loss"]
        n = len(loss)
        first, last = _window(loss, 0, 10), _window(loss, max(0, n - 10), n)
        trend = "falls" if last < first else "does not fall"
        chance = "below" if last < math.log(10) else "still above"
        grad = run.get("grad_norm") or []
        gradient = (f"; gradient norm {_window(grad, 0, 10):.3g} -> {_window(grad, max(0, n - 10), n):.3g}"
                    if len(grad) == n else "")
        parts.append(f"{init}: mean loss {first:.3g} (iterations 1-10) -> {last:.3g} (last 10 of {n}), {trend}, "
                     f"{chance} chance (ln 10 = 2.30){gradient}" + (f", {run['stopped']}" if run["stopped"] else ""))
    return ("; ".join(parts) + f" (one run per initialiser, seed {params['seed']}, {params['dataset']}, batch "
            f"{params['batch_size']}).")


# ---------------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------------

_BASE = {"library": "spikingjelly", "channels": [8, 16, 32], "steps": 4, "beta": 0.5, "threshold": 1.0,
         "reset": "zero", "surrogate_scale": 2.0, "batch_size": 32, "lr": 1e-3, "schedule": "cosine",
         "samples": 2000, "probe": 64, "store": None}
_ALL = ["toolkit", "toolkit_chi1", "spikeinit", "kaiming_bn", "pytorch_default", "micheli"]
_FOUR = ["toolkit", "spikeinit", "kaiming_bn", "pytorch_default"]
# the full preset's runs, committed: a redraw reads them instead of training 2.3 h again (a run
# whose configuration is not there is trained and added)
_STORE = "figures/out/full/deep_conv_runs"

FIGURES = [
    FigureSpec(
        name="deep_conv_training",
        title="Deep convolutional SNNs: accuracy against depth per initialiser and architecture",
        caption="Deep convolutional SNNs trained by PyTorch autograd through SpikingJelly's LIF neurons (tau 2, hard "
                "reset): test accuracy (top) and test loss (bottom) after a fixed budget against depth in weight "
                "layers, for SEW-ResNet (ADD), MS-ResNet and a plain VGG-style stack, one line per initialiser "
                "(points: mean over seeds, bars: min..max; a diverged run is counted at chance). The table puts "
                "each model's theory at initialisation beside it: measured and predicted output rate, the "
                "per-layer backward gain chi the bridge derives, and theory.trainability of the translated "
                "network or its reason for making no prediction. Second figure: a residual network of >= 50 "
                "layers against the best shallow plain stack with one larger budget.",
        compute=compute, plot=plot, tables=tables, findings=findings, agreement=agreement, order=67, version="1",
        presets={
            "quick": {**_BASE, "dataset": "mnist", "train_size": 1000, "test_size": 500, "epochs": 1, "seeds": [0],
                      "samples": 1000, "probe": 32,
                      "grid": [{"family": "sew_add", "depths": [10, 28], "inits": ["toolkit", "spikeinit",
                                                                                    "kaiming_bn"]}]},
            "full": {**_BASE, "dataset": "fashion_mnist", "train_size": 4000, "test_size": 2000, "epochs": 1,
                     "seeds": [0, 1, 2], "store": _STORE,
                     "grid": [{"family": "sew_add", "depths": [10, 28, 52], "inits": _ALL},
                              {"family": "ms", "depths": [10, 28, 52], "inits": _FOUR},
                              {"family": "vgg", "depths": [4, 10, 28, 52], "inits": _FOUR}],
                     "depth_pays": {"budget": {"train_size": 20000, "test_size": 10000, "epochs": 1},
                                    "deep": [{"family": "sew_add", "depth": 52, "channels": [8, 16, 32],
                                              "init": "toolkit"}],
                                    "shallow": [{"family": "vgg", "depth": 4, "channels": [8, 16, 32],
                                                 "init": "kaiming_bn"}]}},
            "tiny": {**_BASE, "dataset": "mnist", "train_size": 64, "test_size": 64, "epochs": 1, "seeds": [0],
                     "channels": [4, 8, 8], "batch_size": 16, "samples": 300, "probe": 8,
                     "grid": [{"family": "sew_add", "depths": [10], "inits": ["toolkit", "spikeinit"]},
                              {"family": "vgg", "depths": [4], "inits": ["kaiming_bn"]}],
                     "depth_pays": {"budget": {"train_size": 32},
                                    "deep": [{"family": "sew_add", "depth": 10, "channels": [4, 8, 8],
                                              "init": "spikeinit"}],
                                    "shallow": [{"family": "vgg", "depth": 4, "channels": [4, 8, 8],
                                                 "init": "pytorch_default"}]}},
        },
        preset_notes={"quick": "shows the effect, not the numbers: MNIST 1000 images x 1 epoch, one seed, SEW-ResNet "
                               "at 10 and 28 layers, three initialisers; the full preset's Fashion-MNIST grid of three "
                               "architectures, six initialisers and three seeds is in figures/out/full",
                      "full": "4000 Fashion-MNIST images x 1 epoch per grid run and channels 8/16/32 (thin, as "
                              "SpikeInit's deep ResNets), for CPU training: the 144 runs took 2.3 h of training on one "
                              "core each of a shared 2-core machine; they are committed in figures/out/full/deep_conv_runs "
                              "(one JSON per run, keyed by its configuration), so the Run line of a redraw counts "
                              "reading them"},
        expected_seconds={"quick": 103, "tiny": 60}, needs=("torch", "spikingjelly"),
    ),
    FigureSpec(
        name="deep_conv_1000",
        title="A 1000-layer SEW-ResNet: the training loss of its first iterations per initialiser",
        caption="The first iterations of one deep SEW-ResNet (ADD) per initialiser (one run each, Adam, constant "
                "learning rate): the batch's training loss (left) and the gradient norm over all parameters "
                "(right). A run stops where its loss or gradient is no longer finite.",
        compute=compute_1000, plot=plot_1000, tables=tables_1000, findings=findings_1000, order=68, version="1",
        presets={
            "quick": {**_BASE, "dataset": "mnist", "train_size": 1000, "test_size": 100, "epochs": 1, "depth": 52,
                      "iterations": 30, "samples": 1000, "seed": 0, "inits": ["toolkit", "kaiming", "kaiming_bn"]},
            "full": {**_BASE, "dataset": "fashion_mnist", "train_size": 4000, "test_size": 100, "epochs": 1,
                     "batch_size": 16, "depth": 1000, "iterations": 100, "samples": 1000, "seed": 0,
                     "store": _STORE, "inits": ["toolkit", "kaiming", "kaiming_bn"]},
            "tiny": {**_BASE, "dataset": "mnist", "train_size": 64, "test_size": 16, "epochs": 1, "depth": 10,
                     "channels": [4, 8, 8], "batch_size": 8, "iterations": 3, "samples": 300, "seed": 0,
                     "inits": ["toolkit", "kaiming"]},
        },
        preset_notes={"quick": "shows the effect, not the numbers: a 52-layer SEW-ResNet on MNIST for 30 iterations; "
                               "the full preset runs the 1000-layer network on Fashion-MNIST for 100 iterations",
                      "full": "100 iterations (the first ones, where the comparison the figure makes is decided) of "
                              "one seed per initialiser; the three runs took 41 min on one core of the shared "
                              "2-core machine (the toolkit's near-identity design of the 1000 layers 289 s of it) "
                              "and are committed in figures/out/full/deep_conv_runs, so the Run line of a redraw counts "
                              "reading them"},
        expected_seconds={"quick": 86, "tiny": 30}, needs=("torch", "spikingjelly"),
    ),
]
