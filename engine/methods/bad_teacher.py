"""``bad_teacher`` (Bad Teacher / T-S): distil the original on the retain set and a random network on the forget
set.

Paper: Chundawat, Tarun, Mandal, Kankanhalli, "Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks
Using an Incompetent Teacher" (AAAI 2023), Sec. 3 (Eq. 1-2: the KL to the competent / incompetent teacher and
the combined loss). Implemented as run by SCRUB's official code (meghdadk/SCRUB ``BadT_experiments`` /
``train_bad_teacher``), the version the seed papers LAF (001) and PPU (004) compare with.
Defaults: SCRUB's run: Adam lr 1e-3, weight decay 5e-4, 1 epoch, T = 4, alpha = beta = 1 (:data:`PAPER_DEFAULTS`);
the schema keeps them for digits x cnn.
Needs: forget + retain inputs only (no labels), so it also runs under ``label_free``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import batches, cycle_batches, descend_epochs
from engine.methods.shared.distill import kl_t
from engine.methods.shared.networks import random_network

# PAPER_DEFAULTS[dataset] -> {config field: value}: SCRUB's Bad-Teacher runs (CIFAR-10 / CIFAR-100); the same
# values for every dataset. The original paper (Chundawat et al.) uses T = 1 and lr 1e-4, see the method doc.
_SCRUB_BADT: dict[str, Any] = {"lr": 1e-3, "weight_decay": 5e-4, "epochs": 1, "temperature": 4.0, "alpha": 1.0,
                               "beta": 1.0}
PAPER_DEFAULTS: dict[str, dict[str, Any]] = {"cifar10": dict(_SCRUB_BADT), "cifar100": dict(_SCRUB_BADT)}


@dataclass(frozen=True)
class BadTeacherConfig:
    """Hyper-parameters of Bad Teacher."""

    epochs: int = param(1, "passes over the retain set (forget batches are cycled alongside)", range=(1, 100),
                        source="SCRUB's BadT runs: 1", cost="linear")
    lr: float = param(1e-3, "Adam learning rate", range=(1e-7, 1.0), log=True,
                      source="SCRUB's BadT runs: 1e-3 (Chundawat et al.: 1e-4)")
    weight_decay: float = param(5e-4, "Adam weight decay", range=(0.0, 1.0), source="SCRUB's BadT runs: 5e-4")
    temperature: float = param(4.0, "distillation temperature T of both KL terms (multiplied by T^2)",
                               range=(0.1, 20.0), source="SCRUB's BadT runs: 4 (Chundawat et al.: 1)")
    alpha: float = param(1.0, "weight of KL_T(original || student) on retain batches", range=(0.0, 100.0),
                         source="SCRUB's code: opt.alpha (bt_alpha = 1)")
    beta: float = param(1.0, "weight of KL_T(random network || student) on forget batches", range=(0.0, 100.0),
                        source="SCRUB's code: opt.beta (bt_beta = 1)")
    batch_size: int = param(64, "retain mini-batch size", range=(1, 4096), source="ours (digits)", cost="inverse")
    forget_batch_size: int = param(64, "forget mini-batch size (cycled alongside the retain batches)",
                                   range=(1, 4096), source="ours (digits)", cost="linear")


def bad_teacher_loss(s_retain: torch.Tensor, good_retain: torch.Tensor, s_forget: torch.Tensor,
                     bad_forget: torch.Tensor, alpha: float, beta: float, temperature: float) -> torch.Tensor:
    """``alpha * KL_T(good || student)`` on the retain batch + ``beta * KL_T(bad || student)`` on the forget batch."""
    return alpha * kl_t(s_retain, good_retain, temperature) + beta * kl_t(s_forget, bad_forget, temperature)


def unlearn(model: nn.Module, data: UnlearnData, cfg: BadTeacherConfig, ctx: UnlearnContext) -> nn.Module:
    """One Adam step per (retain batch, cycled forget batch) pair on :func:`bad_teacher_loss`."""
    x_retain = data.retain_inputs()
    good = copy.deepcopy(model).eval()
    bad = random_network(ctx, data.num_classes, stream=1).eval()
    for p in [*good.parameters(), *bad.parameters()]:
        p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = ctx.generator()
    n_r, n_f = x_retain.shape[0], data.x_forget.shape[0]
    per_epoch = math.ceil(n_r / cfg.batch_size)

    def epoch_batches(_: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        f_batches = cycle_batches(n_f, cfg.forget_batch_size, per_epoch, gen, ctx.device)  # before the retain shuffle
        return zip(batches(n_r, cfg.batch_size, gen, ctx.device), f_batches, strict=False)

    def loss_of(pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x_r, x_f = x_retain[pair[0]], data.x_forget[pair[1]]
        with torch.no_grad():
            t_good, t_bad = good(x_r), bad(x_f)
        return bad_teacher_loss(model(x_r), t_good, model(x_f), t_bad, cfg.alpha, cfg.beta, cfg.temperature)

    model.train()
    descend_epochs(opt, cfg.epochs, epoch_batches, loss_of, name="bad_teacher", progress=ctx.progress)
    model.eval()
    return model


DOC = r"""
**What it does.** A student (initialised from the original) is distilled from two frozen teachers at once: the
*competent* teacher (the original model) on retain batches, and an *incompetent* teacher (a randomly
initialised network of the same architecture) on forget batches. The student keeps the original's behaviour on
the retain set and takes on near-random outputs on the forget set. No labels are used.

