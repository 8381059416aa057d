"""Feature blocks of a ``SplitModel`` and fine-tuning of some of them: shared by ``cf_k`` and ``eu_k`` (Goel et al.
2022, "Towards Adversarial Evaluations for Inexact Machine Unlearning", Sec. 4)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from engine.errors import RunFailed
from engine.methods.base import UnlearnContext, UnlearnData
from engine.methods.shared.descent import batches, descend_epochs

NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def feature_blocks(model: nn.Module) -> list[list[str]]:
    """The blocks of ``model.features``: each parameterised child, with the norm layers that follow it.

    Names are module paths inside ``model`` (``"features.7"``). A norm layer with no block before it starts one.
    """
    features = getattr(model, "features", None)
    if features is None or getattr(model, "head", None) is None:
        raise RunFailed("CF-k / EU-k need a model split into features and head")
    blocks: list[list[str]] = []
    for name, child in features.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if isinstance(child, NORMS) and blocks:
            blocks[-1].append(f"features.{name}")
        else:
            blocks.append([f"features.{name}"])
    return blocks


def last_k_blocks(model: nn.Module, k: int) -> list[str]:
    """Module paths of the last ``k`` feature blocks plus ``"head"`` (the part CF-k trains / EU-k resets)."""
    blocks = feature_blocks(model)
    return [name for block in blocks[max(0, len(blocks) - k):] for name in block] + ["head"]


def finetune_parts(model: nn.Module, names: list[str], data: UnlearnData, epochs: int, lr: float, batch_size: int,
                   ctx: UnlearnContext, where: str) -> nn.Module:
    """SGD on the paradigm's retain loss, updating only the modules ``names`` (the rest frozen, in eval mode)."""
    x_r, sup_r = data.retain()
    parts = [model.get_submodule(n) for n in names]
    trainable = {id(p) for m in parts for p in m.parameters()}
    frozen = [p for p in model.parameters() if id(p) not in trainable and p.requires_grad]
    params = [p for m in parts for p in m.parameters()]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    gen = ctx.generator()

    def epoch_batches(_: int) -> Iterator[torch.Tensor]:
        model.eval()  # frozen parts: no dropout, BN statistics untouched
        for m in parts:
            m.train()
        return batches(x_r.shape[0], batch_size, gen, ctx.device)

    for p in frozen:
        p.requires_grad_(False)
    try:
        descend_epochs(opt, epochs, epoch_batches, lambda idx: data.loss(model(x_r[idx]), sup_r.take(idx)),
                       name=where, progress=ctx.progress)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    model.eval()
    return model
