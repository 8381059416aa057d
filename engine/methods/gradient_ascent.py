"""``gradient_ascent`` (GA / NegGrad): maximise the training loss on the forget set.

Source: Thudi et al. 2022 / Golatkar et al. 2020 (NegGrad), as run in Unlearn-Sparse (used by LAF 001 and
UGradSL 002). Unlearn-Sparse defaults (CIFAR): SGD lr 1e-4, 5 epochs, batch 256; the small embedded
dataset has few forget batches, so our default lr is larger (see the schema). Needs: forget inputs + labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import sgd_descent


@dataclass(frozen=True)
class GradientAscentConfig:
    """Hyper-parameters of gradient ascent."""

    epochs: int = param(5, "passes over the forget set", range=(1, 200), source="Unlearn-Sparse: 5", cost="linear")
    lr: float = param(4e-3, "SGD learning rate (a cliff: on digits 2e-3 does nothing, 6e-3 collapses)",
                      range=(1e-7, 1.0), log=True, source="Unlearn-Sparse: 1e-4 (CIFAR)")
    batch_size: int = param(64, "mini-batch size", range=(1, 4096), source="Unlearn-Sparse: 256", cost="inverse")


def unlearn(model: nn.Module, data: UnlearnData, cfg: GradientAscentConfig, ctx: UnlearnContext) -> nn.Module:
    """Minimise ``-loss(forget)`` with SGD (momentum 0.9, wd 5e-4)."""
    return sgd_descent(model, data.x_forget, data.forget_supervision(), lambda out, sup: -data.loss(out, sup),
                       cfg.epochs, cfg.lr, cfg.batch_size, ctx.generator(), ctx.device, ctx.progress,
                       "gradient_ascent")


DOC = ("Gradient *ascent* on the forget set's loss (the paradigm's loss on its observed labels). Fast, "
       "needs no retain data, but easily over-forgets and damages the rest of the model.")

METHODS.register(Method(
    key="gradient_ascent", order=210, title="Gradient ascent (GA / NegGrad)", family="gradient",
    paper="Thudi et al. 2022; Golatkar et al. 2020; as in Jia et al. 2023",
    config=GradientAscentConfig, needs=Needs(forget_labels=True), unlearn=unlearn,
    doc=DOC,
))
