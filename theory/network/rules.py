"""The infinite-width rule of each leaf layer kind (docs/theory.md §3, §5, §11), float64.

Each function maps the :class:`~theory.network.signal.Signal` entering a layer to the one
leaving it; the walker (:mod:`theory.network.evaluate`) calls them in the order of the
description and gives them a context ``ctx`` (T, the method, the random streams, the resolved
weight laws, a recorder). The equations are in :mod:`theory.network.layers`' docstring; the
LIF map itself is theory.meanfield.temporal's (the same function the plain temporal mean field
runs), so a plain stack walked here gives the numbers of ``theory.propagate_temporal`` bit for bit.

Random numbers: the LIF layers draw their Gaussian paths from ``ctx.normals()`` (one draw per
layer, the main stream, as propagate_temporal does); everything a plain stack does not need
(two-unit moments, pooled and normalised currents) draws from ``ctx.aux``, a second stream, so
adding it changes no plain-stack number.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from theory.core.gaussian import orthant, tail
from theory.core.lif import RESETS, membrane
from theory.meanfield.temporal import dense_current_cov, layer_moments, psd_factor
from theory.network.signal import Field, Signal, current, spikes

__all__ = ["dense", "conv", "lif", "max_pool", "avg_pool", "batch_norm", "flatten", "lif_paths",
           "pair_current_paths", "positions"]


# --------------------------------------------------------------------------------- weight layers
def _input_second(signal):
    if signal.sampler is not None:
        raise ValueError("a weight layer directly on a max-pooled current is not modelled (put a neuron "
                         "between them)")
    return signal.second()


def dense(layer, signal, ctx) -> Signal:
    """C = n sigma^2 M + bias_var; shared = n sigma^2 m m^T + bias_var; distinct units: independent."""
    law = ctx.law(layer)
    fan_in = signal.units
    if law.std is None:
        return _stable_dense(layer, law, signal, ctx)
    gain = float(fan_in) * (law.std * layer.gain) ** 2
    cov = dense_current_cov(gain, _input_second(signal), layer.bias_var)
    shared = dense_current_cov(gain, np.outer(signal.mean, signal.mean), layer.bias_var)
    cross = np.zeros_like(cov) if ctx.spatial else None
    return current((layer.width,), np.zeros(ctx.T), cov, cross, shared)


def _stable_dense(layer, law, signal, ctx):
    """Alpha-stable weights at one step: given k = n r active binary inputs the current is
    scale k^(1/alpha) X (theory.regimes.heavy_tailed); the LIF rule reads ``stable``."""
    if ctx.T != 1 or signal.kind != "spikes" or layer.bias_var:
        raise ValueError("the theory of alpha-stable weights is one-step (T = 1), on spike inputs and without "
                         "biases (theory.regimes.heavy_tailed); simulate.monte_carlo runs any network")
    active = signal.units * float(signal.mean[0])
    scale = law.scale * layer.gain * active ** (1.0 / law.alpha) if active > 0 else 0.0
    out = current((layer.width,), np.zeros(1), np.full((1, 1), np.nan))
    return replace(out, sampler=("stable", law.alpha, scale))


def _window_index(in_shape, out_shape, kernel, stride, padding):
    """(P_out, K) index of the input position under each tap of each output position (row-major
    positions), P_in where the tap falls in the zero padding."""
    per_dim = []
    for size, out, k, s, pad in zip(in_shape[1:], out_shape[1:], kernel, stride, padding):
        where = np.arange(out)[:, None] * s - pad + np.arange(k)[None, :]          # (out, k)
        per_dim.append(np.where((where >= 0) & (where < size), where, -1))
    sizes = in_shape[1:]
    if len(per_dim) == 1:
        index = per_dim[0]
    else:
        rows, cols = per_dim
        index = np.where((rows[:, None, :, None] >= 0) & (cols[None, :, None, :] >= 0),
                         rows[:, None, :, None] * sizes[1] + cols[None, :, None, :], -1)
        index = index.reshape(rows.shape[0] * cols.shape[0], rows.shape[1] * cols.shape[1])
    return np.where(index >= 0, index, int(np.prod(sizes)))


def positions(signal):
    """The per-position (mean (P, T), moment (P, T, T), shared or None) of a map's signal (the
    uniform values repeated where it has no field)."""
    P = signal.receptive
    if signal.positions is not None:
        return signal.positions.mean, signal.positions.moment, signal.positions.shared
    shared = None if signal.shared is None else np.broadcast_to(signal.shared, (P,) + signal.shared.shape)
    return (np.broadcast_to(signal.mean, (P,) + signal.mean.shape),
            np.broadcast_to(signal.moment, (P,) + signal.moment.shape), shared)


def _tap_sum(values, index):
    """(1/K) sum over each output's K taps of ``values`` (P_in, ...), zero in the padding."""
    padded = np.concatenate([values, np.zeros((1,) + values.shape[1:])])
    return padded[index].mean(axis=1)


