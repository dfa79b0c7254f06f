"""Signal propagation through residual spiking blocks with spike ADD shortcuts (SEW), float64.

Network (simulate/residual.py, docs/theory.md §9 "Residual spiking blocks"): a stem layer emits
binary spikes h_1 = s_1; N blocks of k LIF layers each add their last layer's spikes to the
stream, h_{j+1} = h_j + x_j with x_j = branch(h_j); the output layer reads h_{N+1}. Weights are
zero-mean, i.i.d., std sigma; a layer reading an input y of (raw) second moment M_y = E[y y^T]
gets the zero-mean Gaussian current of covariance n sigma^2 M_y (infinite width).

Stream moments (per neuron; m = E[h] and M = E[h h^T], T x T over the steps). At infinite width
the branch current of neuron i, sum_j h_j W_ji, is independent of neuron i's own stream value,
so the branch output x (rate p, second moment M_x) is independent of h_i and

    m_{j+1} = m_j + p_j,      M_{j+1} = M_j + m_j p_j^T + p_j m_j^T + M_x,j.

The stream is an integer spike count (0 .. j) per neuron and step; the next layer sees it
through the same linear map, so a stream value of 2 counts its weight row twice.

One step (T = 1), exact. With q = n sigma^2 M_j the branch's current variance and
p = Q(theta / sqrt q): m_{j+1} = m_j + p, M_{j+1} = M_j + 2 m_j p + p. For two inputs a, b the
cross moment X = E[h^a h^b] obeys X_{j+1} = X_j + 2 m_j p + P2_branch(c_j), where c_j = X_j / M_j
is the stream's cosine, which is exactly the correlation of the two currents the next layer
receives (Poole et al.'s c), and P2_branch is the branch's joint firing probability (for one
layer P2(theta/sqrt q, c), the orthant of theory.core.gaussian). The block's correlation map

    c_{j+1} = F_j(c_j) = [c_j M_j + 2 m_j p + P2_branch(c_j)] / M_{j+1}

has c = 1 as a fixed point and a stable one c*_j < 1; its slope there,
F_j'(c*) = [M_j + P2_branch'(c*)] / M_{j+1}, sets the block's correlation depth scale
xi_c = -1/ln F_j'(c*). The shortcut carries M_j unchanged, so the slope is 1 minus the branch's
share of the stream's second moment, 1 - (2 m_j p + p - P2_branch'(c*)) / M_{j+1}: the smaller
the branch, the longer xi_c (the plain layer's slope is P2'(c*)/p, 0.476 at theta = 1).

Backward: dh_j = dh_{j+1} + W dI_j (the shortcut's Jacobian is the identity), and at infinite
width the two terms are uncorrelated, so the gradient's second moment gains per block

    chi_block = 1 + chi_branch,   chi_branch = n sigma^2 max_t E[g(u[t] - theta)^2]

(the branch's temporal gain, theory.gradients.temporal; a product over the branch's layers for
k > 1). Over N blocks the gradient grows by prod_j chi_block,j <= exp(sum_j chi_branch,j).

Blocks may scale their spikes on the stream by a branch multiplier a (h_{j+1} = h_j + a x_j;
simulate.residual.branch_scale: 1/sqrt(N), 1/N or 1); then m and M above gain a p and
a (m p^T + p m^T) + a^2 M_x, the cross moment 2 a m p + a^2 P2_branch, and chi_block = 1 +
a^2 chi_branch.

Initialisation ``sew_add`` (registry theory.inits): Var[w] = q / (n M), M the time-averaged
second moment of the layer's input and q the current variance it should have. The per-network
rule :func:`sew_stds`: the stem is the paper's ``micheli``; the output layer and the inner
branch layers get q = 1 for their input (the stream's M_{N+1}, resp. binary spikes at the
paper's rate Q(theta)); the last layer of each branch the q_b for which the block fires at
p_b = budget * p0 / (N a), p0 = Q(theta): the N blocks together raise the stream's mean by
``budget`` times the stem's rate. One step: q_b = (theta / Q^{-1}(p_b))^2 and

    M_j = p0 + (j - 1)(a^2 p_b + 2 a p_b p0) + (j - 1)(j - 2) a^2 p_b^2;

T steps: q_b by a root search on the temporal mean field, block by block (:func:`sew_stds` with
``T``), because a static current integrated by the leak fires more often than one step says.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

import snn_validation as validation
from theory.core.closed_form import optimal_sigma
from theory.core.gaussian import orthant, tail
from theory.core.laws import Initialiser
from theory.meanfield.temporal import layer_moments, propagate_temporal, resolve_method
from theory.gradients.temporal import step_gains, lif_jacobians

__all__ = ["block_count", "block_rate", "branch_std_gain", "stream_second_moment", "sew_stds", "SewPropagation",
           "propagate_sew", "SewCorrelation", "sew_correlation", "SewTrainability", "sew_trainability"]


def block_count(depth, block_layers) -> int:
    """Number of residual blocks N = (depth - 3) / block_layers of a ``depth``-LIF-layer network
    (input, stem and output layers plus N blocks of ``block_layers`` LIF layers); ValueError
    unless depth >= 3 and block_layers (>= 1) divides depth - 3."""
    depth = int(validation.non_negative_int(depth, "depth"))
    block_layers = int(validation.positive_int(block_layers, "block_layers"))
    if depth < 3:
        raise ValueError(f"depth must be >= 3 for a residual network (input, stem and output LIF layers), got {depth}")
    if (depth - 3) % block_layers:
        raise ValueError(f"block_layers must divide depth - 3 = {depth - 3} (the hidden width -> width layers), "
                         f"got block_layers={block_layers}")
    return (depth - 3) // block_layers


def _blocks(n_blocks):
    return int(validation.positive_int(n_blocks, "n_blocks"))


def _positive_threshold(threshold):
    threshold = float(validation.finite(threshold, "threshold"))
    if threshold <= 0.0:
        raise ValueError(f"threshold must be > 0 for the sew_add init (a block at rate p_b needs "
                         f"theta / sqrt(q_b) = Q^-1(p_b) > 0), got {threshold}")
    return threshold


def block_rate(n_blocks, threshold=1.0, budget=1.0, branch_scale=1.0) -> float:
    """p_b = budget * Q(theta) / (N a), the firing rate of every block under ``sew_add`` (the N
    blocks, each adding a times its spikes, raise the stream's mean by budget times the stem's
    rate Q(theta)); ValueError unless 0 < p_b < 1/2 (a rate at or above 1/2 needs theta <= 0)."""
    n_blocks = _blocks(n_blocks)
    threshold = _positive_threshold(threshold)
    budget = float(validation.positive(budget, "budget"))
    a = float(validation.positive(branch_scale, "branch_scale"))
    p_b = budget * float(tail(threshold)) / (n_blocks * a)
    if not 0.0 < p_b < 0.5:
        raise ValueError(f"budget must give a block rate budget * Q(theta) / n_blocks in (0, 1/2), got "
                         f"{p_b:.4g} (budget={budget}, threshold={threshold}, n_blocks={n_blocks})")
    return p_b


def branch_std_gain(n_blocks, threshold=1.0, budget=1.0, branch_scale=1.0) -> float:
    """sqrt(q_b) = theta / Q^{-1}(p_b): the std of a block's last-layer current under ``sew_add``
    (one step)."""
    p_b = block_rate(n_blocks, threshold, budget, branch_scale)
    return float(threshold / special.ndtri(1.0 - p_b))


def stream_second_moment(block, n_blocks, threshold=1.0, budget=1.0, branch_scale=1.0) -> float:
    """One-step M_j = E[h_j^2] of the stream entering block j (j = 1 .. N + 1; N + 1 is what the
    output layer reads): p0 + (j-1) (a^2 p_b + 2 a p_b p0) + (j-1)(j-2) a^2 p_b^2, p0 = Q(theta)."""
    n_blocks = _blocks(n_blocks)
    block = int(validation.positive_int(block, "block"))
    if block > n_blocks + 1:
        raise ValueError(f"block must lie in [1, n_blocks + 1 = {n_blocks + 1}], got {block}")
    p0 = float(tail(_positive_threshold(threshold)))
    a = float(validation.positive(branch_scale, "branch_scale"))
    p_b = block_rate(n_blocks, threshold, budget, a)
    j = block - 1
    return p0 + j * (a * a * p_b + 2.0 * a * p_b * p0) + j * (j - 1) * (a * p_b) ** 2


def _sew_add(fan_in, fan_out, threshold, beta, current_var=1.0, input_second=None):
    """One layer of a SEW-ADD network: Var[w] = q / (n M), so that the layer's current has variance
    q given an input of time-averaged second moment M (default M = Q(theta), the paper's binary
    fixed point, and q = 1: then it is the paper's ``micheli``)."""
    q = float(validation.positive(current_var, "current_var"))
    second = float(tail(threshold)) if input_second is None else float(validation.positive(input_second, "input_second"))
    return float(np.sqrt(q / (fan_in * second)))


def _micheli_std(fan_in, threshold) -> float:
    """The paper's std 1/sqrt(n Q(theta)) for the stem and the plain output layer."""
    return float(optimal_sigma(float(threshold), int(fan_in)))


def _rate_root(cov_shape, target, threshold, beta, reset, normals, method):
    """q such that a LIF driven by the zero-mean current q * cov_shape fires at time-averaged
    rate ``target`` (bracketed root of the temporal LIF map, common random numbers)."""
    T = cov_shape.shape[0]

    def excess(log_q):
        return float(layer_moments(np.zeros(T), np.exp(log_q) * cov_shape, threshold, beta, reset, method,
                                   normals).rate.mean()) - target

    lo, hi = np.log(1e-6), np.log(1e4)
    if excess(lo) >= 0.0 or excess(hi) <= 0.0:
        raise ValueError(f"budget gives a block rate {target:.4g} that no current variance reaches "
                         f"(threshold={threshold}, beta={beta})")
    return float(np.exp(optimize.brentq(excess, lo, hi, xtol=1e-10)))


def sew_stds(depth, width=100, block_layers=1, threshold=1.0, budget=1.0, n_inputs=784, n_classes=10,
             beta=0.0, T=None, reset="subtract", input_std=1.0, samples=4000, seed=0, branch_scale=1.0) -> list[float]:
    """Per-layer weight stds of a ``depth``-LIF-layer SEW-ADD network under the ``sew_add`` rule:
    the stem (n_inputs -> width) the paper's ``micheli``; in block j the layer reading the stream
    gets sigma^2 = q / (n M_j) (M_j the stream's time-averaged second moment), inner branch layers
    q = 1 for their binary input, and each branch's last layer the q that makes the block fire at
    p_b = budget Q(theta) / N; the output layer q = 1 for M_{N+1}. ``T=None``: one-step mean
    field (closed form, q_b = (theta/Q^-1(p_b))^2); ``T`` steps: the temporal mean field of
    :func:`propagate_sew` with a static Gaussian input of std ``input_std`` (the training loop's
    pixels are static), q_b found per block by a root search on the block's rate (``samples``
    seeded paths). depth - 1 values."""
    n_blocks = block_count(depth, block_layers)
    stds = [_micheli_std(n_inputs, threshold)]
    if n_blocks == 0:
        return stds + [_micheli_std(width, threshold)]
    a = float(validation.positive(branch_scale, "branch_scale"))
    p_b = block_rate(n_blocks, threshold, budget, a)
    p0 = float(tail(threshold))

    def layer(fan_in, q, second):
        return _sew_add(int(fan_in), None, float(threshold), float(beta), current_var=q, input_second=second)

    if T is None:
        q_b = branch_std_gain(n_blocks, threshold, budget, a) ** 2
        for block in range(1, n_blocks + 1):
            second = stream_second_moment(block, n_blocks, threshold, budget, a)
            for inner in range(block_layers):
                last = inner == block_layers - 1
                stds.append(layer(width, q_b if last else 1.0, second if inner == 0 else p0))
        return stds + [layer(width, 1.0, stream_second_moment(n_blocks + 1, n_blocks, threshold, budget, a))]

    T = validation.time_steps(T)
    method = resolve_method("auto", T)
    first = propagate_temporal(1, T, stds[0], n_inputs, threshold, beta, reset, encoding="static",
                               input_std=input_std, samples=samples, seed=seed, method=method)
    rng = np.random.default_rng([int(validation.non_negative_int(seed, "seed")), 3])
    mean, second = first.rate[1].copy(), first.second_moment[1].copy()
    for block in range(n_blocks):
        inputs = second
        for inner in range(block_layers):
            normals = rng.standard_normal((samples, T)) if method == "sample" else None
            level = float(np.mean(np.diag(inputs)))
            shape = inputs / level
            q = 1.0 if inner < block_layers - 1 else _rate_root(shape, p_b, threshold, beta, reset, normals, method)
            stds.append(layer(width, q, level))
            moments = layer_moments(np.zeros(T), q * shape, threshold, beta, reset, method, normals)
            inputs = moments.second_moment
        p = moments.rate
        second = second + a * (np.outer(mean, p) + np.outer(p, mean)) + a * a * moments.second_moment
        mean = mean + a * p
    return stds + [layer(width, 1.0, float(np.mean(np.diag(second))))]


@dataclass(frozen=True)
class SewPropagation:
    """Temporal mean field of a SEW-ADD network (index = LIF layer, 0 = input, as simulate's rates).

    rate          (depth, T) firing rate per step of every LIF layer's own spikes
    rate_se       (depth, T) Monte Carlo standard errors (0 where exact)
    stream_mean   (N + 1, T) m_j = E[h_j[t]], j = 1 (stem) .. N + 1
    stream_second (N + 1, T, T) M_j
    block_cov     (N, T, T) current covariance of each block's last layer
    block_gain    (N,) n sigma^2 of each block's last layer
    """
    rate: np.ndarray
    rate_se: np.ndarray
    stream_mean: np.ndarray
    stream_second: np.ndarray
    block_cov: np.ndarray
    block_gain: np.ndarray

    @property
    def time_averaged_rate(self) -> np.ndarray:
        return self.rate.mean(axis=1)


def propagate_sew(stds, widths, T, block_layers=1, threshold=1.0, beta=0.0, reset="subtract",
                  encoding="static", input_std=1.0, samples=20000, seed=0, method="auto",
                  branch_scale=1.0) -> SewPropagation:
    """Temporal mean field of a SEW-ADD network with per-layer weight ``stds`` (depth - 1 values)
    and LIF-layer ``widths`` (depth values; widths[l] is the fan-in of stds[l]): the input layer
    and the stem by theory.propagate_temporal (``encoding``: "static" repeats one Gaussian current
    of std ``input_std`` at every step, as the training loop's pixels; "gaussian" draws it fresh),
    then the stream recursion of the module docstring with every branch layer's moments from the
    same LIF map (current covariance n sigma^2 M of its input; ``samples`` seeded paths per layer,
    or exact when T <= 2), then the output layer. Float64."""
    depth = len(widths)
    if len(stds) != depth - 1:
        raise ValueError(f"stds must have depth - 1 = {depth - 1} entries (one per weight layer), got {len(stds)}")
    n_blocks = block_count(depth, block_layers)
    T = validation.time_steps(T)
    method = resolve_method(method, T)
    a = float(validation.positive(branch_scale, "branch_scale"))
    gains = [int(validation.positive_int(n, "widths")) * float(validation.non_negative(s, "stds")) ** 2
             for n, s in zip(widths[:-1], stds)]
    first = propagate_temporal(1, T, stds[0], widths[0], threshold, beta, reset, encoding=encoding,
                               input_std=input_std, samples=samples, seed=seed, method=method)
    rng = np.random.default_rng([int(validation.non_negative_int(seed, "seed")), 1])
    zero = np.zeros(T)
    rate, rate_se = [first.rate[0], first.rate[1]], [first.rate_se[0], first.rate_se[1]]
    mean, second = first.rate[1].copy(), first.second_moment[1].copy()
    stream_mean, stream_second, block_cov, block_gain = [mean.copy()], [second.copy()], [], []

    def lif(cov):
        normals = rng.standard_normal((samples, T)) if method == "sample" else None
        return layer_moments(zero, cov, threshold, beta, reset, method, normals)

    layer = 1
    for _ in range(n_blocks):
        inputs = second
        for _inner in range(block_layers):
            cov = gains[layer] * inputs
            moments = lif(cov)
            rate.append(moments.rate)
            rate_se.append(moments.rate_se)
            inputs = moments.second_moment
            layer += 1
        block_cov.append(cov)
        block_gain.append(gains[layer - 1])
        p = moments.rate
        second = second + a * (np.outer(mean, p) + np.outer(p, mean)) + a * a * moments.second_moment
        mean = mean + a * p
        stream_mean.append(mean.copy())
        stream_second.append(second.copy())
    moments = lif(gains[layer] * second)
    rate.append(moments.rate)
    rate_se.append(moments.rate_se)
    return SewPropagation(rate=np.array(rate), rate_se=np.array(rate_se), stream_mean=np.array(stream_mean),
                          stream_second=np.array(stream_second), block_cov=np.array(block_cov).reshape(-1, T, T),
                          block_gain=np.array(block_gain))


@dataclass(frozen=True)
class SewCorrelation:
    """One-step (T = 1) correlation map of the stream, exact, per block j = 1..N.

    c_star    (N,) stable fixed point of the block map F_j
    slope     (N,) F_j'(c*_j)
    xi_c      (N,) -1/ln slope (blocks)
    block_rate (N,) p_j,  stream_second (N + 1,) M_j
    """
    c_star: np.ndarray
    slope: np.ndarray
    xi_c: np.ndarray
    block_rate: np.ndarray
    stream_second: np.ndarray


def _branch_cross(c, gains, second_in, threshold):
    """Rate and joint firing probability of a branch of binary LIF layers at one step, for
    two inputs whose stream has cosine c and second moment ``second_in``."""
    moment, corr = second_in, c
    for gain in gains:
        z = threshold / np.sqrt(gain * moment)
        p = float(tail(z))
        both = float(orthant(z, np.clip(corr, -1.0, 1.0)))
        moment, corr = p, (both / p if p > 0 else 1.0)
    return p, both


def sew_correlation(stds, widths, block_layers=1, threshold=1.0, stem_rate=None, eps=1e-6,
                    branch_scale=1.0) -> SewCorrelation:
    """The exact one-step correlation map of each block (module docstring) along the one-step
    mean field of the network: stem rate ``stem_rate`` (default the paper's fixed point Q(theta)),
    then M_j from the branch rates. Slopes by central differences of the exact map (``eps``)."""
    depth = len(widths)
    n_blocks = block_count(depth, block_layers)
    threshold = float(validation.finite(threshold, "threshold"))
    gains = [n * float(s) ** 2 for n, s in zip(widths[:-1], stds)]
    a = float(validation.positive(branch_scale, "branch_scale"))
    p0 = float(tail(threshold)) if stem_rate is None else float(validation.unit_interval(stem_rate, "stem_rate"))
    mean = second = p0
    seconds, rates, c_stars, slopes = [second], [], [], []
    for block in range(n_blocks):
        branch = gains[1 + block * block_layers: 1 + (block + 1) * block_layers]
        p, _ = _branch_cross(1.0, branch, second, threshold)
        new_second = second + 2.0 * a * mean * p + a * a * p

        def F(c, second=second, mean=mean, p=p, new_second=new_second, branch=branch):
            return (c * second + 2.0 * a * mean * p + a * a * _branch_cross(c, branch, second, threshold)[1]) / new_second

        top = 1.0 - 1e-9
        if F(top) - top <= 0.0:      # no fixed point below 1 (e.g. a silent branch): c = 1 attracts
            c_star = 1.0
            slope = second / new_second
        else:
            c_star = optimize.brentq(lambda c: F(c) - c, -1.0 + 1e-12, top, xtol=1e-14)
            lo, hi = max(c_star - eps, -1.0), min(c_star + eps, 1.0)
            slope = (F(hi) - F(lo)) / (hi - lo)
        c_stars.append(c_star)
        slopes.append(slope)
        rates.append(p)
        mean, second = mean + a * p, new_second
        seconds.append(second)
    slopes = np.array(slopes)
    with np.errstate(divide="ignore"):
        xi = np.where(slopes >= 1.0, np.inf, -1.0 / np.log(np.clip(slopes, 1e-300, 1.0)))
    return SewCorrelation(c_star=np.array(c_stars), slope=slopes, xi_c=xi, block_rate=np.array(rates),
                          stream_second=np.array(seconds))


@dataclass(frozen=True)
class SewTrainability:
    """Summary of a SEW-ADD network's depth scales (the analogue of theory.Trainability).

    xi_c             smallest one-step block correlation depth scale (blocks) over the network
    xi_c_blocks      (N,) per block
    slope            (N,) per-block slope of the correlation map at its fixed point
    chi_branch       (N,) n sigma^2 max_t E[g(u[t]-theta)^2] of each block's last layer (T steps)
    chi_block        (N,) 1 + a^2 chi_branch (a = branch_scale)
    gradient_growth  prod_j chi_block: the gradient's second-moment gain from output to stem
    rate             (depth, T) temporal mean-field rates, stream_mean (N + 1, T)
    stds             the per-layer weight stds used
    """
    xi_c: float
    xi_c_blocks: np.ndarray
    slope: np.ndarray
    chi_branch: np.ndarray
    chi_block: np.ndarray
    gradient_growth: float
    rate: np.ndarray
    stream_mean: np.ndarray
    stds: list


def sew_trainability(depth, width=100, block_layers=1, T=8, threshold=1.0, beta=0.5, reset="subtract",
                     budget=1.0, stds=None, design_T="same", surrogate="atan", scale=None, input_std=1.0, n_inputs=784,
                     n_classes=10, samples=4000, seed=0, branch_scale=1.0) -> SewTrainability:
    """xi_c (one-step, exact), chi per block (T steps, sampled) and the temporal mean-field rates of
    a SEW-ADD network of ``depth`` LIF layers whose blocks add ``branch_scale`` (a) times their
    spikes. ``stds`` default: :func:`sew_stds` (the ``sew_add`` init with ``budget``, designed with
    the temporal mean field at ``T`` when ``design_T`` is "same", with the one-step closed form when
    it is None); xi_c is then the one-step map of the one-step design, whose blocks fire at the same
    p_b. Or give any per-layer stds (e.g. the paper's init in every layer): xi_c is then their
    one-step map. chi_block = 1 + a^2 chi_branch. Blocks of one LIF layer (``block_layers`` = 1):
    the gain of a longer branch is not computed."""
    if int(validation.positive_int(block_layers, "block_layers")) != 1:
        raise ValueError(f"block_layers must be 1 for sew_trainability (one-layer branches), got {block_layers}")
    widths = [n_inputs] + [width] * (depth - 2) + [n_classes]
    a = float(validation.positive(branch_scale, "branch_scale"))
    one_step = stds
    if stds is None:
        stds = sew_stds(depth, width, block_layers, threshold, budget, n_inputs, n_classes, beta,
                        T if design_T == "same" else design_T, reset, input_std, samples, seed, a)
        one_step = sew_stds(depth, width, block_layers, threshold, budget, n_inputs, n_classes, beta, None,
                            branch_scale=a)
    forward = propagate_sew(stds, widths, T, block_layers, threshold, beta, reset, "static", input_std,
                            samples=samples, seed=seed, branch_scale=a)
    corr = sew_correlation(one_step, widths, block_layers, threshold, branch_scale=a)
    normals = np.random.default_rng([seed, 2]).standard_normal((samples, T))
    chi_branch = []
    for j, cov in enumerate(forward.block_cov):
        K = lif_jacobians(cov, threshold, beta, reset, surrogate, scale, normals)
        chi_branch.append(float(step_gains(K, forward.block_gain[j]).max()))
    chi_branch = np.array(chi_branch)
    chi_block = 1.0 + a * a * chi_branch
    return SewTrainability(xi_c=float(corr.xi_c.min()) if len(corr.xi_c) else float("nan"),
                           xi_c_blocks=corr.xi_c, slope=corr.slope, chi_branch=chi_branch, chi_block=chi_block,
                           gradient_growth=float(np.prod(chi_block)), rate=forward.rate,
                           stream_mean=forward.stream_mean, stds=list(stds))


# this regime's registry entry (listed explicitly by theory.inits)
INITIALISER = Initialiser("sew_add", "std = sqrt(q / (n M)): M = second moment of the layer's input (the stream E[h_j^2] or the "
          "branch's spike rate), q = target current variance (branch end: q_b from the block rate p_b = budget Q(theta)/N, "
          "others: 1); per-network q and M from theory.regimes.residual.sew_stds",
          "this toolkit (SEW-ResNet ADD blocks, Fang et al. 2021; docs/theory.md §9)",
          params=("current_var", "input_second"), regime="residual", std=_sew_add)
