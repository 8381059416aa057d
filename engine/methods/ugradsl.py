"""``ugradsl`` (UGradSL): gradient ascent on the forget set with negatively smoothed labels, gradient-mixed.

Paper: "UGradSL: Machine Unlearning Using Gradient-Based Smoothed Label" (seed 002; later "Label Smoothing
Improves Machine Unlearning", Di et al., arXiv 2406.07698). Implements the generalised label smoothing (GLS)
target of Sec. 3, the GLS loss of Eq. 9 (= Eq. 18) and the gradient-mixed loss of Eq. 10 in the UGradSL
variant of Algorithm 1 (an epoch is one pass over the *forget* set, each forget batch paired with an
equal-size retain batch). The official code (UCSC-REAL/Label-Smoothing-Unlearn) could not be read; the GLS
loss form was checked against the same group's ``negative-label-smoothing/loss.py`` (``loss_gls``).

Defaults: the paper states no smoothing rate alpha, mixing ratio p, learning rate or epoch count for UGradSL.
It states batch 256 for every dataset and, for the GA baseline UGradSL is built on, SGD lr 1e-4 for 10 epochs
(Appendix D.3); those are in :data:`PAPER_DEFAULTS`, marked as assumptions. Our defaults (alpha -1.0, p 0.98,
lr 5e-3, 5 epochs, batch 64) were tuned on digits + cnn (class 3). Needs: forget inputs + labels; retain
inputs + labels for the gradient mixing (``mixed=False`` runs without touching them, Table 6's ablation).

This module also holds the pieces shared with :mod:`engine.methods.ugradsl_plus`: :func:`gls_target`,
:func:`gls_loss`, :class:`CycledIndices`, :func:`mixing_schedule`, :func:`gradient_mixed_loss` and
:func:`run_gradient_mixed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.methods.base import CHOSEN_ON_TEST, METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.common import check_finite, sgd
from engine.paradigms.base import Supervision

PARADIGMS = ("supervised", "noisy_label")

# What the paper states per dataset (Appendix D.3: "the batch size is 256 for all the dataset"; GA baseline:
# SGD lr 1e-4, 10 epochs). UGradSL is "based on GA" (Sec. 4.3), so the GA baseline's lr/epochs are the
# closest paper values; alpha and p are not reported anywhere in the paper (Fig. 3 sweeps alpha for UGradSL+
# on CIFAR-10 without printing values), so the presets keep our alpha/p defaults. All are *assumed*.
PAPER_DEFAULTS: dict[str, dict[str, float | int | bool]] = {
    "cifar10": {"lr": 1e-4, "epochs": 10, "batch_size": 256},
    "cifar100": {"lr": 1e-4, "epochs": 10, "batch_size": 256},
    "svhn": {"lr": 1e-4, "epochs": 10, "batch_size": 256},
}


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
    assert data.sup_forget is not None
    logits_f, y_f = _labelled(model(data.x_forget[idx_f]), data.sup_forget.take(idx_f))
    loss_f = gls_loss(logits_f, y_f, alpha)
    if idx_r is None:
        return -loss_f
    assert data.x_retain is not None and data.sup_retain is not None
    loss_r = data.loss(model(data.x_retain[idx_r]), data.sup_retain.take(idx_r))
    return p * loss_r - (1.0 - p) * loss_f


def run_gradient_mixed(model: nn.Module, data: UnlearnData, ctx: UnlearnContext, *, lead: Literal["forget", "retain"],
                       mixed: bool, alpha: float, p: float, epochs: int, lr: float, batch_size: int,
                       name: str) -> nn.Module:
    """Algorithm 1: ``epochs`` passes over the lead set, one SGD step on Eq. 10 per (lead, partner) batch pair.

    SGD with momentum 0.9 and weight decay 5e-4 (the Unlearn-Sparse setup the paper follows), constant lr.
    """
    if data.sup_forget is None:
        raise ValueError(f"{name} needs the forget set's labels")
    if mixed and (data.x_retain is None or data.sup_retain is None):
        raise ValueError(f"{name} needs the retain set (inputs + labels) for gradient mixing")
    n_f = data.x_forget.shape[0]
    n_r = 0 if data.x_retain is None else data.x_retain.shape[0]
    opt = sgd(model, lr)
    gen = ctx.generator()
    n_lead = n_f if lead == "forget" else n_r
    partner = None
    if mixed:
        partner = CycledIndices(n_r if lead == "forget" else n_f, ctx.generator(1))
    dev = ctx.device
    model.train()
    loss = torch.zeros(())
    for epoch in range(epochs):
        for lead_idx, other_idx in mixing_schedule(n_lead, batch_size, gen, partner):
            lead_idx = lead_idx.to(dev)
            other_idx = None if other_idx is None else other_idx.to(dev)
            idx_f, idx_r = (lead_idx, other_idx) if lead == "forget" else (other_idx, lead_idx)
            assert idx_f is not None
            loss = gradient_mixed_loss(model, data, idx_f, idx_r, alpha, p)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        check_finite(loss, name)
        ctx.progress(epoch + 1, epochs, f"epoch {epoch + 1}/{epochs}")
    return model


# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UGradSLConfig:
    """Hyper-parameters of UGradSL."""

    alpha: float = param(-1.0, "GLS smoothing rate on the forget labels: < 0 is negative label smoothing "
                               "(the method), 0 is plain GA, > 0 is positive smoothing (Table 6 ablation)",
                         range=(-10.0, 1.0),
                         source="paper: alpha < 0, value not reported; NLS paper's grid -0.2 ... -8; "
                                "digits: -1.0 (tuned)")
    p: float = param(0.98, "Eq. 10 weight of the retain descent term; 1 - p weighs the forget ascent",
                     range=(0.0, 1.0), source="paper: p in [0, 1], value not reported; digits: 0.98 (tuned)")
    mixed: bool = param(True, "gradient-mixed (Eq. 10 with retain batches); off = GA + NLS on the forget "
                              "set only, without D_r (Table 6 ablation)",
                        source="paper: UGradSL rows of Tables 1-12 are gradient-mixed (Table 6 = Table 8)")
    epochs: int = param(5, "passes over the forget set (each forget batch paired with a retain batch)",
                        range=(1, 200), source="paper: not reported (GA baseline 10); digits: 5", cost="linear")
    lr: float = param(5e-3, "SGD learning rate (momentum 0.9, weight decay 5e-4)", range=(1e-7, 1.0), log=True,
                      source="paper: not reported (GA baseline 1e-4); digits: 5e-3 (tuned)")
    batch_size: int = param(64, "forget mini-batch size (retain batches have the same size)", range=(1, 4096),
                            source="paper: 256 (all datasets)", cost="inverse")


def unlearn(model: nn.Module, data: UnlearnData, cfg: UGradSLConfig, ctx: UnlearnContext) -> nn.Module:
    """Algorithm 1, UGradSL variant: epochs over ``D_f``, SGD on Eq. 10 (or on ``-L_GLS`` when not mixed)."""
    return run_gradient_mixed(model, data, ctx, lead="forget", mixed=cfg.mixed, alpha=cfg.alpha, p=cfg.p,
                              epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, name="ugradsl")


DOC = r"""
**What it does.** Gradient ascent (GA) on the forget set, but against *negatively smoothed* labels, mixed with
gradient descent on the retain set. GA alone stalls once the forget samples are memorised (their loss and
gradient are near 0). Negative label smoothing (NLS, smoothing rate $\alpha<0$) puts mass $>1$ on the true class
and negative mass on the others, so ascending its loss also drives the predictions on the forget set towards
low-confidence, high-entropy outputs.

