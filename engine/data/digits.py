"""The embedded ``digits`` dataset: scikit-learn's 8x8 handwritten digits (offline, 1 797 images).

The train/test split is fixed (stratified 80/20, ``random_state=0``) so every run shares it.

Start-up time: importing scikit-learn's dataset module costs about a second, which dominates a
comparison answered entirely from the cache. The prepared split is therefore memoised as
``<data dir>/digits/digits-<sklearn version>.npz`` (plain arrays, loaded with ``allow_pickle=False``)
the first time it is built; when the data directory is not writable it is simply rebuilt each time.
"""

from __future__ import annotations

import os
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from engine.data.base import DATASETS, DatasetInfo, ImageData, channel_stats, normalise


def _split_from_sklearn() -> dict[str, np.ndarray]:
    """Images (float32 in [0, 1], ``Nx1x8x8``), labels and the sorted stratified 80/20 split indices."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    idx_train, idx_test = train_test_split(
        np.arange(len(bunch.target)), test_size=0.2, stratify=bunch.target, random_state=0
    )
    return {"x": (bunch.images[:, None] / 16.0).astype(np.float32), "y": bunch.target.astype(np.int64),
            "idx_train": np.sort(idx_train), "idx_test": np.sort(idx_test)}


def _memo_path(data_dir: Path) -> Path:
    return Path(data_dir) / "digits" / f"digits-{version('scikit-learn')}.npz"


def _prepared(data_dir: Path) -> dict[str, np.ndarray]:
    """The prepared arrays, from the memo file when present, else from scikit-learn (then memoised)."""
    path = _memo_path(data_dir)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in ("x", "y", "idx_train", "idx_test")}
        except (OSError, ValueError, KeyError):
            pass  # unreadable memo: rebuild it below
    arrays = _split_from_sklearn()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except OSError:
        pass  # read-only data directory: nothing memoised
    return arrays


def load(data_dir: Path, coarse: bool = False, download: bool = True) -> ImageData:
    """Load scikit-learn's digits as normalised ``1x8x8`` tensors (``coarse``/``download`` are unused)."""
    a = _prepared(Path(data_dir))
    x, y = torch.from_numpy(a["x"]), torch.from_numpy(a["y"])
    idx_train_t, idx_test_t = torch.from_numpy(a["idx_train"]), torch.from_numpy(a["idx_test"])
    mean, std = channel_stats(x[idx_train_t])
    x = normalise(x, mean, std)
    return ImageData(
        name="digits", x_train=x[idx_train_t], y_train=y[idx_train_t], x_test=x[idx_test_t],
        y_test=y[idx_test_t], num_classes=10, class_names=tuple(str(i) for i in range(10)),
        mean=mean, std=std,
    )


DATASETS.register(DatasetInfo(
    key="digits", title="Digits (scikit-learn, 8x8)", source="sklearn.datasets.load_digits",
    loader=load, num_classes=10, input_shape=(1, 8, 8), default_models=("cnn", "mlp"), offline=True,
))