**Equations** (Chundawat et al. 2023, Sec. 3): Eq. 1, the KL to a teacher
$\mathrm{KL}(T(x)\,\|\,S(x)) = \sum_k t_k \log(t_k / s_k)$; Eq. 2, the loss
$L(x, l_u) = (1 - l_u)\,\mathrm{KL}(T_s(x) \| S(x)) + l_u\,\mathrm{KL}(T_d(x) \| S(x))$ with $l_u = 1$ for
forget samples. As in SCRUB's code each step pairs a retain batch with a (cycled) forget batch:
$\alpha\,\mathrm{KL}_T(T_s \| S)_{\text{retain}} + \beta\,\mathrm{KL}_T(T_d \| S)_{\text{forget}}$, with
$\mathrm{KL}_T = T^2 \cdot$ batch-mean KL of the softmaxes at temperature $T$.

**Hyper-parameters** (default = SCRUB's runs; range): `epochs` 1 (1-100), `lr` 1e-3 (Adam; 1e-7-1),
`weight_decay` 5e-4 (0-1), `temperature` 4 (0.1-20), `alpha` 1, `beta` 1 (0-100), `batch_size` 64 and
`forget_batch_size` 64 (1-4096; ours, SCRUB's loaders' sizes were not checked). `PAPER_DEFAULTS` repeats
SCRUB's values for cifar10 / cifar100. On digits x cnn these defaults forget class 3 fully in one epoch (~20 steps).

**Needs.** Forget and retain inputs; no labels (so it runs under `label_free` too).

**Differences from the paper / official code.**
- We follow SCRUB's re-implementation (separate retain and forget batches, T = 4, Adam 1e-3, the whole retain
  set) rather than Chundawat et al.'s own code, which mixes forget samples and a 30 % retain subset in one
  loader, uses T = 1, lr 1e-4 and `F.kl_div`'s element-wise mean.
- SCRUB's loop reads `opt.alpha` / `opt.beta` (the SCRUB arguments) instead of `bt_alpha` / `bt_beta`; we use
  the intended `bt_*` values, alpha = beta = 1.
- The incompetent teacher is built with the run's architecture under a seeded, forked RNG (the seed comes from
  the run's seed), so the global RNG is untouched and runs are reproducible.
"""

METHODS.register(Method(
    key="bad_teacher", order=300, title="Bad Teacher (T-S)", family="baseline",
    paper="Chundawat, Tarun, Mandal, Kankanhalli, Can Bad Teaching Induce Forgetting? (AAAI 2023); "
          "as run in Kurmanji et al. 2023 (SCRUB)",
    config=BadTeacherConfig, needs=Needs(retain_data=True), unlearn=unlearn, doc=DOC,
))
