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
the table gives medians per forward of the wall time and of the process CPU time (which
excludes time spent waiting for a core: on a shared machine the steadier of the two; idle
OpenMP threads sleep, OMP_WAIT_POLICY=PASSIVE) and the ratios torch / ours. The parts line
splits the same runs into convolution and LIF (torch: conv2d, loop; ours unfused: conv2d_spikes,
lif_layer). The crossover is the rate where torch / fused = 1, interpolated linearly between
the two sweep rates that bracket it. The spikes of the fused forward are compared with torch's
(they may differ only on float32 near-ties of the membrane: the two convolutions round
differently).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")     # idle OpenMP threads sleep (before numba/torch load)
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
    parser.add_argument("--sweep-repeats", type=int, default=5, help="timed runs per sweep rate (default 5)")
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

    parts = {}

    def torch_forward(x):
        with torch.no_grad():
            start = time.perf_counter()
            current = F.conv2d(x, weight_t, None, 1, 1).view(shape)
            parts["torch conv2d"] = time.perf_counter() - start
            mem = torch.zeros(shape[1:])
            spk = torch.zeros(shape[1:])
            out = torch.empty(shape, dtype=torch.bool)
            for t in range(STEPS):
                mem.mul_(BETA).add_(current[t]).sub_(spk, alpha=THRESHOLD)
                torch.gt(mem, THRESHOLD, out=out[t])
                spk = out[t].float()
            parts["torch LIF loop"] = time.perf_counter() - start - parts["torch conv2d"]
        return out

    def fused(spikes):
        return ck.conv2d_spikes_lif(spikes, weight, None, 1, 1, beta=BETA, threshold=THRESHOLD)

    def unfused(spikes):
        start = time.perf_counter()
        current = ck.conv2d_spikes(spikes, weight, None, 1, 1)
        parts["conv2d_spikes"] = time.perf_counter() - start
        result = ck.lif_layer(current, beta=BETA, threshold=THRESHOLD)
        parts["lif_layer"] = time.perf_counter() - start - parts["conv2d_spikes"]
        return result

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
        wall = {"torch": [], "fused": [], "unfused": []}
        cpu = {"torch": [], "fused": [], "unfused": []}
        split = {}
        for _ in range(repeats):
            for name, call, arg in (("torch", torch_forward, x), ("fused", fused, spikes),
                                    ("unfused", unfused, spikes)):
                start, start_cpu = time.perf_counter(), time.process_time()
                call(arg)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
            for key, value in parts.items():
                split.setdefault(key, []).append(value)
        med = {name: float(np.median(values)) for name, values in wall.items()}
        med_cpu = {name: float(np.median(values)) for name, values in cpu.items()}
        med_split = {name: float(np.median(values)) for name, values in split.items()}
        return med, med_cpu, med_split, float(spikes.mean()), float(ours.rate.mean()), mismatch, wall

    def row(rate, med, med_cpu, measured, out_rate, mismatch, bold):
        mark = "**" if bold else ""
        return (f"| {rate:g} ({measured:.4f}) | {1e3 * med['torch']:.1f} | {1e3 * med['fused']:.1f} | "
                f"{1e3 * med['unfused']:.1f} | {mark}{med['torch'] / med['fused']:.2f}{mark} | "
                f"{med['torch'] / med['unfused']:.2f} | {1e3 * med_cpu['torch']:.1f} | {1e3 * med_cpu['fused']:.1f} | "
                f"{mark}{med_cpu['torch'] / med_cpu['fused']:.2f}{mark} | {med_cpu['torch'] / med_cpu['unfused']:.2f} | "
                f"{out_rate:.4f} | {mismatch} |")

    header = ("| input rate | torch wall ms | fused wall ms | unfused wall ms | torch / fused (wall) | "
              "torch / unfused (wall) | torch CPU ms | fused CPU ms | torch / fused (CPU) | torch / unfused (CPU) "
              "| output rate | spikes differing |")
    rule = "|---|---|---|---|---|---|---|---|---|---|---|---|"
    print(f"\nmain table: median of {args.repeats} interleaved runs per forward (T {STEPS}, batch {BATCH}, "
          f"{CHANNELS}->{CHANNELS}, 3x3, pad 1, {SIZE}x{SIZE}; {np.prod(shape)} output neurons x steps)")
    print(header)
    print(rule)
    notes = []
    for rate in rates:
        med, med_cpu, med_split, measured, out_rate, mismatch, wall = measure(rate, args.repeats)
        print(row(rate, med, med_cpu, measured, out_rate, mismatch, True))
        notes.append(f"rate {rate:g}: wall runs ms " + "; ".join(
            f"{k} " + ", ".join(f"{1e3 * v:.0f}" for v in vs) for k, vs in wall.items())
            + "\n   parts (wall medians, ms): " + ", ".join(f"{k} {1e3 * v:.1f}" for k, v in med_split.items()))
    print("\n".join(notes))
    if sweep:
        print(f"\nsweep: median of {args.sweep_repeats} runs per forward")
        print(header)
        print(rule)
        points = []
        for rate in sorted(set(sweep) | set(rates)):
            med, med_cpu, _, measured, out_rate, mismatch, _ = measure(rate, args.sweep_repeats)
            points.append((rate, med["torch"] / med["fused"], med_cpu["torch"] / med_cpu["fused"]))
            print(row(rate, med, med_cpu, measured, out_rate, mismatch, False))
        for label, index in (("wall", 1), ("CPU", 2)):
            pairs = [(p[0], p[index]) for p in points]
            crossings = [r0 + (1 - q0) * (r1 - r0) / (q1 - q0) for (r0, q0), (r1, q1) in zip(pairs, pairs[1:])
                         if (q0 - 1) * (q1 - 1) <= 0 and q0 != q1]
            if crossings:
                print(f"crossover ({label}: torch / fused = 1) at input rate ~{crossings[0]:.2f} "
                      "(linear interpolation)")
            else:
                faster = all(q > 1 for _, q in pairs)
                print(f"no crossover ({label}) in the sweep: the fused forward is "
                      f"{'faster' if faster else 'slower'} at every rate swept")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
