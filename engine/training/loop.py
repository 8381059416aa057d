"""Mini-batch training of the original and retrained models under a paradigm's loss.

Whole datasets are tensors on the device; batches are index slices (no per-sample Python).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from engine.errors import RunFailed
from engine.paradigms.base import Supervision
from engine.training.accel import autocast, prepare
from engine.training.config import TrainConfig

Progress = Callable[[int, int, str], None]  # (done, total, message)
LossFn = Callable[[torch.Tensor, Supervision], torch.Tensor]


@dataclass(frozen=True)
class TrainingContext:
    """What a training run is made of, handed to every hook before the first step.

    Recorders that train models of their own from the same inputs (``sisa_shards``) read it; observers of
    the steps (``batch_updates``) ignore it.
    """

    x: torch.Tensor  # the trained inputs
    sup: Supervision  # their supervision (the paradigm's observed labels / candidate sets)
    loss_fn: LossFn  # the paradigm's loss
    cfg: TrainConfig
    seed: int
    progress: Progress | None = None


class StepHook:
    """Observes training (``engine.training.recording``); default methods do nothing."""

    def begin(self, model: nn.Module, ctx: TrainingContext) -> None:
        """Called once before the first step, with the untrained ``model`` and the run's inputs."""

    def before_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> None:
        """Called before the optimiser step of ``batch`` (indices into the trained subset)."""

    def after_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> None:
        """Called after the optimiser step."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run reports besides its weights."""

    seconds: float
    steps: int
    final_loss: float


def make_optimizer(params: Sequence[nn.Parameter] | object, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser named by ``cfg``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and horizontal flip, per sample, vectorised."""
    b, c, h, w = x.shape
    pad = 4
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return xp[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def fit(model: nn.Module, x: torch.Tensor, sup: Supervision, loss_fn: LossFn, cfg: TrainConfig, seed: int,
        progress: Progress | None = None, hooks: Sequence[StepHook] = ()) -> TrainResult:
    """Train ``model`` in place on ``(x, sup)`` with ``cfg``; raises :class:`RunFailed` on a non-finite loss."""
    for h in hooks:
        h.begin(model, TrainingContext(x, sup, loss_fn, cfg, seed))
    gen = torch.Generator().manual_seed(seed)
    forward, x = prepare(model, x)  # GPU: channels_last / compile; CPU: unchanged
    opt = make_optimizer(model.parameters(), cfg)
    n = x.shape[0]
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total) if cfg.schedule == "cosine" else None
    model.train()
    start = time.perf_counter()
    step = 0
    loss_val = float("nan")
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(x.device)
        running = torch.zeros((), device=x.device)
        trained = 0  # batches of this epoch that took a step (a one-sample last batch is skipped)
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if idx.numel() < 2 and n >= 2:  # BatchNorm cannot train on one sample
                continue
            xb = x[idx]
            if cfg.augment:
                xb = augment(xb, gen)
            with autocast(x.device):
                loss = loss_fn(forward(xb), sup.take(idx)).float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for h in hooks:
                h.before_step(model, idx, step)
            opt.step()
            for h in hooks:
                h.after_step(model, idx, step)
            if sched is not None:
                sched.step()
            running += loss.detach()
            step += 1
            trained += 1
        loss_val = float(running) / max(1, trained)  # the mean over the trained batches; one host sync per epoch
        if not math.isfinite(loss_val):
            raise RunFailed(f"training diverged at epoch {epoch + 1} (loss {loss_val})")
        if progress is not None:
            progress(epoch + 1, cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs} loss {loss_val:.4f}")
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
    return TrainResult(time.perf_counter() - start, step, loss_val)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Logits of ``model`` in eval mode on ``x`` (float32, same device)."""
    was = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]).float() for i in range(0, x.shape[0], batch_size)])
    model.train(was)
    return out
