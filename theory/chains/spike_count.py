"""Exact finite-width theory of one time step: the spike-count Markov chain (docs/theory.md §4).

Layer l has n_l neurons and weights W_l ~ N(0, sigma_l^2) i.i.d., drawn independently of
everything below. Given that k = k_{l-1} neurons of layer l-1 spiked, the n_l currents
I_j = sum_{i active} W_l[i, j] (+ b_j, b_j ~ N(0, bias_var)) are i.i.d. N(0, sigma_l^2 k + bias_var),
so, with s = [u > theta] at the first step from rest (u = I),

    k_l | k_{l-1} = k  ~  Binomial(n_l, p_l(k)),   p_l(k) = Q(theta / sqrt(sigma_l^2 k + bias_var)).

No Gaussian-membrane or large-width assumption enters: the chain is exact for any widths,
depth, threshold and sigma_w (float64), and k = 0 is absorbing when bias_var = 0 and
theta >= 0 (p_l(0) = 0). The input layer l = 0 is an LIF layer driven by i.i.d. N(0, q0)
currents, k_0 ~ Binomial(n_0, Q(theta / sqrt q0)); alternatively a given input rate or a
given distribution of k_0.

Not exact for non-Gaussian weights: for ``pytorch_default`` (uniform) the sum of k uniforms is
only approximately Gaussian (Irwin-Hall), so the chain is then an approximation whose error
shrinks as k grows; :class:`SpikeCountChain` records this in ``gaussian_weights``. With few
active inputs (width 50, theta = 1) the chain is visibly off, with many (width 300) it passes a
goodness-of-fit test (tests/simulate/test_finite_width_sim.py; the measured values are in
benchmarks/RESULTS.md, "Findings moved out of docstrings").

Large-width limit. With r_l = k_l / n_l and f_l(r) = Q(theta / sqrt(n_{l-1} sigma_l^2 r + bias_var)),
E[r_l] = E[f_l(r_{l-1})] and Var[r_l] = E[f_l(1 - f_l)] / n_l + Var[f_l(r_{l-1})]. As n -> inf the
chain concentrates on the mean-field rate map (:func:`theory.meanfield.maps.propagate`); expanding to
first order in 1/n (:func:`finite_width_expansion`)

    E[r_l]   = p_l + c_l / n + O(1/n^2),   c_l = f_l'(p_{l-1}) c_{l-1} + f_l''(p_{l-1}) v_{l-1} / 2
    Var[r_l] = v_l / n + O(1/n^2),         v_l = f_l(p_{l-1})(1 - f_l(p_{l-1})) (n / n_l) + f_l'(p_{l-1})^2 v_{l-1}

(p_l the mean-field rate). The expansion ignores absorption into silence, whose probability is
exponentially small in n; where it is not small (narrow or deep networks, thresholds whose
fixed point is unstable), mean-field and expansion fail and only the chain is right.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from theory.inits import registry as inits
import snn_validation as validation
from theory.core.closed_form import optimal_sigma
from theory.core.gaussian import firing_probability, log_tail, tail
from theory.meanfield.maps import propagate

__all__ = [
    "SpikeCountChain", "spike_count_chain", "transition_matrix", "survival_probability",
    "min_width", "survival_depth", "finite_width_sigma", "finite_width_expansion",
    "FiniteWidthExpansion",
]

# Rows of a transition matrix are cached whole while the matrix stays below this many entries
# (2.5e7 float64 = 200 MB, widths up to 5000); wider layers recompute the rows of the current
# support every layer (time measured in benchmarks/RESULTS.md).
_CACHE_ENTRIES = 25_000_000


@dataclass(frozen=True)
class SpikeCountChain:
    """Exact distribution of the spike count per layer (index 0 = input layer).

    distribution[l]  pmf of k_l over 0..n_l (float64 array of length n_l + 1)
    silent[l]        P(k_l = 0): the network is silent from layer l on (absorbing)
    rate_mean[l]     E[k_l / n_l]          rate_std[l]  std of k_l / n_l over weight draws
    truncated_mass   total probability discarded by pruning states below ``prune`` (a bound
                     on the absolute error of every probability reported)
    gaussian_weights False when the initialiser is not Gaussian: the chain is then approximate
    """
    widths: np.ndarray
    sigma_w: np.ndarray
    threshold: float
    distribution: list = field(repr=False)
    silent: np.ndarray = field(repr=False)
    rate_mean: np.ndarray = field(repr=False)
    rate_std: np.ndarray = field(repr=False)
    truncated_mass: float = 0.0
    gaussian_weights: bool = True

    @property
    def survival(self) -> np.ndarray:
        """P(k_l > 0) per layer."""
        return 1.0 - self.silent

    @property
    def depth(self) -> int:
        return len(self.widths) - 1


def _sigmas(sigma_w, init, widths, threshold, beta, init_params):
    """Per weight layer std and whether the chain is exact (Gaussian weights)."""
    depth = len(widths) - 1
    if sigma_w is not None and init is not None:
        raise ValueError("give either sigma_w or init (an initialiser name), not both")
    if sigma_w is None:
        name = "micheli" if init is None else init
        entry = inits.get(name)
        sigmas = np.array([inits.weight_std(name, widths[l], widths[l + 1], threshold, beta, **init_params)
                           for l in range(depth)], dtype=np.float64)
        return sigmas, entry.dist == "normal"
    if init_params:
        raise ValueError(f"initialiser parameters {sorted(init_params)} need init, not sigma_w")
    sigmas = validation.non_negative(sigma_w, "sigma_w")
    if sigmas.ndim == 0:
        return np.full(depth, float(sigmas)), True
    if sigmas.shape != (depth,):
        raise ValueError(f"sigma_w must be a number or a sequence of depth = {depth} stds, got shape {sigmas.shape}")
    return sigmas.astype(np.float64), True


def _initial_distribution(n0, threshold, q0, input_rate, input_distribution):
    given = [x is not None for x in (input_rate, input_distribution)]
    if sum(given) > 1:
        raise ValueError("give at most one of input_rate and input_distribution (q0 is used otherwise)")
    if input_distribution is not None:
        pmf = validation.non_negative(input_distribution, "input_distribution")
        if pmf.shape != (n0 + 1,):
            raise ValueError(f"input_distribution must have n_0 + 1 = {n0 + 1} entries (pmf of k_0), got shape {pmf.shape}")
        if abs(pmf.sum() - 1.0) > 1e-9:
            raise ValueError(f"input_distribution must sum to 1, got {pmf.sum()!r}")
        return pmf.astype(np.float64)
    if input_rate is not None:
        rate = validation.scalar(input_rate, "input_rate", validation.unit_interval)
    else:
        rate = float(firing_probability(threshold, validation.scalar(q0, "q0", validation.non_negative)))
    return _binomial_rows(n0, np.array([rate]), np.array([np.log(rate) if rate > 0 else -np.inf]),
                          np.array([np.log1p(-rate) if rate < 1 else -np.inf]))[0]


def _log_choose(n):
    k = np.arange(n + 1, dtype=np.float64)
    return special.gammaln(n + 1.0) - special.gammaln(k + 1.0) - special.gammaln(n - k + 1.0)


def _binomial_rows(n, p, log_p, log_1mp):
    """pmf rows of Binomial(n, p_j), built in log space: log C(n,k) + k log p + (n-k) log(1-p).

    log p and log(1-p) are passed separately (from log_ndtr) so that p = 1e-200 or
    1 - p = 1e-20 are still exact; degenerate rows (p = 0 or 1) are point masses."""
    k = np.arange(n + 1, dtype=np.float64)
    rows = np.zeros((len(p), n + 1))
    inner = (p > 0) & (p < 1)
    if np.any(inner):
        log_pmf = (_log_choose(n)[None, :] + k[None, :] * log_p[inner, None]
                   + (n - k)[None, :] * log_1mp[inner, None])
        rows[inner] = np.exp(log_pmf)
    rows[p <= 0, 0] = 1.0
    rows[p >= 1, n] = 1.0
    return rows


def _firing_logs(threshold, sigma, bias_var, counts):
    """p = Q(z), log p, log(1-p) for z = theta / sqrt(sigma^2 k + bias_var), k in counts."""
    q = sigma * sigma * counts + bias_var
    with np.errstate(divide="ignore"):
        z = np.where(q > 0, threshold / np.sqrt(np.where(q > 0, q, 1.0)),
                     np.where(threshold < 0, -np.inf, np.inf))
    return tail(z), log_tail(z), special.log_ndtr(z)


class _Layer:
    """Transition rows k_{l-1} = j -> pmf of k_l, computed lazily and cached when small."""

    def __init__(self, n_in, n_out, sigma, threshold, bias_var):
        self.n_in, self.n_out = n_in, n_out
        self.sigma, self.threshold, self.bias_var = sigma, threshold, bias_var
        self.cached = (n_in + 1) * (n_out + 1) <= _CACHE_ENTRIES
        if self.cached:
            self.matrix = np.empty((n_in + 1, n_out + 1))
            self.done = np.zeros(n_in + 1, dtype=bool)

    def _compute(self, counts):
        p, log_p, log_1mp = _firing_logs(self.threshold, self.sigma, self.bias_var, counts.astype(np.float64))
        return _binomial_rows(self.n_out, p, log_p, log_1mp)

    def rows(self, lo, hi):
        """Rows j = lo .. hi (inclusive) as a (hi - lo + 1, n_out + 1) array."""
        if not self.cached:
            return self._compute(np.arange(lo, hi + 1))
        missing = lo + np.nonzero(~self.done[lo:hi + 1])[0]
        if len(missing):
            self.matrix[missing] = self._compute(missing)
            self.done[missing] = True
        return self.matrix[lo:hi + 1]


def transition_matrix(n_in, n_out, sigma_w, threshold=1.0, bias_var=0.0):
    """(n_in + 1, n_out + 1) matrix P[k, k'] = P(k_l = k' | k_{l-1} = k), float64.

        P[k, :] = Binomial(n_out, Q(theta / sqrt(sigma_w^2 k + bias_var))) pmf
    """
    n_in = int(validation.scalar(n_in, "n_in", validation.positive_int))
    n_out = int(validation.scalar(n_out, "n_out", validation.positive_int))
    sigma = validation.scalar(sigma_w, "sigma_w", validation.non_negative)
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    validation.check_memory(24 * (n_in + 1) * (n_out + 1), f"n_in={n_in} x n_out={n_out}")
    return _Layer(n_in, n_out, sigma, threshold, bias_var)._compute(np.arange(n_in + 1))


def _layer_key(n_in, n_out, sigma):
    return (int(n_in), int(n_out), float(sigma))


def spike_count_chain(depth, width, threshold=1.0, sigma_w=None, init=None, beta=0.0, q0=1.0,
                      input_rate=None, input_distribution=None, bias_var=0.0, prune=1e-300,
                      **init_params) -> SpikeCountChain:
    """Propagate the exact distribution of the spike count through ``depth`` weight layers.

        pi_l[k'] = sum_k pi_{l-1}[k] Binomial(n_l, Q(theta / sqrt(sigma_l^2 k + bias_var)))[k']

    Parameters
    ----------
    depth : int >= 0, number of weight layers L (layers 0..L).
    width : int, or a sequence n_0 .. n_L (widths may differ per layer).
    threshold : finite theta.
    sigma_w : weight std, a number or one per weight layer; or ``init``: an initialiser name
        from :mod:`theory.inits` (default ``"micheli"``), evaluated per layer with ``beta`` and
        ``init_params``. Non-Gaussian initialisers make the chain approximate.
    q0 : variance of the i.i.d. Gaussian input currents (k_0 ~ Binomial(n_0, Q(theta/sqrt q0)));
        or ``input_rate`` (k_0 ~ Binomial(n_0, input_rate)); or ``input_distribution`` (pmf of k_0).
    bias_var : variance of i.i.d. Gaussian biases (0: silence is absorbing).
    prune : states whose probability is below this are dropped (their total is reported as
        ``truncated_mass``); the default 1e-300 only drops what float64 barely represents.

    Float64. Probabilities below ~1e-300 underflow to 0 (e.g. P(silent) of very wide layers).
    """
    depth = validation.non_negative_int(depth, "depth")
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    beta = validation.scalar(beta, "beta", validation.unit_interval)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    prune = validation.scalar(prune, "prune", lambda v, n: validation.unit_interval(v, n, closed_right=False))
    widths = validation.layer_widths(width, depth)
    # the transition rows of the widest pair of layers (and their log-space copies), and the
    # distribution of every layer
    pairs = (widths[:-1].astype(float) + 1) * (widths[1:] + 1) if depth else np.zeros(1)
    validation.check_memory(24 * float(pairs.max()) + 8 * float(np.sum(widths + 1.0)),
                            f"width={int(widths.max())} (a transition matrix of (n_(l-1) + 1) x (n_l + 1) "
                            f"entries) with depth={depth}")
    sigmas, gaussian = _sigmas(sigma_w, init, widths, threshold, beta, init_params)

    pi = _initial_distribution(int(widths[0]), threshold, q0, input_rate, input_distribution)
    distribution = [pi]
    truncated = 0.0
    layers = {}
    for l in range(1, depth + 1):
        key = _layer_key(widths[l - 1], widths[l], sigmas[l - 1])
        if key not in layers:
            layers[key] = _Layer(*key, threshold, bias_var)
        layer = layers[key]
        kept = pi > prune
        truncated += float(pi[~kept].sum())
        new = np.zeros(widths[l] + 1)
        if kept[0]:
            new += pi[0] * layer.rows(0, 0)[0]
        support = np.nonzero(kept[1:])[0] + 1
        if len(support):
            # a contiguous block so the cached matrix is sliced, not copied
            lo, hi = int(support[0]), int(support[-1])
            new += np.where(kept[lo:hi + 1], pi[lo:hi + 1], 0.0) @ layer.rows(lo, hi)
        if not new.sum() > 0.0:
            raise ValueError(f"prune = {prune} dropped every state of layer {l - 1}: choose a smaller prune "
                             "(the default 1e-300 drops only what float64 barely represents)")
        pi = new
        distribution.append(pi)

    silent = np.array([d[0] for d in distribution])
    mean = np.empty(depth + 1)
    std = np.empty(depth + 1)
    for l, d in enumerate(distribution):
        rates = np.arange(len(d)) / widths[l]
        mass = d.sum()
        mean[l] = d @ rates / mass
        std[l] = np.sqrt(max(d @ rates**2 / mass - mean[l] ** 2, 0.0))
    return SpikeCountChain(widths=widths, sigma_w=sigmas, threshold=threshold, distribution=distribution,
                           silent=silent, rate_mean=mean, rate_std=std, truncated_mass=truncated,
                           gaussian_weights=gaussian)


def survival_probability(depth, width, threshold=1.0, **kwargs) -> float:
    """P(k_depth > 0): the probability that layer ``depth`` still spikes (exact chain)."""
    return float(spike_count_chain(depth, width, threshold, **kwargs).survival[-1])


def _survival_target(survival):
    """A survival probability strictly inside (0, 1): 1 is reached by no width (silence has
    positive probability at every finite width) and 0 by every width."""
    target = validation.scalar(survival, "survival")
    if not 0.0 < target < 1.0:
        raise ValueError(f"survival must lie in (0, 1) (no finite width survives with probability 1), got {survival!r}")
    return target


def _paper_init_note(threshold, kwargs):
    """Why a survival target may be out of reach: with the paper's init above the critical
    threshold, q* is unstable and finite-width fluctuations grow by g'(q*) > 1 per layer."""
    if kwargs.get("sigma_w") is not None or kwargs.get("init", "micheli") != "micheli":
        return ""
    from theory.meanfield.maps import critical_threshold
    critical = critical_threshold(float(kwargs.get("target_var", 1.0)))
    if threshold <= critical:
        return ""
    return (f"; threshold {threshold} is above the critical threshold {critical:.4f}, where the paper's "
            "fixed point is unstable: survival creeps up with width only as the deviation "
            "g'(q*)^depth / sqrt(width) shrinks")


