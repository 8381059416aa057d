"""GPU fast path for training (DESIGN.md "Performance rules"); on the CPU every helper here is a no-op.

* bf16 autocast for the forward pass and the loss on CUDA devices that support bf16
  (``UNLEARN_AMP=0`` turns it off); parameters, optimiser state and gradients stay float32.
* ``channels_last`` memory format for convolutional models and their input batches on CUDA.
* optional ``torch.compile`` of the training forward (``UNLEARN_COMPILE=1``; off by default because
  compilation takes longer than the small default trainings it would speed up).

The CPU path is bit-for-bit the plain float32 loop (``tests/training/test_accel.py`` pins the numbers).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import torch
from torch import nn

AMP_ENV = "UNLEARN_AMP"
COMPILE_ENV = "UNLEARN_COMPILE"
_OFF = {"0", "false", "no", "off"}


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() not in _OFF


def amp_enabled(device: torch.device) -> bool:
    """Whether bf16 autocast applies on ``device`` (CUDA with bf16 support, not disabled by ``UNLEARN_AMP``)."""
    return device.type == "cuda" and _flag(AMP_ENV, "1") and torch.cuda.is_bf16_supported()


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on a capable GPU, otherwise a null context (CPU numbers unchanged)."""
    if amp_enabled(device):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` contains a 2-d convolution (the layers ``channels_last`` speeds up)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def use_channels_last(model: nn.Module, device: torch.device) -> bool:
    """``channels_last`` is used for conv nets on CUDA only."""
    return device.type == "cuda" and has_conv(model)


def prepare(model: nn.Module, x: torch.Tensor) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """The forward function and input tensor to train with on ``x``'s device.

    On CUDA a conv net and its inputs are switched to ``channels_last`` (in place for the model: its state
    dict is unchanged), and with ``UNLEARN_COMPILE=1`` the forward is compiled. On the CPU this returns
    ``(model, x)`` untouched.
    """
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if use_channels_last(model, x.device) and x.dim() == 4:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if x.device.type == "cuda" and _flag(COMPILE_ENV, "0"):
        forward = torch.compile(model)
    return forward, x
