"""``cf_k`` (CF-k, catastrophic forgetting of the last k blocks): fine-tune only the last k blocks and the head
on the retain set.

Paper: Goel, Prabhu, Sanyal, Lim, Torr, Kumaraguru, "Towards Adversarial Evaluations for Inexact Machine
Unlearning" (arXiv 2201.06640, 2022), Sec. 4 (CF-k and EU-k); as run in Kurmanji et al. 2023 (SCRUB's official
code: ResNet ``layer4`` / the last AllCNN feature block + classifier, 10 epochs, lr 0.01), the version PPU (004)
compares with. Defaults: SCRUB's 10 epochs at SGD lr 0.01 (:data:`PAPER_DEFAULTS`), k = 1, kept for digits x cnn.
Needs: retain inputs + labels. "Block" is defined generically for every ``SplitModel``, see
:func:`engine.methods.shared.blocks.last_k_blocks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.blocks import finetune_parts, last_k_blocks

# PAPER_DEFAULTS[dataset] -> {config field: value}: SCRUB's CF-k / EU-k runs (CIFAR-10 / CIFAR-100, ResNet-18
# layer4 or AllCNN's last block = k 1).
_SCRUB_K: dict[str, Any] = {"k": 1, "epochs": 10, "lr": 0.01}
PAPER_DEFAULTS: dict[str, dict[str, Any]] = {"cifar10": dict(_SCRUB_K), "cifar100": dict(_SCRUB_K)}

@dataclass(frozen=True)
class CFkConfig:
    """Hyper-parameters of CF-k (EU-k uses the same)."""

    k: int = param(1, "number of trailing feature blocks trained together with the head (a block = a "
                      "parameterised child of model.features plus the norm layers right after it; k above the "
                      "number of blocks trains every block)", range=(1, 20),
                   source="SCRUB: the last block (ResNet layer4 / AllCNN's last conv block)", cost="linear")
    epochs: int = param(10, "passes over the retain set", range=(1, 200), source="SCRUB: 10", cost="linear")
    lr: float = param(0.01, "SGD learning rate (momentum 0.9, weight decay 5e-4)", range=(1e-6, 1.0), log=True,
                      source="SCRUB: 0.01")
    batch_size: int = param(64, "mini-batch size", range=(1, 4096), source="ours (digits)", cost="inverse")


def unlearn(model: nn.Module, data: UnlearnData, cfg: CFkConfig, ctx: UnlearnContext) -> nn.Module:
    """Fine-tune the last ``k`` blocks + head on the retain set."""
    return finetune_parts(model, last_k_blocks(model, cfg.k), data, cfg.epochs, cfg.lr, cfg.batch_size, ctx, "cf_k")


DOC = r"""
**What it does.** Freezes the network except its last k blocks and the classifier head, and fine-tunes those on
the retain set only, relying on catastrophic forgetting of the forget set in the top of the network.

**Equations.** No new loss: minimise the paradigm's loss on the retain set,
$\min_{\theta_{>L-k}} \frac{1}{N_r}\sum_{(x, y) \in D_r} \ell(f(x; \theta_{\le L-k}, \theta_{>L-k}), y)$, with
the first $L-k$ blocks $\theta_{\le L-k}$ fixed (Goel et al. 2022, Sec. 4, "CF-k"; no numbered equation).

**What a block is here.** For every `SplitModel`: the parameterised children of `model.features`, in order, each
merged with the normalisation layers that directly follow it; the last k of them plus `model.head` are trained.
- `cnn` (digits default): blocks conv1 | conv2 | fc1 (256-d); k = 1 trains fc1 + the two-layer head.
- `allcnn`: eight conv+BN blocks; k = 1 = the last 1x1 conv + BN (SCRUB: AllCNN's last feature block).
- `resnet18` / `resnet50`: stem conv+BN | layer1 | layer2 | layer3 | layer4; k = 1 = layer4 (SCRUB's choice).
- `smallvgg`: conv+BN x 3 | fc+BN1d; `mlp`: the three hidden linear layers.

**Hyper-parameters** (default; range; source): `k` 1 (1-20; SCRUB: last block), `epochs` 10 (1-200; SCRUB 10),
`lr` 0.01 (SGD, momentum 0.9, weight decay 5e-4; SCRUB 0.01), `batch_size` 64 (ours). `PAPER_DEFAULTS` holds
SCRUB's values for cifar10 / cifar100. On digits x cnn (class 3) these defaults leave the forget set almost
untouched (forget accuracy stays ~1.0), the same under-forgetting PPU's tables report for CF-k (forget error
0.00); we keep SCRUB's values rather than tune a baseline into another method (lr 0.1 reaches ~0.83, k = 2
does not help).

**Needs.** Retain inputs and labels (the paradigm's loss: CE, CC under partial labels, GCE under noisy labels).

**Differences from the paper / official code.**
- The frozen part runs in eval mode (no dropout, BatchNorm statistics unchanged), so exactly the last k blocks
  and the head change; SCRUB's fine-tuning loop ran the whole model in eval mode.
- The paradigm's loss replaces plain CE so the baseline runs under partial / noisy labels.
- Goel et al. count k in layers of their ResNet; "block" here is the generic definition above.
"""

METHODS.register(Method(
    key="cf_k", order=350, title="Catastrophic forgetting of k blocks (CF-k)", family="baseline",
    paper="Goel, Prabhu, Sanyal, Lim, Torr, Kumaraguru, Towards Adversarial Evaluations for Inexact Machine "
          "Unlearning (2022); as run in Kurmanji et al. 2023 (SCRUB)",
    config=CFkConfig, needs=Needs(retain_data=True, retain_labels=True), unlearn=unlearn, doc=DOC,
))
