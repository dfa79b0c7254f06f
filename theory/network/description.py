"""One description of a deep spiking network, accepted by every evaluator.

A :class:`Network` is a frozen, validated value: the neuron (:class:`theory.core.lif.LIF`), the
widths n_0 .. n_L of a feed-forward stack of ``depth`` = L weight layers, the weights (an
initialiser of :mod:`theory.inits` or explicit per-layer standard deviations), the bias
variance, the number of time steps ``T`` and the input :class:`Encoding`. Every evaluator takes
one and returns a :class:`Profile` (rate, membrane mean and variance per layer and step, with
standard errors where the evaluator has sampling error), so a theory number and its simulation
twin are one call apart::

    net = Network(depth=20, width=2000, neuron=LIF(threshold=1.0, beta=0.5), T=4)
    predicted = theory.mean_field(net)            # infinite width (docs/theory.md §3, §5)
    chain = theory.gram_chain(net)                # exact finite width, sampled (§4, §5)
    measured = simulate.monte_carlo(net, draws=8) # the simulator; measured.profile is a Profile
    print(simulate.compare(measured, predicted))

The evaluators here (all float64):

    mean_field(net)   temporal mean field: C_l = n_{l-1} sigma_l^2 M_{l-1} + bias_var, M_l = LIF(C_l)
                      (equal to the one-step length map q_l = n sigma^2 Q(theta/sqrt q_{l-1}) at T = 1)
    spike_count(net)  exact spike-count chain at T = 1:
                      k_l | k_{l-1} ~ Binomial(n_l, Q(theta / sqrt(sigma_l^2 k_{l-1} + bias_var)))
    gram_chain(net)   exact finite-width Gram chain over T steps (sampled):
                      I_j ~ N(0, sigma_l^2 S_{l-1}^T S_{l-1} + bias_var) i.i.d. over neurons j

Layer 0 is the input LIF layer driven by the encoding (or the given spikes for Bernoulli input).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theory import inits
import snn_validation as validation
from theory.core.lif import LIF

__all__ = ["Encoding", "Network", "Profile", "mean_field", "spike_count", "gram_chain"]

ENCODINGS = ("gaussian", "static", "bernoulli")


@dataclass(frozen=True)
class Encoding:
    """The input of layer 0 over T steps.

    gaussian:  I_0[t] ~ N(0, std^2) i.i.d. per step and neuron
    static:    one I_0 ~ N(0, std^2) per neuron, repeated every step
    bernoulli: layer 0 emits the given spikes, i.i.d. Bernoulli(rate) per step and neuron
    """
    kind: str = "gaussian"
    std: float = 1.0
    rate: float | None = None

    def __post_init__(self):
        validation.choice(self.kind, "encoding", ENCODINGS)
        object.__setattr__(self, "std", float(validation.non_negative(self.std, "input_std")))
        if self.kind == "bernoulli":
            if self.rate is None:
                raise ValueError("rate (the input spike rate, in [0, 1]) must be given for a bernoulli encoding")
            object.__setattr__(self, "rate", float(validation.unit_interval(self.rate, "input_rate")))
        elif self.rate is not None:
            raise ValueError(f"rate is only used by the bernoulli encoding, got rate={self.rate!r} "
                             f"with encoding {self.kind!r}")


@dataclass(frozen=True)
class Network:
    """A feed-forward stack of LIF layers 0..depth (see the module docstring).

    depth     number of weight layers L >= 0 (layer 0 is the input LIF layer)
    width     one integer (every layer) or depth + 1 integers n_0 .. n_L
    neuron    :class:`LIF` (threshold, beta, reset), shared by every layer
    init      initialiser name of :mod:`theory.inits` (default the paper's, "micheli"), used
              with the neuron's threshold and beta and ``init_params``; ignored when
              ``sigma_w`` is given
    sigma_w   explicit weight standard deviation, one number or one per weight layer
              (Gaussian weights)
    bias_var  variance of i.i.d. Gaussian biases (0: no biases)
    T         number of time steps >= 1
    encoding  :class:`Encoding` of the input
    """
    depth: int
    width: int | tuple = 1000
    neuron: LIF = field(default_factory=LIF)
    init: str = "micheli"
    sigma_w: float | tuple | None = None
    init_params: tuple = ()
    bias_var: float = 0.0
    T: int = 1
    encoding: Encoding = field(default_factory=Encoding)

    def __post_init__(self):
        depth = validation.non_negative_int(self.depth, "depth")
        object.__setattr__(self, "depth", depth)
        widths = validation.layer_widths(self.width, depth)
        object.__setattr__(self, "width", tuple(int(n) for n in widths))
        if not isinstance(self.neuron, LIF):
            raise ValueError(f"neuron must be a theory.LIF, got {type(self.neuron).__name__}")
        if not isinstance(self.encoding, Encoding):
            raise ValueError(f"encoding must be a theory.Encoding, got {type(self.encoding).__name__}")
        object.__setattr__(self, "T", validation.time_steps(self.T))
        object.__setattr__(self, "bias_var", float(validation.non_negative(self.bias_var, "bias_var")))
        params = dict(self.init_params)
        object.__setattr__(self, "init_params", tuple(sorted(params.items())))
        if self.sigma_w is None:
            validation.choice(self.init, "init", inits.names())
            # resolved once here (some initialisers solve for their gain), and cached
            stds = [inits.weight_std(self.init, a, b, self.neuron.threshold, self.neuron.beta, **params)
                    for a, b in zip(self.widths[:-1], self.widths[1:])]
            if not np.all(np.isfinite(stds)) or np.any(np.asarray(stds) < 0):
                raise ValueError(f"init {self.init!r} gives no finite weight std for this network")
            object.__setattr__(self, "_stds", tuple(float(s) for s in stds))
        else:
            sigma = np.asarray(validation.non_negative(self.sigma_w, "sigma_w"), dtype=np.float64)
            if sigma.ndim == 0:
                sigma = np.full(depth, float(sigma))
            if sigma.shape != (depth,):
                raise ValueError(f"sigma_w must be a number or a sequence of depth = {depth} values, "
                                 f"got shape {sigma.shape}")
            object.__setattr__(self, "sigma_w", tuple(float(s) for s in sigma))

    @property
    def widths(self) -> tuple:
        """n_0 .. n_L."""
        return self.width

    @property
    def fan_ins(self) -> np.ndarray:
        """Fan-in of each weight layer, n_0 .. n_{L-1}."""
        return np.array(self.widths[:-1], dtype=np.int64)

    @property
    def params(self) -> dict:
        """The initialiser's own parameters as a dict."""
        return dict(self.init_params)

    def weight_stds(self) -> np.ndarray:
        """Weight standard deviation sigma_l of each weight layer l = 1..L (float64, (depth,))."""
        return np.array(self.sigma_w if self.sigma_w is not None else self._stds, dtype=np.float64)

    @property
    def gaussian_weights(self) -> bool:
        """Whether the weights are Gaussian (the chains are exact only then)."""
        if self.sigma_w is not None or self.depth == 0:
            return True
        spec = inits.distribution(self.init, self.widths[0], self.widths[1], self.neuron.threshold,
                                  self.neuron.beta, **self.params)
        return spec["dist"] == "normal"


@dataclass(frozen=True)
class Profile:
    """What an evaluator says about a :class:`Network`, per layer l = 0..L and step t = 1..T.

    rate, mem_mean, mem_var  (L+1, T) float64: E[s_l[t]], and the mean and variance of the
                             membrane u_l[t] as compared with the threshold; NaN where the
                             evaluator does not predict the quantity (the chains track spikes
                             only; Bernoulli input has no layer-0 membrane)
    rate_se, mem_mean_se, mem_var_se  standard errors of the same (0 where exact, e.g. the
                             closed-form mean field at T <= 2 or the spike-count chain)
    silent                   (L+1,) probability (theory) or fraction of draws (simulation) that
                             layer l emits no spike at any step; NaN where not predicted
    source                   "mean field", "spike-count chain", "Gram chain" or "simulation"
    detail                   the evaluator's own full result (TemporalPropagation,
                             SpikeCountChain, TemporalChain, simulate.MonteCarloResult)
    """
    network: Network
    source: str
    rate: np.ndarray
    mem_mean: np.ndarray
    mem_var: np.ndarray
    rate_se: np.ndarray
    mem_mean_se: np.ndarray
    mem_var_se: np.ndarray
    silent: np.ndarray
    detail: object = field(default=None, repr=False, compare=False)

    QUANTITIES = ("rate", "mem_mean", "mem_var")

    @property
    def time_averaged_rate(self) -> np.ndarray:
        """(1/T) sum_t rate[l, t], shape (L+1,)."""
        return self.rate.mean(axis=1)


def _nan(shape):
    return np.full(shape, np.nan)


def _input_kwargs(net: Network) -> dict:
    return dict(encoding=net.encoding.kind, input_std=net.encoding.std, input_rate=net.encoding.rate)


def _check_network(net) -> Network:
    if not isinstance(net, Network):
        raise ValueError(f"net must be a theory.Network, got {type(net).__name__}")
    return net


def mean_field(net: Network, *, samples: int = 20000, seed: int = 0, method: str = "auto") -> Profile:
    """Infinite-width temporal mean field of ``net`` (theory.propagate_temporal):

        C_0 from the encoding,  M_l = LIF(C_l),  C_l = n_{l-1} sigma_l^2 M_{l-1} + bias_var

    exact (closed form and quadrature) for T <= 2, ``samples`` seeded Gaussian paths per layer
    beyond (``method`` "auto", "exact" or "sample"). Silence is not predicted (NaN): at infinite
    width a layer is either silent with certainty or never.
    """
    from theory.meanfield.temporal import propagate_temporal

    net = _check_network(net)
    neuron = net.neuron
    result = propagate_temporal(net.depth, net.T, net.weight_stds(), net.fan_ins, neuron.threshold,
                                neuron.beta, neuron.reset, bias_var=net.bias_var, samples=samples,
                                seed=seed, method=method, **_input_kwargs(net))
    return Profile(net, "mean field", result.rate, result.mem_mean, result.mem_var, result.rate_se,
                   result.mem_mean_se, result.mem_var_se, _nan(net.depth + 1), result)


def spike_count(net: Network) -> Profile:
    """Exact finite-width spike-count chain of ``net`` at one time step (theory.spike_count_chain):

        k_0 ~ Binomial(n_0, Q(theta / std)) (Bernoulli input: Binomial(n_0, rate)),
        k_l | k_{l-1} ~ Binomial(n_l, Q(theta / sqrt(sigma_l^2 k_{l-1} + bias_var)))

    ``rate`` is E[k_l / n_l] (exact, se 0), ``silent`` is P(k_l = 0); membrane statistics are not
    tracked (NaN). Needs T = 1; exact for Gaussian weights only (ValueError otherwise is NOT
    raised: uniform weights give the chain's approximation, see ``net.gaussian_weights``).
    """
    from theory.chains.spike_count import spike_count_chain

    net = _check_network(net)
    if net.T != 1:
        raise ValueError(f"the spike-count chain is a one-step theory: net.T must be 1, got {net.T} "
                         "(use gram_chain for T > 1)")
    neuron = net.neuron
    inputs = (dict(input_rate=net.encoding.rate) if net.encoding.kind == "bernoulli"
              else dict(q0=net.encoding.std ** 2))
    chain = spike_count_chain(net.depth, np.array(net.widths), neuron.threshold,
                              sigma_w=net.weight_stds(), beta=neuron.beta, bias_var=net.bias_var, **inputs)
    shape = (net.depth + 1, 1)
    zeros = np.zeros(shape)
    return Profile(net, "spike-count chain", chain.rate_mean[:, None], _nan(shape), _nan(shape), zeros,
                   _nan(shape), _nan(shape), np.asarray(chain.silent, dtype=np.float64), chain)


def gram_chain(net: Network, *, chains: int = 64, seed: int = 0) -> Profile:
    """Exact finite-width Gram chain of ``net`` over T steps, sampled (theory.chains.gram):

        S_0 from the encoding;  for l = 1..L:  I_j ~ N(0, sigma_l^2 S_{l-1}^T S_{l-1} + bias_var)
        i.i.d. over the n_l neurons j,  S_l[j] = LIF(I_j)

    ``chains`` independent networks-and-inputs from ``seed``; ``rate`` is the mean over chains
    with its standard error; ``silent`` the fraction of chains whose layer emits no spike at any
    step. Membrane statistics are not tracked (NaN). Same law as the simulator per network and
    input for Gaussian weights.
    """
    from theory.chains.gram import temporal_chain

    net = _check_network(net)
    neuron = net.neuron
    chain = temporal_chain(net.depth, np.array(net.widths), net.T, net.weight_stds(), neuron.threshold,
                           neuron.beta, neuron.reset, bias_var=net.bias_var, chains=chains, seed=seed,
                           **_input_kwargs(net))
    shape = (net.depth + 1, net.T)
    return Profile(net, "Gram chain", chain.rate_mean, _nan(shape), _nan(shape), chain.rate_se,
                   _nan(shape), _nan(shape), chain.silent, chain)
