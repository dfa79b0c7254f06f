"""The evaluators of a network description that return a :class:`Profile` (float64).

    mean_field(net)   walks the description layer by layer with each layer's infinite-width rule
                      (theory.network.rules, theory.regimes.residual): for a plain stack the
                      temporal mean field C_l = n_{l-1} sigma_l^2 M_{l-1} + bias_var, M_l = LIF(C_l)
                      (the numbers of theory.propagate_temporal, bit for bit); convolutions,
                      pooling, batch norm and residual blocks by their rules (docs/theory.md §11)
    spike_count(net)  exact spike-count chain at T = 1 of a plain dense stack:
                      k_l | k_{l-1} ~ Binomial(n_l, Q(theta / sqrt(sigma_l^2 k_{l-1} + bias_var)))
                      (alpha-stable weights: the heavy-tailed count chain)
    gram_chain(net)   exact finite-width Gram chain over T steps of a plain dense stack (sampled):
                      I_j ~ N(0, sigma_l^2 S_{l-1}^T S_{l-1} + bias_var) i.i.d. over neurons j

The chains are exact for plain dense stacks with Gaussian weights only; for anything else they
raise a ValueError saying so (the simulator, ``simulate.monte_carlo``, runs every description).
"""
from __future__ import annotations

import numpy as np

import snn_validation as validation
from theory.chains.gram import temporal_chain
from theory.chains.spike_count import spike_count_chain
from theory.core.laws import Stable
from theory.core.lif import LIF
from theory.meanfield.temporal import TemporalPropagation, input_layer, layer_moments, lif_moments, resolve_method
from theory.network import rules
from theory.network.description import Network, kinds
from theory.network.layers import AvgPool, Conv, MaxPool
from theory.network.profile import Profile
from theory.network.signal import current, spikes

__all__ = ["mean_field", "spike_count", "gram_chain", "MeanField", "check_network"]


def check_network(net) -> Network:
    if not isinstance(net, Network):
        raise ValueError(f"net must be a theory.Network, got {type(net).__name__}")
    return net


def _nan(shape):
    return np.full(shape, np.nan)


class MeanField:
    """The walker's context (see theory.network.rules): T, the method, the random streams, the
    resolved weight laws in order, and the rows it records."""

    def __init__(self, net: Network, samples, seed, method):
        self.net = net
        self.T = net.T
        self.method = resolve_method(method, net.T)
        self.samples = int(validation.positive_int(samples, "samples"))
        if self.samples < 2:
            raise ValueError(f"samples must be >= 2 (a standard error needs two paths), got {samples!r}")
        seed = validation.non_negative_int(seed, "seed")
        self.rng = np.random.default_rng(seed)
        self.aux = np.random.default_rng([seed, 0x5EC0])
        self.spatial = bool(kinds(net.layers) & {Conv, MaxPool, AvgPool})
        self._plan = iter(net.plan)
        self.rows, self.covs, self.labels, self.stream = [], [], [], []
        self.block = None
        self.entry = None

    def normals(self):
        return self.rng.standard_normal((self.samples, self.T)) if self.method == "sample" else None

    def law(self, layer):
        entry = next(self._plan)
        if entry.layer is not layer:
            raise RuntimeError("the walk and the plan disagree on the order of the weight layers")
        return entry.law

    def lif_moments(self, neuron: LIF, mean, cov, normals):
        if neuron.deterministic:
            return layer_moments(mean, cov, neuron.threshold, neuron.beta, neuron.reset, self.method, normals)
        if normals is None:
            normals = self.aux.standard_normal((self.samples, self.T))
        return lif_moments(mean, cov, neuron.threshold, neuron.beta, neuron.reset, normals, neuron.firing.tau,
                           self.aux)

    def apply(self, layer, signal):
        if isinstance(layer, LIF):
            return rules.lif(layer, signal, self)
        return layer.mean_field(signal, self)

    def record_neuron(self, neuron, moments, cov):
        self.rows.append(moments)
        self.covs.append(cov)
        where = f"block {self.block} " if self.block is not None else ""
        self.labels.append(f"{where}LIF {len(self.rows) - 1}")

    def record_stream(self, mean, entry=None):
        """The stream's mean after a residual block (before the first: ``entry``, the Signal
        entering it, kept as ``self.entry`` for designs that scale blocks to it)."""
        self.stream.append(np.asarray(mean, dtype=np.float64))
        if entry is not None and self.entry is None:
            self.entry = entry

    def input_signal(self):
        """The encoding's signal (and, for input spikes, row 0)."""
        net, T = self.net, self.T
        kind, first, second = input_layer(T, net.encoding.kind, net.encoding.std, 0.0, net.encoding.rate)
        shape = net.input
        if kind == "spikes":
            rate = np.full(T, first)
            self.rows.append(("input", rate, second))
            self.covs.append(_nan((T, T)))
            self.labels.append("input")
            return spikes(shape, rate, second, np.outer(rate, rate) if self.spatial else None)
        zeros = np.zeros((T, T))
        return current(shape, first, second, zeros if self.spatial else None, zeros)


def mean_field(net: Network, *, samples: int = 20000, seed: int = 0, method: str = "auto") -> Profile:
    """Infinite-width mean field of ``net``, walked layer by layer (module docstring): exact
    (closed form and quadrature) for T <= 2 where the layer allows it, ``samples`` seeded Gaussian
    paths per neuron layer beyond (``method`` "auto", "exact" or "sample"); two-unit moments,
    pooled and normalised currents are sampled from a second seeded stream. Silence is not
    predicted (NaN): at infinite width a layer is either silent with certainty or never."""
    net = check_network(net)
    ctx = MeanField(net, samples, seed, method)
    ctx.apply(net.layers, ctx.input_signal())
    return _profile(net, ctx)