def conv(layer, signal, ctx) -> Signal:
    """C = n sigma^2 M + bias_var with M the inputs' second moment averaged over the kernel's taps
    at each output position (a border unit's padded taps add zero: (v/K) of the interior value
    when its input is uniform), and the same for the shared offset; two positions of one channel
    X = n sigma^2 M_x + bias_var (shared kernel and bias; interior value)."""
    law = ctx.law(layer)
    if law.std is None:
        raise ValueError("alpha-stable weights in a convolution have no mean-field rule here (dense layers only)")
    in_shape = signal.shape
    out_shape = layer.out_shape(in_shape)
    fan_in = layer.fans(in_shape)[0]
    gain = float(fan_in) * (law.std * layer.gain) ** 2
    cross = dense_current_cov(gain, signal.cross_second(), layer.bias_var) if signal.cross is not None else None
    zero_mean = np.zeros(ctx.T)
    kernel, stride, padding = layer.geometry(in_shape)
    if signal.positions is None and not any(padding):                # every unit sees K inputs of one law
        cov = dense_current_cov(gain, _input_second(signal), layer.bias_var)
        shared = dense_current_cov(gain, np.outer(signal.mean, signal.mean), layer.bias_var)
        return current(out_shape, zero_mean, cov, cross, shared)
    _input_second(signal)
    mean, moment, _ = positions(signal)
    second = moment + np.einsum("pt,ps->pts", mean, mean) if signal.kind == "current" else moment
    index = _window_index(in_shape, out_shape, kernel, stride, padding)
    cov = dense_current_cov(gain, _tap_sum(second, index), layer.bias_var)
    shared = dense_current_cov(gain, _tap_sum(np.einsum("pt,ps->pts", mean, mean), index), layer.bias_var)
    pair = None
    if signal.cross is not None:
        pair = TapCross(index, np.concatenate([mean, np.zeros((1, ctx.T))]),
                        signal.cross_second() - np.outer(signal.mean, signal.mean), gain, layer.bias_var)
    return current(out_shape, None, None, cross, None, Field(np.zeros((cov.shape[0], ctx.T)), cov, shared, pair))


class TapCross:
    """pair(p, q) of a convolution's output (signal.Field): two units of one channel share the
    kernel, so their currents' cross-covariance sums the taps that are inside the map for both,

        X_pq = (gain / K) sum_{k valid at p and q} E[x_{p+k} x_{q+k}^T] + bias_var,

    with E[x_a x_b^T] = R + m_a m_b^T for distinct input units a, b: m the input's per-position
    mean, R the uniform part of its two-unit moment (cross_second - mean mean^T). Interior pairs
    give the signal's ``cross``; border pairs less."""

    def __init__(self, index, mean, residual, gain, bias_var):
        self.index, self.mean, self.residual = index, mean, residual
        self.gain, self.bias_var, self.padding = gain, bias_var, mean.shape[0] - 1

    def __call__(self, p, q):
        a, b = self.index[p], self.index[q]
        both = (a < self.padding) & (b < self.padding)
        K = a.shape[0]
        second = both.sum() * self.residual + self.mean[a[both]].T @ self.mean[b[both]]
        return self.gain * second / K + self.bias_var


