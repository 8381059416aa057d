"""``fisher`` (Fisher forgetting, FF): add Gaussian noise shaped by the inverse diagonal Fisher of the retain set.

Paper: Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net: Selective Forgetting in Deep
Networks", CVPR 2020, as implemented in SCRUB's code (meghdadk/SCRUB, ``hessian``/``get_mean_var``) and
copied into Unlearn-Sparse/SalUn (``fisher_new``). Defaults: alpha 1e-6 (SCRUB / Unlearn-Sparse), also on
digits (measured: larger alpha damages retain and forget alike). Needs: retain inputs; forget + retain
labels only to detect a removed class.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.fisher_noise import fisher_noise

PAPER_DEFAULTS: dict[str, dict[str, float]] = {
    "cifar10": {"alpha": 1e-6},
    "cifar100": {"alpha": 1e-6},
}


@dataclass(frozen=True)
class FisherConfig:
    """Hyper-parameters of Fisher forgetting."""

    alpha: float = param(1e-6, "noise scale: variance = alpha / (Fisher + 1e-8), clamped; larger perturbs more "
                               "(on digits above ~2e-6 it costs retain accuracy as much as forget accuracy)",
                         range=(1e-10, 1e-2), log=True, source="SCRUB and Unlearn-Sparse: 1e-6")
    class_rows: bool = param(True, "class removal (the class scenario, or forget labels that occur in no retain "
                                   "sample): set the removed class's classifier row to mean 0, variance 1e-4 as "
                                   "SCRUB does", source="SCRUB: on for class removal")
    max_samples: int | None = param(None, "estimate the Fisher on a seeded random subset of this many retain "
                                          "samples (None = the whole retain set, as SCRUB); it costs K backward "
                                          "passes per sample", range=(1, 10_000_000),
                                    source="SCRUB: the whole retain set", cost="linear")
    chunk: int = param(64, "samples per vectorised Jacobian chunk, capped so a chunk's Jacobian stays under "
                           "512 MiB (memory only; does not change the result)",
                       range=(1, 4096), cost="inverse", search=False)


def unlearn(model: nn.Module, data: UnlearnData, cfg: FisherConfig, ctx: UnlearnContext) -> nn.Module:
    """``theta = mu + sqrt(var) * eps``, ``eps ~ N(0, I)`` from the run's generator (:func:`fisher_noise`)."""
    return fisher_noise(model, data, ctx, alpha=cfg.alpha, class_rows=cfg.class_rows, max_samples=cfg.max_samples,
                        chunk=cfg.chunk)


DOC = r"""
**What it does.** Replaces the weights with a sample from a Gaussian centred on the original weights.
Its per-weight variance is inversely proportional to the diagonal Fisher information of the **retain** set.
Weights the retain data depend on barely move; the others, which mostly carry forget-set information, are
scrambled. No gradient steps are taken.

**Equations** (Golatkar et al. 2020, Sec. 4, the Fisher forgetting procedure; the equation number is not re-checked:
`S(w) = w + (lambda sigma_h^2)^(1/4) F^(-1/4) n`), as coded in SCRUB:
- `F = mean_i sum_y p(y|x_i) (grad CE(f(x_i), y))^2`: the true Fisher on the retain inputs (no labels), one
  sample at a time.
- `var = alpha * clamp(1 / (F + 1e-8), max 1e3)`, with the clamp at 1e2 for the classifier.
- Weight tensors average `var` over their input dimension.
- `var` is multiplied by 10 for the classifier and for every 1-d parameter (BN and biases).
- For class removal, the forgotten class's classifier row (weight and bias) gets mean 0 and variance 1e-4.
- `theta = mu + sqrt(var) * eps`, with `eps ~ N(0, I)` drawn from the run's seeded generator.

The code's `sqrt(alpha / F)` noise scale is the paper's `F^(-1/4)` form with its constants folded into alpha.

**Hyper-parameters.**
- `alpha` (1e-10 to 1e-2, log scale; default **1e-6**, the SCRUB and Unlearn-Sparse value, kept in
  `PAPER_DEFAULTS`). We measured digits with the `cnn` model, class 3.
  - With the engine's original at 1e-6: forget accuracy 0, retain 97.9 %, test on the other classes 94.1 %
    (retrain: 0, 100 %, 98.1 %).
  - On the shorter-trained test original, with the class rows: retain 99.4 % at 1e-6, 97 % at 2e-6, 91 % at
    4e-6, 67 % at 1e-5.
  - Without the class rows, forget accuracy stays at 100 % at 1e-6 and 94 % at 4e-6.

  So larger noise damages retain and forget alike, and the paper's value is also our digits default.
- `class_rows` (default on): the class-removal rule.
- `max_samples` (default: all, as SCRUB): subsample the retain set for the Fisher. Cost is K backward passes
  per sample. On the 80k-parameter digits `cnn` the whole retain set takes ~4 s on one CPU thread; a 1.7M
  parameter `smallvgg` takes ~1 s per sample on CPU, so use a GPU or `max_samples` there.
- `chunk`: memory only. It is capped so that one chunk's Jacobian stays under 512 MiB.

**Needs.** Retain inputs for the Fisher. The labels (forget and retain) serve only to find the removed
class. Under the `class` scenario it is the class in the observed label or candidate set of most forget
samples, which also works under noisy and partial labels. In other scenarios it is a class whose observed
label occurs in the forget set and never in the retain set. Under `label_free` the method is not
applicable.

**Differences from the official code.**
- The per-sample Fisher comes from vectorised Jacobians (`torch.func.vmap(jacrev)`) instead of a batch-1
  loop with K backward passes. It is mathematically the same quantity. Unlearn-Sparse's `fisher_new`
  instead uses batch-32 mean losses and batch-averaged probabilities; we follow SCRUB.
- The classifier is the last `Linear` layer with K outputs. SCRUB tests `p.shape[0] == num_classes`, which
  can also match an unrelated layer that happens to have K outputs.
- We find the removed class from the scenario key and the observed supervision (see Needs). SCRUB and
  Unlearn-Sparse take it from the experiment's arguments, and Unlearn-Sparse applies the rule only for its
  exact CIFAR split sizes.
"""

METHODS.register(Method(
    key="fisher", order=320, title="Fisher forgetting (FF)", family="baseline",
    paper="Golatkar et al. 2020 (CVPR), as implemented in SCRUB (Kurmanji et al. 2023) and Unlearn-Sparse",
    config=FisherConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True), unlearn=unlearn,
    doc=DOC,
))
