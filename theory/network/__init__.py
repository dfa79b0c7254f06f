"""One description of a network and the evaluators that take it (docs/theory.md, "One
description, several evaluators"). The public names are at ``theory.``."""