def flatten(layer, signal, ctx) -> Signal:
    return replace(signal, shape=layer.out_shape(signal.shape))


# --------------------------------------------------------------------------------------- neurons
def lif_paths(currents, neuron, rng=None):
    """Spikes and membranes (float64, shape of ``currents`` (..., T)) of LIF neurons driven by the
    given current paths, from rest (theory.core.lif.membrane); escape firing draws its spikes
    with ``rng`` (P(s = 1 | u) = Phi((u - theta) / tau))."""
    code = RESETS.index(neuron.reset)
    u = np.zeros(currents.shape[:-1])
    s = np.zeros_like(u)
    out_s, out_u = np.empty_like(currents), np.empty_like(currents)
    tau = getattr(neuron.firing, "tau", None)
    for t in range(currents.shape[-1]):
        u = membrane(u, s, currents[..., t], neuron.beta, neuron.threshold, code)
        if tau is None:
            s = (u > neuron.threshold).astype(np.float64)
        else:
            s = (rng.random(u.shape) < tail((neuron.threshold - u) / tau)).astype(np.float64)
        out_s[..., t], out_u[..., t] = s, u
    return out_s, out_u


def pair_current_paths(mean, cov, cross, rng, paths, units=2):
    """``units`` exchangeable Gaussian current paths (paths, units, T): mean ``mean``, each of
    covariance ``cov``, any two of cross-covariance ``cross`` (shared part ~ N(0, cross) plus an
    own part ~ N(0, cov - cross))."""
    T = mean.shape[0]
    shared = rng.standard_normal((paths, 1, T)) @ psd_factor(cross).T
    own = rng.standard_normal((paths, units, T)) @ psd_factor(cov - cross).T
    return mean + shared + own


def _population(moments):
    """Population moments of a layer whose positions have the per-position LayerMoments
    ``moments`` (a list, one per position, equal weights): averages of rate, mean and second
    moment, the variance over all units E[var + mean^2] - mean^2; standard errors averaged (the
    positions share their random paths, so their errors are not independent)."""
    from theory.meanfield.temporal import LayerMoments
    if len(moments) == 1:
        return moments[0]
    stack = {k: np.stack([getattr(m, k) for m in moments]) for k in
             ("rate", "mem_mean", "mem_var", "second_moment", "rate_se", "mem_mean_se", "mem_var_se")}
    mean = stack["mem_mean"].mean(axis=0)
    var = (stack["mem_var"] + stack["mem_mean"] ** 2).mean(axis=0) - mean ** 2
    return LayerMoments(stack["rate"].mean(axis=0), mean, var, stack["second_moment"].mean(axis=0),
                        stack["rate_se"].mean(axis=0), stack["mem_mean_se"].mean(axis=0), stack["mem_var_se"].mean(axis=0))


