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

from dataclasses import dataclass

import numpy as np

import snn_validation as validation
from theory.core.scales import gain_scale
from theory.core.lif import LIF
from theory.network.description import Encoding, Network

__all__ = ["Trainability", "trainability"]

SCHOENHOLZ_CONSTANT = 6.0
# the constant of the transient rule: a round value; the constant each measured row asks for
# (band midpoint / xi_transient) is a column of the phase diagrams' tables
# (figures/out/trainability_phase.md, trainability_knobs.md, full/trainability_phase.md)
TRANSIENT_CONSTANT = 4.0


@dataclass(frozen=True)
class Trainability:
    """What :func:`trainability` predicts for one network configuration.

    xi_c, xi_grad   depth scales (layers); inf where the slope or gain is exactly critical
    c_star          fixed-point correlation of the two inputs' currents, time-averaged
                    (sum_t C*_ab[t, t] / sum_t C*_aa[t, t]); NaN if the fixed point is silent
    slope, slope_se the pair map's slope at c* and its Monte Carlo standard error
    step_slopes     (T,) the per-step slopes (slope = their maximum)
    chi             asymptotic per-layer gradient gain chi_T
    rate            (T,) firing rate per step at the forward fixed point
    depth           the predicted trainable depth L* = constant * xi_c (weight layers)
    constant        the constant used
    xi_transient    decay scale of the two-start correlation gap over the first layers at the
                    network's width (exact pair chain; NaN if unresolved, e.g. silent)
    xi_transient_se its standard error (the chain's sampling error through the fit)
    depth_transient transient_constant * xi_transient (weight layers)
    transient_constant the constant used for it
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


def trainability(net: Network | None = None, *, threshold=1.0, beta=0.0, T=1, reset="subtract",
                 encoding="static", sigma_w=None, init="micheli", fan_in=100, bias_var=0.0,
                 surrogate="atan", scale=None, constant=SCHOENHOLZ_CONSTANT, samples=8000, seed=0,
                 fixed_point_depth=100, width=None, transient_layers=12, chains=128,
                 transient_constant=TRANSIENT_CONSTANT) -> Trainability:
    """Correlation and gradient depth scales and the predicted trainable depth of a LIF stack.

    The network is a ``theory.Network`` (its neuron, T, encoding, bias variance and the weight
    std of its first hidden layer, i.e. a uniform stack of width n_1 is assumed; its depth is
    not used) or the keywords: threshold, beta, T, reset, encoding ("static" like the pixel
    input of the training loop, "gaussian" or "bernoulli"), sigma_w or init (registry name,
    evaluated at fan_in), fan_in, bias_var; surrogate and scale for the backward gain.
    Infinite width for xi_c and chi, seeded path sampling (``samples`` paths, ``seed``) where
    T > 1. xi_transient: the exact pair chain of a uniform stack of ``width`` neurons (default
    fan_in) over ``transient_layers`` layers, ``chains`` runs per start (input correlations 0.2
    and 0.9), the same seed.
    """
    from theory.meanfield.pair import pair_fixed_point
    from theory.chains.pair_chain import correlation_decay
    from theory.gradients.temporal import temporal_chi

    if net is not None:
        if not isinstance(net, Network):
            raise ValueError(f"net must be a theory.Network, got {type(net).__name__}")
        if net.depth < 1:
            raise ValueError("net must have at least one weight layer (depth >= 1)")
        neuron = net.neuron
        threshold, beta, reset, T = neuron.threshold, neuron.beta, neuron.reset, net.T
        encoding_kind, input_rate = net.encoding.kind, net.encoding.rate
        fan_in = net.widths[1] if net.depth > 1 else net.widths[0]
        sigma = float(net.weight_stds()[min(1, net.depth - 1)])
        bias_var = net.bias_var
    else:
        spec = Network(depth=1, width=fan_in, neuron=LIF(threshold, beta, reset), init=init,
                       sigma_w=sigma_w, bias_var=bias_var, T=T,
                       encoding=Encoding(encoding, rate=0.2 if encoding == "bernoulli" else None))
        threshold, beta, reset = spec.neuron.threshold, spec.neuron.beta, spec.neuron.reset
        T, bias_var, fan_in = spec.T, spec.bias_var, spec.widths[0]
        encoding_kind, input_rate = spec.encoding.kind, spec.encoding.rate
        sigma = float(spec.weight_stds()[0])
    constant = float(validation.positive(constant, "constant"))
    transient_constant = float(validation.positive(transient_constant, "transient_constant"))
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
                        depth=constant * xi_c, constant=constant, xi_transient=decay["xi"], xi_transient_se=decay["xi_se"],
                        depth_transient=transient_constant * decay["xi"], transient_constant=transient_constant)
