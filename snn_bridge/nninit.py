"""torch.nn.init-style functions: draw a tensor in place from an entry of the toolkit's registry.

A torch weight has shape (fan_out, fan_in, *kernel) (Linear: (out, in); Conv: (c_out, c_in / groups,
k_1, ...)): the transpose of the toolkit's (fan_in, fan_out) matrices, so ``simulate.run_network``
takes ``linear.weight.T``. Fans are torch's own:

    fan_in = shape[1] * prod(kernel),   fan_out = shape[0] * prod(kernel)
"""
from __future__ import annotations

import math

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised by tests/torch/test_import_error.py
    raise ImportError('snn_bridge needs PyTorch, the optional extra: pip install ".[torch]"') from exc

from theory import inits

__all__ = ["fans", "init_", "micheli_normal_", "draw_"]


def fans(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a torch weight of shape (fan_out, fan_in, *kernel):
    fan_in = shape[1] * prod(kernel), fan_out = shape[0] * prod(kernel) (as torch.nn.init)."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() < 2:
        raise ValueError(f"tensor must have at least 2 dimensions (fan_out, fan_in, *kernel), "
                         f"got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    fan_in, fan_out = int(tensor.shape[1]) * receptive, int(tensor.shape[0]) * receptive
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"tensor must have fan_in >= 1 and fan_out >= 1, got shape {tuple(tensor.shape)}")
    return fan_in, fan_out


def draw_(tensor, spec, generator=None):
    """Fill ``tensor`` in place from a distribution spec ({"dist": "normal", "std": s} or
    {"dist": "uniform", "low": a, "high": b}, as theory.inits.distribution gives) under no_grad."""
    if not tensor.is_floating_point():
        raise ValueError(f"tensor must have a floating dtype, got {tensor.dtype}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if spec["dist"] not in ("normal", "uniform"):
        raise ValueError(f"{spec['dist']} weights are not drawn by the bridge (normal and uniform only); draw them "
                         "with theory.inits.sample_weights and copy them in")
    with torch.no_grad():
        if spec["dist"] == "uniform":
            tensor.uniform_(spec["low"], spec["high"], generator=generator)
        else:
            tensor.normal_(0.0, spec["std"], generator=generator)
    return tensor


def init_(tensor, name, *, threshold=1.0, beta=0.0, generator=None, **params):
    """Fill ``tensor`` in place from registry entry ``name`` and return it (torch.nn.init style).

    w ~ N(0, std^2) or U(-sqrt(3) std, sqrt(3) std) as the entry says, with
    std = theory.inits.weight_std(name, fan_in, fan_out, threshold, beta, **params) and the fans of
    :func:`fans` (conv kernels: fan_in = c_in * k_1 * ... ). ``generator``: a torch.Generator for
    reproducible draws. Runs under torch.no_grad(); the draw is in the tensor's own dtype.
    """
    fan_in, fan_out = fans(tensor)
    if not tensor.is_floating_point():
        raise ValueError(f"tensor must have a floating dtype, got {tensor.dtype}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    spec = inits.distribution(name, fan_in, fan_out, threshold, beta, **params)
    if spec["dist"] not in ("normal", "uniform"):
        raise ValueError(f"name {name!r} draws {spec['dist']} weights, which init_ does not support (normal and "
                         "uniform only); draw them with theory.inits.sample_weights and copy them in")
    return draw_(tensor, spec, generator)


def micheli_normal_(tensor, threshold=1.0, target_var=1.0, generator=None):
    """The paper's init in place: w ~ N(0, q* / (fan_in Q(theta / sqrt q*))), q* = target_var."""
    return init_(tensor, "micheli", threshold=threshold, generator=generator, target_var=target_var)
