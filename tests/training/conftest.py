"""Shared fixtures of the training tests: one CPU thread (fast and stable on a shared machine) and digits."""

from __future__ import annotations

import pytest

from engine.data import ImageData, load_dataset


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every training test runs on one CPU thread (``tests/conftest.py``'s ``one_thread``)."""


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> ImageData:
    """scikit-learn's 8x8 digits (1 437 train / 360 test images, 10 classes) on the CPU."""
    return load_dataset("digits", tmp_path_factory.mktemp("data"), device="cpu")
