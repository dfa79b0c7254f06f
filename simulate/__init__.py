"""Numba-jitted simulators of deep spiking networks (float32 state, float64 statistics).

run_network: forward pass with per-layer, per-step rate and membrane statistics.
Encodings: gaussian_currents, static_currents, bernoulli_spikes, as_currents.
Monte Carlo: monte_carlo, compare, sweep (repeated draws with confidence intervals).
Training (simulate.train): TrainConfig, simulate.train.train -> TrainResult (.network, .history);
save_network / load_network (TrainedNetwork, a documented .npz without pickles).
"""
from .backprop import loss_and_grads
from .encodings import as_currents, bernoulli_spikes, gaussian_currents, static_currents
from .montecarlo import Comparison, MonteCarloResult, compare, monte_carlo, sweep
from .network import NetworkResult, run_network

__all__ = ["NetworkResult", "run_network", "gaussian_currents", "static_currents", "bernoulli_spikes",
           "as_currents", "MonteCarloResult", "Comparison", "monte_carlo", "compare", "sweep", "loss_and_grads",
           "TrainConfig", "TrainedNetwork", "TrainResult", "save_network", "load_network"]

_TRAINING = ("TrainConfig", "TrainedNetwork", "TrainResult", "save_network", "load_network")


def __getattr__(name):
    # the training names load simulate.train on first use, so that importing the package does
    # not import it (python -m simulate.train would otherwise find it imported twice)
    if name in _TRAINING:
        import simulate.train as train
        return getattr(train, name)
    raise AttributeError(f"module 'simulate' has no attribute {name!r}")