def _unstable_growth(threshold, kwargs):
    """g'(q*) > 1 when the chain starts AT the paper's unstable fixed point (paper's init above
    the critical threshold, q0 = target_var): a start fluctuation of relative size
    ~ sqrt((1 - p)/(n p)) grows by g' per layer, and survival needs it still small at depth d,
    so the width needed is at least g'^(2 d) (per-layer noise only adds). None otherwise."""
    if set(kwargs) - {"init", "target_var", "q0"} or kwargs.get("init", "micheli") != "micheli":
        return None
    target_var = validation.scalar(kwargs.get("target_var", 1.0), "target_var", validation.positive)
    if validation.scalar(kwargs.get("q0", 1.0), "q0", validation.non_negative) != target_var:
        return None
    from theory.meanfield.maps import paper_slope, critical_threshold
    if threshold <= critical_threshold(target_var):
        return None
    return float(paper_slope(threshold / np.sqrt(target_var)))


def min_width(depth, threshold=1.0, survival=0.99, max_width=5000, **kwargs):
    """Smallest homogeneous width n with P(k_depth > 0) >= ``survival`` (exact chain).

    ``depth`` may be one depth (returns an int) or a sequence (returns an int array; one
    chain run to the largest depth serves every depth at each width tried). Doubling search
    up to ``max_width``, then integer bisection, which assumes survival grows with width (it
    does wherever we checked by a full scan; see the tests). ``survival`` must lie in (0, 1).

    The work is bounded by ``max_width``: one chain costs O(depth * n * support) and, above
    width 5000 (the transition-matrix cache limit), every layer recomputes its rows, so the
    cost grows as n^2 per layer; raise ``max_width`` knowingly. ValueError, naming the target,
    the depth and the survival reached at ``max_width``, when the target is not reached; with
    the paper's init above the critical threshold (theta_c = 1.1906) the message says so:
    there q* is unstable and the needed width grows like g'(q*)^(2 depth); where that bound alone
    exceeds ``max_width`` (q0 = target_var, the chain starting at q*) it raises without searching.
    ``kwargs`` go to :func:`spike_count_chain` (sigma_w, init, q0, ...); with ``init`` the
    std follows the width (default ``"micheli"``).
    """
    scalar = np.ndim(depth) == 0
    depths = [validation.non_negative_int(d, "depth") for d in np.atleast_1d(depth)]
    if not depths:
        raise ValueError("depth must be an integer >= 0 or a non-empty sequence of them, got an empty sequence")
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    target = _survival_target(survival)
    max_width = int(validation.scalar(max_width, "max_width", validation.positive_int))
    deepest = max(depths)
    memo = {}

    def alive(n):
        if n not in memo:
            memo[n] = spike_count_chain(deepest, n, threshold, **kwargs).survival
        return memo[n]

    growth = _unstable_growth(threshold, kwargs)
    answers = []
    for d in depths:
        if growth is not None and growth ** (2 * d) > max_width:
            raise ValueError(
                f"survival target {target} not reachable at depth {d} up to max_width = {max_width}"
                f"{_paper_init_note(threshold, kwargs)}: the width needed exceeds g'(q*)^(2 depth) = "
                f"{growth ** (2 * d):.3g} (a lower bound; not searched)")
        hi = 1
        while alive(hi)[d] < target:
            if hi >= max_width:
                raise ValueError(
                    f"survival target {target} not reached at depth {d} up to max_width = {max_width} "
                    f"(survival there {alive(hi)[d]:.4g}){_paper_init_note(threshold, kwargs)}; "
                    "a larger max_width costs O(width^2) per layer")
            hi = min(2 * hi, max_width)
        lo = hi // 2  # fails (or 0)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if alive(mid)[d] >= target:
                hi = mid
            else:
                lo = mid
        answers.append(hi)
    return answers[0] if scalar else np.array(answers)


