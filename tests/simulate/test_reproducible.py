"""Training and simulation give the same bits on every CPU kind.

The values stored below were computed once on an AVX-512 machine (AMD EPYC, Zen 4, numba 0.68.1,
numpy 2.4.6, glibc 2.36). The CI's third pass (.ci/run) runs the default suite, this file
included, as on an older CPU kind: numpy's AVX2/AVX-512 loops off, Numba compiled for a generic
x86-64 (SSE2, no FMA) and OpenBLAS's Nehalem kernels; every value here must come out the same bits
there. What makes that hold (simulate/bptt_kernels.py, simulate/kernels.py): no BLAS in the
training path, every product and sum in one fixed order with vector lanes over independent
outputs only, no fastmath (no FMA contraction, no reassociation), the cross-entropy's exp/log in
the compiled kernel (the C library's), Adam's float32 ufuncs (correctly rounded on every CPU).
A failure on another machine means one of those broke: a reassociated sum, a contracted
multiply-add, or a library call that rounds differently.

Inputs come from ``Generator.random`` (integer arithmetic, no libm), so they are the same on any
platform. The ATan and fast-sigmoid surrogates, the deterministic firing rule and the four resets
use only +, -, *, / and comparisons; the sigmoid/probit surrogates and escape-noise firing call
the C library's exp/erfc, which glibc evaluates the same way on every x86-64 CPU with FMA (they
are covered too, but a different libm could move them).

Regenerate (only after a deliberate change of the arithmetic, and say so in the commit):
``python tests/simulate/test_reproducible.py``.
"""
import hashlib

import numpy as np
import pytest

from simulate import run_network
from simulate.backprop import forward_backward
from simulate.optim import Adam
from simulate.residual import forward_backward as residual_forward_backward


def _digest(*arrays):
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def _uniform(rng, shape, scale):
    return (scale * (2.0 * rng.random(shape) - 1.0)).astype(np.float32)


def _train(pass_fn, widths, steps, batch, batches, seed, with_bias=True, **kwargs):
    """A few Adam steps of a small network; per step the loss (hex) and a digest of the gradients,
    and a digest of the final weights. Widths above 64 run the kernels' full vector loops and
    their remainders; a batch of 13 the backward's groups of three samples and a remainder."""
    rng = np.random.default_rng(seed)
    weights = [_uniform(rng, (a, b), 4.0 / np.sqrt(a)) for a, b in zip(widths[:-1], widths[1:])]
    biases = [_uniform(rng, b, 0.3) for b in widths[1:]] if with_bias else None
    optimizer = Adam(weights + (biases or []), lr=1e-2)
    record = []
    for _ in range(batches):
        currents = (1.5 * rng.random((steps, batch, widths[0]))).astype(np.float32)
        labels = rng.integers(0, widths[-1], batch)
        result = pass_fn(weights, biases, currents, labels, **kwargs)
        grads = result.weight_grads + (result.bias_grads or [])
        record.append((result.loss.hex(), _digest(*grads)))
        optimizer.step(grads)
    return record, _digest(*(weights + (biases or [])))


CASES = {
    "plain atan subtract": dict(widths=[100, 70, 70, 10], kwargs=dict(reset="subtract")),
    "plain fast_sigmoid zero": dict(widths=[100, 70, 70, 10], kwargs=dict(reset="zero", surrogate="fast_sigmoid")),
    "plain atan subtract_leaky no bias": dict(widths=[100, 70, 70, 10], with_bias=False,
                                              kwargs=dict(reset="subtract_leaky")),
    "plain sigmoid none": dict(widths=[100, 70, 70, 10], kwargs=dict(reset="none", surrogate="sigmoid")),
    "plain escape": dict(widths=[100, 70, 70, 10],
                         kwargs=dict(reset="subtract", firing="escape", escape_noise=0.3, noise_seed=7)),
}

EXPECTED = {
    'plain atan subtract': [['0x1.5c6a5058865bbp+1', '9cfdbb94bfc4739d'], ['0x1.32da84f9bd41ep+1', '2058ef9170eb9033'], ['0x1.3920f2620bf20p+1', '64e8f59addfaca70'], '726dec7ca8686a56'],
    'plain fast_sigmoid zero': [['0x1.6d041a39d4df0p+1', '928b784623460197'], ['0x1.583cf74f2fa36p+1', 'cee84177c6502aae'], ['0x1.47ec7668ae83ep+1', '6486f79f9c145513'], '608ad5be416a7f59'],
    'plain atan subtract_leaky no bias': [['0x1.c07a2f7e4ec22p+1', 'fbbb39575de5593a'], ['0x1.67f8e4b1bd030p+1', '039a2a040e7c812c'], ['0x1.4b1fa2ee81177p+1', '036f15536b110c8c'], '12e185ab34803809'],
    'plain sigmoid none': [['0x1.f13c976ae88bfp+1', '7b1f14183fed46fa'], ['0x1.50f3fd9d1b7c4p+1', 'dc81668610641570'], ['0x1.743f21fc89d8cp+1', 'e2f885e9a053a845'], '75d1cdd302a0978c'],
    'plain escape': [['0x1.67b0ffbfeabb0p+1', '9b1f9ffea248898a'], ['0x1.53001d322dec4p+1', 'deb7bed265432bcb'], ['0x1.2d33d776808b9p+1', '24c31acb35cf98ff'], 'c8d84b136c4bb3fa'],
    'residual': [['0x1.2a258b2684d83p+2', '25826336472b6637'], ['0x1.84e26db4fd0e7p+1', 'eb2bdc9411306fc8'], ['0x1.910f94d78ec1cp+1', '7a3ea8227b214372'], 'd3d3206696c6159f'],
    'simulation': ['3f1926e36ad33ae1', '7e4fa70de993b8dc'],
}


def _case(name):
    if name == "residual":
        return _train(residual_forward_backward, [100, 70, 70, 70, 70, 10], 5, 13, 3, seed=2, beta=0.5, threshold=1.0,
                      reset="subtract", block_layers=1, branch_scale=0.5)
    spec = CASES[name]
    return _train(forward_backward, spec["widths"], 5, 13, 3, seed=1, with_bias=spec.get("with_bias", True),
                  beta=0.5, threshold=1.0, **spec["kwargs"])


def _simulation():
    """run_network statistics (float64 sums of float32 membranes) and spike counts, deterministic
    and escape firing."""
    rng = np.random.default_rng(3)
    weights = [_uniform(rng, (300, 300), 2.4 / np.sqrt(300)) for _ in range(4)]
    currents = (3.0 * (rng.random((6, 16, 300)) - 0.3)).astype(np.float32)
    out = []
    for kwargs in (dict(), dict(firing="escape", escape_noise=0.4, noise_seed=5)):
        result = run_network(weights, currents, beta=0.5, threshold=1.0, **kwargs)
        out.append(_digest(result.rate, result.mem_mean, result.mem_var, result.active))
    return out


@pytest.mark.parametrize("name", list(CASES) + ["residual"])
def test_training_is_bit_reproducible(name):
    assert EXPECTED[name] is not None
    record, final = _case(name)
    assert [list(r) for r in record] + [final] == EXPECTED[name]


def test_simulation_statistics_are_bit_reproducible():
    assert _simulation() == EXPECTED["simulation"]


if __name__ == "__main__":
    for name in list(CASES) + ["residual"]:
        record, final = _case(name)
        print(f"    {name!r}: {[list(r) for r in record] + [final]!r},")
    print(f"    'simulation': {_simulation()!r},")
