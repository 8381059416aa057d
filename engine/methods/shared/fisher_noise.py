"""Fisher forgetting's noise (Golatkar, Achille & Soatto 2020, as coded in SCRUB's ``hessian`` / ``get_mean_var``):
shared by ``fisher`` (the method) and ``ntk`` (its NTK + Fisher procedure)."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from engine.methods.base import UnlearnContext, UnlearnData

VAR_CLAMP = 1e3  # SCRUB: 1 / (F + 1e-8) clamped at 1e3 before scaling by alpha
VAR_CLAMP_CLASSIFIER = 1e2  # and at 1e2 for the classifier rows
REMOVED_ROW_VAR = 1e-4  # SCRUB class removal: the forgotten class's row gets mean 0, variance 1e-4
LAYER_BOOST = 10.0  # SCRUB: variance x10 for the classifier and the 1-d (BN/bias) parameters
JAC_BYTES = 512 * 1024**2  # the per-chunk Jacobian (B x K x P floats) stays under this


def classifier_layer(model: nn.Module, num_classes: int) -> nn.Linear | None:
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


def fisher_noise(model: nn.Module, data: UnlearnData, ctx: UnlearnContext, *, alpha: float, class_rows: bool = True,
                 max_samples: int | None = None, chunk: int = 64) -> nn.Module:
    """``theta = mu + sqrt(var) * eps``, ``eps ~ N(0, I)`` from the run's generator, in place.

    The Fisher is that of the retain inputs (a seeded subset of ``max_samples`` of them when given, stream 1);
    ``class_rows`` applies SCRUB's class-removal rule to the removed classes' classifier rows. Progress is
    reported as 2 steps.
    """
    x_r = data.retain_inputs()
    if max_samples is not None and max_samples < x_r.shape[0]:
        pick = torch.randperm(x_r.shape[0], generator=ctx.generator(1))[:max_samples].to(x_r.device)
        x_r = x_r[pick]
    fisher = diag_fisher(model, x_r, chunk)
    ctx.progress(1, 2, "Fisher of the retain set")
    head = classifier_layer(model, data.num_classes)
    head_params = {id(p) for p in head.parameters()} if head is not None else set()
    removed = removed_classes(data) if class_rows else []
    gen = ctx.generator()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n not in fisher:
                continue
            mu, var = fisher_mean_var(p.detach(), fisher[n], alpha, id(p) in head_params, removed)
            eps = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
            p.copy_(mu + var.sqrt() * eps)
    ctx.progress(2, 2, "sampled")
    return model
