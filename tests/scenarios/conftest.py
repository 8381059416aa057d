"""Small synthetic ImageData (and the real digits) for the scenario tests; no model, no training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from engine.data import ImageData, load_dataset
from engine.paradigms import PARADIGMS, Supervision
from engine.scenarios import SCENARIOS, SelectInputs, Selection

# unequal class sizes so that "the samples of class c" cannot be right by accident
TRAIN_COUNTS = (30, 41, 25, 36, 50, 28, 33, 47, 22, 39)
TEST_COUNTS = (7, 9, 5, 8, 6, 10, 4, 7, 9, 6)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shuffled_labels(counts: tuple[int, ...], seed: int) -> torch.Tensor:
    """``counts[c]`` samples of every class ``c``, in a seeded random order."""
    y = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])
    return y[torch.randperm(y.numel(), generator=gen(seed))]


def make_data(train_counts: tuple[int, ...] = TRAIN_COUNTS, test_counts: tuple[int, ...] = TEST_COUNTS,
              **extra: Any) -> ImageData:
    """A tiny synthetic dataset (2x2 one-channel images) with the given per-class counts."""
    y_tr, y_te = shuffled_labels(train_counts, 1), shuffled_labels(test_counts, 2)
    k = len(train_counts)
    return ImageData(
        name="synthetic", x_train=torch.zeros(y_tr.numel(), 1, 2, 2), y_train=y_tr,
        x_test=torch.zeros(y_te.numel(), 1, 2, 2), y_test=y_te, num_classes=k,
        class_names=tuple(str(c) for c in range(k)), mean=(0.0,), std=(1.0,), **extra,
    )


def supervision(data: ImageData, paradigm: str = "supervised", rate: float | None = None,
                seed: int = 0) -> Supervision:
    return PARADIGMS.get(paradigm).supervise(data.y_train, data.num_classes, rate, 1.0, gen(seed))


def select(key: str, data: ImageData, cfg: object, seed: int = 0, sup: Supervision | None = None,
           paradigm: str = "supervised") -> Selection:
    """Run scenario ``key``'s selection with a generator seeded by ``seed``."""
    sup = sup if sup is not None else supervision(data, paradigm)
    return SCENARIOS.get(key).select(SelectInputs(data, sup, paradigm, gen(seed)), cfg)


def members(data: ImageData, c: int) -> torch.Tensor:
    """Training indices of class ``c``."""
    return torch.nonzero(data.y_train == c).flatten()


def assert_sorted_unique(idx: torch.Tensor) -> None:
    assert idx.dtype == torch.long
    assert torch.equal(idx, idx.unique().sort().values)


@pytest.fixture(scope="session")
def digits() -> ImageData:
    """The embedded scikit-learn digits (offline)."""
    return load_dataset("digits", Path("data"))
