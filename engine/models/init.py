"""Weight initialisation from an explicit generator (DESIGN.md "Evaluation protocol": randomness from the job).

Models are constructed on the ``meta`` device (no weights, no random draws) and then initialised here, so that
no initialisation ever reads torch's global RNG, which every thread of the process shares.
:func:`initialise` reproduces PyTorch's default ``reset_parameters`` of each layer type with ``generator=``:
``Linear`` / ``ConvNd`` weights ``kaiming_uniform_(a=sqrt(5))`` and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``;
norm layers ones / zeros and fresh running statistics (no randomness). A model may add its own rule on top
(``ModelInfo.init``, e.g. torchvision's ResNet ``kaiming_normal_(fan_out)`` convolutions).
"""

from __future__ import annotations

import math

import torch
from torch import nn

_CONV_LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@torch.no_grad()
def default_init(m: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default initialisation of one ``Linear``/``ConvNd`` layer, drawn from ``generator``."""
    nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
    if m.bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(m.bias, -bound, bound, generator=generator)


@torch.no_grad()
def initialise(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Initialise every parameter and buffer of ``model`` (in module order) from ``generator``; returns it.

    Raises ``TypeError`` for a layer with parameters of a type this function does not know (so a new layer
    type cannot silently keep uninitialised memory).
    """
    for m in model.modules():
        if isinstance(m, _CONV_LINEAR):
            default_init(m, generator)
        elif isinstance(m, _NORMS):
            m.reset_parameters()  # ones / zeros and fresh running statistics: deterministic
        elif any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            raise TypeError(f"no initialisation rule for {type(m).__name__}")
    return model
