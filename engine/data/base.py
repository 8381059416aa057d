"""Dataset contract: a whole dataset as tensors (held on the run's device), plus its registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from engine.paths import DATA_DIR_ENV, default_data_dir  # noqa: F401  (re-exported: engine.data.default_data_dir)
from engine.registry import Registry


@dataclass(frozen=True)
class ImageData:
    """Images and labels of one dataset, split into train and test.

    ``x_*`` are float32 ``(N, C, H, W)`` normalised with ``mean``/``std``; ``y_*`` are the true
    class labels (int64). A loader returns the dataset's own train/test splits with ``x_val = None``;
    a problem splits the held-out part into ``val`` and ``test``
    (:func:`engine.data.splits.split_validation`). ``groups_*`` hold fine labels when the dataset has a
    coarse/fine hierarchy (CIFAR-100 trained on its 20 super-classes), else ``None``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    groups_train: torch.Tensor | None = None
    groups_test: torch.Tensor | None = None
    group_names: tuple[str, ...] = field(default_factory=tuple)
    group_parent: tuple[int, ...] = field(default_factory=tuple)
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None
    groups_val: torch.Tensor | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> ImageData:
        """Return a copy whose tensors live on ``device``."""
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return replace(
            self, x_train=mv(self.x_train), y_train=mv(self.y_train), x_test=mv(self.x_test),
            y_test=mv(self.y_test), groups_train=mv(self.groups_train), groups_test=mv(self.groups_test),
            x_val=mv(self.x_val), y_val=mv(self.y_val), groups_val=mv(self.groups_val),
        )


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: how to load it and what it offers."""

    key: str
    title: str
    source: str
    loader: Callable[..., ImageData]  # (data_dir: Path, coarse: bool = False, download: bool = True)
    num_classes: int
    input_shape: tuple[int, int, int]
    default_models: tuple[str, ...]
    has_groups: bool = False
    offline: bool = False
    files: str = ""


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def normalise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Per-channel standardisation of a ``(N, C, H, W)`` float tensor in [0, 1]."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a ``(N, C, H, W)`` tensor (computed on the training split)."""
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
