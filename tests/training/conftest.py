"""Shared fixtures of the training tests: one CPU thread (fast and stable on a shared machine) and digits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from engine.data import ImageData, load_dataset


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Pin torch's intra-op threads to 1, as ``engine.rng.fix_threads`` does for CPU jobs (restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> ImageData:
    """scikit-learn's 8x8 digits (1 437 train / 360 test images, 10 classes) on the CPU."""
    return load_dataset("digits", tmp_path_factory.mktemp("data"), device="cpu")
