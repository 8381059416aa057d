"""Two-conv CNN used by UDRU (Fashion-MNIST) and LAF (label-agnostic forgetting).

Source: UDRU official code (FMNIST CNN) and LAF official code (AAAI 2024): ``conv(C->16, 5x5, pad 2)`` + ReLU +
max-pool 2, ``conv(16->32, 5x5, pad 2)`` + ReLU + max-pool 2, flatten, ``fc1 -> 256`` (no activation; LAF's
embedding), then ``fc2``: ``Linear(256, 128) -> Linear(128, K)`` with no nonlinearity between, as in LAF's code.
The flatten width comes from a dry forward, so 8x8 inputs (8 -> 4 -> 2) work as well as 28x28 and 32x32.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.models.base import MODELS, ModelInfo, SplitModel

EMBED_DIM = 256


def _flat_dim(module: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Return the flattened output width of ``module`` on one zero image (eval mode, no RNG or stats touched)."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        width = module(torch.zeros(1, *input_shape)).flatten(1).shape[1]
    module.train(was_training)
    return int(width)


def build(input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Build the 2-conv CNN: features = convs + ``fc1`` (256-d), head = ``Linear(256,128) -> Linear(128,K)``."""
    convs = nn.Sequential(
        nn.Conv2d(input_shape[0], 16, kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )
    flat = _flat_dim(convs, input_shape)
    features = nn.Sequential(*convs, nn.Flatten(), nn.Linear(flat, EMBED_DIM))
    head = nn.Sequential(nn.Linear(EMBED_DIM, 128), nn.Linear(128, num_classes))
    return SplitModel(features, head)


MODELS.register(ModelInfo(
    key="cnn", title="CNN (2 conv + fc, UDRU/LAF)", builder=build,
    source="UDRU official code (FMNIST CNN); LAF official code (AAAI 2024) CNN with fc1 embedding and linear fc2",
))
