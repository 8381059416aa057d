"""Metrics: pure functions of one run's outputs, registered in :data:`METRICS`.

Importing this package registers every metric module.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from engine.errors import NotApplicable
from engine.metrics import (
    accuracy,
    entropy,
    mia_asr,
    mia_efficacy,
    mia_loss,
    mia_shadow,
    mia_whitebox,
    retrain_distance,
    timing,
)
from engine.metrics.base import (
    METRICS,
    EvalInputs,
    FeatureHook,
    MetricInfo,
    MetricValue,
    ModelFeatures,
    ShadowAttack,
)

__all__ = [
    "METRICS",
    "EvalInputs",
    "FeatureHook",
    "MetricInfo",
    "MetricValue",
    "ModelFeatures",
    "ShadowAttack",
    "attach_model_features",
    "evaluate_all",
    "accuracy",
    "entropy",
    "mia_asr",
    "mia_efficacy",
    "mia_loss",
    "mia_shadow",
    "mia_whitebox",
    "retrain_distance",
    "timing",
]


def evaluate_all(inp: EvalInputs, keys: list[str] | None = None) -> dict[str, MetricValue]:
    """Run the requested metrics (default: all registered, in registration order).

    Each metric sees the results computed before it (``own_values``, ``own_results``). Unknown keys raise
    :class:`engine.errors.SpecError`; a metric's own errors propagate.
    """
    selected = METRICS.keys() if keys is None else list(keys)
    out: dict[str, MetricValue] = {}
    for key in selected:
        fn = METRICS.get(key, field="metrics").fn
        out[key] = fn(dataclasses.replace(inp, own_values={k: v.value for k, v in out.items()},
                                          own_results=dict(out)))
    return out


def attach_model_features(inp: EvalInputs, model: Any, x_train: Any, x_test: Any,
                          keys: list[str] | None = None) -> EvalInputs:
    """``inp`` with the white-box features of the requested metrics that ask for them (:class:`FeatureHook`).

    ``model`` is the evaluated torch module; ``x_train``/``x_test`` the whole splits as tensors on its
    device (labels are taken from ``inp``, the true labels). Metrics without a hook are untouched; a hook
    that raises :class:`NotApplicable` leaves its reason for the metric to report. Metrics sharing one hook
    object (``mia_whitebox`` and ``mia_whitebox_attacker_acc``) share one computation.
    """
    import torch  # the metrics package itself stays numpy-only at import time

    selected = METRICS.keys() if keys is None else list(keys)
    feats: dict[str, ModelFeatures] = dict(inp.model_features)
    done: list[tuple[FeatureHook, ModelFeatures]] = []
    for key in selected:
        hook = METRICS.get(key, field="metrics").model_features
        if hook is None:
            continue
        same = [f for h, f in done if h is hook]
        if same:
            feats[key] = same[0]
            continue
        train_idx, test_idx = (np.asarray(a, dtype=np.int64) for a in hook.select(inp))
        dev = x_train.device
        try:
            parts = []
            for x, y, idx in ((x_train, inp.y_train, train_idx), (x_test, inp.y_test, test_idx)):
                t_idx = torch.as_tensor(idx, device=dev)
                t_y = torch.as_tensor(np.asarray(y)[idx], dtype=torch.int64, device=dev)
                parts.append(np.asarray(hook.compute(model, x[t_idx], t_y, inp.seed)))
            feats[key] = ModelFeatures(train_idx, parts[0], test_idx, parts[1])
        except NotApplicable as e:
            empty = np.zeros((0, 0), dtype=np.float32)
            feats[key] = ModelFeatures(train_idx, empty, test_idx, empty, reason=e.reason)
        done.append((hook, feats[key]))
    return dataclasses.replace(inp, model_features=feats)
