"""Helpers shared by several figures (public, so no figure imports another figure's privates).

    TARGET                 the accuracy line of the training figures (90 %)
    init_params            registry parameters an initialiser needs in the temporal figures
    predict_and_simulate   temporal mean field next to monte_carlo for one configuration
"""
from __future__ import annotations

from simulate import monte_carlo
from theory import propagate_temporal
from theory import inits

TARGET = 0.90


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
