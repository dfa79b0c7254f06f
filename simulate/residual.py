"""Residual spiking MLP with spike-element-wise ADD shortcuts (SEW-ResNet style), forward + BPTT.

Architecture ``"sew_add"`` (docs/theory.md §9, "Residual spiking blocks"; Fang et al., NeurIPS
2021, SEW ResNet with g = ADD). With L LIF layers in all (the ``depth`` of simulate.train,
input and output included) and blocks of k LIF layers:

    s_0 = LIF(x)                                   input layer (784 neurons)
    h_1 = s_1 = LIF(s_0 W_0 + b_0)                 stem: the first hidden layer, no shortcut
    block j = 1..N, N = (L - 3) / k:               a branch of k LIF layers of width H
        x_{j,0} = h_j,  x_{j,i} = LIF(x_{j,i-1} W + b)  (i = 1..k),
        h_{j+1} = h_j + a x_{j,k}                  the shortcut ADDs the branch's spikes (times a)
    s_L = LIF(h_{N+1} W_out + b_out)               output layer (10 neurons), loss on its counts

all per time step t, each LIF with its own membrane over the T steps (docs/theory.md §1). The
branch multiplier a (``branch_scale``; simulate.train's --branch-scaling: 1/sqrt(N), 1/N or 1)
scales what each block adds. With a = 1 (SEW's ADD) the stream h is an integer spike count per
neuron and step, 0 .. N + 1 (not binary once a block fires): the next layer sees it through the
same linear map, I = h W, i.e. a neuron whose stream value is m contributes m times its weight
row. Depth keeps the meaning of the plain
network (LIF layers, input and output included), and the weight list has the plain network's
shapes (784 -> H, (H -> H) x (L - 3), H -> 10), so networks save and load as before.

Backward (exact BPTT with the surrogate, reset detached, as simulate/backprop.py; the shortcut
is the identity, so its Jacobian is 1):

    dh_j = dh_{j+1} + dL/dx_{j,0}      (the shortcut carries dh_{j+1} past the branch;
                                        the branch's last layer receives dL/dx_{j,k} = a dh_{j+1})
    dL/dx_{j,i-1} = dI_{j,i} W_{j,i}^T,  dI = lif_backward(dL/dx_{j,i}),  dW = x_{j,i-1}^T dI

The compiled kernels of the plain network are reused (bptt_kernels.lif_forward / lif_backward,
row gathers over the index lists where a layer's input is binary: the stem and the inner layers
of a block); the products with the stream are the toolkit's dense kernel
(bptt_kernels.rows_times_matrix), no BLAS: every product sums in increasing index order without
FMA, so the gradients are the same bits on every CPU kind (simulate/bptt_kernels.py).
``smooth_slope`` selects the smooth test mode (logistic spikes, exact gradient).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import snn_validation as validation
from theory.core.lif import reset_code
from theory.regimes.residual import block_count
from theory.core.surrogates import surrogate_code

import simulate.bptt_kernels as K
from .backprop import (BatchResult, bias_grad, input_grad, layer_currents, loss_and_grad_counts,
                       validate_batch, weight_grad)

__all__ = ["ARCHITECTURES", "BRANCH_SCALINGS", "ResidualBatchResult", "block_count", "branch_scale",
           "forward_backward", "config_scale"]

ARCHITECTURES = ("plain", "sew_add")
BRANCH_SCALINGS = ("depth_sqrt", "depth", "none")   # a = 1/sqrt(N), 1/N, 1


def branch_scale(scaling, n_blocks) -> float:
    """The multiplier a of every block's spikes on the stream, h_{j+1} = h_j + a x_j, for a
    network of ``n_blocks`` blocks: "depth_sqrt" 1/sqrt(N), "depth" 1/N, "none" 1 (the integer
    spike ADD of SEW ResNet); 1 when there are no blocks."""
    validation.choice(scaling, "branch_scaling", BRANCH_SCALINGS)
    n = int(validation.non_negative_int(n_blocks, "n_blocks"))
    if scaling == "none" or n == 0:
        return 1.0
    return float(1.0 / np.sqrt(n)) if scaling == "depth_sqrt" else 1.0 / n


@dataclass
class ResidualBatchResult(BatchResult):
    """BatchResult plus the stream: ``stream_mean`` (N + 1,) float64, mean of h_j per neuron and
    step for j = 1 (the stem) .. N + 1 (what the output layer receives)."""
    stream_mean: np.ndarray | None = None


def _lif(currents, beta_d, threshold_d, reset_index, slope_d, keep_mem=True):
    """A LIF layer on dense currents: (membranes or a 0-row array, spikes (T, B, n), index lists)."""
    mem = np.empty_like(currents) if keep_mem else np.empty((0,) + currents.shape[1:], currents.dtype)
    out = np.empty_like(currents)
    index = np.empty(currents.shape, np.int32)
    count = np.empty(currents.shape[:2], np.int32)
    K.lif_forward(currents, beta_d, threshold_d, reset_index, slope_d, 0, currents.dtype.type(0.0), np.uint64(0), 0, False, mem, out,
                  index, count)
    return mem, out, (index, count)


def _dense(inputs, weight, bias):
    return layer_currents(inputs, None, weight, bias, binary=False)


def forward_backward(weights, biases, currents, labels, *, beta, threshold, reset="subtract",
                     surrogate="atan", surrogate_scale=None, smooth_slope=None, block_layers=1,
                     branch_scale=1.0, backward=True) -> ResidualBatchResult:
    """Loss on output spike counts and (if ``backward``) BPTT gradients of the SEW-ADD network
    (module docstring). ``weights``: depth - 1 matrices (784 -> H, (H -> H) x (depth - 3),
    H -> 10); ``block_layers`` k must divide depth - 3. Other arguments as
    simulate.backprop.forward_backward. ``rates`` lists every LIF layer's own spike rate (the
    branch output for a block, not the stream)."""
    weights, biases, currents, labels, beta, threshold, code, scale = validate_batch(
        weights, biases, currents, labels, beta, threshold, reset, surrogate, surrogate_scale)
    n_blocks = block_count(len(weights) + 1, block_layers)
    k = int(block_layers)
    width = weights[0].shape[1]
    for index in range(1, len(weights) - 1):
        if weights[index].shape != (width, width):
            raise ValueError(f"weights[{index}] must be ({width}, {width}) in a residual network (every "
                             f"hidden layer has the stem's width), got {weights[index].shape}")
    dtype = weights[0].dtype.type
    smooth = smooth_slope is not None
    if smooth:
        smooth_slope = float(validation.positive(smooth_slope, "smooth_slope"))
        code, scale = surrogate_code("sigmoid"), smooth_slope
    reset_index = reset_code(reset)
    beta_d, threshold_d, slope_d = dtype(beta), dtype(threshold), dtype(smooth_slope if smooth else 0.0)
    bias = (lambda i: None) if biases is None else (lambda i: biases[i])
    steps, batch, _ = currents.shape
    a = float(validation.positive(branch_scale, "branch_scale"))
    a_d = dtype(a)

    # forward: layer_inputs[i] is what weights[i] multiplies; mems[i] the membrane it drives
    _, s0, active0 = _lif(currents, beta_d, threshold_d, reset_index, slope_d, keep_mem=False)
    mem, s1, _ = _lif(layer_currents(s0, active0, weights[0], bias(0), binary=not smooth),
                      beta_d, threshold_d, reset_index, slope_d, keep_mem=backward)
    # what weights[i] multiplies, and its index lists when it is binary (else None)
    layer_inputs, input_lists, mems, spikes = [s0], [None if smooth else active0], [mem], [s0, s1]
    stream = s1.astype(dtype, copy=True)
    stream_mean = [float(stream.mean(dtype=np.float64))]
    for block in range(n_blocks):
        branch, lists = stream, None
        for inner in range(k):
            index = 1 + block * k + inner
            layer_inputs.append(branch)
            input_lists.append(lists)
            currents_in = (_dense(branch, weights[index], bias(index)) if lists is None else
                           layer_currents(branch, lists, weights[index], bias(index), binary=True))
            mem, branch, active = _lif(currents_in, beta_d, threshold_d, reset_index, slope_d, keep_mem=backward)
            lists = None if smooth else active
            mems.append(mem)
            spikes.append(branch)
        stream = stream + branch if a == 1.0 else stream + a_d * branch
        stream_mean.append(float(stream.mean(dtype=np.float64)))
    layer_inputs.append(stream)
    input_lists.append(None)
    mem, out, _ = _lif(_dense(stream, weights[-1], bias(len(weights) - 1)), beta_d, threshold_d, reset_index, slope_d,
                       keep_mem=backward)
    mems.append(mem)
    spikes.append(out)
    rates = np.array([float(s.mean(dtype=np.float64)) for s in spikes])
    counts = out.sum(axis=0, dtype=np.float64)
    loss, grad_counts = loss_and_grad_counts(counts, labels)
    result = ResidualBatchResult(loss=loss, counts=counts, rates=rates, spike_source=spikes,
                                 stream_mean=np.array(stream_mean))
    if not backward:
        return result

    weight_grads = [None] * len(weights)
    bias_grads = None if biases is None else [None] * len(weights)
    scale_d = dtype(scale)

    def through(index, grad_spikes, need_input_grad=True):
        """dL/dI of layer ``index``'s LIF from dL/ds; stores dW, db; returns dL/d(its input)."""
        grad_currents = np.empty(mems[index].shape, dtype)
        K.lif_backward(np.ascontiguousarray(grad_spikes), mems[index], beta_d, threshold_d, reset_index, code,
                       scale_d, grad_currents)
        weight_grads[index] = weight_grad(layer_inputs[index], input_lists[index], grad_currents)
        if bias_grads is not None:
            bias_grads[index] = bias_grad(grad_currents)
        if not need_input_grad:
            return None
        return input_grad(grad_currents, weights[index])

    grad_out = grad_counts.astype(dtype)[None]          # the same dL/ds at every step
    grad_stream = through(len(weights) - 1, grad_out)
    for block in range(n_blocks - 1, -1, -1):
        grad_branch = grad_stream if a == 1.0 else a_d * grad_stream
        for inner in range(k - 1, -1, -1):
            grad_branch = through(1 + block * k + inner, grad_branch)
        grad_stream = grad_stream + grad_branch
    through(0, grad_stream, need_input_grad=False)
    result.weight_grads = weight_grads
    result.bias_grads = bias_grads
    return result


def config_scale(config) -> float:
    """The branch multiplier a of a TrainConfig (its branch_scaling and number of blocks)."""
    return branch_scale(config.branch_scaling, block_count(config.depth, config.block_layers))
