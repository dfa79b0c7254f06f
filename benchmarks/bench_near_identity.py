"""Cost of the bridge's near-identity design of a SEW-ResNet (snn_bridge.initialize_ with
residual="near_identity"): one mean-field walk that solves every block's gain, then the report's
walk, for the models of figure deep_conv_training (SpikingJelly LIF tau 2, hard reset, T 4,
channels 8/16/32, 28 x 28 input, 1000 mean-field paths as the 1000-layer run uses).

    python benchmarks/bench_near_identity.py                    # 4 and 16 blocks per stage
    python benchmarks/bench_near_identity.py --blocks 4,16,64

Prints wall and CPU seconds per model and the number of distinct per-position laws the LIF map
evaluated (theory.network.rules._per_position evaluates each distinct law once).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", default="4,16", help="blocks per stage, comma-separated (default 4,16)")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args(argv)
    try:
        blocks = [int(b) for b in args.blocks.split(",")]
    except ValueError:
        raise SystemExit(f"bench_near_identity.py: error: --blocks takes integers, got {args.blocks!r}") from None
    from snn_bridge import initialize_
    from snn_bridge.models import build_model
    from theory.network import evaluate
    calls = [0]
    original = evaluate.MeanField.lif_moments

    def counted(self, *a, **k):
        calls[0] += 1
        return original(self, *a, **k)
    evaluate.MeanField.lif_moments = counted
    print(f"# bench_near_identity.py --blocks {args.blocks} --samples {args.samples}; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| blocks per stage | weight layers | wall (s) | CPU (s) | per-position laws evaluated |")
    print("|---|---|---|---|---|")
    for b in blocks:
        model = build_model("sew_add", "spikingjelly", blocks=b, channels=(8, 16, 32), reset="zero", beta=0.5)
        calls[0] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        initialize_(model, "micheli", input_shape=(1, 28, 28), T=4, encoding="static", input_std=0.55,
                    residual="near_identity", unpaired="list", trainable_depth=False, warn=False,
                    samples=args.samples)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"| {b} | {6 * b + 4} | {wall:.1f} | {cpu:.1f} | {calls[0]} |", flush=True)


if __name__ == "__main__":
    main()
