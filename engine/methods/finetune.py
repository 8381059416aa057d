"""``finetune`` (FT): fine-tune the original on the retain set only, relying on catastrophic forgetting.

Source: Warnecke et al. 2021 as run in Unlearn-Sparse (Jia et al. 2023), used by UGradSL (002) and PPU (004).
Defaults: Unlearn-Sparse uses SGD lr 0.01, 10 epochs; we keep lr 0.01 and use 5 epochs on the small defaults.
Needs: retain inputs + (weak) labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import sgd_descent


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of fine-tuning."""

    epochs: int = param(5, "passes over the retain set", range=(1, 200), source="Unlearn-Sparse: 10", cost="linear")
    lr: float = param(0.01, "SGD learning rate", range=(1e-6, 1.0), log=True, source="Unlearn-Sparse: 0.01")
    batch_size: int = param(64, "mini-batch size", range=(1, 4096), cost="inverse")


def unlearn(model: nn.Module, data: UnlearnData, cfg: FinetuneConfig, ctx: UnlearnContext) -> nn.Module:
    """Minimise the paradigm's loss on the retain set with SGD (momentum 0.9, wd 5e-4)."""
    x_r, sup_r = data.retain()
    return sgd_descent(model, x_r, sup_r, data.loss, cfg.epochs, cfg.lr, cfg.batch_size, ctx.generator(), ctx.device,
                       ctx.progress, "finetune")


DOC = ("Continue training the original on the retain set only (SGD, the paradigm's loss); the forget set "
       "is forgotten only as far as catastrophic forgetting goes. Cheap, usually under-forgets.")

METHODS.register(Method(
    key="finetune", order=200, title="Fine-tuning (FT)", family="fine-tuning",
    paper="Warnecke et al. 2021; as in Jia et al. 2023 (Unlearn-Sparse)",
    config=FinetuneConfig, needs=Needs(retain_data=True, retain_labels=True), unlearn=unlearn,
    doc=DOC,
))