**Equations** (seed paper 002).
- GLS target (Sec. 3): $y^{GLS,\alpha} = (1-\alpha)\,e_y + \frac{\alpha}{K}\mathbf 1$; true class
  $1 + \frac{1-K}{K}\alpha$, others $\frac{\alpha}{K}$.
- GLS loss (Eq. 9 / 18), cross-entropy against that target:
  $\ell_{GLS} = (1-\alpha)\,(-\log p_y) + \alpha\,\frac1K\sum_k(-\log p_k)$.
- Gradient-mixed loss (Eq. 10): $L = p\cdot \ell(B_r) - (1-p)\cdot \ell_{GLS,\alpha}(B_f)$, $|B_r| = |B_f|$.
- Algorithm 1 with the bracketed replacement: each epoch iterates $D_f$ once; every forget batch is paired with
  an equal-size retain batch drawn from a cycled (re-shuffled) stream of $D_r$; one SGD step per pair.

**Hyper-parameters.** `alpha` in [-10, 1] (default -1.0), `p` in [0, 1] (default 0.98), `mixed` (default on),
`epochs` in [1, 200] (default 5), `lr` in [1e-7, 1] (default 5e-3; SGD momentum 0.9, weight decay 5e-4),
`batch_size` in [1, 4096] (default 64). The paper reports none of alpha, p, lr or epochs for UGradSL, and its
official code was not available to us. The defaults were tuned on digits + cnn, class 3. Seed 0 gives forget acc
0.000, retain 0.999, test 0.881 and entropy 0.49; retrain gives 0.000 / 1.000 / 0.881 / 0.50. With `alpha = 0` and
the same settings the forget accuracy stays at 1.0, so the smoothing is what forgets. The ascent term is unbounded,
so the defaults sit near a cliff: at the default lr, `p` 0.9 drops retain accuracy to 0.76 and `p` 0.8 collapses the
model (retain 0.11). The paper states batch 256 for every dataset and SGD lr 1e-4 / 10 epochs for the GA baseline
that UGradSL builds on. The paper presets (`PAPER_DEFAULTS`: cifar10, cifar100, svhn) use those values and are
marked as assumptions. The NLS paper, where the GLS loss comes from, sweeps alpha over -0.2 ... -8.

