"""Time per training batch (forward + backward + Adam) against the dense float32 GEMM floor,
and against snnTorch + PyTorch autograd on the same network.

The floor is the time of the SAME matrix products done dense by float32 BLAS (sgemm) in the
same run: per weight layer the forward current product (T*B x n_in) @ (n_in x n_out), the
weight gradient (n_in x T*B) @ (T*B x n_out), and the spike gradient (T*B x n_out) @
(n_out x n_in) for every layer but the first (nothing below the input layer needs one).
BLAS runs single-threaded for the floor (simulate.backprop.BlasThreads, through threadpoolctl);
the toolkit's training path calls no BLAS.

snnTorch (``--snntorch``): the same network and batch as an ``nn.Linear`` (no bias) +
``snn.Leaky`` stack (beta 0.5, threshold 1, subtract reset, ATan alpha 2: the toolkit's
defaults), stepped over T, ``snntorch.functional.ce_count_loss``, ``torch.optim.Adam``, with
``torch.set_num_threads`` = the Numba thread count; its gradients are checked against the
toolkit's on the first batch (relative difference printed).

Medians over repeats, each comparison (ours vs the floor, ours vs snnTorch) interleaved on its
own, after a warm-up call (its time, mostly loading the Numba cache or compiling, is reported
separately); wall-clock and process CPU time (the latter is the meaningful one with --threads 1
on a loaded machine). The best-of ratio (fastest repeat of each side) is printed too.

    python benchmarks/bench_train.py                          # depth 10 and 50, T 10, B 64
    python benchmarks/bench_train.py --depths 10:10,100:8 --threads 1 --snntorch
    python benchmarks/bench_train.py --epoch                  # plus one full MNIST epoch at depth 10
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from simulate.backprop import BlasThreads, forward_backward  # noqa: E402
from simulate.data import load_mnist  # noqa: E402
from simulate.encodings import pixel_currents  # noqa: E402
from simulate.optim import Adam  # noqa: E402
from simulate.train import TrainConfig, build_network, train  # noqa: E402


def _timed(func):
    """(wall seconds, CPU seconds of this process) of one call. CPU time is the robust one on
    a shared machine with one thread: it does not count the time the process waited."""
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


def _snntorch_batch(weights, currents, labels, steps, threads):
    """(one_batch callable, its first-batch weight gradients in the toolkit's layout)."""
    import snntorch as snn
    import snntorch.functional as SF
    import torch
    from snntorch import surrogate
    torch.set_num_threads(threads)
    layers = torch.nn.ModuleList()
    for w in weights:
        linear = torch.nn.Linear(w.shape[0], w.shape[1], bias=False)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
        layers.append(linear)
    lifs = [snn.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0), reset_mechanism="subtract")
            for _ in range(len(weights) + 1)]
    optimizer = torch.optim.Adam(layers.parameters(), lr=1e-3)
    loss_fn = SF.ce_count_loss()
    x = torch.from_numpy(currents)
    y = torch.from_numpy(labels)

    def step(update=True):
        optimizer.zero_grad()
        mems = [lif.init_leaky() for lif in lifs]
        out = []
        for t in range(steps):
            spk, mems[0] = lifs[0](x[t], mems[0])
            for index, linear in enumerate(layers):
                spk, mems[index + 1] = lifs[index + 1](linear(spk), mems[index + 1])
            out.append(spk)
        loss = loss_fn(torch.stack(out), y)
        loss.backward()
        grads = [linear.weight.grad.detach().numpy().T.copy() for linear in layers]
        if update:
            optimizer.step()
        return loss, grads

    _, first = step(update=False)
    return step, first


def bench_depth(depth, width, steps, batch, repeats, data, threads, with_snntorch):
    config = TrainConfig(depth=depth, width=width, steps=steps, batch_size=batch)
    weights, biases = build_network(config, 784, 10)
    currents = pixel_currents(data.x_train[:batch], steps)
    labels = data.y_train[:batch].astype(np.int64)
    sides = {}
    agreement = None
    if with_snntorch:       # built from the initial weights, before our Adam moves them
        torch_step, torch_grads = _snntorch_batch(weights, currents, labels, steps, threads)
        ours0 = forward_backward(weights, None, currents, labels, beta=0.5, threshold=1.0).weight_grads
        num = sum(float(np.sum((a.astype(np.float64) - b) ** 2)) for a, b in zip(ours0, torch_grads))
        den = sum(float(np.sum(b.astype(np.float64) ** 2)) for b in torch_grads)
        agreement = (num / den) ** 0.5 if den > 0 else float("nan")
        sides["snntorch"] = torch_step
    optimizer = Adam(weights, lr=1e-3)

    def one_batch():
        result = forward_backward(weights, None, currents, labels, beta=0.5, threshold=1.0)
        optimizer.step(result.weight_grads)
        return result

    start = time.perf_counter()
    first = one_batch()
    first_call = time.perf_counter() - start

    rows = steps * batch
    rng = np.random.default_rng(0)
    shapes = [w.shape for w in weights]
    lhs = [rng.random((rows, a), dtype=np.float32) for a, _ in shapes]
    grads = [rng.random((rows, b), dtype=np.float32) for _, b in shapes]

    def floor():
        for layer, w in enumerate(weights):
            lhs[layer] @ w                       # forward currents
            lhs[layer].T @ grads[layer]          # weight gradient
            if layer > 0:
                grads[layer] @ w.T               # spike gradient to the layer below
    pairs = [("floor", floor)] + list(sides.items())
    times = {name: [] for name, _ in pairs}
    ours = {name: [] for name, _ in pairs}
    with BlasThreads():          # the floor's BLAS on one thread
        for name, func in pairs:
            # each comparison interleaved on its own, ours and the other side alternating, so a
            # change of machine load hits both alike (and snnTorch's memory traffic does not
            # flush the caches before the floor's repeats)
            one_batch()
            func()
            for _ in range(repeats):
                ours[name].append(_timed(one_batch))
                times[name].append(_timed(func))
    median = {name: [statistics.median(x) for x in zip(*t)] for name, t in times.items()}
    best = {name: [min(x) for x in zip(*t)] for name, t in times.items()}
    median_ours = {name: [statistics.median(x) for x in zip(*t)] for name, t in ours.items()}
    best_ours = {name: [min(x) for x in zip(*t)] for name, t in ours.items()}
    return {"depth": depth, "steps": steps, "median": median, "best": best, "median_ours": median_ours,
            "best_ours": best_ours, "first_call": first_call, "rates": first.rates, "agreement": agreement}


