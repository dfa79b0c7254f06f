"""The backward pass at initialisation: one-step gain chi and gradient profiles (``onestep``)
and the temporal backward map over T steps (``temporal``); docs/theory.md §6. The public names
are at ``theory.``."""
