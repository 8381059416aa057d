"""``fisher`` (Fisher forgetting, FF): add Gaussian noise shaped by the inverse diagonal Fisher of the retain set.

Paper: Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net: Selective Forgetting in Deep
Networks", CVPR 2020, as implemented in SCRUB's code (meghdadk/SCRUB, ``hessian``/``get_mean_var``) and
copied into Unlearn-Sparse/SalUn (``fisher_new``). Defaults: alpha 1e-6 (SCRUB / Unlearn-Sparse), also on
digits (measured: larger alpha damages retain and forget alike). Needs: retain inputs; forget + retain
labels only to detect a removed class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from engine.config import param
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData

PAPER_DEFAULTS: dict[str, dict[str, float]] = {
    "cifar10": {"alpha": 1e-6},
    "cifar100": {"alpha": 1e-6},
}

VAR_CLAMP = 1e3  # SCRUB: 1 / (F + 1e-8) clamped at 1e3 before scaling by alpha
VAR_CLAMP_CLASSIFIER = 1e2  # and at 1e2 for the classifier rows
REMOVED_ROW_VAR = 1e-4  # SCRUB class removal: the forgotten class's row gets mean 0, variance 1e-4
LAYER_BOOST = 10.0  # SCRUB: variance x10 for the classifier and the 1-d (BN/bias) parameters
JAC_BYTES = 512 * 1024**2  # the per-chunk Jacobian (B x K x P floats) stays under this


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
                       range=(1, 4096), cost="inverse")


def _classifier(model: nn.Module, num_classes: int) -> nn.Linear | None:
    """The last Linear layer with ``num_classes`` outputs (the classifier whose rows are classes)."""
    out = None
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.out_features == num_classes:
            out = m
    return out


def diag_fisher(model: nn.Module, x: torch.Tensor, chunk: int = 64) -> dict[str, torch.Tensor]:
    """``F = mean_i sum_y p(y|x_i) (grad_theta CE(f(x_i), y))^2`` per parameter (SCRUB ``hessian``, batch 1).

    Computed with per-sample Jacobians of ``log p(.|x)`` (``torch.func.vmap(jacrev)``), model in eval mode.
    """
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def log_probs(pr: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, ({**pr, **frozen}, buffers), (xi.unsqueeze(0),))
        return torch.log_softmax(out, dim=-1)[0]

    jac = vmap(jacrev(log_probs), in_dims=(None, 0))
    acc = {n: torch.zeros_like(params[n]) for n in names}
    n_params = sum(p.numel() for p in params.values())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            k = model(x[:1]).shape[-1]
        chunk = max(1, min(chunk, JAC_BYTES // max(1, k * n_params * 4)))  # bound the (B, K, P) Jacobian
        for i in range(0, x.shape[0], chunk):
            xb = x[i:i + chunk]
            with torch.no_grad():
                prob = torch.softmax(model(xb), dim=-1)
            j = jac(params, xb)  # name -> (B, K, *shape)
            for n in names:
                jn = j[n].pow(2).flatten(2)
                acc[n] += torch.einsum("bk,bkp->p", prob, jn).view_as(acc[n])
    finally:
        model.train(was_training)
    return {n: a / max(x.shape[0], 1) for n, a in acc.items()}


def fisher_mean_var(p0: torch.Tensor, fisher: torch.Tensor, alpha: float, is_classifier: bool,
                    removed: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """SCRUB ``get_mean_var``: mean and variance of the sampled weights for one parameter tensor."""
    var = (1.0 / (fisher + 1e-8)).clamp(max=VAR_CLAMP)
    if is_classifier:
        var = var.clamp(max=VAR_CLAMP_CLASSIFIER)
    var = alpha * var
    if p0.ndim > 1:  # average over the input dimension: one variance per output unit (and kernel position)
        var = var.mean(dim=1, keepdim=True).expand_as(p0).clone()
    mu = p0.clone()
    if is_classifier and removed:
        mu[removed] = 0.0
        var[removed] = REMOVED_ROW_VAR
    if is_classifier or p0.ndim == 1:
        var = var * LAYER_BOOST
    return mu, var


def removed_classes(data: UnlearnData) -> list[int]:
    """The classes removed entirely (SCRUB's class-removal rule applies to their classifier rows).

    Under the ``class`` scenario: the class in the observed supervision (label or candidate set) of most
    forget samples (also right under noisy and partial labels). Otherwise, with hard labels only: classes
    whose observed label occurs in the forget set and in no retain sample (e.g. ``within_class`` at 100 %).
    """
    sf, sr = data.sup_forget, data.sup_retain
    if sf is None or sr is None:
        return []
    if getattr(data, "scenario", "") == "class":
        cand = sf.candidates[sf.labelled]
        if cand.shape[0] == 0:
            return []
        share = cand.float().mean(0)
        top = int(share.argmax())
        return [top] if float(share[top]) > 0.5 else []
    if sf.kind != "labels":
        return []
    present_r = set(sr.labels[sr.labelled].unique().tolist())
    return sorted(c for c in sf.labels[sf.labelled].unique().tolist() if c not in present_r)


def unlearn(model: nn.Module, data: UnlearnData, cfg: FisherConfig, ctx: UnlearnContext) -> nn.Module:
    """``theta = mu + sqrt(var) * eps``, ``eps ~ N(0, I)`` from the run's generator."""
    assert data.x_retain is not None
    x_r = data.x_retain
    if cfg.max_samples is not None and cfg.max_samples < x_r.shape[0]:
        pick = torch.randperm(x_r.shape[0], generator=ctx.generator(1))[:cfg.max_samples].to(x_r.device)
        x_r = x_r[pick]
    fisher = diag_fisher(model, x_r, cfg.chunk)
    ctx.progress(1, 2, "Fisher of the retain set")
    head = _classifier(model, data.num_classes)
    head_params = {id(p) for p in head.parameters()} if head is not None else set()
    removed = removed_classes(data) if cfg.class_rows else []
    gen = ctx.generator()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n not in fisher:
                continue
            mu, var = fisher_mean_var(p.detach(), fisher[n], cfg.alpha, id(p) in head_params, removed)
            eps = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
            p.copy_(mu + var.sqrt() * eps)
    ctx.progress(2, 2, "sampled")
    return model


METHODS.register("fisher", Method(
    key="fisher", title="Fisher forgetting (FF)", family="baseline",
    paper="Golatkar et al. 2020 (CVPR), as implemented in SCRUB (Kurmanji et al. 2023) and Unlearn-Sparse",
    config=FisherConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True), unlearn=unlearn,
    doc="""**What it does.** Replaces the weights with a sample from a Gaussian centred on the original weights.
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
""",
))
