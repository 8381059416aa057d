"""Model contract: every architecture splits into ``features(x) -> z`` and ``head(z) -> logits``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.models.init import initialise
from engine.registry import Registry
from engine.rng import seed_dropout


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
    # extra initialisation after the default one (engine.models.init), drawing only from the generator
    init: Callable[[SplitModel, torch.Generator], None] | None = None


MODELS: Registry[ModelInfo] = Registry("model")


def build_model(key: str, input_shape: tuple[int, int, int], num_classes: int, *, seed: int) -> SplitModel:
    """Build a fresh CPU model initialised from ``seed`` alone (no other thread's draws can change it).

    The model is constructed on the ``meta`` device (no random draws), materialised on the CPU and initialised
    from ``torch.Generator().manual_seed(seed)`` (:func:`engine.models.init.initialise`, then ``ModelInfo.init``);
    torch's global RNG is never read. Dropout layers get their own seed derived from ``seed``
    (:func:`engine.rng.seed_dropout`).
    """
    info = MODELS.get(key, "model")
    with torch.device("meta"):
        model = info.builder(input_shape, num_classes)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(int(seed))
    initialise(model, gen)
    if info.init is not None:
        info.init(model, gen)
    seed_dropout(model, seed)
    return model
