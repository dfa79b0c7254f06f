"""Per-iteration cost of the deep convolutional SNNs of figure deep_conv_training against
PyTorch's own dense kernels on the same convolutions, in one run.

    python benchmarks/bench_conv_training.py                          the RESULTS.md table
    python benchmarks/bench_conv_training.py --models sew_add:100 --library snntorch --repeats 5

For each model (snn_bridge.models, the figure's settings: channels 8/16/32, T = 4, batch 32,
28x28 single-channel input, LIF tau 2 (beta 0.5), hard reset, threshold 1, ATan; micheli
weights) three things run on one thread (torch.set_num_threads(1)), interleaved ``--repeats``
times, after a warm-up:

* snn      the spiking model as trained: forward (torch.no_grad) and one training iteration
           (forward + backward + Adam step, cross-entropy on the output spike counts);
* ann      its ReLU twin: the same modules with every spiking neuron replaced by ReLU applied to
           the same (T, B, ...) tensors, so every convolution, batch norm, residual add and the
           classifier run exactly as in the SNN -- only the neuron's T-step recursion is gone;
* conv     the floor: every Conv2d / Linear of the model called alone (F.conv2d / F.linear on a
           random 0/1 input of the shape it sees in the model; SpikingJelly's multi-step
           containers fold T into the batch, snnTorch calls each layer once per step), forward only.

The table gives medians per iteration of the wall time and the process CPU time (the steadier of
the two on a shared machine: it excludes waiting for a core) and the ratios snn / ann and
snn / conv, for the forward and (snn / ann) for the training iteration.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_MODELS = "sew_add:10,sew_add:52,sew_add:100,ms:52,vgg:52"


def _models(text):
    out = []
    for part in text.split(","):
        try:
            family, depth = part.split(":")
            out.append((family.strip(), int(depth)))
        except ValueError:
            raise SystemExit(f"bench_conv_training.py: error: --models takes family:depth pairs, got {part!r}") from None
    return out


def relu_twin(model):
    """A deep copy of ``model`` with every spiking neuron replaced by ReLU (same input and output
    shapes; the model's own forward runs it: snnTorch's loop over T calls ReLU one step at a time,
    SpikingJelly's multi-step modules call it on the (T, B, ...) tensors)."""
    import copy

    from torch import nn
    twin = copy.deepcopy(model)
    for name in [name for name, _ in twin.neurons()]:
        *path, last = name.split(".")
        setattr(twin.get_submodule(".".join(path)), last, nn.ReLU())
    return twin


def conv_calls(model, x):
    """(module, input shape) of every Conv2d / Linear call of one forward of ``model`` on ``x``."""
    import torch
    from torch import nn
    calls, handles = [], []
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            handles.append(module.register_forward_hook(
                lambda m, args, out: calls.append((m, tuple(args[0].shape)))))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"family:depth (weight layers), comma-separated "
                                                                  f"(default {DEFAULT_MODELS})")
    parser.add_argument("--library", default="spikingjelly", choices=("spikingjelly", "snntorch"))
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed repeats (default 5)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit("bench_conv_training.py: error: --repeats must be >= 1")

    import torch
    import torch.nn.functional as F

    from figures.deep_conv_training import blocks_for
    from snn_bridge.models import build_model
    from snn_bridge.train import INITIALISERS, TorchTrainConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"# bench_conv_training.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, library {args.library}, "
          f"threads 1, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows = []
    for family, depth in _models(args.models):
        blocks = blocks_for(family, depth)
        reset = "zero" if args.library == "spikingjelly" else "subtract"
        model = build_model(family, args.library, blocks=blocks, channels=(8, 16, 32), reset=reset)
        config = TorchTrainConfig(family=family, library=args.library, blocks=blocks, channels=(8, 16, 32),
                                  reset=reset, init="micheli", seed=0, progress=False)
        INITIALISERS["micheli"](model, config)
        twin = relu_twin(model)
        x = torch.rand(args.steps, args.batch, 1, 28, 28)
        y = torch.randint(0, 10, (args.batch,))
        calls = conv_calls(model, x)
        inputs = [(m, (torch.rand(shape) < 0.2).float()) for m, shape in calls]
        optimisers = {"snn": torch.optim.Adam(model.parameters(), 1e-6), "ann": torch.optim.Adam(twin.parameters(), 1e-6)}
        nets = {"snn": model, "ann": twin}

        def forward(name):
            with torch.no_grad():
                nets[name](x)

        def step(name):
            optimisers[name].zero_grad(set_to_none=True)
            F.cross_entropy(nets[name](x), y).backward()
            optimisers[name].step()

        def floor():
            with torch.no_grad():
                for m, inp in inputs:
                    m(inp)

        jobs = {"snn forward": lambda: forward("snn"), "ann forward": lambda: forward("ann"), "conv forward": floor,
                "snn train": lambda: step("snn"), "ann train": lambda: step("ann")}
        for fn in jobs.values():      # warm-up
            fn()
        times = {name: [] for name in jobs}
        for _ in range(args.repeats):
            for name, fn in jobs.items():
                times[name].append(_timed(fn))
        med = {name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for name, v in times.items()}
        layers = model.describe()["weight_layers"]
        rows.append((family, layers, med, len(calls)))
        print(f"{family}:{layers} done ({len(calls)} conv/linear calls per forward)", flush=True)
    print("\n| model | weight layers | SNN forward wall / CPU (s) | ReLU twin forward | conv+linear alone | "
          "SNN / twin (CPU) | SNN / conv (CPU) | SNN train iteration wall / CPU (s) | twin train | SNN / twin train (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for family, layers, m, ncalls in rows:
        print(f"| {family} | {layers} | {m['snn forward'][0]:.3f} / {m['snn forward'][1]:.3f} | "
              f"{m['ann forward'][0]:.3f} / {m['ann forward'][1]:.3f} | {m['conv forward'][0]:.3f} / "
              f"{m['conv forward'][1]:.3f} | {m['snn forward'][1] / m['ann forward'][1]:.2f}x | "
              f"{m['snn forward'][1] / m['conv forward'][1]:.2f}x | {m['snn train'][0]:.3f} / {m['snn train'][1]:.3f} | "
              f"{m['ann train'][0]:.3f} / {m['ann train'][1]:.3f} | {m['snn train'][1] / m['ann train'][1]:.2f}x |")
    print(f"# load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