def _per_position(neuron, signal, normals, ctx):
    """LayerMoments of every position of a field (each distinct law computed once, with the same
    random paths) and the output Field of the spikes."""
    field = signal.positions
    keys = np.concatenate([field.mean, field.moment.reshape(field.positions, -1)], axis=1)
    # mirror-image positions have the same law up to the order of their tap sums (the last bits):
    # one law per value to 12 significant digits, evaluated at its first position's exact value
    scale = np.max(np.abs(keys)) if keys.size else 1.0
    rounded = np.round(keys / (scale if scale > 0 else 1.0), 12)
    _, first, inverse = np.unique(rounded, axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    distinct = keys[first]
    T = ctx.T
    laws = [ctx.lif_moments(neuron, row[:T], row[T:].reshape(T, T), normals) for row in distinct]
    per_position = [laws[i] for i in inverse]
    out = Field(np.stack([m.rate for m in per_position]), np.stack([m.second_moment for m in per_position]))
    return _population(per_position), out


def _sampled_moments(s, u, spikes_b=None):
    """Moments from simulated paths s, u (paths, T) of one unit (and s_b of a second unit)."""
    from theory.meanfield.temporal import LayerMoments
    paths = s.shape[0]
    rate, mem_mean = s.mean(axis=0), u.mean(axis=0)
    centred = (u - mem_mean) ** 2
    root = np.sqrt(paths)
    moments = LayerMoments(rate, mem_mean, centred.mean(axis=0), s.T @ s / paths, s.std(axis=0, ddof=1) / root,
                           u.std(axis=0, ddof=1) / root, centred.std(axis=0, ddof=1) / root)
    cross = None if spikes_b is None else 0.5 * (s.T @ spikes_b + spikes_b.T @ s) / paths
    return moments, cross


def lif(neuron, signal, ctx) -> Signal:
    """The LIF map on a current (docs/theory.md §5): Gaussian currents by theory.meanfield.temporal's
    layer_moments (deterministic firing) or theory.regimes.escape's (escape firing), position by
    position where the map's positions differ (borders of padded convolutions); sampled (max-pooled) currents by simulating the neuron on the paths; alpha-stable
    currents at one step by the stable tail. Records the layer's rate and membrane statistics."""
    if signal.kind != "current":
        raise ValueError("a LIF neuron needs a current (put a weight layer before it), got spikes")
    T = ctx.T
    normals = ctx.normals()
    if isinstance(signal.sampler, tuple):                           # alpha-stable current, T = 1
        return _stable_lif(neuron, signal, ctx)
    if getattr(signal.sampler, "laws", None) is not None:      # max-pooled current of a padded map
        return _lif_on_window_laws(neuron, signal, ctx)
    if signal.sampler is not None:
        paths = signal.sampler(ctx.aux, ctx.samples)
        s, u = lif_paths(paths, neuron, ctx.aux)
        moments, cross = _sampled_moments(s[:, 0], u[:, 0], s[:, 1] if ctx.spatial else None)
        cov = signal.moment
    elif signal.positions is not None:
        moments, positions = _per_position(neuron, signal, normals, ctx)
        cov = signal.moment
        cross = _gaussian_cross(neuron, signal, moments, ctx) if ctx.spatial else None
        ctx.record_neuron(neuron, moments, cov)
        return spikes(signal.shape, None, None, cross, source=(signal, neuron), positions=positions)
    else:
        moments = ctx.lif_moments(neuron, signal.mean, signal.moment, normals)
        cov = signal.moment
        cross = _gaussian_cross(neuron, signal, moments, ctx) if ctx.spatial else None
    ctx.record_neuron(neuron, moments, cov)
    return spikes(signal.shape, moments.rate, moments.second_moment, cross, source=(signal, neuron))


def _lif_on_window_laws(neuron, signal, ctx):
    """The LIF map on a max-pooled current whose windows have different laws: each law's paths
    simulated apart; the population moments and the spikes' Field per output position."""
    per_law = []
    for draw, where in signal.sampler.laws:
        s, u = lif_paths(draw(ctx.aux, ctx.samples), neuron, ctx.aux)
        moments, cross = _sampled_moments(s[:, 0], u[:, 0], s[:, 1])
        per_law.append((moments, moments.rate, moments.second_moment, cross))
    moments, field, cross = _pooled_field([w for _, w in signal.sampler.laws], per_law)
    ctx.record_neuron(neuron, moments, signal.moment)
    return spikes(signal.shape, None, None, cross if ctx.spatial else None, source=(signal, neuron), positions=field)


def _gaussian_cross(neuron, signal, moments, ctx):
    """E[s_i s_j^T] of two distinct units whose currents have cross-covariance X: independent
    units (X = 0) give rate rate^T; one deterministic step is the orthant probability; otherwise
    the pair is simulated (``ctx.samples`` paths of the aux stream)."""
    X = signal.cross if signal.cross is not None else np.zeros_like(signal.moment)
    if not np.any(X):
        return np.outer(moments.rate, moments.rate)
    C = signal.moment
    if ctx.T == 1 and neuron.deterministic and C[0, 0] > 0:
        z = (neuron.threshold - signal.mean[0]) / np.sqrt(C[0, 0])
        return np.array([[float(orthant(z, np.clip(X[0, 0] / C[0, 0], -1.0, 1.0)))]])
    paths = pair_current_paths(signal.mean, C, X, ctx.aux, ctx.samples)
    s, _ = lif_paths(paths, neuron, ctx.aux)
    return 0.5 * (s[:, 0].T @ s[:, 1] + s[:, 1].T @ s[:, 0]) / ctx.samples


def _stable_lif(neuron, signal, ctx):
    from theory.regimes.heavy_tailed import stable_tail
    from theory.meanfield.temporal import LayerMoments
    if not neuron.deterministic:
        raise ValueError("alpha-stable weights with escape firing have no theory here")
    _, alpha, scale = signal.sampler
    rate = float(stable_tail(neuron.threshold / scale, alpha)) if scale > 0 else float(neuron.threshold < 0)
    nan = np.full(1, np.nan)
    moments = LayerMoments(np.array([rate]), nan, nan.copy(), np.array([[rate]]), np.zeros(1), nan.copy(), nan.copy())
    ctx.record_neuron(neuron, moments, np.full((1, 1), np.nan))
    cross = np.array([[rate * rate]]) if ctx.spatial else None
    return spikes(signal.shape, moments.rate, moments.second_moment, cross)


# --------------------------------------------------------------------------------------- pooling
def _window_units(layer, signal):
    return int(np.prod(layer.window(signal.shape)))


def _averaged_cov(signal):
    """The current covariance of a map whose positions share one law (a map whose positions
    differ goes through :class:`WindowLaws`)."""
    return signal.moment


def _needs_cross(signal, what):
    if signal.cross is None:
        raise ValueError(f"{what} needs the moments of two distinct units of a channel, which a dense layer's "
                         "output does not have: pool after a convolution")


def avg_pool(layer, signal, ctx) -> Signal:
    """Mean of K units: currents C' = C/K + (1 - 1/K) X (exact, Gaussian); spikes
    M' = M/K + (1 - 1/K) M_x; two pooled units keep the cross moment. Where the map's positions
    differ, C (M) and the mean are averaged over each window's positions."""
    _needs_cross(signal, "AvgPool")
    window = layer.window(signal.shape)
    K = int(np.prod(window))
    shape = layer.out_shape(signal.shape)
    if signal.kind == "current" and signal.sampler is not None:
        raise ValueError("AvgPool of a max-pooled current is not modelled")
    pooled = (lambda values: values / K + (1.0 - 1.0 / K) * signal.cross)
    if signal.positions is None:
        if signal.kind == "current":
            return current(shape, signal.mean, pooled(signal.moment), signal.cross, signal.shared)
        return spikes(shape, signal.mean, pooled(signal.moment), signal.cross)
    index = _window_index(signal.shape, shape, window, window, (0,) * len(window))
    mean, moment, shared = positions(signal)
    within = lambda values: np.take(values, index, axis=0).mean(axis=1)      # noqa: E731
    pooled_field = Field(within(mean), pooled(within(moment)), None if shared is None else within(shared))
    if signal.kind == "current":
        return current(shape, None, None, signal.cross, None, pooled_field)
    return spikes(shape, None, None, signal.cross, positions=pooled_field)


class WindowLaws:
    """Joint Gaussian laws of the currents of two pooling windows of one channel (a window and
    its right-hand neighbour, the left-hand one at the end of a row), one entry per distinct law
    of a map whose positions differ (padded convolutions). ``laws``: [(mean (2K T,), factor
    (2K T, 2K T), positions (n,))], the output positions that have each law. Called as a
    sampler, it draws (paths, 2K, T) from the mixture over the output positions."""

    def __init__(self, signal, layer, out_shape):
        window = layer.window(signal.shape)
        index = _window_index(signal.shape, out_shape, window, window, (0,) * len(window))
        field = signal.positions
        P_out, K = index.shape
        T = signal.T
        cols = out_shape[-1]
        partner = np.arange(P_out) + 1
        partner[(np.arange(P_out) % cols) == cols - 1] -= 2          # the last of a row pairs leftwards
        cross = self._pair(signal)
        keyed = {}
        for w in range(P_out):
            units = np.concatenate([index[w], index[partner[w]]])
            mean = field.mean[units].reshape(-1)
            cov = np.zeros((2 * K, T, 2 * K, T))
            for i, p in enumerate(units):
                cov[i, :, i, :] = field.moment[p]
                for j in range(i):
                    cov[i, :, j, :] = cross(p, units[j])
                    cov[j, :, i, :] = cov[i, :, j, :].T
            cov = cov.reshape(2 * K * T, 2 * K * T)
            key = np.round(np.concatenate([mean, cov.ravel()]), 12).tobytes()
            keyed.setdefault(key, (mean, cov, []))[2].append(w)
        self.K, self.T, self.positions = K, T, P_out
        self.laws = [(mean, psd_factor(cov), np.array(where)) for mean, cov, where in keyed.values()]

    @staticmethod
    def _pair(signal):
        field = signal.positions
        if field.pair is not None:
            return field.pair
        # no tap structure (a residual sum of two fields): the uniform cross scaled by the two
        # positions' standard deviations relative to the map's average current's largest one
        scale = np.sqrt(np.diagonal(field.moment, axis1=1, axis2=2) / np.max(np.diagonal(signal.moment)))
        return lambda p, q: signal.cross * np.outer(scale[p], scale[q])

    def draw(self, law, rng, paths):
        """(paths, 2K, T) joint currents of the two windows under ``law``."""
        mean, factor, _ = law
        return (mean + rng.standard_normal((paths, mean.shape[0])) @ factor.T).reshape(paths, 2 * self.K, self.T)

    def __call__(self, rng, paths):
        counts = rng.multinomial(paths, [len(where) / self.positions for _, _, where in self.laws])
        return np.concatenate([self.draw(law, rng, n) for law, n in zip(self.laws, counts)])


def _pooled_field(where, per_law):
    """(population LayerMoments or None, output Field, cross) of a pooled map from per-law
    results [(moments or None, mean (T,), second (T, T), cross (T, T))], law j holding the
    output positions ``where[j]`` (each law weighted by its number of positions)."""
    positions = sum(len(w) for w in where)
    inverse = np.empty(positions, dtype=int)
    for j, positions_j in enumerate(where):
        inverse[positions_j] = j
    weights = np.array([len(w) for w in where], dtype=np.float64) / positions
    cross = sum(w * r[3] for w, r in zip(weights, per_law))
    field = Field(np.stack([per_law[j][1] for j in inverse]), np.stack([per_law[j][2] for j in inverse]))
    moments = None if per_law[0][0] is None else _population([per_law[j][0] for j in inverse])
    return moments, field, cross


def max_pool(layer, signal, ctx) -> Signal:
    """Max of K units. Currents (before the neuron): the output is the max of K exchangeable
    Gaussian paths, a non-Gaussian current the next neuron samples. Spikes (after the neuron):
    the OR of K units, simulated from the currents that drove them. Where the map's positions
    differ (padded convolutions) each window's units have their own laws and cross-covariances
    (Field.pair), sampled jointly per distinct window (:class:`WindowLaws`)."""
    _needs_cross(signal, "MaxPool")
    K = _window_units(layer, signal)
    shape = layer.out_shape(signal.shape)
    if signal.kind == "current" and signal.sampler is not None:
        raise ValueError("MaxPool of an already max-pooled current is not modelled")
    driving = signal if signal.kind == "current" else (signal.source[0] if signal.source else None)
    if driving is not None and driving.positions is not None and int(np.prod(shape[1:])) > 1:
        return _max_pool_windows(layer, signal, shape, ctx)
    if signal.kind == "current":
        mean, cov, cross = signal.mean, _averaged_cov(signal), signal.cross

        def sampler(rng, paths):
            return _window_max(pair_current_paths(mean, cov, cross, rng, paths, units=2 * K), K)

        draw = sampler(ctx.aux, ctx.samples)
        out_mean, out_cov, out_cross = _pair_moments(draw[:, 0], draw[:, 1], centred=True)
        return Signal("current", shape, out_mean, out_cov, out_cross, None, None, sampler)
    if signal.source is None:
        raise ValueError("MaxPool of spikes needs the neuron that fired them right before it")
    driving, neuron = signal.source
    if driving.sampler is not None:
        raise ValueError("MaxPool of spikes fired by a max-pooled current is not modelled")
    units = pair_current_paths(driving.mean, _averaged_cov(driving), driving.cross, ctx.aux, ctx.samples,
                               units=2 * K)
    s, _ = lif_paths(units, neuron, ctx.aux)
    pooled = _window_max(s, K)
    return spikes(shape, *_pair_moments(pooled[:, 0], pooled[:, 1]))


def _max_pool_windows(layer, signal, shape, ctx):
    """max_pool on a map whose positions differ: per distinct window law, 2K jointly Gaussian
    currents (two neighbouring windows); currents: their maxima, a sampled current carrying the
    laws (the next LIF keeps them apart); spikes: the LIF run on them, then the OR per window."""
    driving = signal if signal.kind == "current" else signal.source[0]
    laws = WindowLaws(driving, layer, shape)
    K = laws.K
    if signal.kind == "current":
        pooled = MaxOfWindows(laws)
        draws = [draw(ctx.aux, ctx.samples) for draw, _ in pooled.laws]
        weights = np.concatenate([np.full(ctx.samples, len(w)) for _, w in pooled.laws]).astype(np.float64)
        draw = np.concatenate(draws)
        out_mean, out_cov, out_cross = _pair_moments(draw[:, 0], draw[:, 1], weights / weights.sum(), centred=True)
        return Signal("current", shape, out_mean, out_cov, out_cross, None, None, pooled)
    neuron = signal.source[1]
    per_law = []
    for law in laws.laws:
        s, _ = lif_paths(laws.draw(law, ctx.aux, ctx.samples), neuron, ctx.aux)
        pooled = _window_max(s, K)
        per_law.append((None, *_pair_moments(pooled[:, 0], pooled[:, 1])))
    _, field, cross = _pooled_field([law[2] for law in laws.laws], per_law)
    return spikes(shape, None, None, cross, positions=field)


def _window_max(units, K):
    """(paths, 2, ...) the maxima of two windows' units (paths, 2K, ...): units 0..K-1, K..2K-1."""
    return np.stack([units[:, :K].max(axis=1), units[:, K:].max(axis=1)], axis=1)


def _pair_moments(a, b, weights=None, centred=False):
    """(mean, second moment, cross moment) of two exchangeable pooled units from their paths a, b
    (paths, T), each path weighted by ``weights`` (None: equally); ``centred``: covariances."""
    if weights is None:
        mean = 0.5 * (a.mean(axis=0) + b.mean(axis=0))
    else:
        mean = weights @ (0.5 * (a + b))
    if centred:
        a, b = a - mean, b - mean
    if weights is None:
        n = a.shape[0]
        return mean, 0.5 * (a.T @ a + b.T @ b) / n, 0.5 * (a.T @ b + b.T @ a) / n
    wa, wb = a * weights[:, None], b * weights[:, None]
    return mean, 0.5 * (wa.T @ a + wb.T @ b), 0.5 * (wa.T @ b + wb.T @ a)


class MaxOfWindows:
    """The sampler of a max-pooled current whose windows have different laws (WindowLaws):
    called, it draws (paths, 2, T) maxima of two neighbouring windows from the mixture; ``laws``
    [(draw(rng, paths), positions)] per distinct law, which the next LIF map keeps apart."""

    def __init__(self, windows):
        self.windows = windows
        self.laws = [(lambda rng, paths, law=law: _window_max(windows.draw(law, rng, paths), windows.K), law[2])
                     for law in windows.laws]

    def __call__(self, rng, paths):
        return _window_max(self.windows(rng, paths), self.windows.K)


# ----------------------------------------------------------------------------------- batch norm
def batch_norm(layer, signal, ctx) -> Signal:
    """Batch statistics of one channel at infinite batch: the current is offset Z (shared by every
    sample, covariance ``shared`` S) plus the rest F (covariance C - S). over="step":
    y[t] = w F[t] / sqrt(v[t] + eps) + b, v[t] = (C - S)[t, t] (Gaussian, exact). over="time":
    the channel mean over steps Zbar goes, v = mean_t (C - S)[t, t] + mean_t (Z[t] - Zbar)^2; when
    Z is the same at every step (rank-one constant S) y = w F / sqrt(v + eps) + b exactly,
    otherwise the random v of each channel is sampled."""
    if signal.kind != "current" or signal.sampler is not None:
        raise ValueError("BatchNorm is modelled on a Gaussian current (a weight layer's output)")
    S = signal.shared if signal.shared is not None else np.zeros_like(signal.moment)
    C = _averaged_cov(signal)
    F = C - S
    cross = None if signal.cross is None else signal.cross - S
    w, b, eps = layer.weight, layer.bias, layer.eps

    def normalised(scale):
        """The normalised current (mean b, covariance scale o (C - S)), position by position where
        the map's positions differ (each position's own offset taken as removed)."""
        cov = scale * (signal.moment - S)
        cross_out = None if cross is None else scale * cross
        if signal.positions is None:
            return current(signal.shape, np.full(ctx.T, b), cov, cross_out, np.zeros_like(S))
        field = signal.positions
        shared = field.shared if field.shared is not None else np.zeros_like(field.moment)
        normed = Field(np.full(field.mean.shape, b), scale * (field.moment - shared), np.zeros_like(field.moment))
        return current(signal.shape, None, None, cross_out, None, normed)

    if layer.over == "step":
        inverse_sd = 1.0 / np.sqrt(np.diag(F) + eps)
        return normalised(w * w * np.outer(inverse_sd, inverse_sd))
    steady = np.allclose(S, S[0, 0], rtol=1e-12, atol=1e-15)
    if steady:
        return normalised(w * w / (float(np.mean(np.diag(F))) + eps))
    T = ctx.T
    z_factor, f_factor = psd_factor(S), psd_factor(F)
    x_factor = None if cross is None else psd_factor(cross)
    own_factor = None if cross is None else psd_factor(F - cross)

    def sampler(rng, paths):
        z = rng.standard_normal((paths, 1, T)) @ z_factor.T
        offsets = z - z.mean(axis=2, keepdims=True)
        v = np.mean(np.diag(F)) + np.mean(offsets[:, 0] ** 2, axis=1)
        if x_factor is None:
            rest = rng.standard_normal((paths, 2, T)) @ f_factor.T
        else:
            rest = rng.standard_normal((paths, 1, T)) @ x_factor.T + rng.standard_normal((paths, 2, T)) @ own_factor.T
        return b + w * (offsets + rest) / np.sqrt(v + eps)[:, None, None]

    draw = sampler(ctx.aux, ctx.samples)
    a_mean = draw.mean(axis=(0, 1))
    centred = draw - a_mean
    out_cov = np.einsum("pit,pis->ts", centred, centred) / (2 * ctx.samples)
    out_cross = 0.5 * (centred[:, 0].T @ centred[:, 1] + centred[:, 1].T @ centred[:, 0]) / ctx.samples
    return Signal("current", signal.shape, a_mean, out_cov, out_cross, None, None, sampler)
