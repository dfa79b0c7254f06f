"""Small models of each module pattern the bridge recognises, in snnTorch (single step,
init_hidden=True, nn.Sequential called once per step) and in SpikingJelly 2.0 (multi-step
``layer.*`` modules, one call with (T, batch, ...)). Imported after pytest.importorskip."""
import torch
from torch import nn

PATTERNS = ("dense", "conv", "maxpool_current", "maxpool_spikes", "avgpool", "batchnorm", "sew_add", "sew_iand", "ms",
            "projection")

# (threshold, beta, reset, T); SpikingJelly: "subtract" is its soft reset (subtract_leaky), "zero" its hard
# reset; its LIFNode needs beta > 0 (tau = 1 / (1 - beta) > 1)
CONFIGS = {"A": (1.0, 0.5, "subtract", 3), "B": (0.8, 0.9, "zero", 3), "C": (1.1, 0.25, "subtract", 2)}


def neuron(library, threshold, beta, reset, decay_input=False):
    if library == "snntorch":
        import snntorch as snn
        return snn.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset, init_hidden=True)
    from spikingjelly.activation_based import neuron as sj, surrogate
    v_reset = 0.0 if reset == "zero" else None
    if beta == 1.0:
        return sj.IFNode(v_threshold=threshold, v_reset=v_reset, surrogate_function=surrogate.ATan(), step_mode="m")
    return sj.LIFNode(tau=1.0 / (1.0 - beta), decay_input=decay_input, v_threshold=threshold, v_reset=v_reset,
                      surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")


class Residual(nn.Module):
    """One residual block as the libraries' examples write it: ADD ``identity + out``, IAND
    ``identity * (1 - out)``, MS ``out + identity`` (out a current); ``shortcut`` a layer path or
    the identity."""

    def __init__(self, branch, connect, shortcut=None):
        super().__init__()
        self.branch, self.connect, self.shortcut = branch, connect, shortcut

    def forward(self, x):
        out = self.branch(x)
        identity = x if self.shortcut is None else self.shortcut(x)
        if self.connect == "IAND":
            return identity * (1.0 - out)
        return identity + out


def _layers(library):
    if library == "snntorch":
        return nn
    from spikingjelly.activation_based import layer
    return layer


def build(pattern, library, threshold=1.0, beta=0.5, reset="subtract", channels=64, width=1000, decay_input=False,
          bn_over=None, in_channels=16, size=8):
    """(model, per-sample input shape). Conv patterns read (in_channels, size, size) images (pooling
    patterns 2 size), the dense pattern ``width`` values."""
    L = _layers(library)

    def lif():
        return neuron(library, threshold, beta, reset, decay_input)

    def conv(c_in, c_out, stride=1, kernel=3):
        return L.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
    c, k = channels, in_channels
    if pattern == "dense":
        layers = [lif()] + [m for _ in range(3) for m in (L.Linear(width, width, bias=False), lif())]
        shape = (width,)
    elif pattern == "conv":
        layers = [conv(k, c), lif(), conv(c, c), lif(), conv(c, c), lif()]
        shape = (k, size, size)
    elif pattern == "maxpool_current":
        layers = [conv(k, c), L.MaxPool2d(2), lif(), conv(c, c), L.MaxPool2d(2), lif()]
        shape = (k, 2 * size, 2 * size)
    elif pattern == "maxpool_spikes":
        layers = [conv(k, c), lif(), L.MaxPool2d(2), conv(c, c), lif()]
        shape = (k, 2 * size, 2 * size)
    elif pattern == "avgpool":
        layers = [conv(k, c), lif(), L.AvgPool2d(2), conv(c, c), lif()]
        shape = (k, 2 * size, 2 * size)
    elif pattern == "batchnorm":
        if library == "spikingjelly" and bn_over == "container":
            from spikingjelly.activation_based import layer
            layers = [layer.SeqToANNContainer(nn.Conv2d(k, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)), lif(),
                      layer.SeqToANNContainer(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)), lif()]
        else:
            layers = [conv(k, c), L.BatchNorm2d(c), lif(), conv(c, c), L.BatchNorm2d(c), lif()]
        shape = (k, size, size)
    elif pattern in ("sew_add", "sew_iand"):
        connect = "ADD" if pattern == "sew_add" else "IAND"
        layers = [conv(k, c), lif()] + [Residual(nn.Sequential(conv(c, c), lif(), conv(c, c), lif()), connect)
                                        for _ in range(2)]
        shape = (k, size, size)
    elif pattern == "ms":
        layers = [conv(k, c)] + [Residual(nn.Sequential(lif(), conv(c, c), lif(), conv(c, c)), "MS")
                                 for _ in range(2)] + [lif()]
        shape = (k, size, size)
    elif pattern == "projection":
        layers = [conv(k, c), lif(),
                  Residual(nn.Sequential(conv(c, c, 2), lif(), conv(c, c), lif()), "ADD",
                           nn.Sequential(conv(c, c, 2, kernel=1), lif())),
                  Residual(nn.Sequential(conv(c, c), lif(), conv(c, c), lif()), "ADD")]
        shape = (k, 2 * size, 2 * size)
    else:
        raise ValueError(pattern)
    model = nn.Sequential(*layers)
    if library == "spikingjelly":
        from spikingjelly.activation_based import functional
        functional.set_step_mode(model, "m")
    return model, shape


def inputs(library, shape, T, batch, seed, static=False):
    g = torch.Generator().manual_seed(seed)
    if static:
        x = torch.randn((1, batch) + tuple(shape), generator=g).expand((T, batch) + tuple(shape))
    else:
        x = torch.randn((T, batch) + tuple(shape), generator=g)
    return x
