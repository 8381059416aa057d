"""Fixtures writing tiny datasets in torchvision's on-disk formats (never the network).

Each fixture returns a :class:`Written`: the data directory to hand to a loader, plus the raw uint8 images
(already in ``NCHW``) and labels it wrote, so tests can check the loaders' layout conversions exactly.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io

N_TRAIN_PER_CLASS = 3
N_TEST_PER_CLASS = 2
CIFAR100_FINE_PER_CLASS = (2, 1)  # train, test samples per fine class


@dataclass
class Written:
    """What a fixture wrote: the data directory and the expected ``NCHW`` uint8 images and labels."""

    data_dir: Path
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def _split(rng: np.random.Generator, classes: int, per_class: int, shape: tuple[int, ...]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images and a shuffled label vector with ``per_class`` samples of every class."""
    y = rng.permutation(np.repeat(np.arange(classes), per_class))
    x = rng.integers(0, 256, size=(len(y), *shape), dtype=np.uint8)
    return x, y


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the big-endian idx ("Pascal Vincent") format MNIST uses."""
    magic = 0x0800 | array.ndim  # 0x08 = unsigned byte, then the number of dimensions
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_pickle(path: Path, obj: dict[str, Any]) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _idx_dataset(root: Path, folder: str) -> Written:
    rng = np.random.default_rng(1)
    x_tr, y_tr = _split(rng, 10, N_TRAIN_PER_CLASS, (28, 28))
    x_te, y_te = _split(rng, 10, N_TEST_PER_CLASS, (28, 28))
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, x, y in (("train", x_tr, y_tr), ("t10k", x_te, y_te)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    return Written(root, x_tr[:, None], y_tr, x_te[:, None], y_te)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Written:
    """MNIST idx files in ``<tmp>/MNIST/raw``."""
    return _idx_dataset(tmp_path, "MNIST")


@pytest.fixture
def fashion_mnist_dir(tmp_path: Path) -> Written:
    """Fashion-MNIST idx files in ``<tmp>/FashionMNIST/raw``."""
    return _idx_dataset(tmp_path, "FashionMNIST")


@pytest.fixture
def cifar10_dir(tmp_path: Path) -> Written:
    """CIFAR-10 pickles (five training batches, a test batch, ``batches.meta``) in ``<tmp>/cifar-10-batches-py``."""
    rng = np.random.default_rng(2)
    x_tr, y_tr = _split(rng, 10, N_TRAIN_PER_CLASS, (3, 32, 32))
    x_te, y_te = _split(rng, 10, N_TEST_PER_CLASS, (3, 32, 32))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, (xb, yb) in enumerate(zip(np.array_split(x_tr, 5), np.array_split(y_tr, 5), strict=True), start=1):
        _write_pickle(folder / f"data_batch_{i}", {"data": xb.reshape(len(xb), -1), "labels": yb.tolist()})
    _write_pickle(folder / "test_batch", {"data": x_te.reshape(len(x_te), -1), "labels": y_te.tolist()})
    names = [f"class{i}" for i in range(10)]
    _write_pickle(folder / "batches.meta", {"label_names": names, "num_vis": 3072})
    return Written(tmp_path, x_tr, y_tr, x_te, y_te, {"names": names})


def fine_to_coarse(fine: np.ndarray) -> np.ndarray:
    """The tiny CIFAR-100's hierarchy: fine class ``f`` belongs to super-class ``f % 20``."""
    return fine % 20


@pytest.fixture
def cifar100_dir(tmp_path: Path) -> Written:
    """CIFAR-100 pickles (``train``, ``test``, ``meta``) with fine and coarse labels in ``<tmp>/cifar-100-python``."""
    rng = np.random.default_rng(3)
    n_tr, n_te = CIFAR100_FINE_PER_CLASS
    x_tr, y_tr = _split(rng, 100, n_tr, (3, 32, 32))
    x_te, y_te = _split(rng, 100, n_te, (3, 32, 32))
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        _write_pickle(folder / name, {"data": x.reshape(len(x), -1), "fine_labels": y.tolist(),
                                      "coarse_labels": fine_to_coarse(y).tolist()})
    fine_names = [f"fine{i}" for i in range(100)]
    coarse_names = [f"coarse{i}" for i in range(20)]
    _write_pickle(folder / "meta", {"fine_label_names": fine_names, "coarse_label_names": coarse_names})
    return Written(tmp_path, x_tr, y_tr, x_te, y_te, {"fine_names": fine_names, "coarse_names": coarse_names})


@pytest.fixture
def svhn_dir(tmp_path: Path) -> Written:
    """SVHN ``train_32x32.mat``/``test_32x32.mat`` in ``<tmp>/svhn`` (``X`` is HxWxCxN, digit 0 stored as 10)."""
    rng = np.random.default_rng(4)
    x_tr, y_tr = _split(rng, 10, N_TRAIN_PER_CLASS, (3, 32, 32))
    x_te, y_te = _split(rng, 10, N_TEST_PER_CLASS, (3, 32, 32))
    folder = tmp_path / "svhn"
    folder.mkdir()
    for name, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        stored = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(folder / f"{name}_32x32.mat", {"X": x.transpose(2, 3, 1, 0), "y": stored})
    return Written(tmp_path, x_tr, y_tr, x_te, y_te)
