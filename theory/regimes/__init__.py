"""Network regimes beyond the plain deterministic LIF stack, one module each with its
initialiser (``INITIALISER``), its checks and its predictions: stochastic (escape-noise)
firing, heavy-tailed alpha-stable weights, residual SEW blocks (docs/theory.md §9)."""
