"""Hyper-parameter tuning under one protocol (issue 15; DESIGN.md "Evaluation protocol": one tuning protocol).

- :mod:`~engine.tuning.space`: each method's search space, read from its config schema;
- :mod:`~engine.tuning.study`: the tuner -- a seeded TPE study per method whose trials are content-keyed unlearn +
  validation-evaluate jobs on tuning seeds, recorded in the store and resumed trial by trial;
- :mod:`~engine.tuning.compare`: default and tuned configurations side by side on the reported seeds.
"""

from engine.tuning.compare import DEFAULT, TUNED, TunedComparison, run_tuned, tuned_spec
from engine.tuning.space import Dimension, SearchSpace, search_space
from engine.tuning.study import (
    DEFAULT_TRIALS,
    DEFAULT_TUNING_SEEDS,
    OBJECTIVE,
    OBJECTIVE_METRICS,
    MethodStudy,
    Trial,
    TuneOptions,
    recorded_studies,
    tunable,
    tune,
)

__all__ = ["DEFAULT", "DEFAULT_TRIALS", "DEFAULT_TUNING_SEEDS", "OBJECTIVE", "OBJECTIVE_METRICS", "TUNED",
           "Dimension", "MethodStudy", "SearchSpace", "Trial", "TuneOptions", "TunedComparison", "recorded_studies",
           "run_tuned", "search_space", "tunable", "tune", "tuned_spec"]
