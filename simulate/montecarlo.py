"""Monte Carlo harness: repeated independent draws of a network configuration, confidence
intervals per layer and step, and side-by-side comparison with a theory prediction.

One *draw* = fresh weights (``theory.inits.sample_weights``) AND fresh inputs, from its own
Generator; the draws' seeds are ``SeedSequence(seed).spawn(draws)``, so draw d is the same
whatever the number of draws or processes. Per draw the simulator reports, per layer l and
step t, the rate, mean and (population) variance of u over batch x neurons. Across draws:

    mean = (1/D) sum_d x_d,   se = std_d(x_d, ddof=1) / sqrt(D),
    CI   = mean +- t_{(1+confidence)/2, D-1} se          (Student t interval)

The t interval assumes the per-draw values are roughly normal; each is an average over
B n_l neurons, but near silence (rate -> 0, a point mass at 0) it is only a rough guide.
Draws are independent, so se is the honest sampling error of the finite-width network;
differences from an infinite-width theory larger than a few se are a finite-width bias
(O(1/n)) or a wrong assumption, not noise.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import stats
from theory import inits
import snn_validation as validation
from theory import LIF, Encoding, Network, Profile

import simulate.parallel as parallel
import simulate.walk as walk

__all__ = ["MonteCarloResult", "Comparison", "monte_carlo", "compare", "sweep", "ENCODINGS"]

ENCODINGS = ("gaussian", "static", "bernoulli")
QUANTITIES = ("rate", "mem_mean", "mem_var")


@dataclass(frozen=True)
class MonteCarloResult:
    """Statistics over ``draws`` independent draws. For q in rate, mem_mean, mem_var:

    ``<q>_draws`` (D, L+1, T) per-draw values; ``<q>`` mean over draws, ``<q>_se`` standard
    error, ``<q>_low`` / ``<q>_high`` the Student-t interval at ``confidence`` (all (L+1, T)).
    ``silent`` (L+1, T): fraction of draws in which the layer emitted no spike at that step;
    ``silent_all_steps`` (L+1,): fraction of draws in which it emitted no spike at any step.
    ``active`` (D, L+1, T, B) int32 spike counts per layer, step and sample when
    ``keep_active=True`` (for finite-width spike-count statistics), else None.
    ``network``: the theory.Network simulated, when the call was given one (else None);
    :attr:`profile` is the same numbers as a theory.Profile (source "simulation").
    """
    config: dict
    confidence: float
    rate_draws: np.ndarray
    mem_mean_draws: np.ndarray
    mem_var_draws: np.ndarray
    rate: np.ndarray
    rate_se: np.ndarray
    rate_low: np.ndarray
    rate_high: np.ndarray
    mem_mean: np.ndarray
    mem_mean_se: np.ndarray
    mem_mean_low: np.ndarray
    mem_mean_high: np.ndarray
    mem_var: np.ndarray
    mem_var_se: np.ndarray
    mem_var_low: np.ndarray
    mem_var_high: np.ndarray
    silent: np.ndarray
    silent_all_steps: np.ndarray
    active: np.ndarray | None = None
    network: Network | None = None
    stream: np.ndarray | None = None

    @property
    def draws(self) -> int:
        return self.rate_draws.shape[0]

    @property
    def profile(self) -> Profile:
        """These statistics as a theory.Profile (means and standard errors over draws)."""
        return Profile(self.network, "simulation", self.rate, self.mem_mean, self.mem_var, self.rate_se,
                       self.mem_mean_se, self.mem_var_se, self.silent_all_steps, self)


def summarise(values: np.ndarray, confidence: float) -> tuple:
    """(mean, se, low, high) over axis 0 with a Student-t interval (needs >= 2 draws)."""
    count = values.shape[0]
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(count)
    half = stats.t.ppf(0.5 + confidence / 2.0, count - 1) * se
    return mean, se, mean - half, mean + half


# the keyword form's defaults (a theory.Network as first argument says all of these itself)
_KEYWORD_DEFAULTS = dict(depth=10, width=1000, threshold=1.0, beta=0.0, reset="subtract", steps=1,
                         encoding="gaussian", input_std=1.0, input_rate=None, init_params=None, bias_std=0.0)


def keyword_network(init, depth, width, threshold, beta, reset, steps, encoding, input_std, input_rate,
                    init_params, bias_std) -> Network:
    """The theory.Network of monte_carlo's keyword form (the plain stack; bias_var = bias_std^2)."""
    validation.choice(encoding, "encoding", ENCODINGS)
    if encoding == "bernoulli":
        input_rate = 0.2 if input_rate is None else input_rate
    elif input_rate is not None:
        raise ValueError(f"input_rate applies to encoding 'bernoulli' only, got input_rate={input_rate!r} with "
                         f"encoding {encoding!r}")
    bias_std = float(validation.non_negative(bias_std, "bias_std"))
    return Network(depth=depth, width=width, neuron=LIF(threshold, beta, reset), init=init,
                   init_params=dict(init_params or {}), bias_var=bias_std * bias_std,
                   T=validation.time_steps(steps, "steps"),
                   encoding=Encoding(encoding, input_std, input_rate if encoding == "bernoulli" else None))


