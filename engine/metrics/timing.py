"""Run time of the unlearning method itself.

- ``unlearn_seconds``: wall-clock seconds of the method's own work (evaluation excluded), as
  measured by the unlearn job with device synchronisation. Papers: LAF/UGradSL "RTE" / execution
  time, PGU/PPU "Time (s)".
- ``speedup_vs_retrain``: retrain_seconds / unlearn_seconds for the same seed.
"""

from __future__ import annotations

from engine.metrics.base import METRICS, NON_NEGATIVE, EvalInputs, MetricInfo, MetricValue, not_applicable


def unlearn_seconds(inp: EvalInputs) -> MetricValue:
    """The method's own run time in seconds."""
    if inp.unlearn_seconds is None:
        return not_applicable("this run has no measured unlearning time")
    return MetricValue(float(inp.unlearn_seconds))


def speedup_vs_retrain(inp: EvalInputs) -> MetricValue:
    """How many times faster than retraining from scratch."""
    if inp.unlearn_seconds is None or inp.retrain_seconds is None:
        return not_applicable("needs both the method's and the retrain's measured time")
    if inp.unlearn_seconds <= 0:
        return not_applicable("the measured unlearning time is zero")
    return MetricValue(float(inp.retrain_seconds) / float(inp.unlearn_seconds))


METRICS.register(MetricInfo(
        key="unlearn_seconds",
        title="Unlearning time (s)",
        direction="lower",
        fn=unlearn_seconds,
        description="Wall-clock seconds of the unlearning method itself (evaluation excluded).",
        papers="RTE / execution time / Time (s)",
        group="time",
        range=NON_NEGATIVE,
    ),
)
METRICS.register(MetricInfo(
        key="speedup_vs_retrain",
        title="Speed-up vs retrain",
        direction="higher",
        fn=speedup_vs_retrain,
        description="Retrain time divided by the method's unlearning time (same seed).",
        papers="derived from RTE / Time (s)",
        group="time",
        range=NON_NEGATIVE,
    ),
)
