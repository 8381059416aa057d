"""GPU fast path for training (DESIGN.md "Performance rules"); by default every helper here is a no-op on the CPU.

* bf16 autocast for the forward pass and the loss on CUDA devices with native bf16 (compute capability 8.0 or
  newer; ``UNLEARN_AMP=0`` turns it off); parameters, optimiser state and gradients stay float32.
* ``channels_last`` memory format for convolutional models and their input batches on CUDA.
* optional ``torch.compile`` of the training forward (``UNLEARN_COMPILE=1``; off by default because
  compilation takes longer than the small default trainings it would speed up).
* host-to-device copies without a host sync (:func:`to_device`: pinned memory, ``non_blocking``).

Each switch is decided from the device (and the environment variables) unless the caller passes it explicitly:
``enable=True`` / ``channels_last=True`` / ``compile=True`` turn a part on on any device, which is how the tests
exercise the CUDA code path on a CPU (bf16 autocast on the CPU, ``channels_last`` with oneDNN's NHWC kernels,
``torch.compile`` through inductor's C++ backend). ``fit`` passes nothing, so on the CPU the loop is the plain
float32 loop, bit for bit (``tests/training/test_accel.py`` pins this).
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


def native_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` computes in bf16 natively (Ampere or newer; ROCm as torch reports it).

    Emulated bf16 (older GPUs) is slower than float32, so it does not count.
    """
    if torch.version.hip:
        return bool(torch.cuda.is_bf16_supported())
    return torch.cuda.get_device_capability(device)[0] >= 8


def amp_enabled(device: torch.device, enable: bool | None = None) -> bool:
    """Whether bf16 autocast applies on ``device``.

    By default: a CUDA device with native bf16, unless ``UNLEARN_AMP=0``. ``enable`` overrides the decision on
    any device (``True`` on the CPU runs CPU autocast, as the tests do).
    """
    if enable is not None:
        return enable
    return device.type == "cuda" and _flag(AMP_ENV, "1") and native_bf16(device)


def autocast(device: torch.device, enable: bool | None = None,
             dtype: torch.dtype = torch.bfloat16) -> contextlib.AbstractContextManager[object]:
    """Autocast to ``dtype`` where :func:`amp_enabled` says so, otherwise a null context (CPU numbers unchanged).

    The returned context manager can be entered again and again (``fit`` makes one and enters it per batch).
    """
    if amp_enabled(device, enable):
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` contains a 2-d convolution (the layers ``channels_last`` speeds up)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def use_channels_last(model: nn.Module, device: torch.device, enable: bool | None = None) -> bool:
    """Whether ``model`` trains in ``channels_last``: conv nets only; by default on CUDA only, ``enable``
    overrides the device rule (a model without a convolution never switches)."""
    wanted = device.type == "cuda" if enable is None else enable
    return wanted and has_conv(model)


def compile_enabled(device: torch.device, enable: bool | None = None) -> bool:
    """Whether the training forward is compiled: by default on CUDA with ``UNLEARN_COMPILE=1``; ``enable``
    overrides the decision on any device."""
    if enable is not None:
        return enable
    return device.type == "cuda" and _flag(COMPILE_ENV, "0")


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether the 4-d ``x`` is laid out ``channels_last`` and not also plainly contiguous (as after :func:`prepare`
    switched it; for one channel, or 1x1 images, the two layouts coincide and this is ``False``)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def prepare(model: nn.Module, x: torch.Tensor, *, channels_last: bool | None = None, compile: bool | None = None,
            ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """The forward function and input tensor to train with on ``x``'s device.

    A conv net and its 4-d inputs are switched to ``channels_last`` (in place for the model: its state dict keeps
    its values) where :func:`use_channels_last` says so, and the forward is compiled where
    :func:`compile_enabled` says so. By default (``None``) that is on CUDA only: on the CPU this returns
    ``(model, x)`` untouched.
    """
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if x.dim() == 4 and use_channels_last(model, x.device, channels_last):
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if compile_enabled(x.device, compile):
        forward = torch.compile(model)
    return forward, x


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` (on the host) on ``device``; a copy to a CUDA device goes through pinned memory, ``non_blocking``,
    so the host does not wait for the GPU's queue to drain (a plain ``.to("cuda")`` from pageable memory
    synchronises the stream). On the CPU this is ``t.to(device)``, i.e. ``t`` itself."""
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
