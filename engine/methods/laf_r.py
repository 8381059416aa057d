"""``laf_r`` (LAF+R): LAF followed by a supervised repair of the classifier head on a small labelled retain sample.

Source: Shen et al., "Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep Models", ICLR 2024
(seed 001, Sec. 3.2 last paragraph, Algorithm 1 lines 7-8), and the official code ShaofeiShen768/LAF @bda3694
(``VUnlearning.classifier_unlearning``: Adam over ``fc2`` only, cross-entropy, iterating ``zip(forget, remain)``).

Defaults: the LAF part as :mod:`engine.methods.laf`; the repair's learning rate and epochs are not given by the
paper or the official code (``classifier_unlearning`` takes them as arguments and the notebook never calls it):
we use Adam's default lr 1e-3 for one epoch (Algorithm 1: "repair ... for one epoch").
Needs: forget and retain inputs, and the labels of a retain sample of the forget set's size (nothing else).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.methods.base import CHOSEN_ON_TEST, METHODS, Method, Needs, UndeclaredNeed, UnlearnContext, UnlearnData
from engine.methods.laf import DOC as LAF_DOC
from engine.methods.laf import PAPER_DEFAULTS as LAF_PAPER_DEFAULTS
from engine.methods.laf import LafConfig, laf_extractor_unlearning
from engine.methods.shared.descent import batches, descend_epochs
from engine.paradigms.base import cross_entropy

PAPER_DEFAULTS = LAF_PAPER_DEFAULTS
"""The LAF part's official values (the repair has none): ``PAPER_DEFAULTS[dataset][scenario]``."""


@dataclass(frozen=True)
class LafRConfig(LafConfig):
    """Hyper-parameters of LAF+R: those of LAF plus the head repair's."""

    repair_lr: float = param(1e-3, "Adam learning rate of the supervised head repair", range=(1e-7, 1e-1), log=True,
                             source="not given (paper or official code); Adam's default")
    repair_epochs: int = param(1, "repair epochs; one epoch = as many steps as there are forget batches "
                                  "(= one pass over the labelled sample)", range=(1, 100),
                               source="Algorithm 1: one epoch", cost="linear")


def repair_head(model: nn.Module, data: UnlearnData, cfg: LafRConfig, gen: torch.Generator) -> nn.Module:
    """Algorithm 1 line 8 as the official code: Adam on ``model.head`` only, CE on the labelled retain sample."""
    x_r, sup_r = data.retain()  # labelled only on the sample (Needs.labelled_retain_sample)
    sample = data.retain_sample_idx
    if sample is None:
        raise UndeclaredNeed("laf_r's view holds no labelled retain sample: it needs "
                             "Needs(labelled_retain_sample=True)")
    sup = sup_r.take(sample)
    model.eval()
    with torch.no_grad():  # the extractor is fixed during the repair: embed the sample once
        z = model.features(x_r[sample])
    opt = torch.optim.Adam(model.head.parameters(), lr=cfg.repair_lr)
    n_f, n_s = data.x_forget.shape[0], z.shape[0]

    def epoch_batches(_: int) -> Iterator[torch.Tensor]:
        f_batches = batches(n_f, cfg.batch_size, gen, z.device)  # only counts the steps, as official
        return (idx for _, idx in zip(f_batches, batches(n_s, cfg.batch_size, gen, z.device), strict=False))

    descend_epochs(opt, cfg.repair_epochs, epoch_batches, lambda idx: cross_entropy(model.head(z[idx]), sup.take(idx)),
                   name="laf_r (head repair)")
    return model


def unlearn(model: nn.Module, data: UnlearnData, cfg: LafRConfig, ctx: UnlearnContext) -> nn.Module:
    """LAF on the extractor (Eq. 10, 11), then one supervised epoch on the head with the labelled sample."""
    model = laf_extractor_unlearning(model, data.x_forget, data.retain_inputs(), cfg, ctx, ctx.generator())
    return repair_head(model, data, cfg, ctx.generator(stream=1))


DOC = r"""
**What it does.** LAF (see the LAF entry, reproduced below) and then a **supervised repair** (paper Sec. 3.2,
Algorithm 1 lines 7-8): when labels of part of the retain data exist, a sample of retain data of the forget
set's size is labelled and the classifier is fine-tuned on it with cross-entropy, so its decision boundaries
follow the moved representations and the forgotten class loses its logit mass.

**Repair as implemented** (official `classifier_unlearning`): Adam over the **head only** (`fc2` in the
official CNN), cross-entropy on the labelled sample, mini-batches of `batch_size`; one epoch = as many steps as
there are forget batches (official: `zip(forget_loader, remain_loader)`), which is one pass over the sample.

| field | range | default | source |
| --- | --- | --- | --- |
| `repair_lr` | 1e-7-0.1 | 1e-3 | not given by the paper or the official code; Adam's default |
| `repair_epochs` | 1-100 | 1 | Algorithm 1: "repair ... for one epoch"; the official code takes it as an argument |

All LAF fields keep LAF's defaults and paper values.

**Needs:** forget and retain inputs, plus the labels of a seeded retain sample of the forget set's size
(`retain_sample_idx`); every other label stays hidden, also under `label_free`. Under `label_free` with a
labelled fraction below 1, sample members without a label are skipped. Not offered under `partial_label`:
the labelled sample carries hard labels only, which partial-label supervision does not have.

**Differences from the paper / the official code**
- *What is repaired*: the paper's conclusion speaks of updating "the entire model" in the repair; the
  official code updates `fc2` only. We follow the code (the extractor keeps LAF's representations); the
  sample's embeddings are computed once since the extractor does not change during the repair.
- *Repair data*: the official function draws from the whole remain loader; we use only the labelled sample
  the paper describes (same number of steps).
- *Repair lr and epochs*: not published; chosen as above.

---

**LAF**

""" + LAF_DOC.strip()

METHODS.register(Method(
    defaults_chosen=CHOSEN_ON_TEST,
    key="laf_r", order=120, title="LAF+R (LAF with supervised repair)", family="seed",
    paper="Shen et al., Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep Models, ICLR 2024 (seed 001)",
    config=LafRConfig, needs=Needs(retain_data=True, labelled_retain_sample=True), unlearn=unlearn,
    doc=DOC, paradigms=("supervised", "noisy_label", "label_free"),
))
