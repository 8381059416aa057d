"""Random-label descent (RL) shared by ``random_label`` and ``salun``: forget samples relabelled with random wrong
classes (re-drawn every epoch), fine-tuned together with the retain set (Golatkar et al. 2020 / Hayase et al., as
in Unlearn-Sparse and SalUn, Fan et al. 2024)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from engine.methods.base import UnlearnContext, UnlearnData
from engine.methods.shared.descent import Hook, batches, descend_epochs, sgd
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision


def random_wrong_labels(sup: Supervision, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """For each sample a uniformly drawn class outside its observed candidate set (seeded)."""
    allowed = ~sup.candidates.cpu()
    allowed[allowed.sum(1) == 0] = True  # a sample whose candidates cover every class: any label
    scores = torch.rand(allowed.shape, generator=generator).masked_fill(~allowed, -1.0)
    return scores.argmax(1).to(sup.labels.device)


def relabel_descent(model: nn.Module, data: UnlearnData, epochs: int, lr: float, batch_size: int,
                    ctx: UnlearnContext, name: str, opt: torch.optim.Optimizer | None = None,
                    before_step: Hook | None = None, after_step: Hook | None = None) -> nn.Module:
    """SGD on forget (random wrong labels re-drawn each epoch, CE) + retain (paradigm loss), mixed batches.

    ``before_step`` / ``after_step`` run around each optimiser step (SalUn masks gradients and weights there).
    """
    x_r, sup_r = data.retain()
    sup_f = data.forget_supervision()
    opt = opt or sgd(model, lr)
    gen = ctx.generator()
    n_f, n_r = data.x_forget.shape[0], x_r.shape[0]
    x_all = torch.cat([data.x_forget, x_r])
    k = data.num_classes

    def epoch_batches(_: int) -> Iterator[tuple[torch.Tensor, Supervision]]:
        fake = one_hot_supervision(random_wrong_labels(sup_f, k, gen), k)  # drawn before the epoch's shuffle
        return ((idx, fake) for idx in batches(n_f + n_r, batch_size, gen, ctx.device))

    def loss_of(batch: tuple[torch.Tensor, Supervision]) -> torch.Tensor:
        idx, fake = batch
        is_f = idx < n_f
        logits = model(x_all[idx])
        loss_f = cross_entropy(logits[is_f], fake.take(idx[is_f]))
        loss_r = data.loss(logits[~is_f], sup_r.take(idx[~is_f] - n_f))
        frac = is_f.float().mean()
        return frac * loss_f + (1 - frac) * loss_r

    model.train()
    descend_epochs(opt, epochs, epoch_batches, loss_of, name=name, progress=ctx.progress, before_step=before_step,
                   after_step=after_step)
    return model
