"""Exact finite-width theory: the one-step spike-count chain (``spike_count``), the Gram chain
over T steps (``gram``) and the pair chain of two inputs (``pair_chain``); docs/theory.md §4,
§5, §9. The public names are at ``theory.``."""
