"""Shadow models for the PGU membership attack (``mia_shadow_auc``): many small trainings, batched.

DESIGN.md "Performance rules": shadow-model attacks train their models batched (``torch.func``). Two paths:

* **batched** (models without BatchNorm or Dropout: ``mlp``, ``cnn``): up to :data:`MAX_STACK` models are
  stacked with ``torch.func.stack_module_state`` and trained together -- one ``vmap`` of
  ``functional_call`` over the stacked parameters per step, one optimiser over the stacked tensors. Adam
  and SGD (momentum, weight decay) act element-wise, and the summed loss of model ``k`` only reaches
  model ``k``'s slice, so this is the same training as :func:`engine.training.fit` run once per model:
  same initialisation (``torch.manual_seed(seed)`` before building), same per-model mini-batch order and
  augmentation (a ``torch.Generator`` per model, drawn in ``fit``'s order), same cosine schedule. Only
  the floating-point reduction order differs (``tests/metrics/test_mia_shadow.py`` checks the weights agree
  and the accuracies match).
* **sequential** (anything with BatchNorm or Dropout: running statistics and dropout masks are per-model
  state that the stacked path does not carry): :func:`engine.training.fit` once per model.

The shadow models of one run get seeds derived from the run seed (:func:`shadow_seeds`), never equal to it,
so they are distinct from the run's own original and retrained models.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from engine.errors import RunFailed
from engine.models import build_model
from engine.paradigms.base import Supervision
from engine.training.accel import autocast
from engine.training.config import TrainConfig
from engine.training.loop import LossFn, augment, fit, make_optimizer

MAX_STACK = 16  # models trained in one stacked batch (memory cap)
_SEED_STREAM = 0x5AD0
Progress = Callable[[int, int, str], None]


def shadow_seeds(seed: int, n: int) -> list[int]:
    """``n`` seeds derived from the run ``seed`` (31-bit; never ``seed`` itself)."""
    out = []
    for j in range(n):
        s = int(np.random.SeedSequence([seed, _SEED_STREAM, j]).generate_state(1)[0]) & 0x7FFFFFFF
        out.append(s ^ 1 if s == seed else s)
    return out


def can_batch(model: nn.Module) -> bool:
    """Whether the stacked (vmap) path applies: no BatchNorm and no Dropout in ``model``."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm | nn.modules.dropout._DropoutNd)
                   for m in model.modules())


def _build(model_key: str, input_shape: tuple[int, int, int], num_classes: int, seed: int,
           device: torch.device) -> nn.Module:
    return build_model(model_key, input_shape, num_classes, seed=seed).to(device)  # as the job bodies build them


def fit_stacked(models: Sequence[nn.Module], x: torch.Tensor, sup: Supervision, loss_fn: LossFn, cfg: TrainConfig,
                seeds: Sequence[int], progress: Progress | None = None) -> None:
    """Train ``models`` (same architecture, no BatchNorm/Dropout) in place, together, as ``fit`` would one by one."""
    from torch.func import functional_call, stack_module_state, vmap

    n_models = len(models)
    params, buffers = stack_module_state(list(models))
    base = copy.deepcopy(models[0]).to("meta")

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (xb,))

    batched = vmap(forward)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    opt = make_optimizer(list(params.values()), cfg)
    n = x.shape[0]
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total) if cfg.schedule == "cosine" else None
    for epoch in range(cfg.epochs):
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(x.device)  # (M, n)
        running = torch.zeros(n_models, device=x.device)
        for b in range(steps_per_epoch):
            idx = perms[:, b * cfg.batch_size:(b + 1) * cfg.batch_size]  # (M, B)
            if idx.shape[1] < 2 and n >= 2:  # as fit: BatchNorm-safe skip of a one-sample batch
                continue
            xb = x[idx]  # (M, B, ...)
            if cfg.augment:
                xb = torch.stack([augment(xb[k], gens[k]) for k in range(n_models)])
            with autocast(x.device):
                logits = batched(params, buffers, xb)
            losses = torch.stack([loss_fn(logits[k].float(), sup.take(idx[k])).float() for k in range(n_models)])
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()  # model k's gradient = d loss_k / d theta_k
            opt.step()
            if sched is not None:
                sched.step()
            running += losses.detach()
        mean = running / steps_per_epoch
        if not bool(torch.isfinite(mean).all()):
            raise RunFailed(f"shadow-model training diverged at epoch {epoch + 1}")
        if progress is not None:
            progress(epoch + 1, cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs} mean loss {float(mean.mean()):.4f}")
    with torch.no_grad():
        for k, m in enumerate(models):
            for name, p in m.named_parameters():
                p.copy_(params[name][k])
            for name, buf in m.named_buffers():
                buf.copy_(buffers[name][k])


def train_shadow_models(model_key: str, input_shape: tuple[int, int, int], num_classes: int, x: torch.Tensor,
                        sup: Supervision, loss_fn: LossFn, cfg: TrainConfig, seeds: Sequence[int],
                        progress: Progress | None = None, batched: bool | None = None) -> list[nn.Module]:
    """One model per seed trained on ``(x, sup)`` with ``cfg`` (stacked when possible, see the module doc).

    ``batched=None`` picks the stacked path when :func:`can_batch`; ``False`` forces the sequential one.
    ``progress(done, total, message)`` counts model-epochs (``total = len(seeds) * cfg.epochs``), once per
    epoch, so that a cancellation raised from it stops the training within one epoch.
    """
    device = x.device
    models = [_build(model_key, input_shape, num_classes, s, device) for s in seeds]
    use_stack = can_batch(models[0]) if batched is None else (batched and can_batch(models[0]))
    total = len(models) * cfg.epochs
    step = MAX_STACK if use_stack else 1
    for start in range(0, len(models), step):
        group, group_seeds = models[start:start + step], seeds[start:start + step]

        def report(epoch: int, _total: int, msg: str, start: int = start, size: int = len(group)) -> None:
            if progress is not None:
                progress(start * cfg.epochs + size * epoch, total,
                         f"models {start + 1}-{start + size} of {len(models)}: {msg}")

        if use_stack:
            fit_stacked(group, x, sup, loss_fn, cfg, group_seeds, report)
        else:
            fit(group[0], x, sup, loss_fn, cfg, int(group_seeds[0]), report)
    for m in models:
        m.eval()
    return models
