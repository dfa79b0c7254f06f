"""Event-driven convolution + LIF forward (simulate.conv_kernels) vs PyTorch CPU F.conv2d + an
elementwise LIF loop in torch, both on one thread.

    python benchmarks/bench_conv.py                      the issue's table and a rate sweep
    python benchmarks/bench_conv.py --repeats 9 --sweep 0.05,0.3,0.6,1.0

Configuration (the issue's): one layer, 32 -> 32 channels, 3x3 kernel, padding 1, 28x28, batch
64, T 8; input spikes i.i.d. Bernoulli(rate) (uint8 for ours, the same 0/1 values as a float32
tensor for torch: each side gets its native input); weights N(0, sigma^2) with the paper's
sigma = theory.optimal_sigma(1, 288); LIF beta 0.5, threshold 1, subtract reset.

- torch: I = F.conv2d(x (T B, 32, 28, 28), W, padding=1) (one call over all T B images), then for
  t = 1..T in place: mem = beta mem + I[t] - theta s[t-1]; s[t] = mem > theta (bool, kept;
  the float copy drives the next reset). torch.no_grad(), torch.set_num_threads(1).
- ours, fused: conv2d_spikes_lif (currents never written to memory; membrane statistics
  included); ours, unfused: conv2d_spikes then lif_layer. numba.set_num_threads(1).

Each configuration is warmed up first (JIT compile or cache load excluded), then the three
forwards run interleaved ``--repeats`` times (a load spike from other jobs hits all three);
the table gives medians per forward and the ratio torch / ours. The crossover is the rate where
torch / fused = 1, interpolated linearly between the two sweep rates that bracket it. The spikes
of the fused forward are compared with torch's (they may differ only on float32 near-ties of
the membrane: the two convolutions round differently).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS, BATCH, CHANNELS, SIZE = 8, 64, 32, 28
BETA, THRESHOLD = 0.5, 1.0


def _rates(text, name):
    try:
        rates = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise SystemExit(f"bench_conv.py: error: {name} must be comma-separated numbers, got {text!r}") from None
    if not rates or any(not 0.0 <= r <= 1.0 for r in rates):
        raise SystemExit(f"bench_conv.py: error: {name} must be rates in [0, 1], got {text!r}")
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per rate in the main table (default 7)")
    parser.add_argument("--rates", default="0.05,0.16,0.3", help="rates of the main table (default 0.05,0.16,0.3)")
    parser.add_argument("--sweep", default="0.02,0.1,0.2,0.4,0.5,0.6,0.7,0.8,0.9,1.0",
                        help="extra rates for the crossover (default 0.02,0.1,...,1.0; '' for none)")
    parser.add_argument("--sweep-repeats", type=int, default=3, help="timed runs per sweep rate (default 3)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.sweep_repeats < 1:
        raise SystemExit("bench_conv.py: error: --repeats and --sweep-repeats must be >= 1")
    rates = _rates(args.rates, "--rates")
    sweep = _rates(args.sweep, "--sweep") if args.sweep.strip() else []

    import numba
    import numpy as np
    import torch
    import torch.nn.functional as F

    import theory
    from simulate import conv_kernels as ck

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    sigma = float(theory.optimal_sigma(THRESHOLD, CHANNELS * 9))
    weight = (sigma * rng.standard_normal((CHANNELS, CHANNELS, 3, 3))).astype(np.float32)
    weight_t = torch.from_numpy(weight)
    shape = (STEPS, BATCH, CHANNELS, SIZE, SIZE)

    def torch_forward(x):
        with torch.no_grad():
            current = F.conv2d(x, weight_t, None, 1, 1).view(shape)
            mem = torch.zeros(shape[1:])
            spk = torch.zeros(shape[1:])
            out = torch.empty(shape, dtype=torch.bool)
            for t in range(STEPS):
                mem.mul_(BETA).add_(current[t]).sub_(spk, alpha=THRESHOLD)
                torch.gt(mem, THRESHOLD, out=out[t])
                spk = out[t].float()
        return out

    def fused(spikes):
        return ck.conv2d_spikes_lif(spikes, weight, None, 1, 1, beta=BETA, threshold=THRESHOLD)

    def unfused(spikes):
        return ck.lif_layer(ck.conv2d_spikes(spikes, weight, None, 1, 1), beta=BETA, threshold=THRESHOLD)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"torch {torch.__version__}; threads torch {torch.get_num_threads()}, numba {numba.get_num_threads()}")
    print(f"load average before: {os.getloadavg()}")
    small = np.zeros((1, 1, CHANNELS, SIZE, SIZE), np.uint8)
    start = time.perf_counter()
    fused(small)
    unfused(small)
    print(f"first calls (JIT compile or cache load): {time.perf_counter() - start:.2f} s")

    def measure(rate, repeats):
        spikes = (rng.random(shape) < rate).astype(np.uint8)
        x = torch.from_numpy(spikes.reshape((-1,) + shape[2:]).astype(np.float32))
        theirs = torch_forward(x).numpy()          # warm-up of this shape on both sides
        ours = fused(spikes)
        unfused(spikes)
        mismatch = int(np.count_nonzero(ours.spikes != theirs))
        times = {"torch": [], "fused": [], "unfused": []}
        for _ in range(repeats):
            for name, call, arg in (("torch", torch_forward, x), ("fused", fused, spikes),
                                    ("unfused", unfused, spikes)):
                start = time.perf_counter()
                call(arg)
                times[name].append(time.perf_counter() - start)
        med = {name: float(np.median(values)) for name, values in times.items()}
        return med, float(spikes.mean()), float(ours.rate.mean()), mismatch, times

    header = ("| input rate | torch conv2d + LIF | ours fused | ours unfused | torch / fused | torch / unfused "
              "| output rate | spikes differing |")
    rule = "|---|---|---|---|---|---|---|---|"
    print(f"\nmain table: median of {args.repeats} interleaved runs per forward (T {STEPS}, batch {BATCH}, "
          f"{CHANNELS}->{CHANNELS}, 3x3, pad 1, {SIZE}x{SIZE})")
    print(header)
    print(rule)
    for rate in rates:
        med, measured, out_rate, mismatch, times = measure(rate, args.repeats)
        print(f"| {rate:g} ({measured:.4f}) | {1e3 * med['torch']:.1f} ms | {1e3 * med['fused']:.1f} ms | "
              f"{1e3 * med['unfused']:.1f} ms | **{med['torch'] / med['fused']:.2f}** | "
              f"{med['torch'] / med['unfused']:.2f} | {out_rate:.4f} | {mismatch} of {np.prod(shape)} |")
        print("   runs ms: " + "; ".join(f"{k} " + ", ".join(f"{1e3 * v:.0f}" for v in vs) for k, vs in times.items()))
    if sweep:
        print(f"\nsweep: median of {args.sweep_repeats} runs per forward")
        print(header)
        print(rule)
        points = []
        for rate in sorted(set(sweep) | set(rates)):
            med, measured, out_rate, mismatch, _ = measure(rate, args.sweep_repeats)
            ratio = med["torch"] / med["fused"]
            points.append((rate, ratio))
            print(f"| {rate:g} ({measured:.4f}) | {1e3 * med['torch']:.1f} ms | {1e3 * med['fused']:.1f} ms | "
                  f"{1e3 * med['unfused']:.1f} ms | {ratio:.2f} | {med['torch'] / med['unfused']:.2f} | "
                  f"{out_rate:.4f} | {mismatch} |")
        crossings = [(r0 + (1 - q0) * (r1 - r0) / (q1 - q0)) for (r0, q0), (r1, q1) in zip(points, points[1:])
                     if (q0 - 1) * (q1 - 1) <= 0 and q0 != q1]
        if crossings:
            print(f"crossover (torch / fused = 1) at input rate ~{crossings[0]:.2f} (linear interpolation)")
        else:
            above = all(q > 1 for _, q in points)
            print("no crossover in the sweep: the fused forward is "
                  f"{'faster' if above else 'slower'} at every rate swept")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
