"""Measured agreement of the bridge's report with the models, per module pattern and library: the
numbers behind tests/torch/test_agreement.py, printed as a table.

    python benchmarks/bridge_agreement.py                 # configuration A, 8 networks
    python benchmarks/bridge_agreement.py --config B --networks 16

Per pattern (tests/torch/patterns.py) and library: every neuron layer's step-1 rate and
time-averaged rate and membrane variance, measured (mean over networks) against predicted
(initialize_'s mean field). Columns: the last neuron layer's step-1 rate (measured / predicted), the
largest relative difference |m - p| / p over every layer and quantity, and the largest share of the
test's tolerance used (|m - p| / tolerance; <= 1 passes; tolerance = Bonferroni t-interval of the
sampling error + 5 % of p, the test's).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="A", choices=["A", "B", "C"])
    parser.add_argument("--networks", type=int, default=8)
    args = parser.parse_args(argv)
    from tests.torch.patterns import CONFIGS, PATTERNS
    from tests.torch.test_agreement import measure_case, verdict
    print(f"configuration {args.config} (threshold, beta, reset, T) = {CONFIGS[args.config]}, "
          f"{args.networks} networks per case\n")
    print("| pattern | library | last layer rate t=1, measured / predicted | max |m - p| / p | max share of tolerance |")
    print("|---|---|---|---|---|")
    for pattern in PATTERNS:
        for library in ("snntorch", "spikingjelly"):
            measured, predicted, se, _ = measure_case(pattern, library, args.config, networks=args.networks)
            _, half = verdict(measured, predicted, se)
            mean = measured.mean(axis=0)
            relative = np.abs(mean - predicted) / np.abs(predicted)
            share = np.abs(mean - predicted) / half
            print(f"| {pattern} | {library} | {mean[-1, 0]:.4f} / {predicted[-1, 0]:.4f} | "
                  f"{100 * np.nanmax(relative):.1f} % | {np.nanmax(share):.2f} |", flush=True)


if __name__ == "__main__":
    main()