def survival_depth(max_depth, width, threshold=1.0, survival=0.99, **kwargs) -> int:
    """Largest depth L <= max_depth with P(k_L > 0) >= ``survival``; max_depth if never below.

    P(k_L > 0) never increases with L when silence is absorbing, so one chain run suffices.
    """
    max_depth = validation.non_negative_int(max_depth, "max_depth")
    target = _survival_target(survival)
    alive = spike_count_chain(max_depth, width, threshold, **kwargs).survival
    below = np.nonzero(alive < target)[0]
    return int(below[0] - 1) if len(below) else max_depth


def finite_width_sigma(width, depth, threshold=1.0, criterion="rate", target_rate=None, survival=0.99,
                       q0=1.0, bias_var=0.0) -> float:
    """Weight std for a homogeneous width-n, depth-L stack chosen with the exact chain.

    criterion="rate": E[k_L / n] = target_rate (default Q(theta), the rate of the paper's
        fixed point q* = 1), counting silent networks as rate 0: the finite-width correction
        of the paper's sigma, which only keeps the expected rate at n = inf.
    criterion="survival": the smallest sigma with P(k_L > 0) >= ``survival``.

    Both quantities increase with sigma (larger weights make every p(k) larger and the
    chain is stochastically monotone), so the root is unique; found by Brent's method in
    log sigma around the paper's sigma. Float64.
    """
    width = int(validation.scalar(width, "width", validation.positive_int))
    depth = validation.non_negative_int(depth, "depth")
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    validation.choice(criterion, "criterion", {"rate", "survival"})
    paper = optimal_sigma(threshold, width)
    if criterion == "rate":
        target = float(tail(threshold)) if target_rate is None else validation.scalar(target_rate, "target_rate", validation.unit_interval)

        def excess(log_sigma):
            chain = spike_count_chain(depth, width, threshold, sigma_w=np.exp(log_sigma), q0=q0, bias_var=bias_var)
            return chain.rate_mean[-1] - target
    else:
        target = _survival_target(survival)

        def excess(log_sigma):
            chain = spike_count_chain(depth, width, threshold, sigma_w=np.exp(log_sigma), q0=q0, bias_var=bias_var)
            return chain.survival[-1] - target

    lo, hi = np.log(paper) - 0.5, np.log(paper) + 0.5
    for _ in range(40):
        if excess(lo) < 0:
            break
        lo -= 1.0
    else:
        raise ValueError("no sigma below the target found; the target is too small")
    for _ in range(40):
        if excess(hi) > 0:
            break
        hi += 1.0
    else:
        raise ValueError(f"the {criterion} target cannot be reached at width {width}, depth {depth}")
    return float(np.exp(optimize.brentq(excess, lo, hi, xtol=1e-10, rtol=1e-12)))


