"""Metrics: pure functions of one run's outputs, registered in :data:`METRICS`.

Importing this package registers every metric module: every module directly in ``engine/metrics/`` except ``base``
(the contract) and private ``_*.py`` files, imported in file-name order -- which is the registration order, hence
the order of the result tables' metric columns and of :func:`evaluate_all` (a metric sees the values of those
before it). See ``docs/adding_a_metric.md``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.errors import NotApplicable
from engine.metrics.base import (
    METRICS,
    EvalInputs,
    FeatureHook,
    MetricInfo,
    MetricValue,
    ModelFeatures,
    Preparation,
    PrepareContext,
    RowTarget,
    ShadowAttack,
    StoredPreparation,
)

CONTRACT_MODULE = "base"


def is_metric_module(info: pkgutil.ModuleInfo) -> bool:
    """Whether a module found in this package is a metric module (see the package docstring)."""
    return not info.ispkg and info.name != CONTRACT_MODULE and not info.name.startswith("_")


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if is_metric_module(_info):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = [
    "METRICS",
    "EvalInputs",
    "FeatureHook",
    "MetricInfo",
    "MetricValue",
    "ModelFeatures",
    "Preparation",
    "PrepareContext",
    "RowTarget",
    "ShadowAttack",
    "StoredPreparation",
    "attach_model_features",
    "evaluate_all",
    "is_metric_module",
    "preparation",
    "preparations",
]


def evaluate_all(inp: EvalInputs, keys: list[str] | None = None,
                 known: Mapping[str, MetricValue] | None = None) -> dict[str, MetricValue]:
    """Run the requested metrics (default: all registered, in registration order).

    Each metric sees the results computed before it (``own_values``, ``own_results``). ``known``: metrics already
    computed for this model (the per-metric records), taken as they are instead of computed again. Unknown keys raise
    :class:`engine.errors.SpecError`; a metric's own errors propagate.
    """
    selected = METRICS.keys() if keys is None else list(keys)
    known = known or {}
    out: dict[str, MetricValue] = {}
    for key in selected:
        fn = METRICS.get(key, field="metrics").fn
        out[key] = known[key] if key in known else fn(dataclasses.replace(
            inp, own_values={k: v.value for k, v in out.items()}, own_results=dict(out)))
    return out


def preparations(keys: list[str] | None = None) -> tuple[Preparation, ...]:
    """The preparation jobs the requested metrics declare (default: all registered), one per kind, in metric order.

    Raises ``ValueError`` if two metrics declare different preparations of the same kind.
    """
    selected = METRICS.keys() if keys is None else list(keys)
    out: dict[str, Preparation] = {}
    for key in selected:
        prep = METRICS.get(key, field="metrics").preparation
        if prep is None:
            continue
        if prep.kind in out and out[prep.kind] is not prep:
            raise ValueError(f"metric {key} declares a preparation of kind {prep.kind!r} that another metric "
                             f"declares differently")
        out[prep.kind] = prep
    return tuple(out.values())


def preparation(kind: str) -> Preparation:
    """The registered metrics' preparation of job kind ``kind``; ``KeyError`` if no metric declares one."""
    for prep in preparations():
        if prep.kind == kind:
            return prep
    raise KeyError(f"no metric declares a preparation job of kind {kind!r}")


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
