"""Paradigm contract: how the training data is supervised, the matching loss, and what methods may see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from engine.registry import Registry

Visible = Literal["labels", "candidates", "none"]


@dataclass(frozen=True)
class Supervision:
    """The supervision the learner sees for some training samples (never the true labels' replacement).

    ``labels`` is the observed label per sample (the true one under SL, the possibly-noisy one
    under NLL, the argmax-free ``-1`` under PLL and for unlabelled samples). ``candidates`` is a
    ``(N, K)`` bool matrix of allowed labels (one-hot for SL/NLL, the candidate set for PLL,
    all-False for unlabelled samples). ``labelled`` marks samples whose supervision may be used.
    """

    kind: Visible
    labels: torch.Tensor
    candidates: torch.Tensor
    labelled: torch.Tensor

    def take(self, idx: torch.Tensor) -> Supervision:
        """The supervision of the samples ``idx``."""
        return Supervision(self.kind, self.labels[idx], self.candidates[idx], self.labelled[idx])

    def to(self, device: torch.device | str) -> Supervision:
        """Copy onto ``device``."""
        return Supervision(self.kind, self.labels.to(device), self.candidates.to(device), self.labelled.to(device))

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def one_hot_supervision(labels: torch.Tensor, num_classes: int, kind: Visible = "labels") -> Supervision:
    """Supervision from hard labels (``-1`` = unlabelled)."""
    labelled = labels >= 0
    cand = torch.zeros(labels.shape[0], num_classes, dtype=torch.bool, device=labels.device)
    cand[labelled, labels[labelled]] = True
    return Supervision(kind, labels.clone(), cand, labelled)


def cross_entropy(logits: torch.Tensor, sup: Supervision) -> torch.Tensor:
    """Mean cross-entropy on the observed hard labels of the labelled samples."""
    mask = sup.labelled
    if not bool(mask.all()):
        logits, labels = logits[mask], sup.labels[mask]
    else:
        labels = sup.labels
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels)


@dataclass(frozen=True)
class Paradigm:
    """A learning paradigm (CATALOGUE.md): seeded supervision generator and its training loss.

    ``supervise(y_true, num_classes, rate, labelled_fraction, generator, options)`` returns the
    :class:`Supervision`; ``loss(logits, sup)`` is the paradigm's training loss, also used by
    unlearning methods as "the" loss on whatever supervision they are allowed to see.
    """

    key: str
    title: str
    short: str
    supervise: Callable[..., Supervision]
    loss: Callable[[torch.Tensor, Supervision], torch.Tensor]
    loss_name: str
    visible: Visible
    description: str
    rate_name: str | None = None  # "q" (partial rate) / "r" (noise rate)
    default_rate: float | None = None
    source: str = ""
    # options of the generator / training loss (``ComparisonSpec.paradigm_params``), a config dataclass whose
    # fields are passed to ``supervise`` as keywords; ``loss_of(cfg)`` picks the training loss from it
    config: type | None = None
    loss_of: Callable[[Any], Callable[[torch.Tensor, Supervision], torch.Tensor]] | None = None


PARADIGMS: Registry[Paradigm] = Registry("paradigm")
