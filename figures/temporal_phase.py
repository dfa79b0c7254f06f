"""Phase diagram over (beta, threshold) of the temporal mean-field at depth, per reset mode,
for the paper's init: is the per-step activity at depth stable, growing, decaying,
oscillating across time steps, or silent?"""
from __future__ import annotations

import numpy as np
from matplotlib import colors
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulate import monte_carlo
from theory import optimal_sigma, propagate_temporal
from theory.meanfield.maps import critical_threshold
from theory.meanfield.temporal import RESETS
from theory.inits.temporal import PHASES, classify_profile

from . import style
from ._spec import FigureSpec

# pastel tints (ColorBrewer Pastel1) and near-black: never confused with the saturated colours that
# mark initialisers in every other figure
PHASE_COLOURS = {"silent": "#404040", "stable": "#ccebc5", "growing": "#fed9a6", "decaying": "#b3cde3",
                 "oscillating": "#decbe4"}


RESET_TITLES = {"subtract": "subtract reset", "zero": "reset to zero", "none": "no reset",
                "subtract_leaky": "subtract reset, leaky (SpikingJelly's soft reset)"}


def phase_row(item):
    """Phases along beta for one (reset, threshold): the rate profile of layer ``depth`` under
    the temporal map (paper's gain 1/Q(theta), i.i.d. N(0, 1) input), classified."""
    sigma_w = optimal_sigma(item["threshold"], 1)
    phases, mean_rate = [], []
    for beta in item["betas"]:
        rate = propagate_temporal(item["depth"], item["steps"], sigma_w, 1, item["threshold"], beta, item["reset"],
                                  samples=item["samples"], seed=item["seed"]).rate[-1]
        phases.append(PHASES.index(classify_profile(rate)))
        mean_rate.append(float(rate.mean()))
    return {"phase": np.array(phases), "mean_rate": np.array(mean_rate)}


def check_point(item):
    """Simulated phase at one grid point (width ``width``, ``draws`` draws, paper's init).
    Each step's rate follows its own finite-width chain over depth, so at width ~800 the
    step-to-step scatter can tip the 20 % growth criterion; use width >= 2000."""
    sim = monte_carlo("micheli", item["depth"], item["width"], threshold=item["threshold"], beta=item["beta"],
                      reset=item["reset"], steps=item["steps"], batch=item["batch"], draws=item["draws"],
                      seed=item["seed"])
    return {"phase": PHASES.index(classify_profile(sim.rate[-1]))}


def phase_check_points(phase, resets, thresholds, betas) -> list:
    """One simulated check point per phase that occurs, per reset: the cell of that phase farthest
    (chessboard distance) from any cell of another phase, the first such cell in (threshold,
    beta) order on a tie, so the check sits inside its region rather than on a boundary.
    Returns [(reset, threshold, beta)], phases in PHASES order."""
    from scipy import ndimage
    points = []
    for k, reset in enumerate(resets):
        grid = np.asarray(phase[k])
        for code in range(len(PHASES)):
            mask = grid == code
            if not mask.any():
                continue
            depth = ndimage.distance_transform_cdt(np.pad(mask, 1, constant_values=True),
                                                   metric="chessboard")[1:-1, 1:-1]
            i, j = np.unravel_index(int(np.argmax(np.where(mask, depth, -1))), grid.shape)
            points.append((reset, float(thresholds[i]), float(betas[j])))
    return points