def _profile(net, ctx) -> Profile:
    rows, T = len(ctx.rows), net.T
    out = {key: np.full((rows, T), np.nan) for key in
           ("rate", "mem_mean", "mem_var", "rate_se", "mem_mean_se", "mem_var_se")}
    second = np.full((rows, T, T), np.nan)
    for i, row in enumerate(ctx.rows):
        if isinstance(row, tuple):                           # the input spikes
            out["rate"][i], out["rate_se"][i], second[i] = row[1], 0.0, row[2]
            continue
        for key in out:
            out[key][i] = getattr(row, key)
        second[i] = row.second_moment
    detail = TemporalPropagation(second_moment=second, current_cov=np.array(ctx.covs), **out)
    stream = np.array(ctx.stream) if ctx.stream else None
    return Profile(net, "mean field", out["rate"], out["mem_mean"], out["mem_var"], out["rate_se"],
                   out["mem_mean_se"], out["mem_var_se"], _nan(rows), detail, stream, tuple(ctx.labels))


def _plain_only(net, what):
    if not net.plain:
        raise ValueError(f"the {what} is exact for plain dense stacks (an input LIF layer and (Dense, LIF) layers "
                         "with one deterministic neuron; docs/theory.md §4, §5); this network is not one: use "
                         "theory.mean_field or simulate.monte_carlo")


def spike_count(net: Network) -> Profile:
    """Exact finite-width spike-count chain of a plain stack at one time step
    (theory.spike_count_chain; alpha-stable weights: theory.regimes.heavy_tailed.count_chain):

        k_0 ~ Binomial(n_0, Q(theta / std)) (Bernoulli input: Binomial(n_0, rate)),
        k_l | k_{l-1} ~ Binomial(n_l, Q(theta / sqrt(sigma_l^2 k_{l-1} + bias_var)))

    ``rate`` is E[k_l / n_l] (exact, se 0), ``silent`` is P(k_l = 0); membrane statistics are not
    tracked (NaN). Needs T = 1; exact for Gaussian weights (uniform weights: the chain's
    approximation, see ``net.gaussian_weights``)."""
    net = check_network(net)
    _plain_only(net, "spike-count chain")
    if net.T != 1:
        raise ValueError(f"the spike-count chain is a one-step theory: net.T must be 1, got {net.T} "
                         "(use gram_chain for T > 1)")
    neuron = net.neuron
    shape = (net.depth + 1, 1)
    zeros = np.zeros(shape)
    if any(isinstance(entry.law, Stable) for entry in net.plan):
        chain = _stable_count_chain(net)
        return Profile(net, "spike-count chain", chain.rate[:, None], _nan(shape), _nan(shape), zeros,
                       _nan(shape), _nan(shape), np.asarray(chain.silent, dtype=np.float64), chain)
    inputs = (dict(input_rate=net.encoding.rate) if net.encoding.spikes else dict(q0=net.encoding.std ** 2))
    chain = spike_count_chain(net.depth, np.array(net.widths), neuron.threshold, sigma_w=net.weight_stds(),
                              beta=neuron.beta, bias_var=net.bias_var, **inputs)
    return Profile(net, "spike-count chain", chain.rate_mean[:, None], _nan(shape), _nan(shape), zeros,
                   _nan(shape), _nan(shape), np.asarray(chain.silent, dtype=np.float64), chain)


def _stable_count_chain(net):
    from theory.regimes.heavy_tailed import count_chain
    laws = {(entry.law, entry.fan_in) for entry in net.plan}
    widths = set(net.widths)
    if len(laws) != 1 or len(widths) != 1 or not net.encoding.spikes or net.bias_var:
        raise ValueError("the heavy-tailed count chain needs a uniform stack (one width, one alpha-stable law, "
                         "no biases) driven by bernoulli input spikes")
    (law, fan_in), = laws
    gain = law.scale * fan_in ** (1.0 / law.alpha)
    return count_chain(net.depth, widths.pop(), law.alpha, gain, net.neuron.threshold, net.encoding.rate)


def gram_chain(net: Network, *, chains: int = 64, seed: int = 0) -> Profile:
    """Exact finite-width Gram chain of a plain stack over T steps, sampled (theory.temporal_chain):

        S_0 from the encoding;  for l = 1..L:  I_j ~ N(0, sigma_l^2 S_{l-1}^T S_{l-1} + bias_var)
        i.i.d. over the n_l neurons j,  S_l[j] = LIF(I_j)

    ``chains`` independent networks-and-inputs from ``seed``; ``rate`` is the mean over chains
    with its standard error; ``silent`` the fraction of chains whose layer emits no spike at any
    step. Membrane statistics are not tracked (NaN). Same law as the simulator per network and
    input for Gaussian weights."""
    net = check_network(net)
    _plain_only(net, "Gram chain")
    if not all(entry.law.std is not None for entry in net.plan):
        raise ValueError("the Gram chain needs weights with a variance (alpha-stable weights have none)")
    chains = int(validation.positive_int(chains, "chains"))
    if chains < 2:
        raise ValueError(f"chains must be >= 2 (a standard error needs two chains), got {chains}")
    neuron = net.neuron
    chain = temporal_chain(net.depth, np.array(net.widths), net.T, net.weight_stds(), neuron.threshold,
                           neuron.beta, neuron.reset, bias_var=net.bias_var, chains=chains, seed=seed,
                           encoding=net.encoding.kind, input_std=net.encoding.std, input_rate=net.encoding.rate)
    shape = (net.depth + 1, net.T)
    return Profile(net, "Gram chain", chain.rate_mean, _nan(shape), _nan(shape), chain.rate_se,
                   _nan(shape), _nan(shape), chain.silent, chain)
