"""PyTorch bridge: initialise and diagnose snnTorch and SpikingJelly models with the toolkit's theory.

Optional package (``pip install ".[torch]"``; SpikingJelly 2.0: ``pip install --no-deps
"spikingjelly==2.0.0" loguru``, README): ``import theory`` never imports it, and importing it
without PyTorch raises an ImportError naming the extra.
The old path ``theory.torch_init`` re-exports it.

One job per module:

    snn_bridge.nninit      fans, init_, micheli_normal_: torch.nn.init-style draws from the registry
    snn_bridge.neurons     the libraries' neurons and surrogates read as theory.LIF (and back)
    snn_bridge.trace       what a model computes, recorded while it runs (hooks + TorchFunctionMode)
    snn_bridge.translate   the record as a theory.Network: translate(model, input_shape, T, encoding)
    snn_bridge.initialize  initialize_(model, init=...): draws every weight from the description's
                           laws and reports the theory (mean field, P(silent), chi, trainable depth)
    snn_bridge.diagnose    diagnose(model, inputs): measured rates and membranes beside the theory
    snn_bridge.models      convolutional SNN builders (SEW/MS-ResNet, VGG) in both libraries
    snn_bridge.spikeinit   SpikeInit (Shi & Yu 2026) from its equations
    snn_bridge.train       python -m snn_bridge.train

Conventions: a torch weight is (fan_out, fan_in, *kernel), the transpose of the toolkit's
(fan_in, fan_out) matrices; fans are torch's (fan_in = c_in prod(kernel)). The neuron is snnTorch's
``Leaky`` with ``reset_delay=True`` (docs/theory.md §1; SpikingJelly's nodes map onto it,
snn_bridge.neurons). Predictions are float64; the model runs in its own dtype.
"""
from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by tests/torch/test_import_error.py
    raise ImportError(
        'snn_bridge needs PyTorch and snnTorch, the optional extra: pip install ".[torch]"'
    ) from exc

from .diagnose import Diagnosis, diagnose
from .initialize import InitReport, LayerReport, NeuronReport, initialize_
from .neurons import read_surrogate
from .nninit import fans, init_, micheli_normal_
from .translate import Translation, translate

__all__ = ["fans", "init_", "micheli_normal_", "initialize_", "diagnose", "translate", "InitReport", "LayerReport",
           "NeuronReport", "Diagnosis", "Translation", "read_surrogate"]
