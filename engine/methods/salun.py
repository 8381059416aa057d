"""``salun`` (SalUn, saliency unlearning): random labelling restricted to the forget loss's most salient weights.

Paper: Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image
Classification and Generation", ICLR 2024 (official code: OPTML-Group/Unlearn-Saliency, ``generate_mask.py``
and ``unlearn/RL.py``). Defaults: mask ratio 0.5 and 10 epochs (official README; lr 0.1 there for CIFAR-10
random forgetting); on digits we use lr 0.01 and 5 epochs like ``random_label``. Needs: forget + retain labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import sgd
from engine.methods.shared.relabel import relabel_descent

PAPER_DEFAULTS: dict[str, dict[str, float]] = {
    "cifar10": {"mask_ratio": 0.5, "epochs": 10, "lr": 0.1},
}


@dataclass(frozen=True)
class SalUnConfig:
    """Hyper-parameters of SalUn."""

    mask_ratio: float = param(0.5, "share of all weights that may change: those with the largest |gradient of "
                                   "the forget loss| (global ranking)", range=(0.01, 1.0),
                              source="Fan et al. 2024: 0.5")
    epochs: int = param(5, "random-label passes over forget + retain", range=(1, 200),
                        source="Fan et al. 2024: 10", cost="linear")
    lr: float = param(0.01, "SGD learning rate", range=(1e-6, 1.0), log=True,
                      source="official README (CIFAR-10, random 10 %): 0.1; paper tunes per setting")
    batch_size: int = param(64, "mini-batch size (also for the saliency pass)", range=(1, 4096),
                            source="official code: 256", cost="inverse")


def saliency_mask(model: nn.Module, data: UnlearnData, ratio: float, batch_size: int) -> list[torch.Tensor]:
    """``m = 1[|grad_theta L_f(theta_o)| >= top-ratio threshold]`` over all weights together (Fan et al. Sec. 4)."""
    sup_f = data.forget_supervision()
    params = [p for p in model.parameters() if p.requires_grad]
    acc = [torch.zeros_like(p) for p in params]
    was_training = model.training
    model.eval()  # as the official generate_mask.py
    n = data.x_forget.shape[0]
    for i in range(0, n, batch_size):
        idx = torch.arange(i, min(i + batch_size, n), device=data.x_forget.device)
        loss = -data.loss(model(data.x_forget[idx]), sup_f.take(idx))
        for a, g in zip(acc, torch.autograd.grad(loss, params, allow_unused=True), strict=True):
            if g is not None:
                a.add_(g.detach())
    model.train(was_training)
    flat = torch.cat([a.abs().flatten() for a in acc])
    k = int(flat.numel() * ratio)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    if k > 0:
        keep[torch.argsort(flat, descending=True, stable=True)[:k]] = True
    out, start = [], 0
    for a in acc:
        out.append(keep[start:start + a.numel()].view_as(a))
        start += a.numel()
    return out


def unlearn(model: nn.Module, data: UnlearnData, cfg: SalUnConfig, ctx: UnlearnContext) -> nn.Module:
    """Saliency mask from the forget loss, then random labelling that changes only the masked weights."""
    params = [p for p in model.parameters() if p.requires_grad]
    mask = saliency_mask(model, data, cfg.mask_ratio, cfg.batch_size)
    theta0 = [p.detach().clone() for p in params]
    opt = sgd(model, cfg.lr)

    def mask_gradients() -> None:
        with torch.no_grad():
            for p, m in zip(params, mask, strict=True):
                if p.grad is not None:
                    p.grad.mul_(m)

    def restore_unmasked() -> None:
        with torch.no_grad():  # weight decay / momentum must not move the frozen weights either
            for p, m, p0 in zip(params, mask, theta0, strict=True):
                p.copy_(torch.where(m, p, p0))
                buf = opt.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    buf.mul_(m)

    return relabel_descent(model, data, cfg.epochs, cfg.lr, cfg.batch_size, ctx, "salun", opt=opt,
                           before_step=mask_gradients, after_step=restore_unmasked)


DOC = r"""
**What it does.** SalUn first finds the weights that are most *salient* for the forget set: those with
the largest gradient magnitude of the forget loss at the original model. It then runs random-label
unlearning (RL) that may change only those weights; every other weight stays exactly at its original value.

**Equations** (Fan et al. 2024, Sec. 4; we could not re-check the equation numbers, so the numbers below
are from memory of the arXiv version).
- Saliency mask (Eq. 6): `m_S = 1(|grad_theta l_f(theta; D_f)|_{theta=theta_o} >= gamma)`. Here gamma is the
  threshold that keeps the top `mask_ratio` share of all weights, ranked globally, as in the official
  `generate_mask.py` (`hard_0.5.pt`).
- Update (Eq. 7): `theta_u = m_S ⊙ (Δθ + theta_o) + (1 - m_S) ⊙ theta_o`.
- Δθ comes from the RL objective (Eq. 8): cross-entropy towards random wrong labels on D_f plus the
  paradigm's loss on D_r. We use the same mixed batches and fresh wrong labels per epoch as our
  `random_label`.

**Hyper-parameters.**
- `mask_ratio` (0.01-1, default 0.5): the paper's value. 1.0 is plain RL.
- `epochs` (default 5; the paper uses 10).
- `lr` (default 0.01): SGD with momentum 0.9 and weight decay 5e-4. The official README uses 0.1 for
  CIFAR-10, and the paper tunes lr per setting. On digits, 0.01 matches `random_label`.
- `batch_size` (default 64).

`PAPER_DEFAULTS` holds the CIFAR-10 values.

**Needs.** Forget inputs and labels (the saliency and the wrong labels), and retain inputs and labels.

**Differences from the official code.**
- The official `generate_mask.py` accumulates the forget gradients while also taking SGD steps (it calls
  `optimizer.step()` in its loop), so later batches see a slightly moved model. We take every gradient at
  the original weights, as Eq. 6 states.
- In the original release, weight decay and momentum could still move masked-out weights. We restore them
  after every step and zero their momentum, as the repository's later fix `_restore_masked_params` does,
  so Eq. 7 holds exactly.
- Random labels are drawn *outside* the observed label (or candidate set), as in our `random_label`. The
  official CIFAR-10 code draws any class, the true one included.
- The forget and retain samples share shuffled batches. The official CIFAR-10 loop passes over the forget
  loader first, then the retain loader.
- The saliency loss is the paradigm's loss on the forget supervision. The official code uses CE.
"""

METHODS.register(Method(
    key="salun", order=380, title="SalUn (saliency unlearning)", family="baseline",
    paper="Fan et al. 2024, SalUn (ICLR 2024)",
    config=SalUnConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True), unlearn=unlearn,
    doc=DOC,
))
