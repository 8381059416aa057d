"""``random_label`` (RL): fine-tune on the forget set with random wrong labels, together with the retain set.

Source: Golatkar et al. 2020 / Hayase et al., as implemented in Unlearn-Sparse and SalUn (Fan et al. 2024).
Each epoch every forget sample gets a fresh random label outside its observed supervision (outside its
candidate set under partial labels); retain samples keep theirs. Defaults: SalUn lr 0.01, 10 epochs;
we use 5 epochs. Needs: forget + retain labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.common import batches, check_finite, sgd
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision


@dataclass(frozen=True)
class RandomLabelConfig:
    """Hyper-parameters of random labelling."""

    epochs: int = param(5, "passes over forget + retain", range=(1, 200), source="SalUn: 10", cost="linear")
    lr: float = param(0.01, "SGD learning rate", range=(1e-6, 1.0), log=True, source="SalUn: 0.01")
    batch_size: int = param(64, "mini-batch size", range=(1, 4096), cost="inverse")


def random_wrong_labels(sup: Supervision, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """For each sample a uniformly drawn class outside its observed candidate set (seeded)."""
    allowed = ~sup.candidates.cpu()
    allowed[allowed.sum(1) == 0] = True  # a sample whose candidates cover every class: any label
    scores = torch.rand(allowed.shape, generator=generator).masked_fill(~allowed, -1.0)
    return scores.argmax(1).to(sup.labels.device)


def relabel_descent(model: nn.Module, data: UnlearnData, epochs: int, lr: float, batch_size: int,
                    ctx: UnlearnContext, name: str, opt: torch.optim.Optimizer | None = None,
                    before_step: Callable[[], None] | None = None,
                    after_step: Callable[[], None] | None = None) -> nn.Module:
    """SGD on forget (random wrong labels re-drawn each epoch, CE) + retain (paradigm loss), mixed batches.

    ``before_step`` / ``after_step`` run around each optimiser step (SalUn masks gradients and weights there).
    """
    assert data.x_retain is not None and data.sup_retain is not None and data.sup_forget is not None
    opt = opt or sgd(model, lr)
    gen = ctx.generator()
    n_f, n_r = data.x_forget.shape[0], data.x_retain.shape[0]
    x_all = torch.cat([data.x_forget, data.x_retain])
    model.train()
    for epoch in range(epochs):
        fake = one_hot_supervision(random_wrong_labels(data.sup_forget, data.num_classes, gen), data.num_classes)
        for idx in batches(n_f + n_r, batch_size, gen, ctx.device):
            is_f = idx < n_f
            logits = model(x_all[idx])
            loss_f = cross_entropy(logits[is_f], fake.take(idx[is_f]))
            loss_r = data.loss(logits[~is_f], data.sup_retain.take(idx[~is_f] - n_f))
            frac = is_f.float().mean()
            loss = frac * loss_f + (1 - frac) * loss_r
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if before_step is not None:
                before_step()
            opt.step()
            if after_step is not None:
                after_step()
        check_finite(loss, name)
        ctx.progress(epoch + 1, epochs, f"epoch {epoch + 1}/{epochs}")
    return model


def unlearn(model: nn.Module, data: UnlearnData, cfg: RandomLabelConfig, ctx: UnlearnContext) -> nn.Module:
    """SGD on forget (random wrong labels, CE) + retain (paradigm loss), mixed in shuffled batches."""
    return relabel_descent(model, data, cfg.epochs, cfg.lr, cfg.batch_size, ctx, "random_label")


METHODS.register("random_label", Method(
    key="random_label", title="Random labelling (RL)", family="relabel",
    paper="Golatkar et al. 2020; as in Jia et al. 2023 and Fan et al. 2024 (SalUn)",
    config=RandomLabelConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True),
    unlearn=unlearn,
    doc="Relabels every forget sample with a random wrong class (re-drawn each epoch) and fine-tunes on "
        "forget + retain together, so the forget set is actively mislearned while the rest is kept.",
))