def _positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _depths(text):
    """argparse type: comma-separated DEPTH or DEPTH:T (LIF layers >= 2, TrainConfig's depth;
    T >= 1 overrides --steps for that depth)."""
    out = []
    try:
        for part in text.split(","):
            depth, _, steps = part.partition(":")
            out.append((int(depth), int(steps) if steps else None))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated DEPTH or DEPTH:T, got {text!r}") from None
    if any(d < 2 or (s is not None and s < 1) for d, s in out):
        raise argparse.ArgumentTypeError(f"depths must be >= 2 and T >= 1, got {text!r}")
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):      # a user's mistake: one line on stderr, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None):
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=_depths, default=[(10, None), (50, None)],
                        help="comma-separated DEPTH or DEPTH:T, LIF layers incl. input and output (default: 10,50)")
    parser.add_argument("--width", type=_positive_int, default=100, help="hidden width (default: 100)")
    parser.add_argument("--steps", type=_positive_int, default=10, help="time steps T (default: 10)")
    parser.add_argument("--batch", type=_positive_int, default=64, help="batch size (default: 64)")
    parser.add_argument("--repeats", type=_positive_int, default=30, help="timed repeats (default: 30)")
    parser.add_argument("--threads", type=_positive_int, default=None, help="Numba (and torch) threads (default: Numba's)")
    parser.add_argument("--snntorch", action="store_true", help="also time snnTorch + autograd on the same network")
    parser.add_argument("--epoch", action="store_true", help="also time one full MNIST epoch at depth 10")
    args = parser.parse_args(argv)
    # a program's choice, made where it starts (before the first parallel kernel starts the
    # OpenMP pool): idle threads sleep instead of spinning on a shared machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"numba threads {numba.get_num_threads()}, load average {os.getloadavg()}, {os.cpu_count()} cores")
    data = load_mnist()
    for depth, steps in args.depths:
        steps = steps or args.steps
        r = bench_depth(depth, args.width, steps, args.batch, args.repeats, data, numba.get_num_threads(),
                        args.snntorch)
        for kind, k in (("wall", 0), ("cpu", 1)):
            m, b, mo, bo = r["median"], r["best"], r["median_ours"], r["best_ours"]
            line = (f"depth {depth:3d} width {args.width} T {steps} B {args.batch} [{kind}]: "
                    f"batch {1e3 * mo['floor'][k]:.2f} ms, GEMM floor {1e3 * m['floor'][k]:.2f} ms, "
                    f"ratio {mo['floor'][k] / m['floor'][k]:.2f}x (best-of {bo['floor'][k] / b['floor'][k]:.2f}x)")
            if "snntorch" in m:
                line += (f"; batch {1e3 * mo['snntorch'][k]:.2f} ms, snnTorch {1e3 * m['snntorch'][k]:.2f} ms, "
                         f"{m['snntorch'][k] / mo['snntorch'][k]:.1f}x faster "
                         f"(best-of {b['snntorch'][k] / bo['snntorch'][k]:.1f}x)")
            print(line)
        print(f"    first call (cache load/compile) {r['first_call']:.2f} s; output rate at init "
              f"{r['rates'][-1]:.3f}" + ("" if r["agreement"] is None else
                                          f"; gradients vs snnTorch autograd: relative difference "
                                          f"{r['agreement']:.1e}"))
    print(f"load average after: {os.getloadavg()}")
    if args.epoch:
        start = time.perf_counter()
        history = train(TrainConfig(depth=10, width=args.width, steps=args.steps, batch_size=args.batch,
                                    epochs=1, test_size=10000, progress=False), data=data)
        total = time.perf_counter() - start
        print(f"full MNIST epoch, depth 10: training {history[0]['train_seconds']:.1f} s "
              f"(938 batches), with test evaluation {total:.1f} s; "
              f"test accuracy after 1 epoch {history[0]['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
