"""Metrics: pure functions of one run's outputs, registered in :data:`METRICS`.

Importing this package registers every metric module.
"""

from __future__ import annotations

import dataclasses

from engine.metrics import accuracy, entropy, mia_asr, mia_efficacy, mia_loss, retrain_distance, timing
from engine.metrics.base import METRICS, EvalInputs, MetricInfo, MetricValue

__all__ = [
    "METRICS",
    "EvalInputs",
    "MetricInfo",
    "MetricValue",
    "evaluate_all",
    "accuracy",
    "entropy",
    "mia_asr",
    "mia_efficacy",
    "mia_loss",
    "retrain_distance",
    "timing",
]


def evaluate_all(inp: EvalInputs, keys: list[str] | None = None) -> dict[str, MetricValue]:
    """Run the requested metrics (default: all registered, in registration order).

    Unknown keys raise :class:`engine.errors.SpecError`; a metric's own errors propagate.
    """
    selected = METRICS.keys() if keys is None else list(keys)
    out: dict[str, MetricValue] = {}
    for key in selected:
        fn = METRICS.get(key, field="metrics").fn
        out[key] = fn(dataclasses.replace(inp, own_values={k: v.value for k, v in out.items()}))
    return out
