"""``neggrad_plus`` (NegGrad+): descend on the retain loss while ascending on the forget loss.

Source: Kurmanji et al. 2023 (SCRUB paper's baseline), used by PPU (004).
Loss: ``alpha * L(retain) - (1 - alpha) * L(forget)``, forget batches cycled alongside retain batches.
Defaults: SCRUB small scale alpha 0.95, lr 0.01, 10 epochs (SGD); on digits we use
alpha 0.99 and 5 epochs. Needs: forget + retain labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import batches, cycle_batches, descend_epochs, sgd


@dataclass(frozen=True)
class NegGradPlusConfig:
    """Hyper-parameters of NegGrad+."""

    alpha: float = param(0.99, "weight of the retain loss (1 - alpha weighs the forget ascent); on digits 0.95 "
                               "collapses the model within 5 epochs", range=(0.0, 1.0),
                         source="SCRUB small scale: 0.95; MIA experiments: 0.9999")
    epochs: int = param(5, "passes over the retain set", range=(1, 200), source="SCRUB: 10", cost="linear")
    lr: float = param(0.01, "SGD learning rate", range=(1e-6, 1.0), log=True, source="SCRUB: 0.01")
    batch_size: int = param(64, "retain mini-batch size (forget batches of the same size are cycled)",
                            range=(1, 4096), cost="inverse")


def unlearn(model: nn.Module, data: UnlearnData, cfg: NegGradPlusConfig, ctx: UnlearnContext) -> nn.Module:
    """SGD on ``alpha * L_r - (1 - alpha) * L_f`` over paired retain/forget batches."""
    x_r, sup_r = data.retain()
    sup_f = data.forget_supervision()
    opt = sgd(model, cfg.lr)
    gen = ctx.generator()
    n_r, n_f = x_r.shape[0], data.x_forget.shape[0]
    per_epoch = math.ceil(n_r / cfg.batch_size)

    def epoch_batches(_: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        f_batches = cycle_batches(n_f, cfg.batch_size, per_epoch, gen, ctx.device)  # drawn before the retain shuffle
        return zip(batches(n_r, cfg.batch_size, gen, ctx.device), f_batches, strict=False)

    def loss_of(pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        idx_r, idx_f = pair
        loss_r = data.loss(model(x_r[idx_r]), sup_r.take(idx_r))
        loss_f = data.loss(model(data.x_forget[idx_f]), sup_f.take(idx_f))
        return cfg.alpha * loss_r - (1.0 - cfg.alpha) * loss_f

    model.train()
    descend_epochs(opt, cfg.epochs, epoch_batches, loss_of, name="neggrad_plus", progress=ctx.progress)
    return model


DOC = ("Fine-tunes on the retain set while ascending on the forget set, weighted by alpha. Stronger "
       "forgetting than fine-tuning, more stable than plain gradient ascent.")

METHODS.register(Method(
    key="neggrad_plus", order=220, title="NegGrad+", family="gradient",
    paper="Kurmanji et al. 2023 (SCRUB), baseline in PPU",
    config=NegGradPlusConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True),
    unlearn=unlearn, doc=DOC,
))
