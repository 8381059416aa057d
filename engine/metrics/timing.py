"""Run time of the unlearning method itself.

- ``unlearn_seconds``: seconds of the method's own work (evaluation excluded), as measured by the unlearn job.
  Papers: LAF/UGradSL "RTE" / execution time, PGU/PPU "Time (s)".
- ``speedup_vs_retrain``: retrain_seconds / unlearn_seconds for the same seed.

Which clock (:func:`timed_seconds`): on a CPU device the **CPU seconds** of the computation (``cpu_seconds`` in the
unlearn / train job's meta: all its intra-op threads, the same figure whether the machine is idle or busy with other
jobs of a parallel run), on a GPU the **wall seconds** with the device synchronised around the timed call (CPU time
says nothing about GPU work). Results stored before CPU seconds were recorded (no ``cpu_seconds``) fall back to wall
seconds, and the unlearning and the retrain time always come from the same clock, so a speed-up never mixes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.metrics.base import METRICS, NON_NEGATIVE, EvalInputs, MetricInfo, MetricValue, not_applicable


def _cpu_measured(meta: Mapping[str, Any]) -> bool:
    """Whether a job's meta holds CPU seconds of a run on a CPU device."""
    device = str((meta.get("run") or {}).get("device", ""))
    return device.split(":")[0] == "cpu" and isinstance(meta.get("cpu_seconds"), (int, float))


def timed_seconds(unlearn: Mapping[str, Any] | None, retrain: Mapping[str, Any] | None
                  ) -> tuple[float | None, float | None]:
    """The (unlearning, retrain) seconds the time metrics use, from the two jobs' stored meta (``None``: no such job).

    CPU seconds when every given job ran on a CPU device and recorded them, else wall seconds (``seconds``: GPU runs,
    and results cached before CPU seconds were recorded) for both.
    """
    given = [m for m in (unlearn, retrain) if m is not None]
    field = "cpu_seconds" if given and all(_cpu_measured(m) for m in given) else "seconds"
    return (None if unlearn is None else float(unlearn[field]), None if retrain is None else float(retrain[field]))


def unlearn_seconds(inp: EvalInputs) -> MetricValue:
    """The method's own run time in seconds (CPU seconds on a CPU device, wall seconds on a GPU)."""
    if inp.unlearn_seconds is None:
        return not_applicable("this run has no measured unlearning time")
    return MetricValue(float(inp.unlearn_seconds))


def speedup_vs_retrain(inp: EvalInputs) -> MetricValue:
    """How many times faster than retraining from scratch (both times from the same clock)."""
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
        description="Seconds of the unlearning method itself (evaluation excluded): CPU seconds on a CPU device "
                    "(not inflated by other jobs running beside it), wall seconds on a GPU (synchronised); wall "
                    "seconds for results cached before CPU seconds were recorded.",
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
        description="Retrain time divided by the method's unlearning time (same seed, same clock: CPU seconds on a "
                    "CPU device, wall seconds on a GPU or for results cached before CPU seconds were recorded).",
        papers="derived from RTE / Time (s)",
        group="time",
        range=NON_NEGATIVE,
    ),
)
