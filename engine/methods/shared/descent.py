"""Mini-batch descent shared by every method that trains: index batches, optimisers, the step loop.

One optimiser step is always ``zero_grad(set_to_none=True)``, ``loss.backward()``, the optional ``before_step``
hook (e.g. masking or adding to gradients), ``optimiser.step()``, the optional ``after_step`` hook
(:func:`take_step`). :func:`descend` runs one pass over a sequence of batches, :func:`descend_epochs` several
passes with a finiteness check and a progress report per epoch, :func:`sgd_descent` the common case "minimise the
paradigm's loss on a set with SGD". Batches are drawn lazily from the caller's generator, in the order the caller
builds them, so the random draws and floating-point operations are those of a hand-written loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import torch
from torch import nn

from engine.errors import RunFailed
from engine.paradigms.base import Supervision
from engine.training.loop import report

B = TypeVar("B")
Hook = Callable[[], None]
Progress = Callable[[int, int, str], None]


def batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
    """Shuffled index batches covering ``range(n)`` once (the permutation is drawn at the first batch)."""
    perm = torch.randperm(n, generator=generator).to(device)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def cycle_batches(n: int, batch_size: int, count: int, generator: torch.Generator,
                  device: torch.device) -> list[torch.Tensor]:
    """``count`` shuffled batches of ``range(n)``, reshuffling when exhausted (a cycled loader; drawn now)."""
    out: list[torch.Tensor] = []
    while len(out) < count:
        out.extend(batches(n, batch_size, generator, device))
    return out[:count]


def sgd(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4) -> torch.optim.SGD:
    """SGD over all parameters (momentum 0.9, weight decay 5e-4: the Unlearn-Sparse setup)."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Raise :class:`RunFailed` if ``loss`` is NaN/inf (one host sync: call once per epoch)."""
    v = float(loss.detach())
    if not math.isfinite(v):
        raise RunFailed(f"{where}: loss became {v}")


def take_step(optimiser: torch.optim.Optimizer, loss: torch.Tensor, before_step: Hook | None = None,
              after_step: Hook | None = None) -> torch.Tensor:
    """One descent step on ``loss``: zero the gradients, backpropagate, ``before_step``, step, ``after_step``."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    if before_step is not None:
        before_step()
    optimiser.step()
    if after_step is not None:
        after_step()
    return loss


def descend_steps(optimiser: torch.optim.Optimizer, batches: Iterable[B], loss_of_batch: Callable[[B], torch.Tensor],
                  before_step: Hook | None = None, after_step: Hook | None = None) -> Iterator[torch.Tensor]:
    """One step per batch on ``loss_of_batch(batch)``, yielding each loss after its step (to accumulate them)."""
    for batch in batches:
        yield take_step(optimiser, loss_of_batch(batch), before_step, after_step)


def descend(optimiser: torch.optim.Optimizer, batches: Iterable[B], loss_of_batch: Callable[[B], torch.Tensor],
            before_step: Hook | None = None, after_step: Hook | None = None) -> torch.Tensor:
    """One pass: a step per batch on ``loss_of_batch(batch)``; returns the last loss (zero without a batch)."""
    loss = torch.zeros(())
    for loss in descend_steps(optimiser, batches, loss_of_batch, before_step, after_step):  # noqa: B007
        pass
    return loss


def descend_epochs(optimiser: torch.optim.Optimizer, epochs: int, epoch_batches: Callable[[int], Iterable[B]],
                   loss_of_batch: Callable[[B], torch.Tensor], *, name: str, progress: Progress | None = None,
                   before_step: Hook | None = None, after_step: Hook | None = None,
                   report_every: int = 1) -> torch.Tensor:
    """``epochs`` passes of :func:`descend`; returns the last loss.

    ``epoch_batches(epoch)`` (0-based) is called at the start of each epoch and returns that epoch's batches; it
    may also prepare the epoch (draw its random labels, set the model's train/eval mode). Every
    ``report_every`` epochs and after the last one the last loss is checked (:func:`check_finite`, the error
    names ``name``) and ``progress(epoch, epochs, "epoch e/E")`` is called; a callback that takes fields
    (:func:`engine.training.loop.report`) also gets ``epoch`` and ``loss``, the epoch's mean batch loss (summed
    on the device from the losses the steps computed: nothing is recomputed).
    """
    loss = torch.zeros(())
    for epoch in range(epochs):
        total: torch.Tensor | None = None  # the epoch's summed batch losses (detached, on the device)
        count = 0
        loss = torch.zeros(())
        for loss in descend_steps(optimiser, epoch_batches(epoch), loss_of_batch, before_step, after_step):
            total = loss.detach().float() if total is None else total + loss.detach().float()
            count += 1
        if (epoch + 1) % report_every == 0 or epoch + 1 == epochs:
            check_finite(loss, name)
            report(progress, epoch + 1, epochs, f"epoch {epoch + 1}/{epochs}", epoch=epoch + 1,
                   loss=None if total is None or progress is None else float(total) / count)
    return loss


def sgd_descent(model: nn.Module, x: torch.Tensor, sup: Supervision, loss: Callable[..., torch.Tensor],
                epochs: int, lr: float, batch_size: int, generator: torch.Generator, device: torch.device,
                progress: Progress, name: str) -> nn.Module:
    """Minimise ``loss(model(x), sup)`` with SGD (momentum 0.9, wd 5e-4) for ``epochs`` shuffled passes."""
    opt = sgd(model, lr)
    model.train()
    descend_epochs(opt, epochs, lambda _: batches(x.shape[0], batch_size, generator, device),
                   lambda idx: loss(model(x[idx]), sup.take(idx)), name=name, progress=progress)
    return model
