"""Helpers shared by several figures (public, so no figure imports another figure's privates).

    TARGET                 the accuracy line of the training figures (90 %)
    init_params            registry parameters an initialiser needs in the temporal figures
    predict_and_simulate   temporal mean field next to monte_carlo for one configuration
    seed_summary           mean, 95 % t-interval half-width, min and max of a quantity over seeds
"""
from __future__ import annotations

import math

import numpy as np

from simulate import monte_carlo
from theory import propagate_temporal
from theory import inits

TARGET = 0.90
# Student t quantile 0.975 by degrees of freedom (scipy.stats.t.ppf rounded to 3 decimals; the
# normal's 1.96 beyond): the committed tables' intervals were computed with these values
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def init_params(init, params):
    """Registry parameters of an initialiser for this figure (the temporal init needs T, reset)."""
    if init == "micheli_temporal":
        return {"T": params["steps"], "reset": params["reset"], "samples": params["init_samples"],
                "depth": params["init_depth"]}
    return {}


def predict_and_simulate(item, extra=None):
    """Theory (propagate_temporal, float64) and simulation (monte_carlo over ``draws`` float32
    networks) of one (init, beta) configuration: rate and its standard error, (depth+1, T).
    ``extra``: registry parameters added to :func:`init_params`' (e.g. finite_width)."""
    extra = {**init_params(item["init"], item), **(extra or {})}
    width, depth = item["width"], item["depth"]
    try:
        sigma_w = inits.weight_std(item["init"], width, width, item["threshold"], item["beta"], **extra)
    except ValueError as error:           # formula undefined (e.g. no fixed point): say so in the figure
        return {"defined": False, "reason": str(error)}
    theory = propagate_temporal(depth, item["steps"], sigma_w, width, item["threshold"], item["beta"],
                                item["reset"], encoding=item["encoding"], samples=item["samples"], seed=item["seed"])
    sim = monte_carlo(item["init"], depth, width, threshold=item["threshold"], beta=item["beta"],
                      reset=item["reset"], steps=item["steps"], batch=item["batch"], draws=item["draws"],
                      seed=item["seed"], encoding=item["encoding"], init_params=extra)
    return {"defined": True, "sigma_w": sigma_w, "theory_rate": theory.rate,
            "sim_rate": sim.rate, "sim_rate_se": sim.rate_se}


def seed_summary(values) -> dict:
    """Mean, 95 % t-interval half-width (mean +- T_975[n - 1] s / sqrt(n); NaN for one seed), min
    and max over the finite values of ``values`` (NaN entries are runs that are absent, or that the
    caller chose not to count)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "half": float("nan"), "min": float("nan"), "max": float("nan")}
    half = T_975.get(n - 1, 1.96) * float(np.std(v, ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    return {"n": n, "mean": float(np.mean(v)), "half": half, "min": float(np.min(v)), "max": float(np.max(v))}
