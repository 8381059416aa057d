"""Metric contract: pure functions of a run's outputs (numpy), with metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.registry import Registry

Direction = Literal["higher", "lower", "closer_to_retrain"]


@dataclass(frozen=True)
class EvalInputs:
    """Everything a metric may look at for one run (one method x one seed).

    Logits are of the evaluated model, on the whole training and test splits, in dataset
    order. Labels are always the *true* labels (never the paradigm's weak supervision).
    ``retrain_*`` hold the retrained reference's outputs for the same seed (when the reference
    itself is evaluated, its own logits). ``forget_classes`` are the classes the scenario removes entirely
    (``class``/``subclass``; for ``subclass`` the test split uses ``test_forget_mask``).
    """

    logits_train: np.ndarray  # (N_train, K) float
    logits_test: np.ndarray  # (N_test, K) float
    y_train: np.ndarray  # (N_train,) int, true labels
    y_test: np.ndarray  # (N_test,) int
    forget_idx: np.ndarray  # indices into the training split
    retain_idx: np.ndarray
    test_forget_mask: np.ndarray | None  # bool (N_test,) for class/subclass scenarios, else None
    forget_classes: tuple[int, ...]  # classes entirely removed (empty for sample-level scenarios)
    touched_classes: tuple[int, ...]  # classes that have any forget sample
    seed: int
    unlearn_seconds: float | None
    retrain_seconds: float | None
    retrain_logits_train: np.ndarray | None
    retrain_logits_test: np.ndarray | None
    # already-computed values (filled by evaluate_all / the runner) so that derived metrics such as
    # gap_to_retrain do not refit attacks: this run's values and the retrain reference's values
    own_values: Mapping[str, float | None] = field(default_factory=dict)
    retrain_values: Mapping[str, float | None] | None = None


@dataclass(frozen=True)
class MetricValue:
    """A metric's value for one run (``None`` = not applicable, with ``reason``), plus per-sample values."""

    value: float | None
    per_sample: np.ndarray | None = None
    reason: str = ""


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric."""

    key: str
    title: str
    direction: Direction
    fn: Callable[[EvalInputs], MetricValue]
    description: str
    papers: str = ""  # which paper calls it what, e.g. "UGradSL: UA = 1 - forget_acc"
    ideal: float | None = None  # e.g. 0.5 for attack accuracies
    needs_retrain: bool = False
    group: str = "accuracy"  # accuracy | privacy | entropy | distance | time


METRICS: Registry[MetricInfo] = Registry("metric")


def not_applicable(reason: str) -> MetricValue:
    """A metric value that does not exist in this setting."""
    return MetricValue(None, None, reason)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
