"""The initialiser registry (docs/theory.md §7): ``theory.inits.names()``, ``weight_std``,
``distribution``, ``sample_weights``, ``predict``; the temporal init lives in
``theory.inits.temporal``. The registry lists every entry explicitly (``registry.INITIALISERS``)."""
from theory.inits.registry import (  # noqa: F401
    INITIALISERS, REGIMES, Initialiser, as_generator, distribution, draw, get, names, predict, register,
    sample_weights, weight_std,
)
