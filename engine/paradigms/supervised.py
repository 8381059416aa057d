"""Supervised learning (SL): true labels, cross-entropy. Every seed paper's base setting."""

from __future__ import annotations

import torch

from engine.paradigms.base import PARADIGMS, Paradigm, Supervision, cross_entropy, one_hot_supervision


def supervise(y_true: torch.Tensor, num_classes: int, rate: float | None, labelled_fraction: float,
              generator: torch.Generator) -> Supervision:
    """The observed labels are the true labels (copied: the true labels are never overwritten)."""
    return one_hot_supervision(y_true.clone(), num_classes)


PARADIGMS.register(Paradigm(
    key="supervised", title="Supervised (SL)", short="SL", supervise=supervise, loss=cross_entropy,
    loss_name="cross-entropy", visible="labels",
    description="Every training sample carries its true label; methods may use the labels.",
    source="all seed papers",
))
