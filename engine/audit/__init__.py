"""Pure functions of the privacy and representation audit (issue 16): no training, no I/O."""
