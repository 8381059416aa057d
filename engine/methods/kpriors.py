"""``kpriors`` (K-priors): remove the forget set's loss while a function- and weight-space prior holds the model.

Paper: Khan & Swaroop, "Knowledge-Adaptation Priors", NeurIPS 2021 (Eq. 5 K-prior, Sec. 4 "adaptation tasks":
data removal by subtracting the removed examples' loss); used as a baseline by UDRU (seed 000, Tables 1-3) through
its official code ``algorithms/kpriors.py`` (Ehwartz/udru), whose memory points are the forget samples themselves.
Defaults: UDRU's per-dataset lr / epochs (:data:`PAPER_DEFAULTS`, full-batch Adam on MNIST / Fashion-MNIST,
batch 128 on CIFAR-10), prior weights 1 as in the official code; digits uses fewer, full-batch steps.
Needs: forget inputs + their (weak) labels; the original model is the starting point and the prior's centre.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import batches, descend_epochs

# PAPER_DEFAULTS[dataset] -> {config field: value}: UDRU's valid_method_sl.py values, used for K-priors as well.
PAPER_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": {"lr": 1e-3, "epochs": 1024, "batch_size": None, "function_weight": 1.0, "delta": 1.0},
    "fashion_mnist": {"lr": 1e-3, "epochs": 1024, "batch_size": None, "function_weight": 1.0, "delta": 1.0},
    "cifar10": {"lr": 2e-5, "epochs": 256, "batch_size": 128, "function_weight": 1.0, "delta": 1.0},
}


@dataclass(frozen=True)
class KPriorsConfig:
    """Hyper-parameters of K-priors unlearning."""

    epochs: int = param(25, "passes over the forget set (full batch: one Adam step each)", range=(1, 5000),
                        source="UDRU official: 1024 (MNIST, F-MNIST), 256 (CIFAR-10)", cost="linear")
    lr: float = param(1e-4, "Adam learning rate", range=(1e-7, 1.0), log=True,
                      source="UDRU official: 1e-3 (MNIST, F-MNIST), 2e-5 (CIFAR-10)")
    batch_size: int | None = param(None, "forget mini-batch size; none = full batch", range=(1, 100_000),
                                   source="UDRU official: full batch (MNIST, F-MNIST), 128 (CIFAR-10)", cost="inverse")
    function_weight: float = param(1.0, "weight of the function-space term KL(p_orig || p) on the memory points",
                                   range=(0.0, 100.0), source="UDRU official: 1 (alpha)")
    delta: float = param(1.0, "weight of the weight-space term, delta * mean_i (theta_i - theta*_i)^2",
                         range=(0.0, 1e6), source="UDRU official: 1 (F.mse_loss of the parameter vectors)")


def kprior_regulariser(model: nn.Module, x_mem: torch.Tensor, p_orig: torch.Tensor, theta_orig: torch.Tensor,
                       function_weight: float, delta: float) -> torch.Tensor:
    """K-prior (Khan & Swaroop 2021, Eq. 5): ``w_f * KL(p_orig || p_theta)`` on the memory + ``delta * mean sq drift``.

    Zero at the original model (the KL replaces the official CE to the soft targets, which differs from it only
    by the constant entropy of ``p_orig``, so the gradients are the same).
    """
    logp = F.log_softmax(model(x_mem), dim=1)
    kl = F.kl_div(logp, p_orig, reduction="batchmean")
    drift = (parameters_to_vector(model.parameters()) - theta_orig).pow(2).mean()
    return function_weight * kl + delta * drift


def unlearn(model: nn.Module, data: UnlearnData, cfg: KPriorsConfig, ctx: UnlearnContext) -> nn.Module:
    """Adam on ``-loss(forget) + K-prior(memory = forget set)``, gradients zeroed every step."""
    sup_f = data.forget_supervision()
    theta_orig = parameters_to_vector(model.parameters()).detach().clone()
    frozen = copy.deepcopy(model).eval()
    with torch.no_grad():
        p_orig = F.softmax(frozen(data.x_forget), dim=1)
    del frozen
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = ctx.generator()
    n_f = data.x_forget.shape[0]
    bs = cfg.batch_size or n_f

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        x = data.x_forget[idx]
        return -data.loss(model(x), sup_f.take(idx)) + kprior_regulariser(
            model, x, p_orig[idx], theta_orig, cfg.function_weight, cfg.delta)

    model.train()
    descend_epochs(opt, cfg.epochs, lambda _: batches(n_f, bs, gen, ctx.device), loss_of, name="kpriors",
                   progress=ctx.progress, report_every=50)
    return model


DOC = r"""
**What it does.** K-priors (Khan & Swaroop 2021) adapt a trained model to a change of its data without the
full data set: a *knowledge-adaptation prior* keeps the new model's predictions on a set of memory points close
to the old model's and its weights close to the old weights (Eq. 5),
$\mathcal K(\theta;\theta^*,\mathcal M)=\sum_{m\in\mathcal M} D\big(f_{\theta^*}(x_m)\,\|\,f_\theta(x_m)\big)
+\tfrac\delta2\|\theta-\theta^*\|^2$. Removing data means subtracting its loss from the adapted objective
(Sec. 4): $\min_\theta\; -\sum_{i\in D_f}\ell(y_i, f_\theta(x_i)) + \mathcal K(\theta;\theta^*,\mathcal M)$.
As run by UDRU (seed 000), the memory points are the forget samples themselves, the divergence is a
cross-entropy between the current and the original softmax, the weight term is the mean squared parameter drift,
and $\ell$ is the paradigm's loss (CE, CC under partial labels, GCE under noisy labels: UDRU "changes the loss
according to the learning paradigm"). We implement
$L(\theta) = -\ell(f_\theta(X_f), S_f) + w_f\,\mathrm{KL}(p_{\theta^*}(X_f)\|p_\theta(X_f))
+ \delta\,\mathrm{mean}_i(\theta_i-\theta^*_i)^2$, minimised with Adam.