def _summary_config(net: Network, batch) -> dict:
    """What a MonteCarloResult records of its network (for tables and logs)."""
    config = dict(depth=net.depth, widths=list(net.widths), steps=net.T, batch=batch, encoding=net.encoding.kind,
                  input_std=net.encoding.std, input_rate=net.encoding.rate, init=net.init,
                  init_params=dict(net.init_params))
    try:
        neuron = net.neuron
        config.update(threshold=neuron.threshold, beta=neuron.beta, reset=neuron.reset)
    except ValueError:
        pass
    try:
        config["bias_std"] = float(np.sqrt(net.bias_var))
    except ValueError:
        pass
    if net.sigma_w is not None:
        config["sigma_w"] = list(net.sigma_w)
    return config


def run_draw(net: Network, batch: int, seed) -> dict:
    """One independent draw (simulate.walk: weights, biases, then inputs from Generator(seed);
    escape firing's noise seed drawn after them): {"rate", "mem_mean", "mem_var": (rows, T),
    "active": (rows, T, B), "stream": (blocks + 1, T) or None}."""
    rng = np.random.default_rng(seed)
    weights, biases, inputs = walk.draw(net, batch, rng)
    noise_seed = int(rng.integers(2 ** 63)) if any(not n.deterministic for n in net.neurons) else 0
    result = walk.forward(net, weights, biases, inputs, noise_seed=noise_seed)
    return {"rate": result.rate, "mem_mean": result.mem_mean, "mem_var": result.mem_var, "active": result.active,
            "stream": result.stream}


def _run_draw_item(item):
    return run_draw(*item)


def _collect(config, outputs, confidence, keep_active, network=None):
    stacked = {q: np.stack([o[q] for o in outputs]) for q in QUANTITIES}
    active = np.stack([o["active"] for o in outputs])
    summary = {}
    for q in QUANTITIES:
        mean, se, low, high = summarise(stacked[q], confidence)
        summary.update({q: mean, f"{q}_se": se, f"{q}_low": low, f"{q}_high": high})
    silent = (active.sum(axis=3) == 0).mean(axis=0)
    silent_all_steps = (active.sum(axis=(2, 3)) == 0).mean(axis=0)
    stream = None if outputs[0].get("stream") is None else np.stack([o["stream"] for o in outputs]).mean(axis=0)
    return MonteCarloResult(config=config, confidence=confidence, rate_draws=stacked["rate"],
                            mem_mean_draws=stacked["mem_mean"], mem_var_draws=stacked["mem_var"],
                            silent=silent, silent_all_steps=silent_all_steps,
                            active=active if keep_active else None, network=network, stream=stream, **summary)


