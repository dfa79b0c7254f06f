"""How deep can a spiking network be trained? Depth scales of information and gradients (float64).

Signal-propagation theory of deep networks (Poole et al. 2016; Schoenholz et al., "Deep
information propagation", ICLR 2017; docs/theory.md §9) says a network trains only if two
different inputs stay distinguishable with depth and the gradients neither vanish nor explode.
For a LIF stack both are read off the infinite-width maps at the forward fixed point:

    xi_c    = -1 / ln(slope of the pair map at c*)   (theory.meanfield.pair.pair_fixed_point): the depth
              over which the difference between two inputs' spike statistics decays
    xi_grad = 1 / |ln chi_T|                         (theory.gradients.temporal.temporal_chi):
              the depth over which gradients shrink (chi_T < 1) or grow (chi_T > 1)

and the trainable-depth rule

    L* = constant * xi_c

Over the first layers the difference between two inputs decays more slowly than xi_c says
(later time steps carry it while they are still active): ``xi_transient`` is the decay scale of
the gap between the count correlations of a similar and a dissimilar pair over the first
``transient_layers`` layers, measured on the exact finite-width pair chain at the network's
width (theory.chains.pair_chain.correlation_decay), and ``depth_transient = transient_constant *
xi_transient`` the rule built on it. Both constants are parameters; the phase diagram
(``python paper_figs.py --only trainability_phase``) measures them, and docs/theory.md §9 says
where each rule fails.

(Schoenholz et al. found networks trainable to about 6 xi_c; ``constant`` is a parameter, and
the value to use for spiking networks is measured by the trainability phase diagram,
``python paper_figs.py --only trainability_phase``). xi_grad is reported, not used by the
rule: with Adam the per-parameter step size does not shrink with the gradient, so vanishing
gradients alone do not stop training as long as the signal survives (docs/theory.md §9).

The pair map is block-triangular in time (a cross moment at step t depends on earlier steps
only), so its slope is the largest of the per-step slopes, and step 1 of every layer is the
one-step map: xi_c is at least the one-step value whatever T, beta and reset, and exceeds it
only where a later step's own slope is larger.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import snn_validation as validation
from theory.chains.pair_chain import correlation_decay
from theory.core.laws import Stable
from theory.core.lif import LIF
from theory.core.scales import gain_scale
from theory.gradients.temporal import temporal_chi
from theory.meanfield.pair import pair_fixed_point
from theory.network.blocks import MS, SEW
from theory.network.description import Encoding, Network
from theory.network.description import kinds as layer_kinds
from theory.network.layers import AvgPool, BatchNorm, Conv, Dense, Init, MaxPool

__all__ = ["Trainability", "trainability"]

SCHOENHOLZ_CONSTANT = 6.0
# the constant of the transient rule: a round value; the constant each measured row asks for
# (band midpoint / xi_transient) is a column of the phase diagrams' tables
# (figures/out/trainability_phase.md, trainability_knobs.md, full/trainability_phase.md)
TRANSIENT_CONSTANT = 4.0


@dataclass(frozen=True)
class Trainability:
    """What :func:`trainability` predicts for one network, whatever its regime.

    regime          "plain", "convolutional", "escape", "heavy_tailed" or "residual"
    xi_c, xi_grad   depth scales (layers; blocks for a residual network); inf where the slope or
                    gain is exactly critical; NaN where the regime's theory does not give it (notes)
    c_star          fixed-point correlation of the two inputs' currents, time-averaged
                    (sum_t C*_ab[t, t] / sum_t C*_aa[t, t]); NaN if the fixed point is silent
    slope, slope_se the pair map's slope at c* and its Monte Carlo standard error
    step_slopes     (T,) the per-step slopes (slope = their maximum)
    chi             asymptotic per-layer gradient gain chi_T (residual: the mean per-block gain)
    rate            (T,) firing rate per step at the forward fixed point
    depth           the predicted trainable depth L* = constant * xi_c (weight layers)
    constant        the constant used
    xi_transient    decay scale of the two-start correlation gap over the first layers at the
                    network's width (exact pair chain): its first e-folding depth, the layers for
                    the gap to fall e-fold from layer 1 (theory.chains.pair_chain.efold_depth; no
                    fit window); NaN if unresolved (e.g. silent)
    xi_transient_se its standard error (bootstrap over the chain's runs)
    xi_transient_fit, xi_transient_fit_se  the earlier definition: an exponential fitted over the
                    resolvable layers of the first ``transient_layers`` (it moves with the window)
    depth_transient transient_constant * xi_transient (weight layers)
    transient_constant the constant used for it
    notes           what this regime's theory does not predict, and why
    detail          the regime's own result (theory.meanfield.pair.PairFixedPoint,
                    theory.regimes.escape.EscapePoint, HeavyTailedTrainability, SewTrainability)
    """
    xi_c: float
    xi_grad: float
    c_star: float
    slope: float
    slope_se: float
    step_slopes: np.ndarray
    chi: float
    rate: np.ndarray
    depth: float
    constant: float
    xi_transient: float = float("nan")
    xi_transient_se: float = float("nan")
    depth_transient: float = float("nan")
    transient_constant: float = float("nan")
    regime: str = "plain"
    notes: tuple = ()
    xi_transient_fit: float = float("nan")
    xi_transient_fit_se: float = float("nan")
    detail: object = field(default=None, repr=False, compare=False)


_KEYWORDS = dict(threshold=1.0, beta=0.0, T=1, reset="subtract", encoding="static", sigma_w=None, init="micheli",
                 fan_in=100, bias_var=0.0)


def trainability(net: Network | None = None, *, threshold=None, beta=None, T=None, reset=None, encoding=None,
                 sigma_w=None, init=None, fan_in=None, bias_var=None, surrogate="atan", scale=None,
                 constant=SCHOENHOLZ_CONSTANT, samples=8000, seed=0, fixed_point_depth=100, width=None,
                 transient_layers=12, chains=128, transient_constant=TRANSIENT_CONSTANT) -> Trainability:
    """Correlation and gradient depth scales and the predicted trainable depth of a network.

    ``net``: a ``theory.Network`` of any regime, dispatched on what it contains:
      - a plain stack (deterministic LIF, Gaussian or uniform weights): the pair mean field's
        xi_c and the temporal backward gain chi_T at the forward fixed point of a uniform stack
        with the first hidden layer's fan-in and std, and xi_transient on the exact pair chain
        (docs/theory.md §9);
      - convolutions without pooling or batch norm: the same, with the convolution's fan-in
        c_in k_h k_w (at infinite channels one position's pair map is the dense one);
      - escape firing: theory.regimes.escape's one-step fixed point (xi_c, chi with the escape
        derivative);
      - alpha-stable weights: theory.regimes.heavy_tailed's one-step pair map and typical chi;
      - SEW-ADD residual blocks (the dense network of theory.sew_network): the block maps of
        theory.regimes.residual (xi_c over blocks, chi per block);
    and what it cannot predict yet (pooling, batch norm, membrane shortcuts) comes back as NaN
    with a note. Or, without ``net``, the keywords of the plain stack: threshold, beta, T, reset,
    encoding ("static" like the pixel input of the training loop, "gaussian" or "bernoulli"),
    sigma_w or init (registry name, evaluated at fan_in), fan_in, bias_var; they must not be given
    with ``net``. surrogate and scale set the backward gain. Infinite width for xi_c and chi, seeded
    path sampling (``samples`` paths, ``seed``) where T > 1. xi_transient: the exact pair chain of a
    uniform stack of ``width`` neurons (default fan_in) over ``transient_layers`` layers, ``chains``
    runs per start (input correlations 0.2 and 0.9), the same seed.
    """
    keywords = dict(threshold=threshold, beta=beta, T=T, reset=reset, encoding=encoding, sigma_w=sigma_w, init=init,
                    fan_in=fan_in, bias_var=bias_var)
    if net is not None:
        given = sorted(k for k, v in keywords.items() if v is not None)
        if given:
            raise ValueError(f"{given} must not be given with a network (the network says them)")
        if not isinstance(net, Network):
            raise ValueError(f"net must be a theory.Network, got {type(net).__name__}")
        if net.depth < 1:
            raise ValueError("net must have at least one weight layer (depth >= 1)")
    else:
        k = {name: _KEYWORDS[name] if value is None else value for name, value in keywords.items()}
        net = Network(depth=1, width=k["fan_in"], neuron=LIF(k["threshold"], k["beta"], k["reset"]), init=k["init"],
                      sigma_w=k["sigma_w"], bias_var=k["bias_var"], T=k["T"],
                      encoding=Encoding(k["encoding"], rate=0.2 if k["encoding"] == "bernoulli" else None))
    options = dict(surrogate=surrogate, scale=scale, constant=float(validation.positive(constant, "constant")),
                   samples=samples, seed=seed)
    kinds = layer_kinds(net.layers)
    if SEW in kinds or MS in kinds:
        return _residual(net, kinds, **options)
    if any(not neuron.deterministic for neuron in net.neurons):
        return _escape(net, **options)
    if any(isinstance(entry.law, Stable) for entry in net.plan):
        return _heavy_tailed(net, **options)
    unsupported = sorted(k.__name__ for k in kinds & {MaxPool, AvgPool, BatchNorm})
    if unsupported:
        return _unpredicted(net, "convolutional", f"{', '.join(unsupported)} are not in the pair theory yet: the "
                            "correlation of two inputs through pooling and batch norm is not derived (docs/theory.md §11)")
    regime = "convolutional" if Conv in kinds else "plain"
    notes = ("at infinite channels the pair map of one position is the dense one with fan-in c_in k_h k_w; "
             "padding borders are not included",) if regime == "convolutional" else ()
    return _plain(net, regime, notes, fixed_point_depth=fixed_point_depth, width=width,
                  transient_layers=transient_layers, chains=chains,
                  transient_constant=float(validation.positive(transient_constant, "transient_constant")), **options)


def _first_hidden(net):
    """(fan-in, std) of the first hidden weight layer (the stem is the input's), the uniform
    stack the fixed-point theory assumes."""
    entry = net.plan[1] if net.depth > 1 else net.plan[0]
    if entry.std is None:
        raise ValueError("the weights have no std (alpha-stable)")
    return int(entry.fan_in), float(entry.std)


def _plain(net, regime, notes, *, surrogate, scale, constant, samples, seed, fixed_point_depth, width,
           transient_layers, chains, transient_constant):
    neuron = net.neuron
    threshold, beta, reset, T = neuron.threshold, neuron.beta, neuron.reset, net.T
    fan_in, sigma = _first_hidden(net)
    bias_var = net.bias_var
    encoding_kind, input_rate = net.encoding.kind, net.encoding.rate
    width = fan_in if width is None else int(validation.positive_int(width, "width"))
    transient_layers = int(validation.positive_int(transient_layers, "transient_layers"))
    if transient_layers < 2:
        raise ValueError(f"transient_layers must be >= 2 (a decay needs two layers), got {transient_layers}")
    point = pair_fixed_point(T, sigma, fan_in, threshold, beta, reset, encoding=encoding_kind,
                             input_rate=input_rate, bias_var=bias_var, depth=fixed_point_depth,
                             samples=samples, seed=seed)
    chi = temporal_chi(T, sigma, fan_in, threshold, beta, reset, surrogate, scale, bias_var=bias_var,
                       samples=samples, seed=seed, depth=fixed_point_depth)
    xi_c = point.xi_c
    decay = correlation_decay(transient_layers, width, T, sigma * np.sqrt(fan_in / width), threshold=threshold,
                              beta=beta, reset=reset, encoding=encoding_kind, input_rate=input_rate,
                              bias_var=bias_var, chains=int(validation.positive_int(chains, "chains")),
                              seed=validation.non_negative_int(seed, "seed"))
    return Trainability(xi_c=xi_c, xi_grad=gain_scale(chi), c_star=point.c_star, slope=point.slope,
                        slope_se=point.slope_se, step_slopes=point.step_slopes, chi=chi, rate=point.rate,
                        depth=constant * xi_c, constant=constant, xi_transient=decay["xi_efold"],
                        xi_transient_se=decay["xi_efold_se"], depth_transient=transient_constant * decay["xi_efold"],
                        transient_constant=transient_constant, regime=regime, notes=notes, detail=point,
                        xi_transient_fit=decay["xi"], xi_transient_fit_se=decay["xi_se"])


def _nan_point(regime, constant, notes, T, detail=None, **known):
    nan = float("nan")
    values = dict(xi_c=nan, xi_grad=nan, c_star=nan, slope=nan, slope_se=nan, step_slopes=np.full(T, nan), chi=nan,
                  rate=np.full(T, nan), depth=nan, constant=constant)
    values.update(known)
    return Trainability(regime=regime, notes=tuple(notes), detail=detail, **values)


def _unpredicted(net, regime, note):
    return _nan_point(regime, float("nan"), (note,), net.T)


def _escape(net, *, constant, **_):
    """Escape firing: the one-step stochastic network's fixed point (theory.regimes.escape)."""
    from theory.regimes.escape import escape_fixed_point
    neuron = net.neuron
    fan_in, sigma = _first_hidden(net)
    point = escape_fixed_point(sigma, fan_in, neuron.threshold, neuron.firing.tau, net.bias_var)
    notes = ("one-step (T = 1) theory of the stochastic network",) if net.T > 1 else ()
    return _nan_point("escape", constant, notes, 1, point, xi_c=point.xi_c, xi_grad=point.xi_grad, c_star=point.c_star,
                      slope=point.slope, slope_se=0.0, step_slopes=np.array([point.slope]), chi=point.chi,
                      rate=np.array([point.rate]), depth=constant * point.xi_c)


def _heavy_tailed(net, *, surrogate, scale, constant, seed, **_):
    """Alpha-stable weights: the one-step pair map and typical chi (theory.regimes.heavy_tailed)."""
    from theory.regimes.heavy_tailed import heavy_tailed_trainability
    entry = net.plan[1] if net.depth > 1 else net.plan[0]
    weights = entry.layer.weights
    params = dict(weights.params) if isinstance(weights, Init) else {"gain": entry.law.scale * entry.fan_in ** (
        1.0 / entry.law.alpha)}
    alpha = params.pop("alpha", getattr(entry.law, "alpha", 1.0))
    point = heavy_tailed_trainability(alpha=alpha, threshold=net.neuron.threshold, width=entry.fan_in,
                                      surrogate=surrogate, scale=scale, constant=constant, seed=seed, **params)
    notes = ("one-step (T = 1) theory of alpha-stable weights",) if net.T > 1 else ()
    return _nan_point("heavy_tailed", constant, notes, 1, point, xi_c=point.xi_c, xi_grad=point.xi_grad,
                      c_star=point.c_star, slope=point.slope, slope_se=0.0, step_slopes=np.array([point.slope]),
                      chi=point.chi, rate=np.array([point.rate]), depth=point.depth)


def _residual(net, kinds, *, surrogate, scale, constant, samples, seed):
    """SEW-ADD blocks of one dense LIF layer each (theory.sew_network's layout): the block maps of
    theory.regimes.residual; anything else residual is not predicted yet."""
    from theory.regimes.residual import sew_stds, sew_trainability
    blocks = [leaf for leaf in net.layers.layers if isinstance(leaf, SEW)]
    layout = [type(leaf) for leaf in net.layers.layers]
    expected = [LIF, Dense, LIF] + [SEW] * len(blocks) + [Dense, LIF]
    single = all(len(b.branch.layers) == 2 and isinstance(b.branch.layers[0], Dense) for b in blocks)
    if MS in kinds or layout != expected or not single or any(b.connect != "add" for b in blocks) \
            or len({b.multiplier for b in blocks}) != 1 or not net.encoding.kind == "static":
        return _unpredicted(net, "residual", "the block theory covers SEW-ADD blocks of one dense LIF layer in the "
                            "layout of theory.sew_network (static input); other residual networks are not "
                            "predicted yet (docs/theory.md §11)")
    neuron, a = net.neuron, blocks[0].multiplier
    depth, width = len(net.neurons), net.widths[1]
    stds = list(net.weight_stds())
    arguments = dict(width=width, T=net.T, threshold=neuron.threshold, beta=neuron.beta, reset=neuron.reset,
                     surrogate=surrogate, scale=scale, input_std=net.encoding.std, n_inputs=net.widths[0],
                     n_classes=net.widths[-1], samples=samples, seed=seed, branch_scale=a)
    designed = sew_stds(depth, width, 1, neuron.threshold, 1.0, net.widths[0], net.widths[-1], neuron.beta, T=net.T,
                        reset=neuron.reset, input_std=net.encoding.std, samples=samples, seed=seed, branch_scale=a)
    # the sew_add design gets its one-step twin for xi_c (sew_trainability's default)
    point = sew_trainability(depth, stds=None if np.array_equal(stds, designed) else stds, **arguments)
    return _nan_point("residual", constant, ("xi_c in blocks (one-step block map); chi is the mean per-block gain "
                                             "1 + a^2 chi_branch",), net.T, point, xi_c=point.xi_c,
                      chi=float(np.mean(point.chi_block)), xi_grad=gain_scale(float(np.mean(point.chi_block))),
                      depth=constant * point.xi_c, rate=point.rate[-1])