def compute(params, ctx):
    betas = list(np.round(np.linspace(params["beta_min"], params["beta_max"], params["beta_points"]), 4))
    thresholds = list(np.round(np.linspace(params["threshold_min"], params["threshold_max"],
                                           params["threshold_points"]), 4))
    items = [{"reset": reset, "threshold": float(threshold), "betas": [float(b) for b in betas],
              "depth": params["depth"], "steps": params["steps"], "samples": params["samples"], "seed": params["seed"]}
             for reset in RESETS for threshold in thresholds]
    rows = ctx.map(phase_row, items, version="1", desc="temporal phase diagram")
    shape = (len(RESETS), len(thresholds), len(betas))
    phase = np.array([r["phase"] for r in rows]).reshape(shape)
    mean_rate = np.array([r["mean_rate"] for r in rows]).reshape(shape)
    points = [tuple(p) for p in params.get("check_points", [])]
    if params.get("check_every_phase"):
        points += [p for p in phase_check_points(phase, list(RESETS), thresholds, betas) if p not in points]
    checks = [{"reset": reset, "threshold": float(th), "beta": float(b), "depth": params["depth"],
               "steps": params["steps"], "width": params["check_width"], "batch": params["check_batch"],
               "draws": params["check_draws"], "seed": params["seed"]}
              for reset, th, b in points]
    checked = ctx.map(check_point, checks, version="1", desc="phase checks") if checks else []
    return {"betas": np.array(betas), "thresholds": np.array(thresholds), "resets": list(RESETS),
            "phase": phase, "mean_rate": mean_rate, "phases": list(PHASES),
            "checks": [[c["reset"], c["threshold"], c["beta"], int(r["phase"])] for c, r in zip(checks, checked)]}


def _theory_phase_at(data, reset, threshold, beta):
    r = list(data["resets"]).index(reset)
    i = int(np.argmin(np.abs(np.asarray(data["thresholds"]) - threshold)))
    j = int(np.argmin(np.abs(np.asarray(data["betas"]) - beta)))
    return int(np.asarray(data["phase"])[r, i, j])


def plot(data, params):
    resets, phases = data["resets"], data["phases"]
    betas, thresholds = np.asarray(data["betas"]), np.asarray(data["thresholds"])
    fig, axes = style.new_figure(1, len(resets), width=3.4 * len(resets) + 1.6, height=3.9, sharey=True)
    cmap = colors.ListedColormap([PHASE_COLOURS[p] for p in phases])
    norm = colors.BoundaryNorm(np.arange(len(phases) + 1) - 0.5, len(phases))
    db, dt = (betas[1] - betas[0]) / 2 if betas.size > 1 else 0.05, \
        (thresholds[1] - thresholds[0]) / 2 if thresholds.size > 1 else 0.05
    for k, reset in enumerate(resets):
        ax = axes[0, k]
        ax.grid(False)
        ax.imshow(np.asarray(data["phase"])[k], origin="lower", aspect="auto", cmap=cmap, norm=norm,
                  extent=(betas[0] - db, betas[-1] + db, thresholds[0] - dt, thresholds[-1] + dt),
                  interpolation="nearest")
        ax.axhline(critical_threshold(), color="black", linestyle="--", linewidth=1)
        for check_reset, threshold, beta, sim_phase in data["checks"]:
            if check_reset != reset:
                continue
            agree = sim_phase == _theory_phase_at(data, reset, threshold, beta)
            ax.plot(beta, threshold, marker="o" if agree else "X", markersize=9, markeredgecolor="black",
                    markeredgewidth=1.2, color=PHASE_COLOURS[phases[sim_phase]], linestyle="none")
        ax.set_title(RESET_TITLES.get(reset, f"{reset} reset"))
        ax.set_xlabel(r"leak $\beta$")
        if k == 0:
            ax.set_ylabel(r"threshold $\theta$")
    # only the phases that occur (in the map or at a simulated check point) get a legend entry
    present = set(np.unique(np.asarray(data["phase"]))) | {c[3] for c in data["checks"]}
    handles = [Patch(facecolor=PHASE_COLOURS[p], edgecolor="0.5", label=p)
               for i, p in enumerate(phases) if i in present]
    absent = [p for i, p in enumerate(phases) if i not in present]
    handles.append(Line2D([], [], color="black", linestyle="--",
                          label=r"$\theta_c$: one-step fixed point unstable above"))
    handles.append(Line2D([], [], marker="o", markeredgecolor="black", color="white", linestyle="none",
                          label="simulated phase (o agrees, x differs)"))
    title = "phase at depth" + (f" (not found on this grid: {', '.join(absent)})" if absent else "")
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, title=title,
               title_fontsize=8)
    fig.suptitle(f"Temporal phase at depth {params['depth']} (T = {params['steps']}), paper's init, mean field on "
                 f"a {len(betas)} x {len(thresholds)} grid; markers: simulated networks "
                 f"(width {params['check_width']})", fontsize=10)
    return fig


