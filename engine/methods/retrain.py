"""``retrain``: train from scratch on the retain set with the original's training config (the gold reference).

Source: every seed paper (exact unlearning). Needs retain inputs and their (weak) supervision.
The runner trains it once per seed as the reference job and reuses that job for this row.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.methods.base import METHODS, NO_HYPERPARAMETERS, Method, Needs, UnlearnContext, UnlearnData
from engine.models import build_model
from engine.training.loop import fit


@dataclass(frozen=True)
class RetrainConfig:
    """No hyper-parameters: the original's training config is used, so retrain is comparable."""


def unlearn(model: nn.Module, data: UnlearnData, cfg: RetrainConfig, ctx: UnlearnContext) -> nn.Module:
    """Fresh initialisation (seeded) trained on the retain set with the paradigm's loss."""
    x_r, sup_r = data.retain()
    fresh = build_model(ctx.model_key, ctx.input_shape, data.num_classes, seed=ctx.seed).to(ctx.device)
    fit(fresh, x_r, sup_r, data.loss, ctx.train_cfg, ctx.seed, ctx.progress)
    return fresh


DOC = ("Exact unlearning: a fresh model trained on the retain set only, with the same training "
       "configuration and seed as the original. Every other method is measured against it; for forgetting "
       "metrics *closer to retrain* is better (not 'higher').")

METHODS.register(Method(
    defaults_chosen=NO_HYPERPARAMETERS,
    key="retrain", order=10, title="Retrain from scratch", family="reference",
    paper="all seed papers (exact unlearning)",
    config=RetrainConfig, needs=Needs(retain_data=True, retain_labels=True), unlearn=unlearn, reference="retrain",
    doc=DOC,
))
