"""Hyper-parameter tuning under one protocol (issue 15; DESIGN.md "Evaluation protocol": one tuning protocol).

- :mod:`~engine.tuning.protocol`: the objective's text, the default budget and tuning seeds, :class:`TuneOptions`
  (light: no torch);
- :mod:`~engine.tuning.space`: each method's search space, read from its config schema;
- :mod:`~engine.tuning.study`: the tuner -- a seeded TPE study per method whose trials are content-keyed unlearn +
  validation-evaluate jobs on tuning seeds, recorded in the store and resumed trial by trial;
- :mod:`~engine.tuning.compare`: default and tuned configurations side by side on the reported seeds;
- :mod:`~engine.tuning.defaults`: the run that chooses the shipped digits defaults.

Names are imported on first use (PEP 562), so that ``from engine.tuning import TuneOptions`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DEFAULT_TRIALS": "protocol", "DEFAULT_TUNING_SEEDS": "protocol", "MAX_TRIALS": "protocol",
    "OBJECTIVE": "protocol", "TuneOptions": "protocol",
    "Dimension": "space", "SearchSpace": "space", "search_space": "space",
    "OBJECTIVE_METRICS": "study", "MethodStudy": "study", "Trial": "study", "recorded_studies": "study",
    "tunable": "study", "tune": "study",
    "DEFAULT": "compare", "TUNED": "compare", "TunedComparison": "compare", "run_tuned": "compare",
    "tuned_spec": "compare",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'engine.tuning' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.tuning.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
