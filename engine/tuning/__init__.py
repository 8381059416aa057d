"""Hyper-parameter tuning under one protocol (issue 15; in progress).

Built so far: :mod:`~engine.tuning.space` (each method's search space, read from its config schema). The tuner
itself -- trials as content-keyed unlearn + validation-evaluate jobs, a seeded TPE study replayed from the cache,
default and tuned rows side by side -- is the next step (issue 15).
"""

from engine.tuning.space import Dimension, SearchSpace, search_space

__all__ = ["Dimension", "SearchSpace", "search_space"]
