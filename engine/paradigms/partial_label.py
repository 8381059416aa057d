"""Partial-label learning (PLL) from UDRU (seed 000, Sec. 3.2): each sample has a candidate set.

Generator: the true label plus each wrong label independently with probability q (partial rate,
default 0.2) -- the common independent-flip PLL generator of the PLL literature (ours; UDRU's paper does
not spell its generator out). The official UDRU code instead ORs ``int(q*K)`` random labels into the
one-hot label (``paradigm_params.official``). Loss: the classifier-consistent (CC) loss of
Feng et al. (2020), ``-log sum_{j in S} p_j``. Unlearning methods see the candidate sets only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.paradigms.base import PARADIGMS, Paradigm, Supervision


@dataclass(frozen=True)
class PartialLabelConfig:
    """Which candidate-set generator draws the partial labels (``paradigm_params``)."""

    official: bool = param(False, "draw the official UDRU code's candidate sets (int(q*K) random labels ORed "
                                  "into the one-hot label) instead of independent flips with probability q",
                           source="UDRU official code")


def supervise(y_true: torch.Tensor, num_classes: int, rate: float | None, labelled_fraction: float,
              generator: torch.Generator, official: bool = False) -> Supervision:
    """Draw candidate sets: true label + each other label with prob. ``rate`` (seeded)."""
    q = 0.2 if rate is None else rate
    n = y_true.shape[0]
    dev = y_true.device
    if official:
        k = int(q * num_classes)
        scores = torch.rand(n, num_classes, generator=generator)
        extra = torch.zeros(n, num_classes, dtype=torch.bool)
        if k > 0:
            extra.scatter_(1, scores.topk(k, dim=1).indices, True)
        cand = extra.to(dev)
    else:
        cand = (torch.rand(n, num_classes, generator=generator) < q).to(dev)
    cand[torch.arange(n, device=dev), y_true] = True
    labels = torch.full_like(y_true, -1)
    return Supervision("candidates", labels, cand, torch.ones(n, dtype=torch.bool, device=dev))


def cc_loss(logits: torch.Tensor, sup: Supervision) -> torch.Tensor:
    """Classifier-consistent PLL loss: mean of ``-log sum_{j in S_i} softmax(z_i)_j`` (via logsumexp)."""
    if not bool(sup.labelled.all()):
        logits, sup = logits[sup.labelled], sup.take(sup.labelled)
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    masked = logits.masked_fill(~sup.candidates, float("-inf"))
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(masked, dim=1)).mean()


PARADIGMS.register(Paradigm(
    key="partial_label", title="Partial-label (PLL)", short="PLL", supervise=supervise, loss=cc_loss,
    config=PartialLabelConfig,
    loss_name="classifier-consistent (CC)", visible="candidates", rate_name="q", default_rate=0.2,
    description="Each training sample has a candidate label set containing the true label; "
                "methods see candidate sets, never the true label.",
    source="UDRU (seed 000) Sec. 3.2; Feng et al. 2020 (CC loss)",
))
