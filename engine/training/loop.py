"""Mini-batch training of the original and retrained models under a paradigm's loss.

Whole datasets are tensors on the device; batches are index slices (no per-sample Python). Each epoch's shuffle
and augmentation draws come from ``fit``'s own generator on the host and reach the device in one copy; the crop
and flip are one gather on the device. Inside the batch loop nothing waits for the GPU: the one host sync per
epoch reads the epoch's mean loss and running accuracy (progress and the divergence check).

Progress callbacks are ``progress(done, total, message)``; one that also takes keyword fields (``takes_fields =
True``, e.g. a job's :class:`~engine.jobs.execution.JobProgress`) gets the epoch's ``epoch``, ``loss`` and ``acc``
through :func:`report`, so that a dashboard can draw training curves. Neither changes a number: the accuracy is
read from the logits the step computes anyway (no extra forward pass, no random draw).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import RunFailed
from engine.paradigms.base import Supervision
from engine.training.accel import autocast, is_channels_last, prepare, to_device
from engine.training.config import TrainConfig

Progress = Callable[[int, int, str], None]  # (done, total, message); see report() for per-epoch fields
LossFn = Callable[[torch.Tensor, Supervision], torch.Tensor]


def report(progress: Progress | None, done: int, total: int, message: str, **fields: Any) -> None:
    """Call ``progress(done, total, message)``; a callback with ``takes_fields = True`` also gets ``fields`` (a
    loop's per-epoch values, e.g. ``epoch``, ``loss``, ``acc``; ``None`` values left out) as keywords."""
    if progress is None:
        return
    if getattr(progress, "takes_fields", False):
        progress(done, total, message, **{k: v for k, v in fields.items() if v is not None})  # type: ignore[call-arg]
    else:
        progress(done, total, message)


def batch_hits(logits: torch.Tensor, sup: Supervision) -> tuple[torch.Tensor, torch.Tensor]:
    """How many of a batch's labelled samples ``logits`` predict an allowed label of (the observed supervision:
    the label under SL / NLL, a candidate under PLL), and how many labelled samples it has; device tensors, no
    host sync."""
    pred = logits.detach().argmax(1, keepdim=True)
    hit = sup.candidates.gather(1, pred).squeeze(1) & sup.labelled
    return hit.sum(), sup.labelled.sum()


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


PAD = 4  # the random crop's zero padding, in pixels per side


def augment_draws(b: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch's augmentation draws from ``generator`` (on the host), in this order: row offsets, column
    offsets (each in ``[0, 2 * PAD]``) and horizontal flips (``rand < 0.5``), one of each per sample."""
    oy = torch.randint(0, 2 * PAD + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * PAD + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    return oy, ox, flip


def apply_augment(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor,
                  channels_last: bool = False) -> torch.Tensor:
    """Random crop (zero padding ``PAD``) and horizontal flip of the batch ``x`` with the draws of
    :func:`augment_draws` (on ``x``'s device): one gather, no per-sample Python and no host sync.

    With ``channels_last`` the gather writes the result in that layout (the same values, bit for bit).
    """
    b, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=x.device)
    ci = torch.arange(c, device=x.device)
    if channels_last:  # gather as (b, h, w, c), then view it as (b, c, h, w): channels_last strides
        out = xp.permute(0, 2, 3, 1)[bi[:, None, None, None], rows[:, :, None, None], cols[:, None, :, None],
                                     ci[None, None, None, :]]
        return out.permute(0, 3, 1, 2)
    return xp[bi[:, None, None, None], ci[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and horizontal flip, per sample, vectorised (draws from the host
    ``generator``, copied to ``x``'s device without a host sync)."""
    oy, ox, flip = (to_device(t, x.device) for t in augment_draws(x.shape[0], generator))
    return apply_augment(x, oy, ox, flip)


@dataclass(frozen=True)
class _Epoch:
    """One epoch's index slices and augmentation draws, on the device (copied there in one transfer)."""

    perm: torch.Tensor  # (n,) the epoch's order of the samples
    batches: tuple[tuple[int, int], ...]  # [lo, hi) into perm of each batch that trains, in training order
    # (row offsets, column offsets, flips), each aligned with the concatenation of the batches; None: no augment
    draws: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None


def _draw_epoch(n: int, batch_size: int, steps: int, augment_on: bool, gen: torch.Generator,
                device: torch.device) -> _Epoch:
    """The epoch's permutation and, batch by batch in training order, its augmentation draws.

    The draws are taken from ``gen`` in exactly the order the per-batch loop took them (the permutation, then
    per batch that trains its row offsets, column offsets and flips), so the numbers are those of calling
    :func:`augment` batch by batch; drawing them up front lets them reach the device in a single copy.
    """
    perm = torch.randperm(n, generator=gen)
    batches = []
    for b in range(steps):
        lo, hi = min(b * batch_size, n), min((b + 1) * batch_size, n)  # = perm[b * batch_size:(b + 1) * batch_size]
        if hi - lo < 2 and n >= 2:  # BatchNorm cannot train on one sample
            continue
        batches.append((lo, hi))
    if not augment_on:
        return _Epoch(to_device(perm, device), tuple(batches), None)
    per_batch = [augment_draws(hi - lo, gen) for lo, hi in batches]
    oy, ox, flip = (torch.cat([d[i].to(torch.int64) for d in per_batch]) if per_batch
                    else torch.zeros(0, dtype=torch.int64) for i in range(3))
    m = oy.shape[0]
    packed = to_device(torch.cat([perm, oy, ox, flip]), device)
    return _Epoch(packed[:n], tuple(batches), (packed[n:n + m], packed[n + m:n + 2 * m], packed[n + 2 * m:].bool()))


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
    amp = autocast(x.device)  # decided once; entered per batch
    channels_last = is_channels_last(x)  # prepare switched the data: augmented batches keep that layout
    for epoch in range(cfg.epochs):
        ep = _draw_epoch(n, cfg.batch_size, steps_per_epoch, cfg.augment, gen, x.device)
        running = torch.zeros((), device=x.device)
        hits = torch.zeros((), dtype=torch.int64, device=x.device)  # running accuracy: allowed-label predictions
        seen = torch.zeros((), dtype=torch.int64, device=x.device)  # ... of this many labelled samples
        done = 0  # samples of the epoch's trained batches so far: the offset of the next batch's draws
        for lo, hi in ep.batches:  # no host sync in here: indices, draws and the running loss stay on the device
            idx = ep.perm[lo:hi]
            xb = x[idx]
            if ep.draws is not None:
                oy, ox, flip = (d[done:done + hi - lo] for d in ep.draws)
                xb = apply_augment(xb, oy, ox, flip, channels_last)
            done += hi - lo
            sb = sup.take(idx)
            with amp:
                out = forward(xb)
                loss = loss_fn(out, sb).float()
            batch_hit, batch_seen = batch_hits(out, sb)
            hits += batch_hit
            seen += batch_seen
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
        trained = len(ep.batches)  # batches of this epoch that took a step (a one-sample last batch is skipped)
        total_loss, n_hit, n_seen = torch.stack([running, hits.float(), seen.float()]).tolist()  # one host sync
        loss_val = total_loss / max(1, trained)  # the mean over the trained batches
        if not math.isfinite(loss_val):
            raise RunFailed(f"training diverged at epoch {epoch + 1} (loss {loss_val})")
        report(progress, epoch + 1, cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs} loss {loss_val:.4f}",
               epoch=epoch + 1, loss=loss_val, acc=n_hit / n_seen if n_seen else None)
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
