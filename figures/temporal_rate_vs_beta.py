"""Time-averaged rate at depth versus the leak beta, per initialiser: temporal mean-field
(infinite width, solid lines), the exact finite-width Gram chain (dashed lines, mean over
chains) and simulated networks (points with standard errors over draws).

The temporal init appears twice: solved on the infinite-width mean field (``finite_width=False``),
and solved on the chain of a uniform stack of the figure's width (``finite_width=True``, the
registry's default)."""
from __future__ import annotations

import numpy as np

from theory.core.gaussian import tail
from theory.chains.gram import temporal_chain

from . import style
from ._spec import FigureSpec
from .common import predict_and_simulate

# (variant, registry name, extra registry parameters); the variant names the row, colour and label
VARIANTS = (("micheli", "micheli", {}),
            ("micheli_reset", "micheli_reset", {}),
            ("micheli_temporal", "micheli_temporal", {"finite_width": False}),
            ("micheli_temporal_finite", "micheli_temporal", {"finite_width": True}))
TEMPORAL = ("micheli_temporal", "micheli_temporal_finite")
LABELS = {"micheli_temporal": "temporal, mean-field solve (finite_width=False)",
          "micheli_temporal_finite": "temporal, finite-width solve (default)"}


def predict_simulate_chain(item):
    """One (variant, beta): mean-field rate and simulated rate (temporal_heatmaps'
    predict_and_simulate) and the chain rate (temporal_chain at the same width, depth and
    weight std, float64; time average per chain at the last layer)."""
    extra = dict(item["init_extra"])
    if extra.get("finite_width"):
        extra["chains"] = item["init_chains"]
    result = predict_and_simulate(item, extra)
    if result["defined"]:
        # seed + 1: independent of the random numbers the finite-width init was solved on (seed)
        chain = temporal_chain(item["depth"], item["width"], item["steps"], result["sigma_w"], item["threshold"],
                               item["beta"], item["reset"], encoding=item["encoding"], input_std=1.0,
                               chains=item["chains"], seed=item["seed"] + 1)
        result["chain_rate"] = chain.time_averaged_rate[:, -1]
    return result


def _items(params):
    keys = ("depth", "width", "steps", "threshold", "reset", "encoding", "samples", "batch", "draws", "seed",
            "init_samples", "init_depth", "init_chains", "chains")
    return [{"variant": variant, "init": init, "init_extra": extra, "beta": float(beta),
             **{k: params[k] for k in keys}}
            for variant, init, extra in VARIANTS for beta in params["betas"]]


def compute(params, ctx):
    items = _items(params)
    results = ctx.map(predict_simulate_chain, items, version="2", desc="rate vs beta")
    betas = np.asarray(params["betas"], dtype=float)
    variants = [v for v, _, _ in VARIANTS]
    data = {"inits": variants, "betas": betas, "target": float(tail(params["threshold"]))}
    shape = (len(variants), len(betas))
    names = ("mean_field", "chain", "chain_se", "sim", "sim_se", "sigma_w")
    data.update({name: np.full(shape, np.nan) for name in names})
    for index, result in enumerate(results):
        row, col = divmod(index, len(betas))
        if not result["defined"]:
            continue
        data["mean_field"][row, col] = np.mean(result["theory_rate"][-1])
        chain = np.asarray(result["chain_rate"])
        data["chain"][row, col] = chain.mean()
        data["chain_se"][row, col] = chain.std(ddof=1) / np.sqrt(chain.size) if chain.size > 1 else 0.0
        data["sim"][row, col] = np.mean(result["sim_rate"][-1])
        # steps of one draw are correlated: the se of the time average is at most the mean per-step se
        data["sim_se"][row, col] = np.mean(result["sim_rate_se"][-1])
        data["sigma_w"][row, col] = result["sigma_w"]
    return data


def plot(data, params):
    fig, axes = style.new_figure(1, 1, width=6.0, height=5.4)
    ax = axes[0, 0]
    betas = np.asarray(data["betas"])
    for row, name in enumerate(data["inits"]):
        colour = style.colour(name)
        ax.plot(betas, data["mean_field"][row], color=colour, label=LABELS.get(name, style.label(name)),
                **style.THEORY)
        ax.plot(betas, data["chain"][row], color=colour, linestyle="--")
        ax.errorbar(betas, data["sim"][row], yerr=data["sim_se"][row], color=colour, **style.SIMULATION)
    # one legend entry per init (colour) and one per kind of estimate (line style)
    ax.plot([], [], color="grey", label="mean field (infinite width)", **style.THEORY)
    ax.plot([], [], color="grey", linestyle="--", label=f"finite-width chain (width {params['width']})")
    ax.errorbar([], [], yerr=[], color="grey", label="simulation (mean +- se)", **style.SIMULATION)
    ax.axhline(data["target"], color="black", linestyle=":", linewidth=1,
               label=rf"target $Q(\theta)$ = {data['target']:.3f}")
    ax.axhspan(0.9 * data["target"], 1.1 * data["target"], color="grey", alpha=0.15, label="target +-10 %")
    ax.set_xlabel(r"leak $\beta$")
    ax.set_ylabel(f"time-averaged rate at depth {params['depth']}")
    ax.set_title(f"Rate at depth {params['depth']} over T = {params['steps']} steps\n"
                 f"width {params['width']}, {params['reset']} reset, threshold {params['threshold']}")
    style.legend_below(fig, axes, ncol=2)
    return fig