**Needs.** Forget inputs + labels (hard labels: SL, or the noisy labels under NLL); retain inputs + labels for
the gradient mixing. Not applicable under partial-label (no hard forget label to smooth) or label-free learning.

**Where we differ.**
- Eq. 10 sums the losses over the batches; we use batch means (the GLS loss of the official NLS code is a mean;
  with $|B_r|=|B_f|$ this only rescales the learning rate by the batch size).
- Algorithm 1 loops `while t_c < E` from `t_c = 1`, i.e. $E-1$ epochs; we run exactly `epochs` epochs.
- "Sample a batch from $D_r$" is read as a cycled, re-shuffled retain stream (a cycled loader); when a batch
  straddles two passes it takes the end of one shuffle and the start of the next so both batches stay equal-size.
- Under NLL the retain term uses the paradigm's loss (GCE), as fine-tuning does here; the forget term is the
  GLS cross-entropy on the noisy labels (the paper only covers clean labels).
- `mixed=False` (GA + NLS without $D_r$, the paper's Table 6 ablation) uses the loss $-\ell_{GLS}$ unweighted, so
  with `alpha=0` it is exactly our `gradient_ascent`. Nothing then holds the ascent back, and at the default lr it
  diverges to NaN on digits (recorded as a failed run). Use lr ~1e-3 or fewer epochs there.
"""

METHODS.register("ugradsl", Method(
    defaults_chosen=CHOSEN_ON_TEST,
    key="ugradsl", title="UGradSL", family="seed",
    paper="UGradSL: Machine Unlearning Using Gradient-Based Smoothed Label (seed 002; Di et al., arXiv 2406.07698)",
    config=UGradSLConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True),
    unlearn=unlearn, doc=DOC.strip(), paradigms=PARADIGMS,
))
