"""Load a registered dataset once per process and hand out device copies."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from engine.data.base import DATASETS, ImageData


class DatasetUnavailable(RuntimeError):
    """The dataset's files are missing and could not be downloaded; the message says where to put them."""


_LOCK = threading.Lock()


def load_dataset(key: str, data_dir: Path, coarse: bool = False, download: bool = True,
                 device: torch.device | str = "cpu") -> ImageData:
    """Load dataset ``key`` from ``data_dir`` (downloading torchvision sets when allowed) onto ``device``."""
    info = DATASETS.get(key, "dataset")
    with _LOCK:
        data = info.loader(Path(data_dir), coarse=coarse, download=download)
    return data.to(device)
