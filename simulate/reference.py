"""Plain NumPy reference of the deep-SNN forward pass, for tests only (slow, obvious).

Same dynamics as :func:`simulate.run_network` (docs/theory.md §1, snnTorch ``Leaky`` with
``reset_delay=True``), written the most direct way: a dense float32 matrix product per layer
and step, the full membrane kept for every layer. Float32 state, float64 statistics. Its
currents are summed by BLAS in another order than the Numba kernel's row accumulation, so
the two agree bit for bit except when a membrane lands within float32 rounding of the
threshold (a "near-tie"); the tests check that this is the only kind of disagreement.

    I_l[t] = s_{l-1}[t] @ W_l (+ b_l),   I_0[t] = currents[t]
    subtract: u[t] = (beta u[t-1] + I[t]) - theta s[t-1]
    zero:     u[t] = beta (u[t-1] - s[t-1] u[t-1]) + I[t]     (theory.core.lif.membrane)
    none:     u[t] = beta u[t-1] + I[t]
    s[t] = 1 if u[t] > theta else 0,   u[0] = 0, s[0] = 0
"""
from __future__ import annotations

import numpy as np

from theory.core.lif import membrane, reset_code


def lif_step(u_prev, s_prev, current, beta, threshold, reset):
    """One LIF update in float32; returns (u, s). ``beta``/``threshold`` are float32 scalars."""
    u = membrane(u_prev, s_prev, current, beta, threshold, reset_code(reset))
    s = (u > threshold).astype(np.float32)
    return u.astype(np.float32), s


def reference_forward(weights, currents, *, beta, threshold, reset="subtract", biases=None,
                      input_is_spikes=False):
    """Run the network and return a dict with every layer's membranes and spikes.

    Returns ``{"u": [ (T, B, n_l) float32 ], "spikes": [ (T, B, n_l) uint8 ],
    "rate", "mem_mean", "mem_var": (L+1, T) float64, "active": (L+1, T, B) int32}``.
    With ``input_is_spikes`` layer 0's "membrane" is the given input itself (its statistics
    are those of the input values), as in :func:`simulate.run_network`. No validation: the
    tests call it with inputs that :func:`simulate.run_network` has accepted.
    """
    beta = np.float32(beta)
    threshold = np.float32(threshold)
    currents = np.asarray(currents, dtype=np.float32)
    steps, batch, _ = currents.shape
    layer_u, layer_s = [], []
    if input_is_spikes:
        layer_u.append(currents.copy())
        layer_s.append(currents.astype(np.uint8))
    else:
        u_all, s_all = _run_layer(currents, beta, threshold, reset)
        layer_u.append(u_all)
        layer_s.append(s_all)
    for index, weight in enumerate(weights):
        inputs = layer_s[-1].astype(np.float32)
        drive = inputs @ np.asarray(weight, dtype=np.float32)
        if biases is not None and biases[index] is not None:
            drive = drive + np.asarray(biases[index], dtype=np.float32)
        u_all, s_all = _run_layer(drive.astype(np.float32), beta, threshold, reset)
        layer_u.append(u_all)
        layer_s.append(s_all)
    u64 = [u.astype(np.float64) for u in layer_u]
    return {
        "u": layer_u,
        "spikes": layer_s,
        "rate": np.array([s.reshape(steps, -1).mean(axis=1) for s in layer_s]),
        "mem_mean": np.array([u.reshape(steps, -1).mean(axis=1) for u in u64]),
        "mem_var": np.array([u.reshape(steps, -1).var(axis=1) for u in u64]),
        "active": np.array([s.sum(axis=2, dtype=np.int64) for s in layer_s]).astype(np.int32),
    }


def _run_layer(drive, beta, threshold, reset):
    steps, batch, width = drive.shape
    u = np.zeros((batch, width), np.float32)
    s = np.zeros((batch, width), np.float32)
    u_all = np.empty_like(drive)
    s_all = np.empty(drive.shape, np.uint8)
    for t in range(steps):
        u, s = lif_step(u, s, drive[t], beta, threshold, reset)
        u_all[t] = u
        s_all[t] = s
    return u_all, s_all
