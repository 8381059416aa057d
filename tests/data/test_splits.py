"""The validation split: disjoint from test, stratified, seeded, sizes per dataset (DESIGN.md evaluation protocol)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.data import load_dataset
from engine.data.splits import split_validation, stratified_val_indices, val_size
from engine.problem import build_problem, resolve
from engine.spec import ComparisonSpec


def test_digits_split_sizes_disjoint_and_stratified() -> None:
    data = load_dataset("digits", Path("data"))
    split, val_idx, test_idx = split_validation(data, torch.Generator().manual_seed(0))
    assert split.x_val is not None and split.y_val is not None
    assert len(val_idx) == 180 and len(test_idx) == 180  # digits keeps at least 180 test samples
    assert set(val_idx.tolist()).isdisjoint(test_idx.tolist())
    assert sorted([*val_idx.tolist(), *test_idx.tolist()]) == list(range(data.y_test.numel()))
    assert torch.equal(split.y_val, data.y_test[val_idx]) and torch.equal(split.x_test, data.x_test[test_idx])
    # stratified: every class's val share is within one sample of half its held-out count
    held = np.bincount(data.y_test.numpy(), minlength=10)
    val = np.bincount(split.y_val.numpy(), minlength=10)
    assert np.all(np.abs(val - held / 2) <= 1)


def test_stratified_quota_exact_and_seeded() -> None:
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    a = stratified_val_indices(y, 10, torch.Generator().manual_seed(1))
    b = stratified_val_indices(y, 10, torch.Generator().manual_seed(1))
    c = stratified_val_indices(y, 10, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert np.bincount(y[a].numpy(), minlength=3).tolist() == [5, 3, 2]


def test_val_size_caps_at_half_the_heldout_split() -> None:
    assert val_size("digits", 360) == 180
    assert val_size("cifar10", 10_000) == 2000
    assert val_size("cifar10", 100) == 50


def test_problem_carries_three_splits_per_seed() -> None:
    setting = resolve(ComparisonSpec(scenario="class", scenario_params=(("forget_class", 3),)))
    p0 = build_problem(setting, 0, Path("data"))
    p1 = build_problem(setting, 1, Path("data"))
    assert p0.sizes() == {"n_forget": 146, "n_retain": 1291, "n_val": 180, "n_test": 180}
    assert not torch.equal(p0.val_idx, p1.val_idx)  # drawn with the run's seed
    assert p0.val_supervision is not None and torch.equal(p0.val_supervision.labels, p0.data.y_val)
    # the scenario's test-forget mask is on the test part only
    assert p0.test_forget_mask is not None and torch.equal(p0.test_forget_mask, p0.data.y_test == 3)
