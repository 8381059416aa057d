"""The embedded digits dataset: fixed, stratified, deterministic split."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.data import DATASETS


def test_digits_shapes_split_and_determinism(tmp_path: Path) -> None:
    info = DATASETS.get("digits")
    assert info.offline and info.input_shape == (1, 8, 8) and info.num_classes == 10
    a = info.loader(tmp_path, download=False)
    b = info.loader(tmp_path, download=False)
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10 and len(a.class_names) == 10
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert a.mean == b.mean and a.std == b.std
    assert abs(float(a.x_train.mean())) < 1e-4


def test_digits_split_is_stratified(tmp_path: Path) -> None:
    data = DATASETS.get("digits").loader(tmp_path)
    train = torch.bincount(data.y_train, minlength=10)
    test = torch.bincount(data.y_test, minlength=10)
    assert set(data.y_train.tolist()) == set(data.y_test.tolist()) == set(range(10))
    share = test.float() / (train + test).float()
    assert torch.all((share - 0.2).abs() < 0.02)