def agreement(data, params):
    sim = np.asarray(data["sim"])
    chain_gap = np.abs(sim - np.asarray(data["chain"]))
    field_gap = np.abs(sim - np.asarray(data["mean_field"]))
    off = [np.nanmax(np.abs(sim[list(data["inits"]).index(v)] / data["target"] - 1.0)) for v in TEMPORAL]
    return (f"time-averaged rate at depth {params['depth']}: |sim - chain| mean {np.nanmean(chain_gap):.4f}, "
            f"max {np.nanmax(chain_gap):.4f}; |sim - mean field| mean {np.nanmean(field_gap):.4f}, "
            f"max {np.nanmax(field_gap):.4f}; simulated rate off its target by at most {100 * off[0]:.1f} % "
            f"(temporal init) and {100 * off[1]:.1f} % (finite-width temporal init) over beta in "
            f"[{min(data['betas'])}, {max(data['betas'])}]")


def tables(data, params):
    betas = data["betas"]
    header = "| init | " + " | ".join(f"beta {b:g}" for b in betas) + " |"
    lines = [f"Time-averaged rate at depth {params['depth']}, width {params['width']} "
             f"(mean field / chain / simulation; target {data['target']:.4f}):", "", header,
             "|---|" + "---|" * len(betas)]
    csv = ["init,beta,sigma_w,mean_field,chain,chain_se,simulation,simulation_se"]
    for row, name in enumerate(data["inits"]):
        cells = [f"{data['mean_field'][row][k]:.4f} / {data['chain'][row][k]:.4f} / {data['sim'][row][k]:.4f}"
                 for k in range(len(betas))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        csv += [f"{name},{b:g},{data['sigma_w'][row][k]:.6g},{data['mean_field'][row][k]:.6g},"
                f"{data['chain'][row][k]:.6g},{data['chain_se'][row][k]:.3g},"
                f"{data['sim'][row][k]:.6g},{data['sim_se'][row][k]:.3g}"
                for k, b in enumerate(betas)]
    return {"temporal_rate_vs_beta.md": "\n".join(lines) + "\n", "temporal_rate_vs_beta.csv": "\n".join(csv) + "\n"}


_BASE = {"threshold": 1.0, "reset": "subtract", "encoding": "gaussian", "steps": 10, "seed": 0,
         "init_samples": 10000, "init_depth": 100, "init_chains": 64}
FIGURE = FigureSpec(
    name="temporal_rate_vs_beta",
    title="Rate at depth versus the leak, and the temporal init that keeps it",
    caption="Time-averaged firing rate of the deepest layer versus the leak beta (subtract reset, "
            "i.i.d. N(0,1) input, T = 10) for the paper's init, the authors' leak/reset variant, the "
            "temporal init solved on the infinite-width mean field (finite_width=False), and the temporal "
            "init solved on the exact finite-width chain of the figure's width (finite_width=True, the "
            "registry's default). Solid lines: temporal "
            "mean field (infinite width); dashed lines: finite-width Gram chain at the figure's width "
            "and depth (mean over independent chains, same weight std); points: simulation (mean +- se "
            "over independent networks). Where the mean-field fixed point has a marginal mode (beta 0 "
            "and 0.9) finite width pulls the infinite-width temporal init's rate below the target "
            "Q(theta); the chain predicts that shift and the finite-width init corrects it.",
    compute=compute, plot=plot, agreement=agreement, tables=tables, order=71, version="4",
    presets={"quick": {**_BASE, "depth": 100, "width": 500, "samples": 5000, "batch": 4, "draws": 4,
                       "betas": [0.0, 0.3, 0.6, 0.9], "init_samples": 6000, "chains": 32},
             "full": {**_BASE, "depth": 100, "width": 1000, "samples": 20000, "batch": 8, "draws": 4,
                      "betas": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9], "chains": 64},
             "tiny": {**_BASE, "depth": 4, "width": 60, "steps": 3, "samples": 500, "batch": 2, "draws": 2,
                      "betas": [0.0, 0.5], "init_samples": 500, "init_depth": 20, "chains": 4}},
    expected_seconds={"quick": 24, "full": 170},
    preset_notes={"full": "six leak values (0, 0.2, 0.4, 0.6, 0.8, 0.9) instead of ten, simulated width 1000 instead of 2000 and 20,000 mean-field samples instead of 30,000, for the 3-hour budget on 2 cores that the full gallery must fit."},
)
