"""Noisy-label learning (NLL) from UDRU (seed 000, Sec. 3.3) and LAF's noisy-label removal (seed 001).

Generator: symmetric noise; each training label is replaced with probability r (default 0.2) by a
uniformly drawn *different* class, so exactly-r noise in expectation (the official UDRU code
draws from all classes, true one included: effective rate r(K-1)/K; option ``official``).
``classes`` restricts the noise to samples of some classes (LAF: 60 % of classes 0-4).
Loss: generalised cross-entropy (GCE, Zhang & Sabuncu 2018) ``(1 - p_y^q)/q`` with q = 0.7.
The official code's truncated-Lq sample pruning every 40 epochs is not applied (our default
training is a few epochs). Unlearning methods see the noisy labels only.
"""

from __future__ import annotations

import torch

from engine.paradigms.base import PARADIGMS, Paradigm, Supervision, one_hot_supervision

GCE_Q = 0.7


def supervise(y_true: torch.Tensor, num_classes: int, rate: float | None, labelled_fraction: float,
              generator: torch.Generator, official: bool = False,
              classes: tuple[int, ...] | None = None) -> Supervision:
    """Flip each label (of ``classes``, default all) with probability ``rate`` (seeded)."""
    r = 0.2 if rate is None else rate
    n = y_true.shape[0]
    y_cpu = y_true.cpu()
    flip = torch.rand(n, generator=generator) < r
    if classes is not None:
        flip &= torch.isin(y_cpu, torch.tensor(classes, dtype=y_cpu.dtype))
    if official:
        new = torch.randint(0, num_classes, (n,), generator=generator)
    else:
        offset = torch.randint(1, num_classes, (n,), generator=generator)
        new = (y_cpu + offset) % num_classes
    noisy = torch.where(flip, new, y_cpu)
    return one_hot_supervision(noisy.to(y_true.device), num_classes)


def gce_loss(logits: torch.Tensor, sup: Supervision) -> torch.Tensor:
    """Generalised cross-entropy ``mean((1 - p_y^q) / q)`` on the observed (noisy) labels."""
    if not bool(sup.labelled.all()):
        logits, sup = logits[sup.labelled], sup.take(sup.labelled)
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits, dim=1).gather(1, sup.labels[:, None]).squeeze(1)
    return ((1.0 - torch.exp(GCE_Q * logp)) / GCE_Q).mean()


PARADIGMS.register("noisy_label", Paradigm(
    key="noisy_label", title="Noisy-label (NLL)", short="NLL", supervise=supervise, loss=gce_loss,
    loss_name="generalised cross-entropy (GCE, q=0.7)", visible="labels", rate_name="r", default_rate=0.2,
    description="A fraction r of training labels is replaced by another class; methods see the noisy "
                "labels, evaluation always uses the true ones.",
    source="UDRU (seed 000) Sec. 3.3; LAF (seed 001) noisy-label removal; Zhang & Sabuncu 2018 (GCE)",
))
