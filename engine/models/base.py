"""Model contract: every architecture splits into ``features(x) -> z`` and ``head(z) -> logits``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.registry import Registry


class SplitModel(nn.Module):
    """A classifier made of a feature extractor and a head; ``forward = head(features(x))``."""

    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class ModelInfo:
    """A registered architecture and its builder ``(input_shape, num_classes) -> SplitModel``."""

    key: str
    title: str
    builder: Callable[[tuple[int, int, int], int], SplitModel]
    source: str
    large: bool = False  # too slow for the embedded CPU demo defaults


MODELS: Registry[ModelInfo] = Registry("model")


def build_model(key: str, input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Build a fresh model (initialised from torch's global RNG: seed it first)."""
    return MODELS.get(key, "model").builder(input_shape, num_classes)