def monte_carlo(init="micheli", depth=None, width=None, *, threshold=None, beta=None, reset=None, steps=None,
                batch=64, draws=8, seed=0, encoding=None, input_std=None, input_rate=None, init_params=None,
                bias_std=None, confidence=0.99, keep_active=False, jobs=1, scheduler=None,
                progress=False) -> MonteCarloResult:
    """Repeat one network over ``draws`` independent draws (see module docstring).

    The network is either a ``theory.Network`` passed as the first argument (the one description
    every theory evaluator takes: plain stacks, convolutions, pooling, batch norm, residual
    blocks, escape firing, alpha-stable weights; then depth, width, threshold, beta, reset, steps,
    encoding, input_std, input_rate, init_params and bias_std must not be given), or, in the
    keyword form, the plain stack: init/init_params: registry name and its own parameters
    (theory.inits, evaluated with this network's T and reset where it takes them); width: one
    integer (all layers) or depth + 1 widths; steps: T; encoding: "gaussian" (N(0, input_std^2)
    i.i.d. per step), "static" (one N(0, input_std^2) input repeated every step) or "bernoulli"
    (input spikes at input_rate, default 0.2, layer 0 = the given spikes); bias_std > 0 adds
    N(0, bias_std^2) biases. Defaults: depth 10, width 1000, threshold 1, beta 0, subtract reset,
    T 1, gaussian input of std 1.
    batch: inputs per draw. jobs > 1 runs draws in that many local processes, scheduler
    ("local" or a Dask address "tcp://HOST:8786", or an open ``simulate.parallel.Executor``) on
    a Dask cluster (simulate.parallel); draw d's seed is child d of the root sequence whoever
    runs it, so the results are bit-identical to jobs = 1. A script that starts processes needs
    the usual ``if __name__ == "__main__":`` guard.
    Memory: one draw holds its weights (sum of fan_in fan_out float32) at a time per process.
    """
    keywords = dict(depth=depth, width=width, threshold=threshold, beta=beta, reset=reset, steps=steps,
                    encoding=encoding, input_std=input_std, input_rate=input_rate, init_params=init_params,
                    bias_std=bias_std)
    if isinstance(init, Network):
        given = sorted(k for k, v in keywords.items() if v is not None)
        if given:
            raise ValueError(f"{given} must not be given with a theory.Network as first argument (the network "
                             "says them); give only batch, draws, seed, confidence, keep_active, jobs, scheduler "
                             "and progress")
        network = init
        label = network.init or "network"
    else:
        if not isinstance(init, str):
            raise ValueError(f"init must be a theory.Network or an initialiser name, got {type(init).__name__}")
        network = keyword_network(init, **{k: _KEYWORD_DEFAULTS[k] if v is None else v for k, v in keywords.items()})
        label = init
    batch = int(validation.positive_int(batch, "batch"))
    draws = int(validation.positive_int(draws, "draws"))
    if draws < 2:
        raise ValueError(f"draws must be >= 2 for a standard error, got {draws}")
    confidence = float(validation.unit_interval(confidence, "confidence", closed_right=False))
    # one draw holds its weights and every layer's float32 activity and int32 index lists
    units = sum(int(np.prod(shape)) for shape in network.row_shapes)
    weights = sum(e.fan_in * getattr(e.layer, 'width', getattr(e.layer, 'channels', 0)) for e in network.plan)
    validation.check_memory(4 * weights + 12 * units * network.T * batch,
                            f"a network of {network.depth} weight layers and {units} units x T={network.T} x batch={batch}")
    config = _summary_config(network, batch)
    seeds = _root_sequence(seed).spawn(draws)
    outputs = parallel.map_tasks(_run_draw_item, [(network, batch, s) for s in seeds], jobs=jobs, scheduler=scheduler,
                                 progress=progress, desc=f"{label} draws")
    return _collect(config, outputs, confidence, keep_active, network)


