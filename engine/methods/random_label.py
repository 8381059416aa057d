"""``random_label`` (RL): fine-tune on the forget set with random wrong labels, together with the retain set.

Source: Golatkar et al. 2020 / Hayase et al., as implemented in Unlearn-Sparse and SalUn (Fan et al. 2024).
Each epoch every forget sample gets a fresh random label outside its observed supervision (outside its
candidate set under partial labels); retain samples keep theirs. Defaults: SalUn lr 0.01, 10 epochs;
we use 5 epochs. Needs: forget + retain labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.relabel import relabel_descent


@dataclass(frozen=True)
class RandomLabelConfig:
    """Hyper-parameters of random labelling."""

    epochs: int = param(5, "passes over forget + retain", range=(1, 200), source="SalUn: 10", cost="linear")
    lr: float = param(0.01, "SGD learning rate", range=(1e-6, 1.0), log=True, source="SalUn: 0.01")
    batch_size: int = param(64, "mini-batch size", range=(1, 4096), cost="inverse")


def unlearn(model: nn.Module, data: UnlearnData, cfg: RandomLabelConfig, ctx: UnlearnContext) -> nn.Module:
    """SGD on forget (random wrong labels, CE) + retain (paradigm loss), mixed in shuffled batches."""
    return relabel_descent(model, data, cfg.epochs, cfg.lr, cfg.batch_size, ctx, "random_label")


DOC = ("Relabels every forget sample with a random wrong class (re-drawn each epoch) and fine-tunes on "
       "forget + retain together, so the forget set is actively mislearned while the rest is kept.")

METHODS.register(Method(
    key="random_label", order=230, title="Random labelling (RL)", family="relabel",
    paper="Golatkar et al. 2020; as in Jia et al. 2023 and Fan et al. 2024 (SalUn)",
    config=RandomLabelConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True),
    unlearn=unlearn,
    doc=DOC,
))
