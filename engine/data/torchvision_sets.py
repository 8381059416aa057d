"""Torchvision datasets (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN) as whole-dataset tensors.

Files live under the data directory in torchvision's own layout and are parsed by torchvision itself;
the loaders then convert the parsed arrays to tensors in one go (no per-sample transforms).

Missing files are downloaded when allowed; when that is impossible a
:class:`~engine.data.loading.DatasetUnavailable` says which files to put where.

Checksums: torchvision verifies the md5 of CIFAR and SVHN files before reading them (MNIST's extracted
files only need to exist). Set ``UNLEARN_VERIFY_CHECKSUMS=0`` to trust local files that merely exist
(for tests, which write tiny files, and for user-built mirrors); the default ``1`` verifies. Downloads
are always verified.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.data.base import DATA_DIR_ENV, DATASETS, DatasetInfo, ImageData, channel_stats, normalise
from engine.data.loading import DatasetUnavailable

VERIFY_ENV = "UNLEARN_VERIFY_CHECKSUMS"
_FALSE = {"0", "false", "no", "off"}


def verify_checksums() -> bool:
    """Whether torchvision's md5 checks apply to local files (``$UNLEARN_VERIFY_CHECKSUMS``, default on)."""
    return os.environ.get(VERIFY_ENV, "1").strip().lower() not in _FALSE


# --- torchvision, imported on first use (it costs ~1.5 s; a warm run from the cache never needs it) -----------


