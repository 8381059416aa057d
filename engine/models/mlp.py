"""Bias-free MLP ``D-512-256-128-K`` (ReLU), as in UDRU's official MNIST model.

Source: UDRU (unlearning via data-reuse), official code's MNIST MLP ``784-512-256-128-10`` with ReLU and
``bias=False`` on every ``nn.Linear``. Here the input width ``D = C*H*W`` follows the dataset.
"""

from __future__ import annotations

import math

from torch import nn

from engine.models.base import MODELS, ModelInfo, SplitModel

HIDDEN: tuple[int, ...] = (512, 256, 128)


def build(input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Build the bias-free MLP: features end at the 128-d ReLU layer, head is ``Linear(128, K)``."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for hidden in HIDDEN:
        layers += [nn.Linear(width, hidden, bias=False), nn.ReLU(inplace=True)]
        width = hidden
    return SplitModel(nn.Sequential(*layers), nn.Linear(width, num_classes, bias=False))


MODELS.register(ModelInfo(
    key="mlp", title="MLP 512-256-128 (bias-free)", builder=build,
    source="UDRU official code: MNIST MLP 784-512-256-128-10, ReLU, bias=False",
))
