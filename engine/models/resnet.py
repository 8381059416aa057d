"""CIFAR-style ResNet-18 and ResNet-50 (3x3 stem, no max-pool), built from torchvision's residual blocks.

Source: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016); ResNet-18 is the CIFAR backbone
of SCRUB's and SalUn's official code (3x3 stride-1 stem, no max-pool), and PGU's official code
``backbone/resnet18.py`` (which keeps torchvision's ImageNet stem; here the CIFAR stem is used throughout).
Stem ``conv3x3(C -> 64)`` + BN + ReLU; stages of BasicBlock ``[2, 2, 2, 2]`` (18) or Bottleneck ``[3, 4, 6, 3]``
with expansion 4 (50) at strides 1, 2, 2, 2; AdaptiveAvgPool2d(1) + flatten as features; ``Linear`` head.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from engine.models.base import MODELS, ModelInfo, SplitModel

if TYPE_CHECKING:  # torchvision is imported when a ResNet is built, not when the registry loads
    from torchvision.models.resnet import BasicBlock, Bottleneck

WIDTHS: tuple[int, ...] = (64, 128, 256, 512)
STRIDES: tuple[int, ...] = (1, 2, 2, 2)


def _stage(
    block: type[BasicBlock | Bottleneck], in_planes: int, planes: int, blocks: int, stride: int
) -> nn.Sequential:
    """One residual stage; the first block downsamples (1x1 conv + BN) when the shape changes."""
    out_planes = planes * block.expansion
    downsample = None
    if stride != 1 or in_planes != out_planes:
        downsample = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out_planes))
    layers = [block(in_planes, planes, stride, downsample)]
    layers += [block(out_planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _resnet(block: type[BasicBlock | Bottleneck], depths: tuple[int, ...], input_shape: tuple[int, int, int],
            num_classes: int) -> SplitModel:
    """Assemble a CIFAR ResNet as ``features`` (stem, stages, global average pool) and a linear ``head``."""
    layers: list[nn.Module] = [
        nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(64), nn.ReLU(inplace=True),
    ]
    in_planes = 64
    for planes, blocks, stride in zip(WIDTHS, depths, STRIDES, strict=True):
        layers.append(_stage(block, in_planes, planes, blocks, stride))
        in_planes = planes * block.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    features = nn.Sequential(*layers)
    return SplitModel(features, nn.Linear(in_planes, num_classes))


@torch.no_grad()
def torchvision_init(model: SplitModel, generator: torch.Generator) -> None:
    """torchvision's ResNet initialisation of the convolutions: ``kaiming_normal_(fan_out, relu)``."""
    for m in model.features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)


def build_resnet18(input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Build CIFAR ResNet-18 (BasicBlock ``[2, 2, 2, 2]``, 512-d features)."""
    from torchvision.models.resnet import BasicBlock
    return _resnet(BasicBlock, (2, 2, 2, 2), input_shape, num_classes)


def build_resnet50(input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Build CIFAR ResNet-50 (Bottleneck ``[3, 4, 6, 3]``, 2048-d features)."""
    from torchvision.models.resnet import Bottleneck
    return _resnet(Bottleneck, (3, 4, 6, 3), input_shape, num_classes)


MODELS.register(ModelInfo(
    key="resnet18", title="ResNet-18 (CIFAR stem)", builder=build_resnet18, large=True, init=torchvision_init,
    source="He et al. 2016; CIFAR ResNet-18 as in SCRUB/SalUn official code (PGU: torchvision ResNet-18)",
))
MODELS.register(ModelInfo(
    key="resnet50", title="ResNet-50 (CIFAR stem)", builder=build_resnet50, large=True, init=torchvision_init,
    source="He et al. 2016; CIFAR-stem ResNet-50 (Bottleneck [3, 4, 6, 3], expansion 4)",
))
