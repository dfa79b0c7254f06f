"""Adam and learning-rate schedules, PyTorch semantics, in place on lists of float32 arrays.

Adam (Kingma & Ba 2015, as torch.optim.Adam without weight decay), step k = 1, 2, ...:

    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
    p <- p - lr_k * (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)

Schedules (lr_k as a function of the number of completed schedule steps n):

    constant: lr_k = lr
    cosine:   lr_k = eta_min + (lr - eta_min) (1 + cos(pi n / T_max)) / 2

The cosine is the closed form of torch's CosineAnnealingLR. Past T_max it rises again
(period 2 T_max), which is what the authors' code does when it steps a T_max = 10 schedule
once per batch: the learning rate oscillates between lr and 0 every 20 batches.
"""
from __future__ import annotations

import math

import numpy as np

import snn_validation as validation

__all__ = ["Adam", "learning_rate", "SCHEDULES"]

SCHEDULES = ("constant", "cosine")


def learning_rate(schedule, base_lr, step, t_max=10, eta_min=0.0) -> float:
    """Learning rate after ``step`` schedule steps (see the module docstring)."""
    validation.choice(schedule, "schedule", SCHEDULES)
    base_lr = float(validation.positive(base_lr, "base_lr"))
    step = validation.non_negative_int(step, "step")
    t_max = int(validation.positive_int(t_max, "t_max"))
    eta_min = float(validation.non_negative(eta_min, "eta_min"))
    if schedule == "constant":
        return float(base_lr)
    return float(eta_min + (base_lr - eta_min) * (1.0 + math.cos(math.pi * step / t_max)) / 2.0)


class Adam:
    """Adam over a list of parameter arrays (updated in place); float32 state like PyTorch's.

    A gradient above about 1.8e19 overflows its float32 second moment v to +inf, after which that
    weight's update m / sqrt(v) is 0 for good: the weight freezes. It happens only in a
    diverging network; numpy's overflow warning is silenced here (the bits of every update are
    unchanged by that) and :meth:`frozen` counts the weights it froze (the trainer records it per
    epoch).

    ``state()``/``load_state()`` give and restore (step, m, v) for checkpoints.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr = float(validation.positive(lr, "lr"))
        b1, b2 = betas
        self.b1 = float(validation.unit_interval(b1, "betas[0]", closed_right=False))
        self.b2 = float(validation.unit_interval(b2, "betas[1]", closed_right=False))
        self.eps = float(validation.positive(eps, "eps"))
        self.params = list(params)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.step_count = 0

    def step(self, grads, lr=None) -> None:
        """One update with gradients ``grads`` (same shapes as params); ``lr`` overrides self.lr."""
        if len(grads) != len(self.params):
            raise ValueError(f"grads must have {len(self.params)} arrays, got {len(grads)}")
        for index, (p, g) in enumerate(zip(self.params, grads)):
            if np.shape(g) != p.shape:
                raise ValueError(f"grads[{index}] must have shape {p.shape} (its parameter's), got {np.shape(g)}")
        lr = self.lr if lr is None else float(validation.non_negative(lr, "lr"))
        self.step_count += 1
        k = self.step_count
        correction1 = 1.0 - self.b1 ** k
        correction2 = 1.0 - self.b2 ** k
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            with np.errstate(over="ignore"):        # see the class docstring: the weight freezes
                v += (1.0 - self.b2) * (g * g)
            denom = np.sqrt(v / correction2) + self.eps
            p -= ((lr / correction1) * m / denom).astype(p.dtype, copy=False)

    def frozen(self) -> int:
        """How many weights have an overflowed (+inf) second moment, hence no update any more."""
        return sum(int(np.count_nonzero(np.isinf(v))) for v in self.v)

    def state(self) -> dict:
        return {"step": self.step_count, "m": [a.copy() for a in self.m], "v": [a.copy() for a in self.v]}

    def load_state(self, state) -> None:
        n = len(self.params)
        if len(state["m"]) != n or len(state["v"]) != n or any(
                np.shape(a) != p.shape for a, p in zip(list(state["m"]) + list(state["v"]), self.params * 2)):
            raise ValueError(f"state must hold m and v of {n} arrays shaped like the parameters")
        self.step_count = validation.non_negative_int(state["step"], "state['step']")
        for target, source in zip(self.m + self.v, list(state["m"]) + list(state["v"])):
            target[...] = source
