"""Foundations every other part of the theory builds on: the Gaussian tail and orthant
functions, the paper's closed form, the LIF neuron, the surrogate derivatives, the weight laws
and the SymPy derivation (docs/theory.md §1, §2, §6, §7). Import the modules themselves; the
public names are at ``theory.``."""
