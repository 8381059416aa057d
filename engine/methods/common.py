"""Small helpers shared by method modules (batching, optimisers, finiteness checks)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from engine.errors import RunFailed
from engine.paradigms.base import Supervision


def batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
    """Shuffled index batches covering ``range(n)`` once."""
    perm = torch.randperm(n, generator=generator).to(device)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def cycle_batches(n: int, batch_size: int, count: int, generator: torch.Generator,
                  device: torch.device) -> list[torch.Tensor]:
    """``count`` shuffled batches of ``range(n)``, reshuffling when exhausted (a cycled loader)."""
    out: list[torch.Tensor] = []
    while len(out) < count:
        out.extend(batches(n, batch_size, generator, device))
    return out[:count]


def sgd(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4) -> torch.optim.SGD:
    """SGD over all parameters."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Raise :class:`RunFailed` if ``loss`` is NaN/inf (one host sync: call once per epoch)."""
    v = float(loss.detach())
    if not math.isfinite(v):
        raise RunFailed(f"{where}: loss became {v}")


def sgd_descent(model: nn.Module, x: torch.Tensor, sup: Supervision, loss: Callable[..., torch.Tensor],
                epochs: int, lr: float, batch_size: int, generator: torch.Generator, device: torch.device,
                progress: Callable[[int, int, str], None], name: str) -> nn.Module:
    """Minimise ``loss(model(x), sup)`` with SGD (momentum 0.9, wd 5e-4) for ``epochs`` shuffled passes."""
    opt = sgd(model, lr)
    model.train()
    for epoch in range(epochs):
        for idx in batches(x.shape[0], batch_size, generator, device):
            value = loss(model(x[idx]), sup.take(idx))
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
        check_finite(value, name)
        progress(epoch + 1, epochs, f"epoch {epoch + 1}/{epochs}")
    return model
