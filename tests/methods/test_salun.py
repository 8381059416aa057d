"""SalUn: the mask keeps the top share of |forget-loss gradient|, and only masked weights change."""

from __future__ import annotations

import copy

import torch

from engine.methods import METHODS
from engine.methods.salun import SalUnConfig, saliency_mask
from tests.methods.conftest import accuracy, cached_problem, view_for


def test_only_masked_parameters_change_and_the_forget_class_is_forgotten() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("salun", problem, original)
    cfg = SalUnConfig(epochs=2, mask_ratio=0.3)
    mask = saliency_mask(copy.deepcopy(original), data, cfg.mask_ratio, cfg.batch_size)
    total = sum(m.numel() for m in mask)
    assert abs(sum(int(m.sum()) for m in mask) - int(0.3 * total)) == 0
    out = METHODS.get("salun").unlearn(copy.deepcopy(original), data, cfg, ctx)
    moved = 0
    for p0, p1, m in zip(original.parameters(), out.parameters(), mask, strict=True):
        assert torch.equal(p1.detach()[~m], p0.detach()[~m]), "a weight outside the saliency mask changed"
        moved += int((p1.detach()[m] != p0.detach()[m]).sum())
    assert moved > 0.5 * int(0.3 * total)
    y_f = problem.data.y_train[problem.step(0)[0]]
    assert accuracy(out, data.x_forget, y_f) < 0.5


def test_mask_selects_largest_gradient_magnitudes() -> None:
    problem, original = cached_problem()
    data, _ = view_for("salun", problem, original)
    net = copy.deepcopy(original).eval()
    loss = -data.loss(net(data.x_forget), data.sup_forget)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    # one full batch = the sum of per-batch mean gradients up to a positive scale per batch; use one batch
    mask = saliency_mask(copy.deepcopy(original), data, 0.2, batch_size=data.x_forget.shape[0])
    g = torch.cat([x.abs().flatten() for x in grads])
    m = torch.cat([x.flatten() for x in mask])
    assert g[m].min() >= g[~m].max()
