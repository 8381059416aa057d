"""PGU's SmallVGG: three conv blocks (128, 256, 512) and a 512-d BN'd fully-connected embedding.

Source: PGU official code ``backbone/small_vgg.py`` (hnanhtuan/projected_gradient_unlearning, WACV 2024):
``conv3-128`` + ReLU + max-pool 2 + BN, ``conv3-256`` + ReLU + max-pool 2 + BN, ``conv3-512`` + ReLU + BN +
max-pool 2, flatten, Dropout, ``Linear(-> 512)`` + ReLU + BatchNorm1d, ``Linear(512, K)``. The official
code hard-codes ``8192 = 512*4*4`` (32x32 inputs); here the flatten width comes from a dry forward
(8x8 -> 512*1*1, 28x28 -> 512*3*3). Dropout is 0.5 here (the official default is a constructor argument);
its masks come from a seeded generator (:class:`engine.rng.SeededDropout`), never torch's global RNG.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.models.base import MODELS, ModelInfo, SplitModel
from engine.rng import SeededDropout

EMBED_DIM = 512
DROPOUT = 0.5


def _flat_dim(module: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Return the flattened output width of ``module`` on one zero image (eval mode, no RNG or stats touched)."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        width = module(torch.zeros(1, *input_shape)).flatten(1).shape[1]
    module.train(was_training)
    return int(width)


def build(input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Build SmallVGG: features end at the 512-d BatchNorm1d embedding, head is ``Linear(512, K)``."""
    convs = nn.Sequential(
        nn.Conv2d(input_shape[0], 128, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.BatchNorm2d(128),
        nn.Conv2d(128, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.BatchNorm2d(256),
        nn.Conv2d(256, 512, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(512),
        nn.MaxPool2d(2),
    )
    flat = _flat_dim(convs, input_shape)
    features = nn.Sequential(
        *convs, nn.Flatten(), SeededDropout(DROPOUT), nn.Linear(flat, EMBED_DIM), nn.ReLU(inplace=True),
        nn.BatchNorm1d(EMBED_DIM),
    )
    return SplitModel(features, nn.Linear(EMBED_DIM, num_classes))


MODELS.register(ModelInfo(
    key="smallvgg", title="SmallVGG (PGU)", builder=build,
    source="PGU official code backbone/small_vgg.py (Hoang et al., WACV 2024)",
))
