"""``eu_k`` (EU-k, exact unlearning of the last k blocks): re-initialise the last k blocks and the head, then
train them on the retain set.

Paper: Goel, Prabhu, Sanyal, Lim, Torr, Kumaraguru, "Towards Adversarial Evaluations for Inexact Machine
Unlearning" (arXiv 2201.06640, 2022), Sec. 4 (EU-k); as run in Kurmanji et al. 2023 (SCRUB's official code:
ResNet ``layer4`` / the last AllCNN feature block + classifier re-initialised, 10 epochs, lr 0.01), the version
PGU (003) and PPU (004) compare with. Defaults: SCRUB's 10 epochs at SGD lr 0.01 (:data:`PAPER_DEFAULTS`), k = 1;
on digits x cnn we keep them. Needs: retain inputs + labels. Blocks as in ``cf_k`` (:func:`last_k_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.cf_k import CFkConfig
from engine.methods.shared.blocks import finetune_parts, last_k_blocks
from engine.methods.shared.networks import random_network
from engine.models.init import initialise

PAPER_DEFAULTS: dict[str, dict[str, Any]] = {"cifar10": {"k": 1, "epochs": 10, "lr": 0.01},
                                             "cifar100": {"k": 1, "epochs": 10, "lr": 0.01}}


@dataclass(frozen=True)
class EUkConfig(CFkConfig):
    """Hyper-parameters of EU-k (the same fields as CF-k)."""


def reinitialise(model: nn.Module, names: list[str], ctx: UnlearnContext, num_classes: int) -> nn.Module:
    """Replace the parameters and buffers of the modules ``names`` with a fresh, seeded initialisation.

    The fresh values come from a newly built network of the run's architecture (its own initialisation scheme,
    e.g. ResNet's Kaiming init) built under a forked, seeded RNG; modules whose shapes do not match fall back to
    their ``reset_parameters``.
    """
    fresh = random_network(ctx, num_classes, stream=2)
    for name in names:
        target = model.get_submodule(name)
        try:
            source = fresh.get_submodule(name)
            target.load_state_dict(source.state_dict())
        except (AttributeError, RuntimeError):
            seed = int(torch.randint(0, 2 ** 62, (1,), generator=ctx.generator(3)))
            initialise(target, torch.Generator().manual_seed(seed))  # PyTorch's default init, from the run
    return model


def unlearn(model: nn.Module, data: UnlearnData, cfg: EUkConfig, ctx: UnlearnContext) -> nn.Module:
    """Re-initialise the last ``k`` blocks + head, then train only them on the retain set."""
    names = last_k_blocks(model, cfg.k)
    reinitialise(model, names, ctx, data.num_classes)
    return finetune_parts(model, names, data, cfg.epochs, cfg.lr, cfg.batch_size, ctx, "eu_k")


DOC = r"""
**What it does.** Re-initialises the last k blocks of the network and its classifier head, and trains only
those on the retain set, the rest frozen. If the frozen lower layers held no forget-specific information this
would equal retraining the top of the network without the forget set ("exact" for the top k blocks).

**Equations.** $\theta_{>L-k} \leftarrow \theta^{\text{init}}_{>L-k}$, then
$\min_{\theta_{>L-k}} \frac{1}{N_r}\sum_{(x, y) \in D_r} \ell(f(x; \theta_{\le L-k}, \theta_{>L-k}), y)$
(Goel et al. 2022, Sec. 4, "EU-k"; no numbered equation).

**What a block is here** (as in CF-k): the parameterised children of `model.features`, each merged with the
normalisation layers that directly follow it; the last k plus `model.head` are reset and trained. `cnn`: k = 1
= fc1 + head; `allcnn`: the last conv+BN; `resnet18/50`: layer4 (SCRUB's choice); `smallvgg`: fc+BN1d;
`mlp`: the last hidden layer.

**Hyper-parameters** (default; range; source): `k` 1 (1-20; SCRUB: last block), `epochs` 10 (1-200; SCRUB 10),
`lr` 0.01 (SGD, momentum 0.9, weight decay 5e-4; SCRUB 0.01), `batch_size` 64 (ours). `PAPER_DEFAULTS` holds
SCRUB's values for cifar10 / cifar100.

**Needs.** Retain inputs and labels (the paradigm's loss).

**Differences from the paper / official code.**
- The fresh initialisation is that of the architecture's builder (a new network built under a seeded, forked
  RNG, so the global RNG is untouched), including BatchNorm running statistics.
- The frozen part runs in eval mode (BN statistics and dropout unchanged), so exactly the reset part changes.
- The paradigm's loss replaces plain CE so the baseline runs under partial / noisy labels.
"""

METHODS.register(Method(
    key="eu_k", order=360, title="Exact unlearning of k blocks (EU-k)", family="baseline",
    paper="Goel, Prabhu, Sanyal, Lim, Torr, Kumaraguru, Towards Adversarial Evaluations for Inexact Machine "
          "Unlearning (2022); as run in Kurmanji et al. 2023 (SCRUB)",
    config=EUkConfig, needs=Needs(retain_data=True, retain_labels=True), unlearn=unlearn, doc=DOC,
))
