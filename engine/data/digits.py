"""The embedded ``digits`` dataset: scikit-learn's 8x8 handwritten digits (offline, 1 797 images).

The train/test split is fixed (stratified 80/20, ``random_state=0``) so every run shares it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from engine.data.base import DATASETS, DatasetInfo, ImageData, channel_stats, normalise


def load(data_dir: Path, coarse: bool = False, download: bool = True) -> ImageData:
    """Load scikit-learn's digits as normalised ``1x8x8`` tensors (the directory arguments are unused)."""
    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    idx_train, idx_test = train_test_split(
        list(range(len(y))), test_size=0.2, stratify=bunch.target, random_state=0
    )
    idx_train_t, idx_test_t = torch.tensor(sorted(idx_train)), torch.tensor(sorted(idx_test))
    mean, std = channel_stats(x[idx_train_t])
    x = normalise(x, mean, std)
    return ImageData(
        name="digits", x_train=x[idx_train_t], y_train=y[idx_train_t], x_test=x[idx_test_t],
        y_test=y[idx_test_t], num_classes=10, class_names=tuple(str(i) for i in range(10)),
        mean=mean, std=std,
    )


DATASETS.register("digits", DatasetInfo(
    key="digits", title="Digits (scikit-learn, 8x8)", source="sklearn.datasets.load_digits",
    loader=load, num_classes=10, input_shape=(1, 8, 8), default_models=("cnn", "mlp"), offline=True,
))
