"""UGradSL's pieces shared by ``ugradsl`` and ``ugradsl_plus`` (seed 002, "UGradSL: Machine Unlearning Using
Gradient-Based Smoothed Label"; later Di et al., arXiv 2406.07698): the generalised label smoothing (GLS) target of
Sec. 3, the GLS loss of Eq. 9, the batch schedule and the gradient-mixed loss (Eq. 10) of Algorithm 1, and its loop.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from engine.methods.base import UnlearnContext, UnlearnData
from engine.methods.shared.descent import descend_epochs, sgd
from engine.paradigms.base import Supervision

PARADIGMS = ("supervised", "noisy_label")  # the GLS target needs one observed hard label per forget sample


# ---------------------------------------------------------------------------------------------------------------
# Generalised label smoothing (Sec. 3, Eq. 9)
def gls_target(labels: torch.Tensor, num_classes: int, alpha: float) -> torch.Tensor:
    """The GLS target ``(1 - alpha) * onehot(y) + alpha / K * 1`` (Sec. 3), one row per label.

    Rows sum to 1; the true class gets ``1 + (1 - K) / K * alpha`` (> 1 when ``alpha < 0``, i.e. negative
    label smoothing, NLS) and every other class ``alpha / K`` (< 0 under NLS).
    """
    onehot = F.one_hot(labels, num_classes).to(torch.float32)
    return (1.0 - alpha) * onehot + alpha / num_classes


def gls_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """Mean cross-entropy against the GLS target (Eq. 9): ``(1 - alpha) * NLL(y) + alpha * mean_k(-log p_k)``.

    Equal to Eq. 9's ``(1 + (1-K)/K alpha) * l(x, y) + alpha/K * sum_{y' != y} l(x, y')`` for the cross-entropy
    ``l`` and to ``loss_gls`` of UCSC-REAL/negative-label-smoothing (``wa=0, wb=1``). ``alpha = 0`` is plain CE.
    """
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits, dim=1)
    nll = -logp.gather(1, labels[:, None]).squeeze(1)
    smooth = -logp.mean(dim=1)
    return ((1.0 - alpha) * nll + alpha * smooth).mean()


def _labelled(logits: torch.Tensor, sup: Supervision) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and hard labels of the samples whose label may be used (all of them under SL / NLL)."""
    mask = sup.labelled
    if bool(mask.all()):
        return logits, sup.labels
    return logits[mask], sup.labels[mask]


# ---------------------------------------------------------------------------------------------------------------
# Batch schedule of Algorithm 1
class CycledIndices:
    """An endless stream of indices of ``range(n)``: shuffled permutations laid end to end (a cycled loader).

    ``take(k)`` returns the next ``k`` indices, so every index appears once per permutation and a batch is
    exactly ``k`` long even when it straddles two permutations (or ``k > n``).
    """

    def __init__(self, n: int, generator: torch.Generator) -> None:
        if n <= 0:
            raise ValueError("CycledIndices needs a non-empty set")
        self.n = n
        self.generator = generator
        self._buf = torch.empty(0, dtype=torch.long)

    def take(self, k: int) -> torch.Tensor:
        """The next ``k`` indices of the stream."""
        while self._buf.numel() < k:
            self._buf = torch.cat([self._buf, torch.randperm(self.n, generator=self.generator)])
        out, self._buf = self._buf[:k], self._buf[k:]
        return out


def mixing_schedule(n_lead: int, batch_size: int, generator: torch.Generator,
                    partner: CycledIndices | None) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """One epoch of Algorithm 1: ``(lead batch, partner batch)`` pairs, lines 3-5.

    The lead set (``D_r`` for UGradSL+, ``D_f`` for UGradSL) is shuffled and iterated exactly once; each lead
    batch is paired with the next batch of the same size from the cycled ``partner`` stream (the other set),
    "where the size of B_f is the same as that of B_r". Every step uses both batches (Eq. 10 weighs them by
    ``p``; nothing is sampled per step). ``partner=None`` gives lead batches only (UGradSL without ``D_r``).
    """
    perm = torch.randperm(n_lead, generator=generator)
    out: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for i in range(0, n_lead, batch_size):
        lead = perm[i:i + batch_size]
        out.append((lead, None if partner is None else partner.take(lead.numel())))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Eq. 10 and the shared loop
def gradient_mixed_loss(model: nn.Module, data: UnlearnData, idx_f: torch.Tensor, idx_r: torch.Tensor | None,
                        alpha: float, p: float) -> torch.Tensor:
    """Eq. 10 with batch means: ``p * L(B_r) - (1 - p) * L_GLS,alpha(B_f)``; ``-L_GLS(B_f)`` without ``B_r``.

    ``L(B_r)`` is the paradigm's loss on the retain batch (CE under SL, as in the paper); ``L_GLS`` is
    :func:`gls_loss` on the forget batch's observed hard labels.
    """
    logits_f, y_f = _labelled(model(data.x_forget[idx_f]), data.forget_supervision().take(idx_f))
    loss_f = gls_loss(logits_f, y_f, alpha)
    if idx_r is None:
        return -loss_f
    x_r, sup_r = data.retain()
    loss_r = data.loss(model(x_r[idx_r]), sup_r.take(idx_r))
    return p * loss_r - (1.0 - p) * loss_f


def run_gradient_mixed(model: nn.Module, data: UnlearnData, ctx: UnlearnContext, *, lead: Literal["forget", "retain"],
                       mixed: bool, alpha: float, p: float, epochs: int, lr: float, batch_size: int,
                       name: str) -> nn.Module:
    """Algorithm 1: ``epochs`` passes over the lead set, one SGD step on Eq. 10 per (lead, partner) batch pair.

    SGD with momentum 0.9 and weight decay 5e-4 (the Unlearn-Sparse setup the paper follows), constant lr.
    """
    if lead == "retain" and not mixed:
        raise ValueError(f"{name}: a pass led by the retain set is always gradient-mixed")
    data.forget_supervision()
    if mixed:
        data.retain()
    n_f = data.x_forget.shape[0]
    n_r = 0 if data.x_retain is None else data.x_retain.shape[0]
    opt = sgd(model, lr)
    gen = ctx.generator()
    n_lead = n_f if lead == "forget" else n_r
    partner = None
    if mixed:
        partner = CycledIndices(n_r if lead == "forget" else n_f, ctx.generator(1))
    dev = ctx.device

    def loss_of(pair: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        lead_idx, other_idx = pair[0].to(dev), None if pair[1] is None else pair[1].to(dev)
        if lead == "forget":
            return gradient_mixed_loss(model, data, lead_idx, other_idx, alpha, p)
        if other_idx is None:  # excluded above: a retain-led schedule always has a forget partner
            raise RuntimeError(f"{name}: a retain batch without its forget partner")
        return gradient_mixed_loss(model, data, other_idx, lead_idx, alpha, p)

    model.train()
    descend_epochs(opt, epochs, lambda _: mixing_schedule(n_lead, batch_size, gen, partner), loss_of, name=name,
                   progress=ctx.progress)
    return model
