"""Label-free unlearning from LAF (seed 001): labels exist at training time, none at unlearning time.

Training uses cross-entropy on the labelled part (``labelled_fraction`` of the training set, seeded,
default 1.0). Unlearning methods see no labels; only ``laf_r`` may use a labelled retain sample
of the forget set's size for its supervised repair.
"""

from __future__ import annotations

import torch

from engine.paradigms.base import PARADIGMS, Paradigm, Supervision, cross_entropy, one_hot_supervision


def supervise(y_true: torch.Tensor, num_classes: int, rate: float | None, labelled_fraction: float,
              generator: torch.Generator) -> Supervision:
    """True labels for a seeded ``labelled_fraction`` of samples, ``-1`` for the rest."""
    n = y_true.shape[0]
    labels = y_true.clone()
    if labelled_fraction < 1.0:
        keep = torch.randperm(n, generator=generator)[: int(round(labelled_fraction * n))]
        mask = torch.zeros(n, dtype=torch.bool)
        mask[keep] = True
        labels[~mask.to(labels.device)] = -1
    return one_hot_supervision(labels, num_classes, kind="none")


PARADIGMS.register(Paradigm(
    key="label_free", title="Label-free (LAF)", short="LF", supervise=supervise, loss=cross_entropy,
    loss_name="cross-entropy on the labelled part", visible="none",
    description="The model was trained with labels, but unlearning sees no labels at all "
                "(LAF+R may use a labelled retain sample for its repair step).",
    source="LAF (seed 001)",
))