def findings(data, params) -> str:
    """Which phases the simulated networks were checked in, and how many agree, from the data."""
    if not data["checks"]:
        return ""
    phases = data["phases"]
    by_reset = {}
    for reset, threshold, beta, sim_phase in data["checks"]:
        theory = phases[_theory_phase_at(data, reset, threshold, beta)]
        by_reset.setdefault(reset, []).append(f"{theory}{'' if phases[sim_phase] == theory else ' (simulated ' + phases[sim_phase] + ')'}")
    agree = sum(c[3] == _theory_phase_at(data, c[0], c[1], c[2]) for c in data["checks"])
    return (f"Simulated networks of width {params['check_width']} ({params['check_draws']} draw(s) x "
            f"{params['check_batch']} inputs, depth {params['depth']}, T = {params['steps']}) have the mean field's "
            f"phase at {agree} of {len(data['checks'])} check points; checked phases per reset: "
            + "; ".join(f"{RESET_TITLES.get(r, r)}: {', '.join(v)}" for r, v in by_reset.items()) + ".")


def agreement(data, params):
    if not data["checks"]:
        return "theory only (no simulated check points in this preset)"
    agree = sum(c[3] == _theory_phase_at(data, c[0], c[1], c[2]) for c in data["checks"])
    return (f"simulated phase (width {params['check_width']}) equals the mean-field phase at {agree} of "
            f"{len(data['checks'])} check points")


_EXAMPLES = [["subtract", 1.0, 0.0], ["subtract", 1.0, 0.9], ["none", 1.0, 0.9], ["zero", 1.0, 0.0],
             ["zero", 1.0, 0.5], ["subtract", 0.5, 0.5]]
_BASE = {"beta_min": 0.0, "beta_max": 0.95, "threshold_min": 0.25, "threshold_max": 2.0, "seed": 0,
         "check_batch": 4, "check_draws": 2, "check_points": _EXAMPLES, "check_every_phase": True}
FIGURE = FigureSpec(
    name="temporal_phase",
    title="Phase of the activity over time at depth, over leak, threshold and reset",
    caption="Phase of the per-step activity at depth under the paper's init (weight gain 1/Q(theta)), "
            "from the temporal mean-field, over leak beta and threshold theta, for each reset mode: "
            "silent (died over depth), stable in time, growing, decaying, or oscillating across time "
            "steps (e.g. firing/silence alternation with subtract reset at beta = 0). Where the activity "
            "turns from decaying to growing it passes through thin stable or oscillating bands, which the "
            "grid resolves only as single cells along that boundary. Phase colours are pastel tints, unrelated to the initialiser "
            "colours of the other figures; the legend lists only the phases that occur. Dashed: the "
            "threshold above which the one-step fixed point is unstable. Markers: simulated networks "
            "(filled with their simulated phase; o agrees with the mean field, x differs) at one point inside "
            "every phase region of each reset (the cell farthest from any other phase); the full preset adds a "
            "few fixed examples (subtract reset at beta 0, the firing/silence alternation; beta 0.9).",
    compute=compute, plot=plot, agreement=agreement, findings=findings, order=72, version="3",
    presets={"quick": {**_BASE, "beta_points": 14, "threshold_points": 10, "depth": 30, "steps": 10,
                       "samples": 1500, "check_width": 2000, "check_batch": 2, "check_points": []},
             "full": {**_BASE, "beta_points": 30, "threshold_points": 24, "depth": 50, "steps": 10,
                      "samples": 5000, "check_width": 2000, "check_draws": 2},
             "tiny": {**_BASE, "beta_points": 3, "threshold_points": 3, "depth": 5, "steps": 4,
                      "samples": 300, "check_width": 60, "check_points": [["subtract", 1.0, 0.0]]}},
    expected_seconds={"quick": 55, "full": 450},
    preset_notes={"full": "a 30 x 24 (beta, threshold) grid with 5000 mean-field samples per cell instead of 39 x 36 with 10,000, and 2 draws of 4 inputs per simulated check point, for the 3-hour budget on 2 cores that the full gallery must fit."},
)