def _root_sequence(seed) -> np.random.SeedSequence:
    """A fresh SeedSequence from an int seed or a copy of a given one (so spawning from it
    twice gives the same children)."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key)
    return np.random.SeedSequence(validation.non_negative_int(seed, "seed"))


@dataclass(frozen=True)
class Comparison:
    """Theory next to simulation, one row per (quantity, layer, step).

    Each row: quantity, layer, step (1-based), theory, sim (mean over draws), se, low, high
    (Student-t CI), z = (sim - theory) / se (+-inf if se = 0 and they differ), inside (theory
    within the CI).
    """
    rows: list
    confidence: float
    draws: int

    @property
    def max_abs_z(self) -> float:
        finite = [abs(r["z"]) for r in self.rows]
        return float(max(finite)) if finite else 0.0

    @property
    def fraction_inside(self) -> float:
        return float(np.mean([r["inside"] for r in self.rows])) if self.rows else 1.0

    def _cells(self):
        header = ["quantity", "layer", "step", "theory", "simulation", "se", "CI low", "CI high", "z", "in CI"]
        body = [[r["quantity"], str(r["layer"]), str(r["step"]), f"{r['theory']:.5g}", f"{r['sim']:.5g}",
                 f"{r['se']:.2g}", f"{r['low']:.5g}", f"{r['high']:.5g}", f"{r['z']:+.2f}",
                 "yes" if r["inside"] else "NO"] for r in self.rows]
        return header, body

    def text(self) -> str:
        """Aligned plain-text table with a one-line summary."""
        header, body = self._cells()
        widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
        lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in [header] + body]
        return "\n".join(lines + [self._summary()])

    def markdown(self) -> str:
        """GitHub markdown table with a one-line summary."""
        header, body = self._cells()
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines + ["", self._summary()])

    def _summary(self):
        return (f"{self.draws} draws, {100 * self.confidence:g}% Student-t intervals: theory inside "
                f"{100 * self.fraction_inside:.0f}% of {len(self.rows)} intervals, max |z| = {self.max_abs_z:.2f}")

    def __str__(self):
        return self.text()


def _prediction_arrays(prediction, depth, steps):
    if isinstance(prediction, Profile):     # every quantity the evaluator predicts (not NaN)
        prediction = {q: getattr(prediction, q) for q in QUANTITIES
                      if not np.all(np.isnan(getattr(prediction, q)))}
    elif hasattr(prediction, "q") and hasattr(prediction, "rate"):       # theory.Propagation
        prediction = {"rate": prediction.rate, "mem_var": prediction.q}
    if not isinstance(prediction, dict) or not set(prediction) <= set(QUANTITIES) or not prediction:
        raise ValueError(f"prediction must be a theory Profile or Propagation, or a dict with keys among {QUANTITIES}, "
                         "with at least one predicted quantity")
    out = {}
    for quantity, values in prediction.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[0] != depth + 1 or values.shape[1] > steps:
            raise ValueError(f"prediction[{quantity!r}] must have {depth + 1} rows (one per recorded layer of the "
                             f"simulation) and at most {steps} step columns, got shape {values.shape}")
        out[quantity] = values
    return out


def compare(mc: MonteCarloResult, prediction, layers=None, quantities=None) -> Comparison:
    """Side-by-side table of ``prediction`` against the Monte Carlo means.

    ``prediction``: a theory ``Profile`` (every quantity it predicts), a theory ``Propagation``
    (q -> mem_var, rate -> rate; one step, compared with step 1) or a dict {quantity: (L+1,) or (L+1, T') array}, T' <= T steps from step 1.
    ``layers``: the layers to list (default all). Deviation z in units of the standard error.
    """
    depth, steps = mc.rate.shape[0] - 1, mc.rate.shape[1]
    arrays = _prediction_arrays(prediction, depth, steps)
    layers = range(depth + 1) if layers is None else [validation.non_negative_int(l, "layers") for l in layers]
    if any(not 0 <= layer <= depth for layer in layers):
        raise ValueError(f"layers must lie in 0..{depth} (the simulated layers), got {list(layers)}")
    if quantities is None:
        quantities = [q for q in QUANTITIES if q in arrays]
    else:
        quantities = [validation.choice(q, "quantities", QUANTITIES) for q in quantities]
        missing = [q for q in quantities if q not in arrays]
        if missing:
            raise ValueError(f"the prediction has nothing to compare for quantities {missing} (it predicts "
                             f"{sorted(arrays)})")
    rows = []
    for quantity in quantities:
        theory = arrays[quantity]
        mean, se = getattr(mc, quantity), getattr(mc, f"{quantity}_se")
        low, high = getattr(mc, f"{quantity}_low"), getattr(mc, f"{quantity}_high")
        for layer, t in itertools.product(layers, range(theory.shape[1])):
            if np.isnan(theory[layer, t]):      # not predicted (e.g. no membrane for spike input)
                continue
            gap = mean[layer, t] - theory[layer, t]
            z = gap / se[layer, t] if se[layer, t] > 0 else (0.0 if gap == 0 else np.copysign(np.inf, gap))
            rows.append(dict(quantity=quantity, layer=layer, step=t + 1, theory=float(theory[layer, t]),
                             sim=float(mean[layer, t]), se=float(se[layer, t]), low=float(low[layer, t]),
                             high=float(high[layer, t]), z=float(z),
                             inside=bool(low[layer, t] <= theory[layer, t] <= high[layer, t])))
    if not rows:
        raise ValueError("the prediction has nothing to compare with the simulation at these layers and "
                         f"quantities ({quantities}): every value is NaN (not predicted)")
    return Comparison(rows=rows, confidence=mc.confidence, draws=mc.draws)


def sweep(inits_=("micheli",), depths=(10,), widths=(1000,), thresholds=(1.0,), *, seed=0, jobs=1,
          scheduler=None, progress=True, **options) -> list:
    """monte_carlo over the grid init x depth x width x threshold; returns a list of
    (point dict, MonteCarloResult) in grid order. Each grid point's seed is derived from the
    point itself, ``simulate.parallel.task_seed(seed, point)`` (point = {"init", "depth",
    "width", "threshold"}), so a point gives the same result in any grid, order, number of
    processes (``jobs``) or Dask cluster (``scheduler``: "local", "tcp://HOST:8786" or an open
    ``simulate.parallel.Executor``); see :mod:`simulate.parallel`. ``options`` are passed to
    :func:`monte_carlo` (beta, reset, steps, batch, draws, ...); one tqdm bar over grid points."""
    grid = [dict(init=i, depth=d, width=w, threshold=th)
            for i, d, w, th in itertools.product(inits_, depths, widths, thresholds)]
    if not grid:
        raise ValueError("inits_, depths, widths and thresholds must each hold at least one value (empty grid)")
    for point in grid:   # validate everything before starting any work
        keyword_network(point["init"], point["depth"], point["width"], point["threshold"],
                        *(options.get(k, _KEYWORD_DEFAULTS[k]) if options.get(k) is not None else _KEYWORD_DEFAULTS[k]
                          for k in ("beta", "reset", "steps", "encoding", "input_std", "input_rate", "init_params",
                                    "bias_std")))
    root = _root_sequence(seed)
    items = [(point, parallel.task_seed(root, _point_params(point)), options) for point in grid]
    results = parallel.map_tasks(_sweep_point, items, jobs=jobs, scheduler=scheduler, progress=progress,
                                 desc="sweep")
    return list(zip(grid, results))


def _point_params(point: dict) -> dict:
    """A grid point in canonical form (its seed does not depend on 1 vs 1.0 or int vs numpy int)."""
    width = point["width"]
    return {"init": str(point["init"]), "depth": int(point["depth"]), "threshold": float(point["threshold"]),
            "width": int(width) if np.ndim(width) == 0 else [int(w) for w in width]}


def _sweep_point(item):
    point, seed, options = item
    return monte_carlo(point["init"], point["depth"], point["width"], threshold=point["threshold"],
                       seed=seed, **options)