**Hyper-parameters** (digits default / UDRU official, per dataset in `PAPER_DEFAULTS`):
- `epochs` 25 (official 1024 full-batch steps on MNIST / F-MNIST, 256 epochs on CIFAR-10), range [1, 5000].
- `lr` 1e-4 (official 1e-3 MNIST / F-MNIST, 2e-5 CIFAR-10).
  The removal term is unbounded below, so K-priors has no resting point: it forgets more the longer it runs and
  then collapses (digits, lr 1e-4: 15 steps keep ~58 % of class 3, 20 steps ~19 %, 30 steps 0 % but retain
  accuracy falls to ~90 %; the official 1024 steps at 1e-3 leave ~10 % accuracy everywhere). 25 steps is the
  digits compromise.
- `batch_size` none = full batch (official full batch MNIST / F-MNIST, 128 CIFAR-10).
- `function_weight` 1 and `delta` 1 (official `alpha = 1`, `F.mse_loss` of the parameter vectors).

**Needs.** Forget inputs and their labels (or candidate sets / noisy labels); no retain data.

**Differences from the official code.**
- The official loop never calls `zero_grad`, so gradients accumulate over all steps (Adam then follows the
  running sum of every past gradient); we zero them every step, as the algorithm intends.
- The official code applies its CE losses to `softmax(model(x))`, i.e. softmax is taken twice; we use the logits.
- The function-space term is KL instead of CE to the soft targets: the same gradient, but zero at the original
  model, so the regulariser reads 0 before unlearning starts.
- Khan & Swaroop's memory may be any subset of past data; like UDRU we use the forget set (it is the only data
  the method sees), which makes the function term pull exactly against the removal term on the same points —
  forgetting then comes from the difference between the hard label and the original's soft prediction.
- Under partial / noisy labels the removal term is the bounded CC / GCE loss, which barely outweighs the prior:
  on digits K-priors then keeps ~97 % forget accuracy (UDRU's Tables 2 and 3 likewise report ~90-95 %
  unlearning-data accuracy for K-priors under PLL and NLL on MNIST).
- The K-priors paper is not among the project's seed texts: the equation / section numbers above were not
  re-checked against it; the objective follows UDRU's `algorithms/kpriors.py`.
"""

METHODS.register(Method(
    key="kpriors", order=250, title="K-priors", family="baseline",
    paper="Khan & Swaroop 2021, Knowledge-Adaptation Priors (NeurIPS); baseline in UDRU",
    config=KPriorsConfig, needs=Needs(forget_labels=True), unlearn=unlearn, doc=DOC,
))