@dataclass(frozen=True)
class FiniteWidthExpansion:
    """First order in 1/n around mean field (arrays of length depth + 1; n = widths[0]).

    rate_meanfield[l]  p_l from :func:`theory.meanfield.maps.propagate`
    bias[l]            c_l:  E[k_l/n_l] = p_l + c_l / n + O(1/n^2)
    variance[l]        v_l:  Var[k_l/n_l] = v_l / n + O(1/n^2)
    """
    rate_meanfield: np.ndarray
    bias: np.ndarray
    variance: np.ndarray
    n: int

    @property
    def rate_mean(self) -> np.ndarray:
        return self.rate_meanfield + self.bias / self.n

    @property
    def rate_std(self) -> np.ndarray:
        return np.sqrt(self.variance / self.n)


def finite_width_expansion(depth, width, threshold=1.0, sigma_w=None, init=None, beta=0.0, q0=1.0,
                           bias_var=0.0, **init_params) -> FiniteWidthExpansion:
    """The 1/n corrections to mean field (delta method on the chain, module docstring).

    With f_l(r) = Q(theta / sqrt(a_l r + b)), a_l = n_{l-1} sigma_l^2, and q = a_l r + b,
    z = theta / sqrt q:  f' = a_l phi(z) z / (2 q),  f'' = a_l^2 phi(z) z (z^2 - 3) / (4 q^2).
    Absorption into silence (exponentially rare in n) is not in the expansion. Float64.
    """
    depth = validation.non_negative_int(depth, "depth")
    threshold = validation.scalar(threshold, "threshold", validation.finite)
    beta = validation.scalar(beta, "beta", validation.unit_interval)
    bias_var = validation.scalar(bias_var, "bias_var", validation.non_negative)
    widths = validation.layer_widths(width, depth)
    sigmas, _ = _sigmas(sigma_w, init, widths, threshold, beta, init_params)
    n = int(widths[0])
    gains = widths[:-1] * sigmas**2
    rate = propagate(depth, np.sqrt(gains), 1, threshold, q0=q0, bias_var=bias_var).rate
    bias = np.zeros(depth + 1)
    variance = np.zeros(depth + 1)
    variance[0] = rate[0] * (1.0 - rate[0]) * n / widths[0]
    for l in range(1, depth + 1):
        a = gains[l - 1]
        q = a * rate[l - 1] + bias_var
        if q <= 0:  # silent in mean field: the chain is at 0 too
            continue
        z = threshold / np.sqrt(q)
        phi = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
        slope = a * phi * z / (2.0 * q)
        curvature = a * a * phi * z * (z * z - 3.0) / (4.0 * q * q)
        bias[l] = slope * bias[l - 1] + 0.5 * curvature * variance[l - 1]
        variance[l] = rate[l] * (1.0 - rate[l]) * n / widths[l] + slope**2 * variance[l - 1]
    return FiniteWidthExpansion(rate_meanfield=rate, bias=bias, variance=variance, n=n)
