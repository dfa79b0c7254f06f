"""Infinite-width theory: the one-step length, rate and correlation maps (``maps``), the
temporal mean field over T steps (``temporal``) and the pair mean field of two inputs
(``pair``); docs/theory.md §3, §5, §9. The public names are at ``theory.``."""