@cache
def _trusted_classes() -> dict[str, type]:
    """torchvision's dataset classes by name, plus variants that trust local files (no md5 check).

    The variants keep torchvision's own parsing; their integrity check only requires the files to exist.
    """
    from torchvision import datasets as tv

    def files_exist(self: Any) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def svhn_exists(self: Any) -> bool:
        return (Path(self.root) / self.filename).is_file()

    # the meta file's md5 is checked separately by CIFAR's _load_meta
    trusted = {
        "CIFAR10": type("TrustedCIFAR10", (tv.CIFAR10,), {"_check_integrity": files_exist,
                                                          "meta": {**tv.CIFAR10.meta, "md5": None}}),
        "CIFAR100": type("TrustedCIFAR100", (tv.CIFAR100,), {"_check_integrity": files_exist,
                                                             "meta": {**tv.CIFAR100.meta, "md5": None}}),
        "SVHN": type("TrustedSVHN", (tv.SVHN,), {"_check_integrity": svhn_exists}),
    }
    return {**{f"trusted:{k}": v for k, v in trusted.items()},
            **{k: getattr(tv, k) for k in ("MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "SVHN")}}


def _open(cls_name: str, root: Path, verify: bool, download: bool, **kwargs: Any) -> Any:
    """Instantiate torchvision's dataset class ``cls_name``; with ``verify=False`` local files are only
    checked for existence."""
    classes = _trusted_classes()
    klass = classes[cls_name] if verify else classes.get(f"trusted:{cls_name}", classes[cls_name])
    return klass(root=str(root), download=download, **kwargs)


# --- where each dataset's files live ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A torchvision dataset class, the root it is given and the files it reads from ``folder``."""

    key: str
    cls: str  # the torchvision.datasets class name
    root: str  # relative to the data directory ("" = the data directory itself)
    folder: str  # relative to the data directory: where ``files`` must be
    files: tuple[str, ...]
    note: str = ""

    def description(self) -> str:
        """A human description of the on-disk files."""
        return f"{', '.join(self.files)} in <data dir>/{self.folder}" + (f" ({self.note})" if self.note else "")


_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# the files torchvision's CIFAR classes read (their train_list + test_list + meta; a test checks they agree)
_CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
_CIFAR100_FILES = ("train", "test", "meta")

_UNZIPPED = "uncompressed idx files: gunzip the .gz downloads"
_MNIST = _Source("mnist", "MNIST", "", "MNIST/raw", _IDX, _UNZIPPED)
_FASHION = _Source("fashion_mnist", "FashionMNIST", "", "FashionMNIST/raw", _IDX, _UNZIPPED)
_CIFAR10 = _Source("cifar10", "CIFAR10", "", "cifar-10-batches-py", _CIFAR10_FILES,
                   "python pickles from cifar-10-python.tar.gz")
_CIFAR100 = _Source("cifar100", "CIFAR100", "", "cifar-100-python", _CIFAR100_FILES,
                    "python pickles from cifar-100-python.tar.gz")
_SVHN = _Source("svhn", "SVHN", "svhn", "svhn", ("train_32x32.mat", "test_32x32.mat"), "MATLAB files, cropped digits")


def _unavailable(src: _Source, data_dir: Path, exc: Exception, tried_download: bool,
                 verify: bool) -> DatasetUnavailable:
    """The error for a dataset torchvision could not provide, naming the files and where they go."""
    folder = data_dir / src.folder
    missing = [f for f in src.files if not (folder / f).is_file()]
    note = f" ({src.note})" if src.note else ""
    where = (f"Put {', '.join(src.files)}{note} in directory {folder} (data directory {data_dir}; "
             f"choose another with the {DATA_DIR_ENV} environment variable or the --data-dir option).")
    if missing:
        why = f"downloading failed: {exc}" if tried_download else "downloading is disabled"
        return DatasetUnavailable(
            f"dataset {src.key!r} is not available: missing {', '.join(missing)} ({why}). {where}")
    text = f"dataset {src.key!r}: torchvision could not read the files in {folder}: {exc}. {where}"
    if verify:
        text += (f" Files that fail torchvision's md5 check (partial downloads, self-built copies) are rejected: "
                 f"delete them to download again, or set {VERIFY_ENV}=0 to trust local files.")
    return DatasetUnavailable(text)


def _fetch(src: _Source, data_dir: Path, download: bool, needed: tuple[str, ...] | None = None,
           **kwargs: Any) -> Any:
    """Open one split of ``src`` with torchvision, downloading only when ``needed`` files are missing."""
    folder = data_dir / src.folder
    tried_download = download and any(not (folder / f).is_file() for f in (needed or src.files))
    verify = verify_checksums()
    try:
        return _open(src.cls, data_dir / src.root, verify, tried_download, **kwargs)
    except Exception as exc:  # network errors, missing or corrupt files: all mean "not available"
        raise _unavailable(src, data_dir, exc, tried_download, verify) from exc


# --- conversion -----------------------------------------------------------------------------------------------


def _images(data: np.ndarray | torch.Tensor, layout: str) -> torch.Tensor:
    """uint8 images laid out as ``NHW``, ``NHWC`` or ``NCHW`` to float32 ``NCHW`` in [0, 1]."""
    x = torch.as_tensor(data)
    if layout == "NHW":
        x = x.unsqueeze(1)
    elif layout == "NHWC":
        x = x.permute(0, 3, 1, 2)
    return x.contiguous().to(torch.float32).div_(255.0)


def _labels(values: Any) -> torch.Tensor:
    """Labels (list, array or tensor) as an int64 tensor."""
    return torch.as_tensor(np.asarray(values), dtype=torch.int64)


def _assemble(name: str, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
              num_classes: int, class_names: tuple[str, ...], **groups: Any) -> ImageData:
    """Normalise both splits with the training split's channel statistics and build the :class:`ImageData`."""
    mean, std = channel_stats(x_train)
    return ImageData(
        name=name, x_train=normalise(x_train, mean, std), y_train=y_train, x_test=normalise(x_test, mean, std),
        y_test=y_test, num_classes=num_classes, class_names=class_names, mean=mean, std=std, **groups,
    )


# --- loaders --------------------------------------------------------------------------------------------------


def _load_idx(src: _Source, data_dir: Path, download: bool) -> ImageData:
    """Load an MNIST-format dataset as ``1x28x28`` tensors."""
    train, test = (_fetch(src, data_dir, download, train=t) for t in (True, False))
    return _assemble(src.key, _images(train.data, "NHW"), _labels(train.targets), _images(test.data, "NHW"),
                     _labels(test.targets), len(train.classes), tuple(train.classes))


def load_mnist(data_dir: Path, coarse: bool = False, download: bool = True) -> ImageData:
    """Load MNIST (``coarse`` is unused)."""
    return _load_idx(_MNIST, Path(data_dir), download)


def load_fashion_mnist(data_dir: Path, coarse: bool = False, download: bool = True) -> ImageData:
    """Load Fashion-MNIST (``coarse`` is unused)."""
    return _load_idx(_FASHION, Path(data_dir), download)


def load_cifar10(data_dir: Path, coarse: bool = False, download: bool = True) -> ImageData:
    """Load CIFAR-10 as ``3x32x32`` tensors (``coarse`` is unused)."""
    train, test = (_fetch(_CIFAR10, Path(data_dir), download, train=t) for t in (True, False))
    return _assemble("cifar10", _images(train.data, "NHWC"), _labels(train.targets), _images(test.data, "NHWC"),
                     _labels(test.targets), len(train.classes), tuple(train.classes))


def _read_pickle(path: Path) -> dict[str, Any]:
    """Read one of CIFAR's python-2 pickles."""
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _fine_to_coarse(fine: torch.Tensor, coarse: torch.Tensor, num_fine: int) -> tuple[int, ...]:
    """The coarse class of every fine class, as observed in the data (-1 for a fine class never seen)."""
    parent = [-1] * num_fine
    for f, c in torch.unique(torch.stack([fine, coarse], dim=1), dim=0).tolist():
        if parent[f] not in (-1, c):
            raise DatasetUnavailable(f"dataset 'cifar100': fine class {f} appears under coarse classes "
                                     f"{parent[f]} and {c}; the files are inconsistent")
        parent[f] = c
    return tuple(parent)


def load_cifar100(data_dir: Path, coarse: bool = False, download: bool = True) -> ImageData:
    """Load CIFAR-100 on its 100 fine classes, or with ``coarse`` on its 20 super-classes (fine labels as groups)."""
    data_dir = Path(data_dir)
    train, test = (_fetch(_CIFAR100, data_dir, download, train=t) for t in (True, False))
    x_train, x_test = _images(train.data, "NHWC"), _images(test.data, "NHWC")
    fine_train, fine_test, fine_names = _labels(train.targets), _labels(test.targets), tuple(train.classes)
    if not coarse:
        return _assemble("cifar100", x_train, fine_train, x_test, fine_test, len(fine_names), fine_names)
    # torchvision exposes only the fine labels: read the coarse ones from the same (already checked) files
    folder = data_dir / _CIFAR100.folder
    coarse_train = _labels(_read_pickle(folder / "train")["coarse_labels"])
    coarse_test = _labels(_read_pickle(folder / "test")["coarse_labels"])
    coarse_names = tuple(_read_pickle(folder / "meta")["coarse_label_names"])
    parent = _fine_to_coarse(torch.cat([fine_train, fine_test]), torch.cat([coarse_train, coarse_test]),
                             len(fine_names))
    return _assemble("cifar100", x_train, coarse_train, x_test, coarse_test, len(coarse_names), coarse_names,
                     groups_train=fine_train, groups_test=fine_test, group_names=fine_names, group_parent=parent)


def load_svhn(data_dir: Path, coarse: bool = False, download: bool = True) -> ImageData:
    """Load SVHN's train and test splits as ``3x32x32`` tensors (digit 0 is label 0; ``coarse`` is unused)."""
    data_dir = Path(data_dir)
    train = _fetch(_SVHN, data_dir, download, needed=("train_32x32.mat",), split="train")
    test = _fetch(_SVHN, data_dir, download, needed=("test_32x32.mat",), split="test")
    return _assemble("svhn", _images(train.data, "NCHW"), _labels(train.labels), _images(test.data, "NCHW"),
                     _labels(test.labels), 10, tuple(str(i) for i in range(10)))


# --- registration -----------------------------------------------------------------------------------------------

def _register(src: _Source, title: str, loader: Callable[..., ImageData], num_classes: int,
              input_shape: tuple[int, int, int], default_models: tuple[str, ...], has_groups: bool = False) -> None:
    """Register one torchvision dataset in :data:`DATASETS`."""
    DATASETS.register(DatasetInfo(
        key=src.key, title=title, source=f"torchvision.datasets.{src.cls}", loader=loader,
        num_classes=num_classes, input_shape=input_shape, default_models=default_models, has_groups=has_groups,
        files=src.description(),
    ))


_register(_MNIST, "MNIST (28x28 digits)", load_mnist, 10, (1, 28, 28), ("mlp", "cnn"))
_register(_FASHION, "Fashion-MNIST (28x28 clothing)", load_fashion_mnist, 10, (1, 28, 28), ("cnn",))
_register(_CIFAR10, "CIFAR-10", load_cifar10, 10, (3, 32, 32), ("resnet18", "allcnn", "smallvgg", "resnet50"))
_register(_CIFAR100, "CIFAR-100 (100 classes in 20 super-classes)", load_cifar100, 100, (3, 32, 32),
          ("resnet18",), has_groups=True)
_register(_SVHN, "SVHN (street-view house numbers)", load_svhn, 10, (3, 32, 32), ("resnet18",))
