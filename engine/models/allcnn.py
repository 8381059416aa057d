"""All-CNN-C with batch norm, as used by PGU (WACV 2024) and SCRUB (NeurIPS 2023), width 1.0.

Source: PGU official code ``backbone/allcnn.py`` (hnanhtuan/projected_gradient_unlearning), which is the
AllCNN of Golatkar et al.'s code reused by SCRUB; architecture from Springenberg et al., "Striving for
Simplicity: The All Convolutional Net" (2015). Every conv is bias-free, followed by BatchNorm2d and ReLU;
padding is ``(k - 1) // 2`` so spatial size only changes at the stride-2 layers (32 -> 16 -> 8, 8 -> 4 -> 2):

    1. conv3x3  C  ->  96
    2. conv3x3  96 ->  96
    3. conv3x3  96 -> 192, stride 2   (the official code widens here; the 2015 paper keeps 96)
    4. conv3x3 192 -> 192
    5. conv3x3 192 -> 192
    6. conv3x3 192 -> 192, stride 2
    7. conv3x3 192 -> 192
    8. conv1x1 192 -> 192
    then AdaptiveAvgPool2d(1) + flatten (the official AvgPool2d(8) on 32x32 inputs) as features,
    head ``Linear(192, K)``. The optional dropout of the official code (off by default) is left out.
"""

from __future__ import annotations

from torch import nn

from engine.models.base import MODELS, ModelInfo, SplitModel

# (out_channels, kernel_size, stride) per conv, in order.
LAYERS: tuple[tuple[int, int, int], ...] = (
    (96, 3, 1), (96, 3, 1), (192, 3, 2),
    (192, 3, 1), (192, 3, 1), (192, 3, 2),
    (192, 3, 1), (192, 1, 1),
)


def build(input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Build All-CNN-C (BN, bias-free convs): features = conv stack + global average pool, head = linear."""
    layers: list[nn.Module] = []
    channels = input_shape[0]
    for out, kernel, stride in LAYERS:
        layers += [
            nn.Conv2d(channels, out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(out), nn.ReLU(inplace=True),
        ]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return SplitModel(nn.Sequential(*layers), nn.Linear(channels, num_classes))


MODELS.register(ModelInfo(
    key="allcnn", title="All-CNN-C (BN)", builder=build,
    source="PGU official code backbone/allcnn.py (= SCRUB/Golatkar AllCNN); Springenberg et al. 2015",
))
