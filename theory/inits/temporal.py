"""A temporally optimal initialisation: the weight std that keeps the time-averaged rate of a
deep LIF stack at a target at depth (docs/theory.md §5), and the temporal phase diagram.

Float64. With gain g = fan_in sigma_w^2 and a uniform stack of width n, the init solves for g

    E[(1/T) sum_t k_depth[t] / n] = target_rate,          sigma_w = sqrt(g / fan_in),

the stack started from i.i.d. Bernoulli(target_rate) spikes, with the expectation over the
exact finite-width Gram chain of :mod:`theory.chains.gram` (default n = fan_in, depth 100).
The infinite-width limit of the same equation (``width=math.inf``) is the temporal mean-field
map of :mod:`theory.meanfield.temporal`,

    M_l = F_g(M_{l-1}) = LIF(C = g M_{l-1})       (T x T spike second moments),

solved so that the depth fixed point M* = F_g(M*) reached from a layer firing at the target
rate has (1/T) sum_t M*[t, t] = target_rate. In that limit g does not depend on fan_in.

Target (default Q(theta)): the rate of the paper's first-step fixed point, so that at T = 1
the infinite-width init is exactly the paper's (test), the target does not depend on the input
encoding (the fixed point is a property of the layer stack; deep layers forget the input), and
the comparison with the paper isolates what time, leak and reset change.

Assumptions, compared with the alternatives in the registry:
- micheli (the paper): one step from rest; u ~ N(0, q*). Breaks from step 2 on: leak adds the
  previous membrane (variance grows with beta), the reset subtracts theta from the neurons that
  fired, and spikes are correlated in time.
- micheli_reset (authors' code): keeps a stationary single-step variance with leak and reset
  terms, but uses E[u | u > theta] = phi/p where the covariance phi(theta) would be exact,
  treats u as Gaussian after the reset, and ignores temporal correlations of the input spikes.
- micheli_temporal (here): zero-mean i.i.d. Gaussian weights fixed over time, full LIF
  dynamics, layers of n neurons (exact chain; the mean field for n -> inf). It targets the time
  average only, so the time profile at depth is whatever the dynamics give (it may oscillate).

Why finite width is the default: where the mean-field fixed point has a marginal mode (a slow
drift through a saddle-node's ghost, e.g. beta = 0.9 where leak raises the rate over time and
the time-averaged target needs a gain below the one-step saddle-node; or the slowly growing
firing/silence alternation at beta = 0 with subtract reset), the O(1/sqrt(n)) fluctuations of
real layers push the rate at depth below the infinite-width prediction; the chain has exactly
the law of the simulated network, so its root does not have that shortfall. Measured gains,
shortfalls and solve times: benchmarks/RESULTS.md and tests/simulate/test_temporal_sim.py.

The chain search costs seconds to minutes, so roots are tabulated (theory/data/temporal_gains.json):
with default arguments, a call inside the table's hull (threshold 1, T <= 16, beta <= 0.95,
width 100-2000) is a look-up or a multilinear interpolation of the table in (T, beta, 1/width)
(:func:`optimal_gain_temporal`); elsewhere it searches.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import numbers
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize
from tqdm.auto import tqdm

import snn_validation as validation
from theory.core.gaussian import tail
from theory.core.laws import Initialiser
from theory.meanfield.temporal import check_dynamics, lif_moments, propagate_temporal
from theory.chains.gram import rates_at_depth

__all__ = ["TemporalFixedPoint", "temporal_fixed_point", "optimal_gain_temporal",
           "optimal_sigma_temporal", "classify_profile", "temporal_phase", "PHASES"]

PHASES = ("silent", "stable", "growing", "decaying", "oscillating")
CHAINS = 32     # runs of the exact chain in the last stage of the finite-width search


@dataclass(frozen=True)
class TemporalFixedPoint:
    """Depth fixed point of the temporal map for gain g: rate (T,), second moment (T, T),
    the number of layers iterated and whether max |M_l - M_{l-1}| fell below the tolerance
    (if not, the values are those of the last layer iterated)."""
    gain: float
    rate: np.ndarray
    second_moment: np.ndarray
    layers: int
    converged: bool

    @property
    def time_averaged_rate(self) -> float:
        return float(self.rate.mean())


def _dynamics(threshold, beta, reset):
    """check_dynamics, with an array where one threshold or beta belongs refused by name."""
    validation.scalar(threshold, "threshold", validation.finite)
    validation.scalar(beta, "beta", validation.unit_interval)
    return check_dynamics(threshold, beta, reset)


def _seed(seed):
    """A seed the paths can be drawn from again on every pass: an integer >= 0 or a SeedSequence."""
    return seed if isinstance(seed, np.random.SeedSequence) else validation.non_negative_int(seed, "seed")


def _check_paths_memory(samples, T):
    """The paths of one layer and the Monte Carlo moments' working arrays (about 6 x samples x T
    float64, and T x T moments) must fit (snn_validation.check_memory)."""
    validation.check_memory(48 * samples * T + 64 * T * T, f"samples={samples} x T={T}")


class _Paths:
    """Fresh standard normal paths (samples, T) per layer, the same sequence on every pass
    (common random numbers across gains; independent errors across layers)."""

    def __init__(self, T, samples, seed):
        self.shape, self.seed = (samples, T), seed

    def layers(self):
        rng = np.random.default_rng(self.seed)
        while True:
            yield rng.standard_normal(self.shape)


def _bernoulli_moment(rate, T):
    return rate * rate * np.ones((T, T)) + rate * (1.0 - rate) * np.eye(T)


def _iterate(gain, start, threshold, beta, reset, paths, max_layers, tolerance, averaged=20):
    # Without convergence (sampling noise keeps the change above a small tolerance) the
    # estimate is the mean of the last `averaged` layers: the noise of single layers averages out.
    moment, recent = start, []
    for layer, normals in zip(range(1, max_layers + 1), paths.layers()):
        new = lif_moments(0.0, gain * moment, threshold, beta, reset, normals).second_moment
        change = float(np.max(np.abs(new - moment)))
        moment = new
        recent = (recent + [new])[-averaged:]
        if change < tolerance:
            return moment, layer, True
    return np.mean(recent, axis=0), max_layers, False


def temporal_fixed_point(gain, threshold, beta, T, reset="subtract", start_rate=None,
                         samples=10000, seed=0, max_layers=100, tolerance=1e-7) -> TemporalFixedPoint:
    """Iterate M_l = LIF(gain M_{l-1}) from i.i.d. Bernoulli(start_rate) spikes (default
    Q(theta)) until max |M_l - M_{l-1}| < tolerance or ``max_layers`` layers, float64,
    ``samples`` fresh Gaussian paths per layer from ``seed``. With sampling noise the change
    rarely falls below a small tolerance: the result is then the mean of the last 20 layers."""
    gain = validation.scalar(gain, "gain", validation.non_negative)
    threshold, beta, reset = _dynamics(threshold, beta, reset)
    T = int(validation.scalar(T, "T", validation.positive_int))
    start_rate = float(tail(threshold)) if start_rate is None else validation.scalar(start_rate, "start_rate", validation.unit_interval)
    samples = int(validation.scalar(samples, "samples", validation.positive_int))
    max_layers = int(validation.scalar(max_layers, "max_layers", validation.positive_int))
    tolerance = validation.scalar(tolerance, "tolerance", validation.non_negative)
    _check_paths_memory(samples, T)
    paths = _Paths(T, samples, _seed(seed))
    moment, layers, converged = _iterate(gain, _bernoulli_moment(start_rate, T), threshold, beta, reset,
                                         paths, max_layers, tolerance)
    return TemporalFixedPoint(gain, np.diag(moment).copy(), moment, layers, converged)


def _meanfield_excess(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance):
    paths = _Paths(T, samples, seed)
    start = _bernoulli_moment(target_rate, T)

    def excess(log_gain):
        moment, _, _ = _iterate(np.exp(log_gain), start, threshold, beta, reset, paths, depth, tolerance)
        return float(np.mean(np.diag(moment))) - target_rate
    return excess


class _Found(Exception):
    """Raised inside a root search when the excess is within its tolerance (stop early)."""

    def __init__(self, log_gain, value):
        super().__init__(log_gain)
        self.log_gain, self.value = log_gain, value


def _chain_excess(threshold, beta, T, reset, target_rate, depth, width, seed):
    # common random numbers: run c has its own stream for every gain and every number of runs,
    # so the excess is a nearly smooth (piecewise constant, with steps of single spike flips)
    # function of the gain, and a stage with more runs extends the runs of the stage before
    def excess(log_gain, chains):
        rates = rates_at_depth(np.exp(log_gain), depth, width, T, threshold, beta, reset, target_rate, chains, seed)
        return float(rates.mean()) - target_rate, rates
    return excess


# chain search in stages of more and more runs (the last stage uses `chains`): the first
# stage starts from the paper's gain with a step of _FIRST_STEP in log g, each later one from
# the previous root with a secant step (slope of the previous stage, overshooting by 1.5 so
# that two evaluations usually bracket the root); a stage stops when |excess| is below half
# its standard error over the runs or below _RATE_TOLERANCE x target (finer than the chain's
# own sampling error would be spurious), or when Brent's bracket is narrower than _STAGE_XTOL
_STAGE_CHAINS = (4, 16)
_FIRST_STEP = np.log(1.25)
_STAGE_XTOL = 2e-4
_RATE_TOLERANCE = 0.01


def _bracket(excess, centre, first, step, lowest, highest):
    # [lower, upper] with excess(lower) < 0 < excess(upper): `centre`, then `first` (or
    # centre -/+ step by the sign), then outwards in doubling steps
    value = excess(centre)
    if first is None or (first - centre) * value > 0.0:
        first = centre - step if value > 0.0 else centre + step
    step = abs(first - centre)
    if value < 0.0:
        lower, f_lower = centre, value
        upper = min(first, highest)
        f_upper = excess(upper)
        while f_upper <= 0.0 and upper < highest:
            lower, f_lower = upper, f_upper
            step *= 2.0
            upper = min(upper + step, highest)
            f_upper = excess(upper)
    else:
        upper, f_upper = centre, value
        lower = max(first, lowest)
        f_lower = excess(lower)
        while f_lower >= 0.0 and lower > lowest:
            upper, f_upper = lower, f_lower
            step *= 2.0
            lower = max(lower - step, lowest)
            f_lower = excess(lower)
    return lower, upper, f_lower, f_upper


def _secant_slope(points):
    # slope of the excess from the closest pair of evaluations with opposite signs (None if none)
    below = [p for p in points if p[1] < 0.0]
    above = [p for p in points if p[1] > 0.0]
    if not below or not above:
        return None
    (x0, f0), (x1, f1) = max(below, key=lambda p: p[1]), min(above, key=lambda p: p[1])
    return (f1 - f0) / (x1 - x0) if x1 > x0 else None


def _solve_chain_gain(threshold, beta, T, reset, target_rate, depth, width, chains, seed, bar):
    evaluate = _chain_excess(threshold, beta, T, reset, target_rate, depth, width, seed)
    where = f"at depth {depth}, width {width}"
    paper = -np.log(float(tail(threshold)))
    lowest, highest = paper - np.log(50.0), paper + np.log(50.0)
    log_gain, slope, last = paper, None, None
    for runs in [c for c in _STAGE_CHAINS if c < chains] + [chains]:
        seen = {}

        def excess(x, runs=runs, seen=seen):
            if x not in seen:       # Brent re-evaluates its bracket's ends: reuse them
                bar.update()
                seen[x] = evaluate(x, runs)
            value, rates = seen[x]
            se = rates.std(ddof=1) / np.sqrt(runs) if runs > 1 else 0.0
            if abs(value) <= max(0.5 * se, _RATE_TOLERANCE * target_rate):
                raise _Found(x, value)
            return value
        try:
            first = None
            if slope is not None:
                value = excess(log_gain)
                first = log_gain - 1.5 * value / slope
            lower, upper, f_lower, f_upper = _bracket(excess, log_gain, first, _FIRST_STEP, lowest, highest)
            if not f_lower < 0.0 < f_upper:
                raise ValueError(
                    f"target_rate={target_rate} is not reached by any weight gain in [1/50, 50] x the paper's "
                    f"(time-averaged rates {f_lower + target_rate:.3g} .. {f_upper + target_rate:.3g} {where}) "
                    f"for threshold={threshold}, beta={beta}, T={T}, reset={reset!r}")
            log_gain = optimize.brentq(excess, lower, upper, xtol=_STAGE_XTOL, rtol=1e-12)
            excess(log_gain)
        except _Found as found:
            log_gain = found.log_gain
        slope = _secant_slope([(x, value) for x, (value, _) in seen.items()]) or slope
        last = seen[log_gain]
    value, rates = last
    achieved = value + target_rate
    silent = float(np.mean(rates == 0.0))
    # the mean of `chains` runs moves by up to ~target/chains when one run switches state
    if abs(value) > max(0.02, 1.0 / chains) * target_rate or silent > _SILENT_LIMIT:
        # the rate jumps across the target (a saddle-node: no stable fixed point has that rate),
        # or it is met only on average, by networks of which many are silent at depth
        raise ValueError(
            f"no stable temporal fixed point has time-averaged rate {target_rate:.4g} {where} for "
            f"threshold={threshold}, beta={beta}, T={T}, reset={reset!r} (closest {achieved:.4g}, "
            f"{silent:.0%} of {chains} chains silent); choose another target_rate")
    return float(np.exp(log_gain))


# largest fraction of runs allowed to be silent at depth at the solved gain: beyond it the
# median network is silent and the target is met only on average (e.g. above the critical
# threshold, where finite width turns the mean field's jump into a mixture of dead and
# over-active networks). Silent runs below it are the finite-width extinction the expectation
# includes (as in theory.finite_width_sigma(criterion="rate")).
_SILENT_LIMIT = 0.5


def _solve_meanfield_gain(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance, bar):
    evaluate = _meanfield_excess(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance)

    def excess(log_gain):
        bar.update()
        return evaluate(log_gain)
    where = f"at depth {depth} (infinite width)"

    # bracket around the paper's gain 1/Q(theta), widened by factors of 1.5 up to x/ 50
    paper = -np.log(float(tail(threshold)))
    lower, upper = paper - np.log(1.5), paper + np.log(1.5)
    f_lower, f_upper = excess(lower), excess(upper)
    while f_lower >= 0.0 and lower > paper - np.log(50.0):
        upper, f_upper = lower, f_lower
        lower -= np.log(1.5)
        f_lower = excess(lower)
    while f_upper <= 0.0 and upper < paper + np.log(50.0):
        lower, f_lower = upper, f_upper
        upper += np.log(1.5)
        f_upper = excess(upper)
    if not f_lower < 0.0 < f_upper:
        raise ValueError(
            f"target_rate={target_rate} is not reached by any weight gain in [1/50, 50] x the paper's "
            f"(time-averaged rates {f_lower + target_rate:.3g} .. {f_upper + target_rate:.3g} {where}) "
            f"for threshold={threshold}, beta={beta}, T={T}, reset={reset!r}")
    log_gain = optimize.brentq(excess, lower, upper, xtol=1e-4, rtol=1e-10)
    achieved = excess(log_gain) + target_rate
    if abs(achieved - target_rate) > 0.02 * target_rate:
        # the rate jumps across the target (a saddle-node: no stable fixed point has that rate)
        raise ValueError(
            f"no stable temporal fixed point has time-averaged rate {target_rate:.4g} {where} for "
            f"threshold={threshold}, beta={beta}, T={T}, reset={reset!r} (closest {achieved:.4g}); "
            f"choose another target_rate")
    return float(np.exp(log_gain))


# Solved gains are kept per process (_GAINS) and on disk, one small JSON file per key in a
# per-user cache folder: $SNN_INIT_CACHE if set (an empty value switches the disk cache off),
# else $XDG_CACHE_HOME/snn-init/temporal_gains or ~/.cache/snn-init/temporal_gains. Files are
# created with mode 0666 & ~umask. _SOLVER_VERSION is part of every key: change it whenever a
# change of the solvers changes their answers.
_SOLVER_VERSION = 2
_GAINS: dict = {}


def cache_dir():
    """Folder of the on-disk cache of solved temporal gains (None when switched off)."""
    configured = os.environ.get("SNN_INIT_CACHE")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snn-init" / "temporal_gains"


def _cache_path(key):
    folder = cache_dir()
    if folder is None:
        return None
    text = json.dumps(key, sort_keys=True)
    return folder / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def _cache_load(key):
    path = _cache_path(key)
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
        gain = float(stored["gain"])
        if stored["key"] == key and np.isfinite(gain) and gain > 0.0:
            return gain
    except (OSError, TypeError, ValueError, KeyError):   # absent, unreadable or not ours: solve again
        pass
    return None


def _cache_store(key, gain):
    path = _cache_path(key)
    if path is None:
        return
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open applies the user's umask to 0o666 (tempfile.mkstemp would force 0o600)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "gain": gain}, handle, sort_keys=True)
        os.replace(temporary, path)
    except OSError:     # a read-only or full disk only costs the next call a new solve
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _gain_key(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance, width, chains, default_target):
    # the answer depends only on these; the mean field ignores chains, the chain ignores samples
    # and tolerance (left out of the key so that they do not split the cache); the default
    # target is named, not written as a float (Q(theta) may differ in its last bit between
    # libraries, which would only cost a table hit)
    infinite = width == math.inf
    return {"version": _SOLVER_VERSION, "threshold": threshold, "beta": beta, "T": T, "reset": reset,
            "target_rate": "Q(threshold)" if default_target else target_rate, "depth": depth, "seed": seed,
            "width": "inf" if infinite else width, "samples": samples if infinite else None,
            "tolerance": tolerance if infinite else None, "chains": None if infinite else chains}


def _optimal_gain(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance, width, chains, progress,
                  default_target=False, table=True):
    key = _gain_key(threshold, beta, T, reset, target_rate, depth, samples, seed, tolerance, width, chains,
                    default_target)
    memo = json.dumps(key, sort_keys=True)
    if memo not in _GAINS:
        gain = (_table().get(memo) or _interpolate(key)) if table else None
        if gain is None:
            gain = _cache_load(key)
        if gain is None:
            infinite = width == math.inf
            where = "mean field" if infinite else f"chain, width {width}"
            with tqdm(desc=f"temporal gain ({where})", unit=" evaluations", disable=not progress,
                      leave=False) as bar:
                if infinite:
                    gain = _solve_meanfield_gain(threshold, beta, T, reset, target_rate, depth, samples, seed,
                                                 tolerance, bar)
                else:
                    gain = _solve_chain_gain(threshold, beta, T, reset, target_rate, depth, width, chains, seed, bar)
            _cache_store(key, gain)
        _GAINS[memo] = gain
    return _GAINS[memo]


# The table shipped with the package (theory/data/temporal_gains.json): answers of the default
# chain search (default target Q(theta), depth, seed, chains) on TABLE_GRID, written by
# tabulate_gains() with this code; a call whose key is in it costs a dictionary look-up, a call
# inside its hull an interpolation (_interpolate). Keys carry _SOLVER_VERSION, so a table of
# another solver version is never used. The beta nodes are densest at 0-0.7, where the gain
# varies most (the table's own leave-one-out interpolation error was largest there).
TABLE_PATH = Path(__file__).parents[1] / "data" / "temporal_gains.json"
TABLE_GRID = {"threshold": (1.0,), "reset": ("subtract", "zero", "none"),
              "T": (10, 8, 5, 16, 2, 3, 4, 1, 12, 6),
              "beta": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
              "width": (2000, 1000, 500, 200, 100)}
_TABLE: dict | None = None


def _table():
    global _TABLE
    if _TABLE is None:
        try:
            entries = json.loads(TABLE_PATH.read_text(encoding="utf-8"))["gains"]
            _TABLE = {json.dumps(entry["key"], sort_keys=True): float(entry["gain"]) for entry in entries}
        except (OSError, ValueError, KeyError, TypeError):
            _TABLE = {}
    return _TABLE


# Off the table's grid but inside its hull (every key field but T, beta and width as in the
# table; T, beta, width between its smallest and largest nodes of that reset), the answer is the
# multilinear interpolation of the tabulated gains in the coordinates
#     T,   beta,   1 / width
# (the finite-width correction of the gain is close to linear in 1 / width; leave-one-out on the
# table's nodes chose these over log width, 1/sqrt(width) and log(1 - beta)), over the 2^k corners
# of the cell around the call (k the number of axes on which the call is not a node):
#     g = sum_corners prod_axis w_axis(corner) g_table(corner),   w = 1 - |x - x_node| / cell size.
# A cell with a corner missing from the table (no stable root there) is not interpolated.
_INTERPOLATED_AXES = ("T", "beta", "width")
_COORDINATES = {"T": float, "beta": float, "width": lambda width: 1.0 / width}
_GROUPS: tuple = (None, {})      # (the table they were built from, groups)


def _groups():
    # the table split by every key field except the interpolated axes: {rest: {(T, beta, width): gain}}
    global _GROUPS
    table = _table()
    if _GROUPS[0] is not table:
        groups = {}
        for text, gain in table.items():
            key = json.loads(text)
            rest = json.dumps({name: value for name, value in key.items() if name not in _INTERPOLATED_AXES},
                              sort_keys=True)
            groups.setdefault(rest, {})[tuple(key[name] for name in _INTERPOLATED_AXES)] = gain
        _GROUPS = (table, groups)
    return _GROUPS[1]


def _cell(value, nodes, coordinate):
    # [(node, weight)] of the 1 or 2 nodes around value (linear in the coordinate); None outside
    if value in nodes:
        return [(value, 1.0)]
    below = [node for node in nodes if node < value]
    above = [node for node in nodes if node > value]
    if not below or not above:
        return None
    lower, upper = max(below), min(above)
    fraction = (coordinate(value) - coordinate(lower)) / (coordinate(upper) - coordinate(lower))
    return [(lower, 1.0 - fraction), (upper, fraction)]


def _interpolate(key):
    """Gain at ``key`` interpolated from the shipped table (see above), None outside its hull."""
    if key["width"] == "inf":
        return None
    rest = json.dumps({name: value for name, value in key.items() if name not in _INTERPOLATED_AXES},
                      sort_keys=True)
    points = _groups().get(rest)
    if not points:
        return None
    cells = []
    for axis, name in enumerate(_INTERPOLATED_AXES):
        cell = _cell(key[name], sorted({point[axis] for point in points}), _COORDINATES[name])
        if cell is None:
            return None
        cells.append(cell)
    gain = 0.0
    for corner in itertools.product(*cells):
        node = tuple(value for value, _ in corner)
        if node not in points:
            return None
        gain += math.prod(weight for _, weight in corner) * points[node]
    return float(gain)


def tabulate_gains(path=TABLE_PATH, grid=None, progress=True):
    """Solve the default chain search for every point of ``grid`` (default TABLE_GRID: each of
    threshold, reset, T, beta, width) and write them to ``path`` (JSON), keeping the entries
    already there (an interrupted run resumes); each entry is written as soon as it is solved.

        python -c "from theory.inits.temporal import tabulate_gains; tabulate_gains()"
    """
    grid = dict(TABLE_GRID if grid is None else grid)
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["gains"]
    except (OSError, ValueError, KeyError):
        entries = []
    done = {json.dumps(entry["key"], sort_keys=True) for entry in entries}
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    for point in tqdm(points, desc="temporal gain table", disable=not progress):
        threshold, beta, T, reset, target_rate, depth, samples, chains = _check_common(
            point["threshold"], point["beta"], point["T"], point["reset"], None, 100, 10000, CHAINS)
        key = _gain_key(threshold, beta, T, reset, target_rate, depth, samples, 0, 1e-7, int(point["width"]),
                        chains, True)
        if json.dumps(key, sort_keys=True) in done:
            continue
        try:
            gain = _optimal_gain(threshold, beta, T, reset, target_rate, depth, samples, 0, 1e-7,
                                 int(point["width"]), chains, False, default_target=True, table=False)
        except ValueError:          # no such init there: nothing to tabulate
            continue
        entries.append({"key": key, "gain": gain})
        done.add(json.dumps(key, sort_keys=True))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"note": "theory.inits.temporal.tabulate_gains() output; do not edit",
                                         "gains": entries}, indent=0, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    return path


def _check_width(width, default):
    """width: None -> default; math.inf (infinite width, the mean field); or a positive integer."""
    if width is None:
        width = default
    if isinstance(width, numbers.Real) and not isinstance(width, (bool, np.bool_)) and width == math.inf:
        return math.inf
    if np.ndim(width) != 0:
        raise ValueError(f"width must be a positive integer or math.inf, got {width!r}")
    return int(validation.scalar(width, "width", validation.positive_int))


# bound on the work of one chain evaluation (normals drawn: chains x depth x width x T); one
# evaluation at the bound takes minutes, and the search needs about ten
_MAX_NORMALS = 2e9


def _check_cost(width, depth, T, chains):
    if width != math.inf and chains * depth * width * T > _MAX_NORMALS:
        raise ValueError(
            f"width={width} with depth={depth}, T={T} and chains={chains} makes one evaluation of the chain "
            f"draw {chains * depth * width * T:.3g} normals (limit {_MAX_NORMALS:.0e}); pass width=math.inf "
            f"(the infinite-width mean field: finite-width corrections shrink as the width grows) or fewer chains")


def _check_common(threshold, beta, T, reset, target_rate, depth, samples, chains):
    threshold, beta, reset = _dynamics(threshold, beta, reset)
    if beta >= 1.0:
        raise ValueError(f"beta must lie in [0, 1) for a temporal fixed point, got {beta}")
    T = int(validation.scalar(T, "T", validation.positive_int))
    if target_rate is None and not 0.0 < float(tail(threshold)) < 1.0:
        raise ValueError(f"threshold {threshold} is so far in the tail that Q(threshold), the default target_rate, "
                         f"is {float(tail(threshold))}: give target_rate in (0, 1) or a threshold of moderate size")
    target_rate = float(tail(threshold)) if target_rate is None else validation.scalar(target_rate, "target_rate", validation.unit_interval)
    if not 0.0 < target_rate < 1.0:
        raise ValueError(f"target_rate must lie in (0, 1), got {target_rate}")
    return (threshold, beta, T, reset, target_rate, int(validation.scalar(depth, "depth", validation.positive_int)),
            int(validation.scalar(samples, "samples", validation.positive_int)), int(validation.scalar(chains, "chains", validation.positive_int)))


def optimal_gain_temporal(threshold, beta, T, reset="subtract", target_rate=None, depth=100,
                          samples=10000, seed=0, tolerance=1e-7, width=math.inf, chains=CHAINS,
                          progress=True) -> float:
    """g = fan_in sigma_w^2 such that the time-averaged rate at layer ``depth`` of a stack
    started from i.i.d. Bernoulli(target) spikes is ``target_rate`` (default Q(theta)).

    width=math.inf (the default here; None means the same): the temporal mean-field map, at
    its fixed point or, if it has not converged by layer ``depth`` (max |M_l - M_{l-1}| >=
    tolerance: sampling noise, slow bottlenecks near a saddle-node), averaged over layers
    depth-19..depth (``samples`` paths); Brent's method on log g (to 1e-4) in a bracket around
    the paper's 1/Q(theta) (within [1/50, 50] x it).

    width=n: a uniform stack of layers of n neurons,

        E[(1/T) sum_t k_depth[t] / n] = target_rate

    with the expectation over ``chains`` runs of the exact Gram chain
    (:func:`theory.chains.gram.rates_at_depth`; silent runs count as 0), run c on its own
    seeded stream (common random numbers across gains). The root search runs in stages of 4,
    16 and ``chains`` runs, each starting from the previous root (the first from 1/Q(theta),
    the others with a secant step) with a bracket that doubles outwards and Brent's method on
    log g, stopping when |excess| <= max(se / 2, 0.01 target), se its standard error over the
    runs (or when the bracket is below 2e-4 in log g). The solved gain's own error is then
    about the chain mean's standard error, i.e. sd over runs / sqrt(chains).

    ValueError if no gain gives that rate, or (chain) if more than half of the runs are silent
    at the solved gain (the median network is then dead and the target met only on average).
    Where the answer comes from (cost and accuracy: benchmarks/RESULTS.md):

    - on the grid of the table shipped with the package (TABLE_GRID with every other argument
      at its default; :func:`tabulate_gains` wrote it with this search): a look-up;
    - inside the table's hull (threshold, target_rate, depth, seed and chains at the table's
      values: 1, Q(1), 100, 0, 32; a finite width, T and beta between the table's nodes, which
      span width 100-2000, T 1-16, beta 0-0.95 where tabulated): the multilinear interpolation
      of the tabulated gains in (T, beta, 1/width) over the table cell around the call,

          g = sum over the cell's corners c of  prod_axes (1 - |x - x_c| / cell size)  g_table(c),

      with no chain run (the table's gains solve the chain's equation within the search's
      error; the interpolation is checked against the chain at held-out points by
      tests/theory/test_temporal_interpolation.py); a cell with a corner missing from the table
      (no stable root there) is searched instead;
    - outside the hull (any other threshold, target, depth, seed or run count, T, beta or width
      beyond the table's range): the per-process and on-disk caches (:func:`cache_dir`), else a
      new search (seconds to minutes at width 1000-2000); ``progress`` shows a bar of evaluations
      while it runs.

    Float64.
    """
    default_target = target_rate is None
    threshold, beta, T, reset, target_rate, depth, samples, chains = _check_common(
        threshold, beta, T, reset, target_rate, depth, samples, chains)
    width = _check_width(width, math.inf)
    _check_cost(width, depth, T, chains)
    seed = validation.non_negative_int(seed, "seed")
    tolerance = validation.scalar(tolerance, "tolerance", validation.non_negative)
    if not isinstance(progress, (bool, np.bool_)):
        raise ValueError(f"progress must be True or False, got {progress!r}")
    if width == math.inf:
        _check_paths_memory(samples, T)
    return _optimal_gain(threshold, beta, T, reset, target_rate, depth, samples, int(seed), float(tolerance),
                         width, chains, bool(progress), default_target=default_target)


def optimal_sigma_temporal(threshold, fan_in, beta, T, reset="subtract", target_rate=None,
                           depth=100, samples=10000, seed=0, width=None, chains=CHAINS, progress=True) -> float:
    """Weight std keeping the time-averaged rate at layer ``depth`` of a deep LIF stack of
    width n at ``target_rate`` (default Q(theta), the paper's first-step rate):

        sigma_w = sqrt(g* / fan_in),   E[(1/T) sum_t k_depth[t] / n]_{g*} = target_rate

    solved on the exact finite-width Gram chain of a uniform stack of ``width`` neurons per
    layer (default: width = fan_in) started from i.i.d. Bernoulli(target) spikes; see
    :func:`optimal_gain_temporal` for the search, the shipped table and its interpolation
    (with default arguments, threshold 1, T <= 16, beta <= 0.95 and 100 <= width <= 2000 a call
    is a look-up or an interpolation of the table; elsewhere it searches: seconds to minutes)
    and their cost (benchmarks/RESULTS.md).

    width=math.inf asks for the infinite-width answer instead: the temporal mean-field fixed
    point (1/T) sum_t M*_g[t, t] = target_rate, M*_g = LIF(g M*_g). At T = 1 that is the
    paper's 1/sqrt(fan_in Q(theta)) up to the root finder's tolerance. Where the mean-field
    fixed point has a marginal mode (beta 0 and 0.9 with subtract reset, for example) finite
    width pulls the rate of real networks below it, which the default corrects.

    Float64; ValueError on bad input or an unreachable target.
    """
    fan_in = int(validation.scalar(fan_in, "fan_in", validation.positive_int))
    gain = optimal_gain_temporal(threshold, beta, T, reset, target_rate, depth, samples, seed,
                                 width=_check_width(width, fan_in), chains=chains, progress=progress)
    return float(np.sqrt(gain / fan_in))


def _micheli_temporal(fan_in, fan_out, threshold, beta, T=10, reset="subtract", target_rate=None,
                      depth=100, samples=10000, seed=0, finite_width=True, width=None, chains=CHAINS):
    """Temporally optimal init (see :func:`optimal_sigma_temporal`): solved on the exact chain
    of a uniform stack of width ``width`` (default fan_in); finite_width=False (or
    width=math.inf) solves on the infinite-width temporal mean field instead."""
    width = width if finite_width else math.inf
    # no progress bar: the registry is called inside simulations and figure workers
    return optimal_sigma_temporal(threshold, fan_in, beta, T, reset, target_rate, depth, samples, seed,
                                  width=width, chains=chains, progress=False)


def classify_profile(rate, silent_below=1e-3, change=0.2) -> str:
    """Phase of a per-step rate profile (T,) at depth, float64:

    silent       time-averaged rate < silent_below (activity died over depth)
    oscillating  at least two peaks: steps above both neighbours (the first step: above the
                 second) by more than change x the mean rate (e.g. firing/silence alternation)
    growing      mean of the last quarter of the steps > (1 + change) x mean of the first quarter
    decaying     mean of the last quarter < (1 - change) x mean of the first quarter
    stable       otherwise
    """
    rate = validation.non_negative(rate, "rate")
    if rate.ndim != 1 or rate.size < 1:
        raise ValueError(f"rate must be a per-step profile (T,) with T >= 1, got shape {rate.shape}")
    silent_below = validation.scalar(silent_below, "silent_below", validation.non_negative)
    change = validation.scalar(change, "change", validation.non_negative)
    mean = float(rate.mean())
    if mean < silent_below:
        return "silent"
    margin = change * mean
    padded = np.concatenate([[-np.inf], rate, [-np.inf]])
    peaks = (padded[1:-1] > padded[:-2] + margin) & (padded[1:-1] > padded[2:] + margin)
    if np.count_nonzero(peaks) >= 2:
        return "oscillating"
    quarter = max(1, rate.size // 4)
    early, last = rate[:quarter].mean(), rate[-quarter:].mean()
    if last > (1.0 + change) * early:
        return "growing"
    if last < (1.0 - change) * early:
        return "decaying"
    return "stable"


def temporal_phase(gain, threshold, beta, T, reset="subtract", depth=50, samples=4000, seed=0) -> str:
    """Phase (see :func:`classify_profile`) of layer ``depth``'s rate profile under the temporal
    map with gain g = fan_in sigma_w^2, starting from i.i.d. N(0, 1) input currents."""
    gain = validation.scalar(gain, "gain", validation.non_negative)
    _dynamics(threshold, beta, reset)
    T = validation.time_steps(T)
    depth = validation.non_negative_int(depth, "depth")
    samples = int(validation.scalar(samples, "samples", validation.positive_int))
    _check_paths_memory(samples, T)
    validation.check_memory(32 * (depth + 1) * T * T, f"depth={depth} x T={T} x T={T}")
    result = propagate_temporal(depth, T, np.sqrt(gain), 1, threshold, beta, reset, samples=samples, seed=seed)
    return classify_profile(result.rate[-1])


# this regime's registry entry (listed explicitly by theory.inits)
INITIALISER = Initialiser("micheli_temporal",
          "std = sqrt(g*/n), g*: time-averaged rate Q(theta) at depth on the exact chain of width n (default)",
          "this toolkit (theory/inits/temporal.py), docs/theory.md §5",
          params=("T", "reset", "target_rate", "depth", "samples", "seed", "finite_width", "width", "chains"), std=_micheli_temporal)
