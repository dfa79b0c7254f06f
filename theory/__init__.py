"""Closed forms and mean-field maps for weight initialisation of deep spiking networks.

Float64 throughout; every function validates its inputs (ValueError naming the argument).
"""
import snn_validation as validation
from theory.core.closed_form import log_optimal_sigma, optimal_sigma, optimal_weight_var
from theory.chains.spike_count import (
    SpikeCountChain, finite_width_expansion, finite_width_sigma, min_width, spike_count_chain,
    survival_depth, survival_probability,
)
from theory.gradients.onestep import (
    GradientProfile, chi, chi_one_fixed_points, chi_one_scale, gradient_profile, output_delta_sq,
    surrogate_moment,
)
from theory.core.gaussian import firing_probability, log_tail, orthant, tail
from theory import inits
from theory.inits.registry import predict, sample_weights, weight_std
from theory.core.lif import LIF, membrane
from theory.core.laws import Gaussian, Stable, Uniform
from theory.core.lif import Deterministic
from theory.network.blocks import MS, SEW, sew_network
from theory.network.description import Encoding, Network
from theory.network.evaluate import gram_chain, mean_field, spike_count
from theory.network.layers import AvgPool, BatchNorm, Conv, Dense, Flatten, Init, MaxPool, Repeat, Serial, serial
from theory.network.profile import Profile
from theory.regimes.escape import Escape
from theory.meanfield.maps import (
    FixedPoint, Propagation, basin_boundary, correlation_fixed_point, correlation_map,
    critical_threshold, depth_scale, fixed_points, length_map, length_map_slope, propagate,
    rate_map, stable_fixed_point,
)
from theory.meanfield.pair import PairFixedPoint, PairPropagation, correlation_depth_scale, pair_fixed_point, propagate_pair
from theory.chains.pair_chain import PairChain, correlation_decay, pair_chain
from theory.meanfield.temporal import TemporalPropagation, propagate_temporal
from theory.chains.gram import TemporalChain, temporal_chain
from theory.gradients.temporal import (
    TemporalGradientProfile, temporal_chi, temporal_chi_one_scale, temporal_gradient_profile,
)
from theory.network.trainability import Trainability, trainability
from theory.inits.temporal import optimal_sigma_temporal, temporal_fixed_point, temporal_phase

__all__ = [
    "validation", "inits", "LIF", "membrane", "Network", "Encoding", "Profile", "mean_field", "spike_count",
    "gram_chain", "serial", "Serial", "Repeat", "Dense", "Conv", "MaxPool", "AvgPool", "BatchNorm", "Flatten", "Init",
    "Gaussian", "Uniform", "Stable", "Deterministic", "Escape", "SEW", "MS", "sew_network",
    "optimal_sigma", "log_optimal_sigma", "optimal_weight_var", "firing_probability", "tail",
    "log_tail", "orthant", "propagate", "fixed_points", "stable_fixed_point", "basin_boundary",
    "depth_scale", "critical_threshold", "correlation_map", "correlation_fixed_point",
    "length_map", "length_map_slope", "rate_map", "FixedPoint", "Propagation",
    "sample_weights", "weight_std", "predict",
    "SpikeCountChain", "spike_count_chain", "survival_probability", "min_width", "survival_depth",
    "finite_width_sigma", "finite_width_expansion",
    "chi", "surrogate_moment", "output_delta_sq", "gradient_profile", "GradientProfile",
    "chi_one_scale", "chi_one_fixed_points",
    "TemporalPropagation", "propagate_temporal", "TemporalChain", "temporal_chain",
    "Trainability", "trainability",
    "TemporalGradientProfile", "temporal_gradient_profile", "temporal_chi", "temporal_chi_one_scale",
    "optimal_sigma_temporal", "temporal_fixed_point", "temporal_phase",
    "PairPropagation", "PairFixedPoint", "propagate_pair", "pair_fixed_point", "correlation_depth_scale",
    "PairChain", "pair_chain", "correlation_decay",
]
