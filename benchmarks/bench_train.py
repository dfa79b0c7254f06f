"""Time per training batch (forward + backward + Adam) against the dense float32 GEMM floor.

The floor is the time of the SAME matrix products done dense by float32 BLAS (sgemm) in the
same run: per weight layer the forward current product (T*B x n_in) @ (n_in x n_out), the
weight gradient (n_in x T*B) @ (T*B x n_out), and the spike gradient (T*B x n_out) @
(n_out x n_in) for every layer but the first (nothing below the input layer needs one).
Medians over repeats, ours and the floor interleaved, after a warm-up call (its time,
mostly loading the Numba cache or compiling, is reported separately); both wall-clock and
process CPU time (the latter is the meaningful one with --threads 1 on a loaded machine).
BLAS runs single-threaded for both (simulate.backprop.BlasThreads, through threadpoolctl).

    python benchmarks/bench_train.py                     # depth 10 and 50, width 100, T 10, B 64
    python benchmarks/bench_train.py --epoch             # plus one full MNIST epoch at depth 10
    python benchmarks/bench_train.py --threads 1         # Numba threads (default: all)
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
from simulate.optim import Adam  # noqa: E402
from simulate.train import TrainConfig, build_network, train  # noqa: E402
from simulate.encodings import pixel_currents


def _timed(func):
    """(wall seconds, CPU seconds of this process) of one call. CPU time is the robust one on
    a shared machine with one thread: it does not count the time the process waited."""
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_depth(depth, width, steps, batch, repeats, data):
    config = TrainConfig(depth=depth, width=width, steps=steps, batch_size=batch)
    weights, biases = build_network(config, 784, 10)
    optimizer = Adam(weights, lr=1e-3)
    currents = pixel_currents(data.x_train[:batch], steps)
    labels = data.y_train[:batch].astype(np.int64)

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
    with BlasThreads():          # the floor gets the same single-threaded BLAS as ours
        floor()
        ours, floor_time = [], []
        for _ in range(repeats):      # interleaved, so a change of machine load hits both alike
            ours.append(_timed(one_batch))
            floor_time.append(_timed(floor))
    ours = [statistics.median(x) for x in zip(*ours)]
    floor_time = [statistics.median(x) for x in zip(*floor_time)]
    return {"depth": depth, "ours": ours, "floor": floor_time, "first_call": first_call,
            "rates": first.rates}


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
    """argparse type: comma-separated LIF-layer counts >= 2 (TrainConfig's depth)."""
    try:
        depths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 2, got {text!r}") from None
    if any(d < 2 for d in depths):
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 2, got {text!r}")
    return depths


class _Parser(argparse.ArgumentParser):
    def error(self, message):      # a user's mistake: one line on stderr, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None):
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=_depths, default=[10, 50],
                        help="comma-separated depths, LIF layers incl. input and output (default: 10,50)")
    parser.add_argument("--width", type=_positive_int, default=100, help="hidden width (default: 100)")
    parser.add_argument("--steps", type=_positive_int, default=10, help="time steps T (default: 10)")
    parser.add_argument("--batch", type=_positive_int, default=64, help="batch size (default: 64)")
    parser.add_argument("--repeats", type=_positive_int, default=30, help="timed repeats (default: 30)")
    parser.add_argument("--threads", type=_positive_int, default=None, help="Numba threads (default: Numba's)")
    parser.add_argument("--epoch", action="store_true", help="also time one full MNIST epoch at depth 10")
    args = parser.parse_args(argv)
    # a program's choice, made where it starts (before the first parallel kernel starts the
    # OpenMP pool): idle threads sleep instead of spinning on a shared machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"numba threads {numba.get_num_threads()}, load average {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores")
    data = load_mnist()
    for depth in args.depths:
        r = bench_depth(depth, args.width, args.steps, args.batch, args.repeats, data)
        for kind, k in (("wall", 0), ("cpu", 1)):
            print(f"depth {depth:3d} width {args.width} T {args.steps} B {args.batch} [{kind}]: "
                  f"batch {1e3 * r['ours'][k]:.2f} ms, GEMM floor {1e3 * r['floor'][k]:.2f} ms, "
                  f"ratio {r['ours'][k] / r['floor'][k]:.2f}x")
        print(f"    first call (cache load/compile) {r['first_call']:.2f} s; output rate at init "
              f"{r['rates'][-1]:.3f}")
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
