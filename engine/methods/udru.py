"""``udru`` (UDRU): regress the forget set's logits onto a formulated near-uniform target.

Paper: Tang, Gao, Luo, Yang, Xu, Zhang, "Unlearning From Weakly Supervised Learning" (IJCAI 2024; seed 000),
Uniform Distribution-guided Regression Unlearning: Theorems 2-3 (targets for SL and PLL), Eq. 10-11 (the NLL
positive set and target), Eq. 6/8/12 (objective: squared error to the targets + delta * ||theta - theta*||^2).
Defaults: the official code (github.com/Ehwartz/udru, ``algorithms/udru.py`` and ``valid_method_*``; see
shared/reference/methods-from-official-code.md section 1) sets lr / beta / Adam steps / delta per paradigm and
dataset (:data:`PAPER_DEFAULTS`); our defaults are tuned for the embedded digits set with the cnn, one setting
for all three paradigms: lr 3e-4, 100 steps, beta 0.1, delta 1e-4 (see the method doc for why).
Needs: the forget inputs and their observed supervision (labels, candidate sets or noisy labels); no retain
data and no training-time state. Runs under the supervised, partial_label and noisy_label paradigms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.methods.base import CHOSEN_ON_TEST, METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import check_finite
from engine.paradigms.base import Supervision

PARADIGMS = ("supervised", "partial_label", "noisy_label")

# Official per-dataset x paradigm settings (Ehwartz/udru ``valid_method_{sl,pll,nll}.py``), keyed
# PAPER_DEFAULTS[dataset][paradigm] -> {config field: value}. "steps" = the official "epochs" (one full-batch Adam
# step each). CIFAR-10 ran batched (128) with dp = 0.5 divided by the number of batches and gradients accumulated
# into one step: with our exact full-batch objective that is delta = 0.5 / ceil(n_forget / 128), i.e. 0.0125 for
# a whole class (5000 images, 40 batches), the value given here. The official code has no PLL/NLL CIFAR setting.
PAPER_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "mnist": {
        "supervised": {"lr": 1e-3, "beta": 1.0, "steps": 1024, "delta": 1e-4},
        "partial_label": {"lr": 1e-5, "beta": 1.0, "steps": 2048, "delta": 1e-4},
        "noisy_label": {"lr": 1e-5, "beta": 0.2, "steps": 2048, "delta": 1e-4},
    },
    "fashion_mnist": {
        "supervised": {"lr": 1e-3, "beta": 1.0, "steps": 1024, "delta": 1e-3},
        "partial_label": {"lr": 1e-5, "beta": 0.1, "steps": 2048, "delta": 1e-5},
        "noisy_label": {"lr": 3e-5, "beta": 0.01, "steps": 2048, "delta": 1e-2},
    },
    "cifar10": {
        "supervised": {"lr": 2e-5, "beta": 1.0, "steps": 256, "delta": 0.0125, "chunk_size": 128},
    },
}


@dataclass(frozen=True)
class UDRUConfig:
    """Hyper-parameters of UDRU."""

    lr: float = param(3e-4, "Adam learning rate (no weight decay)", range=(1e-7, 1e-1), log=True,
                      source="official: SL MNIST/FMNIST 1e-3, CIFAR-10 2e-5; PLL 1e-5; NLL MNIST 1e-5, "
                             "FMNIST 3e-5 (paper text: 1e-4)")
    steps: int = param(100, "full-batch Adam steps (one forward/backward over the whole forget set each)",
                       range=(1, 10_000), source="official 'epochs': SL 1024 (CIFAR-10 256), PLL/NLL 2048; "
                                                 "digits: 100", cost="linear")
    beta: float = param(0.1, "scale of the positive-class target: t_S = log(beta * mean_{j not in S} e^{z_j}); "
                             "1 = the paper's KL-optimal target, < 1 pushes the positive logits lower",
                        range=(1e-4, 10.0), log=True,
                        source="official: 1 (SL, PLL MNIST), 0.1 (PLL FMNIST), 0.2 / 0.01 (NLL MNIST / FMNIST); "
                               "paper: 1; digits: 0.1 (keeps PLL/NLL retain accuracy)")
    delta: float = param(1e-4, "weight of ||theta - theta*||^2 (sum of squares over all parameters) next to "
                               "the MSE averaged over N*K entries",
                         range=(0.0, 100.0),
                         source="official dp: MNIST 1e-4, FMNIST SL 1e-3 / PLL 1e-5 / NLL 1e-2, CIFAR-10 "
                                "0.5 / #batches; paper text: 1 (MNIST), 1e-2 (CIFAR-10), on a K-times larger MSE")
    filter_misclassified: bool = param(True, "drop forget samples the original model already misclassifies "
                                             "(argmax outside the positive set); a no-op under noisy labels, "
                                             "whose positive set contains the argmax",
                                       source="official code: on for SL and PLL, NLL never filters")
    chunk_size: int = param(1024, "forget samples per forward/backward chunk; gradients are accumulated over "
                                  "chunks into one Adam step, so this only bounds memory",
                            range=(1, 1_000_000), source="official: full batch (MNIST/FMNIST), 128 (CIFAR-10)",
                            cost="inverse", search=False)


def udru_targets(logits: torch.Tensor, positive_mask: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """The formulated regression targets of UDRU (Theorems 2-3, Eq. 11), computed with ``logsumexp``.

    For ``j`` outside the positive set ``S`` the target is ``z_j``; every ``i`` in ``S`` gets
    ``log(beta * mean_{j not in S} e^{z_j}) = logsumexp_{j not in S} z_j - log(K - |S|) + log(beta)``.
    With ``beta = 1`` that value minimises ``KL(uniform || softmax(t))`` over the ``S`` entries.
    A row whose ``S`` covers every class (no reference logits) gets the uniform target
    ``logsumexp(z) - log K`` everywhere; a row with empty ``S`` keeps ``z``.

    Args:
        logits: ``(N, K)`` logits ``z`` of the original model (used detached).
        positive_mask: ``(N, K)`` bool, ``True`` on the positive set ``S`` of each row.
        beta: positive scale of the positive-class target (1 in the paper).

    Returns:
        ``(N, K)`` targets, same dtype as ``logits``.
    """
    if not beta > 0:
        raise ValueError(f"beta: must be > 0, got {beta!r}")
    z = logits.detach()
    mask = positive_mask.to(torch.bool)
    k = z.shape[1]
    n_neg = (~mask).sum(dim=1, keepdim=True)
    lse_neg = torch.logsumexp(z.masked_fill(mask, float("-inf")), dim=1, keepdim=True)
    t_pos = lse_neg - torch.log(n_neg.clamp_min(1).to(z.dtype)) + math.log(beta)
    full = n_neg == 0  # S = every class: the KL minimiser is any constant row; keep the log-normaliser
    t_pos = torch.where(full, torch.logsumexp(z, dim=1, keepdim=True) - math.log(k), t_pos)
    return torch.where(mask, t_pos.expand_as(z), z)


def positive_mask(sup: Supervision, logits: torch.Tensor, paradigm: str) -> torch.Tensor:
    """The positive set ``S`` per forget sample as an ``(N, K)`` bool mask.

    ``supervised``: the one-hot observed label (Theorem 2); ``partial_label``: the candidate set
    (Theorem 3); ``noisy_label``: the noisy label plus the model's argmax (Eq. 10), ``{y~}`` when they agree.
    """
    k = logits.shape[1]
    labelled = sup.labelled.to(torch.bool)[:, None]
    if paradigm == "partial_label":
        return sup.candidates.to(torch.bool) & labelled
    one_hot = F.one_hot(sup.labels.clamp_min(0), k).to(torch.bool) & labelled
    if paradigm == "supervised":
        return one_hot
    if paradigm == "noisy_label":
        return one_hot | F.one_hot(logits.argmax(dim=1), k).to(torch.bool)
    raise ValueError(f"paradigm: UDRU is defined for {', '.join(PARADIGMS)}, got {paradigm!r}")


def correctly_classified(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the argmax of each row lies in its positive set (the official filter keeps these)."""
    return mask.gather(1, logits.argmax(dim=1, keepdim=True)).squeeze(1)


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def unlearn(model: nn.Module, data: UnlearnData, cfg: UDRUConfig, ctx: UnlearnContext) -> nn.Module:
    """Full-batch Adam on ``MSE(f(x), T(z*, S)) + delta * ||theta - theta*||^2`` over the forget set."""
    sup_f = data.forget_supervision()
    # Eval mode throughout, as in the official code (its valid() leaves the model in eval): BatchNorm statistics
    # and dropout stay those of the original model, so the targets and the regression see the same network.
    model.eval()
    x = data.x_forget
    with torch.no_grad():
        z = torch.cat([model(x[s]) for s in _chunks(x.shape[0], cfg.chunk_size)])
    sup = sup_f.to(z.device)
    pos = positive_mask(sup, z, data.paradigm)
    keep = correctly_classified(z, pos) if cfg.filter_misclassified else torch.ones_like(pos[:, 0])
    keep_idx = keep.nonzero().squeeze(1)
    n = int(keep_idx.numel())
    if n == 0:  # the original already gets every forget sample wrong: nothing to unlearn
        ctx.progress(cfg.steps, cfg.steps, "no correctly classified forget sample; model unchanged")
        return model
    x_u = x[keep_idx.to(x.device)]
    targets = udru_targets(z[keep_idx], pos[keep_idx], cfg.beta)

    params = [p for p in model.parameters() if p.requires_grad]
    anchor = [p.detach().clone() for p in params]  # theta*
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=0.0)
    chunks = _chunks(n, cfg.chunk_size)
    scale = 1.0 / (n * targets.shape[1])  # mean over all N*K entries, exactly, whatever the chunking
    report = max(1, cfg.steps // 20)
    for step in range(cfg.steps):
        opt.zero_grad(set_to_none=True)
        mse = torch.zeros((), device=targets.device)
        for s in chunks:
            part = F.mse_loss(model(x_u[s]), targets[s], reduction="sum") * scale
            part.backward()
            mse = mse + part.detach()
        reg = torch.zeros((), device=targets.device)
        if cfg.delta > 0:
            reg = cfg.delta * sum((p - a).pow(2).sum() for p, a in zip(params, anchor, strict=True))
            reg.backward()
        opt.step()
        if (step + 1) % report == 0 or step + 1 == cfg.steps:
            loss = mse + reg.detach()
            check_finite(loss, "udru")
            ctx.progress(step + 1, cfg.steps, f"step {step + 1}/{cfg.steps}, objective {float(loss):.4g}")
    return model


DOC = r"""
**UDRU** (Uniform Distribution-guided Regression Unlearning, Tang et al., IJCAI 2024) turns unlearning into a
regression of the forget set's logits onto fixed targets whose softmax is as close as possible to the uniform
distribution on the classes the sample was labelled with, while every other logit is kept. It needs only the
forget set and its (weak) supervision: no retain data, nothing stored during training.

**Targets** (computed once from the original model's detached logits $z$, with `logsumexp`). With $S$ the
sample's positive set:

$$T_i(z,S)=\begin{cases} z_i, & i\notin S\\ \ln\big(\beta\,\tfrac{1}{K-|S|}\sum_{j\notin S} e^{z_j}\big), & i\in S
\end{cases}$$

For $\beta=1$ this is Theorem 2 (SL, $S=\{y\}$), Theorem 3 (PLL, $S$ = the candidate set) and Eq. 11 (NLL,
$S=\tilde s$ of Eq. 10: the noisy label $\tilde y$ plus the model's prediction $\hat y$, just $\{\tilde y\}$ when
they agree); it is the minimiser over the $S$ logits of $D_{KL}(\bar p\,\|\,\sigma(t))$ (Eq. 4), which puts
probability exactly $1/K$ on every class in $S$.

**Objective** (Eq. 6 / 8 / 12, as in the official code): $\mathrm{MSE}(f(x;\theta), T)$ averaged over all
$N\times K$ entries $+\ \delta\,\|\theta-\theta^*\|^2$ (sum of squares over all parameters, $\theta^*$ = the
original), minimised by full-batch Adam without weight decay: one forward/backward over the whole forget set
per step (in chunks of `chunk_size` with accumulated gradients when it is large), `steps` steps. Before
building the targets, forget samples that the original already misclassifies (argmax outside $S$) are dropped
(`filter_misclassified`, official code; under NLL $S$ contains the argmax, so nothing is dropped there).

**Hyper-parameters** (digits default; paper/official values in `PAPER_DEFAULTS[dataset][paradigm]`):

| field | range | digits default | official code (MNIST / FMNIST / CIFAR-10) |
| --- | --- | --- | --- |
| `lr` | 1e-7 … 0.1 | 3e-4 | SL 1e-3 / 1e-3 / 2e-5; PLL 1e-5 / 1e-5; NLL 1e-5 / 3e-5 |
| `steps` | 1 … 10000 | 100 | SL 1024 / 1024 / 256; PLL 2048; NLL 2048 |
| `beta` | 1e-4 … 10 | 0.1 | SL 1; PLL 1 / 0.1; NLL 0.2 / 0.01 |
| `delta` | 0 … 100 | 1e-4 | SL 1e-4 / 1e-3 / 0.5÷#batches; PLL 1e-4 / 1e-5; NLL 1e-4 / 1e-2 |
| `filter_misclassified` | bool | true | true (SL, PLL); NLL never filters |
| `chunk_size` | 1 … 1e6 | 1024 | full batch (MNIST, FMNIST), 128 (CIFAR-10) |

Digits defaults (cnn, forget class 3 ≈ 145 samples, one setting for all three paradigms, ~1.5 s on CPU):
lr 3e-4, 100 steps, $\beta$ = 0.1, $\delta$ = 1e-4. Measured (2 seeds, mean): forget / retain / test accuracy
0.000 / 1.000 / 0.878 under SL (retrain 0.000 / 1.000 / 0.879), 0.007 / 0.995 / 0.875 under PLL q=0.2 (retrain
0.000 / 0.996 / 0.875), 0.003 / 0.989 / 0.865 under NLL r=0.2 (retrain 0.000 / 0.988 / 0.872); MIA efficacy 1.0
like retrain; forget-set entropy 0.70 / 0.99 / 0.73 nats (retrain 0.51 / 0.63 / 0.48). Why not the official
SL MNIST setting (lr 1e-3, $\beta$ = 1, 1024 steps): under SL it works on digits too (lr 1e-3, 300 steps:
test 0.889), but under PLL and NLL it destroys the model (retain 0.56 / 0.77): Theorem 3 *raises* every
candidate logit in $S$ to the mean level of the others, and with random extra candidates the forget inputs ask for
conflicting raises of every class, which a long, fast regression spreads to all inputs. $\beta$ = 0.1 (the
official choice for FMNIST PLL; NLL uses 0.2 / 0.01) puts the positive targets $\ln 10$ lower, so they are raised
less and forgetting needs fewer, smaller steps; the official PLL/NLL rate 1e-5 is too small for 100-300 steps on
this tiny set (lr 1e-5, 300 steps leaves forget accuracy at 0.62-0.76). With $\beta \ne 1$ the target is no
longer the KL minimiser of Eq. 4; set `beta` = 1 for the paper's exact target.

**Needs:** forget inputs + forget supervision (labels, candidate sets or noisy labels). Supported paradigms:
supervised, partial_label, noisy_label (label-free is not applicable: the targets need $S$).

**Where we differ, and why**

- Targets use `logsumexp` instead of the official `exp` then `log` (overflow for logits ≳ 88 in float32);
  mathematically identical.
- `beta` is the official code's extra factor; the paper has $\beta=1$. Our digits default is 0.1 (above).
- The MSE is the official mean over $N\times K$ entries; the paper's Eq. 6 sums over the $K$ outputs and averages
  over samples, so the paper's $\delta$ equals $K$ × ours (and the paper's text gives lr 1e-4, $\delta$ = 1 for
  MNIST, 1e-2 for CIFAR-10, not stated step counts; its Appendix C and §4.1 also disagree on Fashion's $\delta$).
  We follow the official code, which produced the reported numbers.
- The official batched mode (CIFAR-10) adds $\mathrm{dp}/\#\text{batches}$ times the penalty to each batch's
  *mean* MSE and accumulates, i.e. the MSE term is #batches times heavier relative to the penalty than in the
  full-batch mode. Our chunking is exact (each chunk's squared error is divided by the total $N\times K$ and the
  penalty is added once), so `chunk_size` never changes the result; the CIFAR-10 preset converts the official
  dp to the equivalent full-batch $\delta$: 0.5/40 for a whole class (40 batches), 0.5/8 = 0.0625 for the preset's
  1 000 images (20 % of class 0, 8 batches).
- The original model stays in eval mode during unlearning (BatchNorm statistics and dropout frozen), which is
  what the official code does in effect (its `valid()` switches to eval and never back).
- A sample whose positive set covers all $K$ classes (possible under PLL) has no reference logit ($K-|S|=0$,
  NaN in the official code); it gets the uniform target $\mathrm{logsumexp}(z)-\ln K$ on every class.
- The optional "mapping set" regulariser of the official code is always off there and is not implemented.
"""

METHODS.register(Method(
    defaults_chosen=CHOSEN_ON_TEST,
    key="udru", order=100, title="UDRU (uniform-target regression)", family="seed",
    paper="Tang et al., Unlearning From Weakly Supervised Learning, IJCAI 2024 (seed 000); code Ehwartz/udru",
    config=UDRUConfig, needs=Needs(forget_labels=True), unlearn=unlearn, doc=DOC, paradigms=PARADIGMS,
))
