"""``unrolling`` (Unrolling SGD): add back the forget samples' SGD contributions, estimated by one gradient.

Paper: Thudi, Deza, Chandrasekaran & Papernot, "Unrolling SGD: Understanding Factors Influencing Machine
Unlearning", EuroS&P 2022 (Sec. IV, Eq. 2-3: the first-order expansion of the SGD trajectory and the
single-gradient unlearning update); baseline "Unroll" in LAF (seed 001). Defaults: the paper's update has no free
hyper-parameter (learning rate and steps are the original training's); ``scale`` = 1 reproduces it, and digits
uses a larger scale because the single-gradient estimate at a converged model is tiny. Needs: forget inputs +
labels and the original's training config (lr, schedule, epochs, batch size) from ``ctx.train_cfg``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import check_finite
from engine.paradigms.base import Supervision
from engine.training.config import TrainConfig


@dataclass(frozen=True)
class UnrollingConfig:
    """Hyper-parameters of single-gradient SGD unrolling."""

    scale: float = param(30.0, "multiplier of the unrolled step eta * E / B * sum of forget gradients (1 = the "
                                "paper's update; on digits 1 changes no prediction)", range=(0.0, 1e5), log=False,
                         source="paper: 1 (no free parameter)")


def lr_mass(train_cfg: TrainConfig) -> float:
    """Sum over epochs of the learning rate at which one sample was used: ``E * mean_t eta_t``.

    Each sample is in exactly one batch per epoch; its expected step size is the schedule's mean over the
    epoch. Constant schedule: ``E * lr``; cosine annealing to 0 over the run: ``E * lr / 2`` (continuous mean).
    """
    mean = train_cfg.lr / 2 if train_cfg.schedule == "cosine" else train_cfg.lr
    return train_cfg.epochs * mean


def forget_gradient_sum(model: nn.Module, x: torch.Tensor, sup: Supervision, loss: object,
                        batch_size: int = 512) -> torch.Tensor:
    """``sum_{i in D_f} grad_theta l(x_i, theta)`` as one flat vector (parameter order = ``model.parameters()``).

    The paradigm loss is a batch mean, so each chunk's gradient is scaled by its size.
    """
    params = [p for p in model.parameters()]
    total = torch.zeros(sum(p.numel() for p in params), dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], batch_size):
        idx = torch.arange(i, min(i + batch_size, x.shape[0]), device=x.device)
        value = loss(model(x[idx]), sup.take(idx)) * idx.numel()  # type: ignore[operator]
        grads = torch.autograd.grad(value, params, allow_unused=True)
        total += torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                            for g, p in zip(grads, params, strict=True)]).double()
    return total


def unrolled_update(model: nn.Module, x: torch.Tensor, sup: Supervision, loss: object, train_cfg: TrainConfig,
                    scale: float = 1.0) -> torch.Tensor:
    """The step ``scale * (sum_t eta_t) / B * sum_{i in D_f} grad l(x_i, theta)`` (Thudi et al. 2022, Eq. 3)."""
    g = forget_gradient_sum(model, x, sup, loss)
    return g * (scale * lr_mass(train_cfg) / train_cfg.batch_size)


def unlearn(model: nn.Module, data: UnlearnData, cfg: UnrollingConfig, ctx: UnlearnContext) -> nn.Module:
    """``theta_u = theta + step`` (gradient *ascent* by the forget samples' unrolled SGD contribution)."""
    sup_f = data.forget_supervision()
    was = model.training
    model.eval()  # the gradient is taken at the trained weights; eval keeps BatchNorm statistics untouched
    step = unrolled_update(model, data.x_forget, sup_f, data.loss, ctx.train_cfg, cfg.scale)
    model.train(was)
    norm = float(step.norm())
    if not math.isfinite(norm):
        check_finite(torch.tensor(norm), "unrolling")
    theta = parameters_to_vector(model.parameters()).detach()
    with torch.no_grad():
        vector_to_parameters((theta.double() + step).to(theta.dtype), model.parameters())
    ctx.progress(1, 1, f"unrolled step, norm {norm:.3g}")
    return model


DOC = r"""
**What it does.** Thudi et al. (2022) expand the SGD trajectory to first order: after $T$ steps from
$\theta_0$, $\theta_T\approx\theta_0-\sum_{t}\eta_t\frac1B\sum_{i\in B_t}\nabla\ell(x_i,\theta_0)$ (Eq. 2), so a
sample's contribution to the final weights is $\frac{\eta}{B}\sum_{t: x\in B_t}\nabla\ell(x,\theta_0)$ and can be
removed by adding it back (Eq. 3, the "single-gradient" unlearning). We apply it to the whole forget set:
$\theta_u=\theta+s\cdot\frac{\sum_{\text{epochs}}\bar\eta}{B}\sum_{i\in D_f}\nabla_\theta\ell(x_i,\theta)$, with
$B$, the number of epochs $E$ and the learning rate taken from the original's training config
(`ctx.train_cfg`): each sample is used once per epoch, at the schedule's mean rate $\bar\eta$ ($\eta$ for a
constant schedule, $\eta/2$ for cosine annealing), so the coefficient is $E\bar\eta/B$. $\ell$ is the paradigm's
loss (CE, CC, GCE).

**Hyper-parameters.**
- `scale` $s$ = 30 on digits, range [0, 1e5]. The paper's update is $s=1$ (it has no free parameter). On
  digits with the default training (Adam, lr 2e-3, 30 epochs, cosine, batch 64) $s=1$ changes no prediction,
  because the gradient at a converged model is small; $s=10$ forgets ~12 % of class 3, $s=30$ ~92 % with
  retain accuracy ~96 %, $s=50$ all of it but retain accuracy falls to ~82 %.

**Needs.** Forget inputs and labels, and the original's training config (given to every method).

**Differences from the paper.**
- The paper evaluates the gradients at the *initial* weights $\theta_0$ of the trajectory; the workbench does not
  keep $\theta_0$, so we evaluate them at the final weights (the approximation the LAF baseline and the brief
  describe as "single gradient at the final model"). At the final weights a well-fit forget set has small
  gradients, hence the `scale`.
- The expansion is for plain SGD; the original is usually trained with Adam (per-parameter step sizes) and
  weight decay, which the update ignores.
- With a cosine schedule the per-step learning rates are replaced by their mean ($\eta/2$).
- The Unrolling SGD paper is not among the project's seed texts: the equation numbers above were not re-checked
  against it, and LAF (seed 001) gives no implementation details for its "Unroll" baseline.
"""

METHODS.register(Method(
    key="unrolling", order=290, title="Unrolling SGD", family="baseline",
    paper="Thudi, Deza, Chandrasekaran & Papernot 2022, Unrolling SGD (EuroS&P); baseline in LAF",
    config=UnrollingConfig, needs=Needs(forget_labels=True), unlearn=unlearn, doc=DOC,
))
