"""``original``: no unlearning; the model trained on the full training set (reference row of every seed paper).

Needs: nothing. Defaults: none.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.methods.base import METHODS, NO_HYPERPARAMETERS, Method, Needs, UnlearnContext, UnlearnData


@dataclass(frozen=True)
class OriginalConfig:
    """No hyper-parameters."""


def unlearn(model: nn.Module, data: UnlearnData, cfg: OriginalConfig, ctx: UnlearnContext) -> nn.Module:
    """Return the model unchanged."""
    return model


DOC = ("The model trained on the whole training set. It shows what forgetting has to undo: a method "
       "close to *original* on the forget set has not forgotten.")

METHODS.register(Method(
    defaults_chosen=NO_HYPERPARAMETERS,
    key="original", order=0, title="Original (no unlearning)", family="reference", paper="all seed papers",
    config=OriginalConfig, needs=Needs(), unlearn=unlearn, reference="original",
    doc=DOC,
))
