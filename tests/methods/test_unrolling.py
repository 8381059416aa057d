"""Unrolling SGD (Thudi et al. 2022): the update is eta * E / B * the sum of the forget samples' gradients at the
current weights (cosine schedule: eta / 2), added to the weights; scale multiplies it."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector

from engine.methods import METHODS, UnlearnContext, UnlearnData
from engine.methods.unrolling import UnrollingConfig, lr_mass, unrolled_update
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.training import TrainConfig
from tests.methods.conftest import accuracy, cached_problem, view_for

UNROLLING = METHODS.get("unrolling")


def test_update_is_eta_times_epochs_over_batch_times_summed_gradient() -> None:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(5, 4, generator=gen), torch.tensor([0, 1, 2, 1, 0])
    sup = one_hot_supervision(y, 3)
    cfg = TrainConfig(epochs=7, batch_size=2, lr=0.05, optimizer="sgd", schedule="none")
    grad = torch.zeros(sum(p.numel() for p in model.parameters()))
    for i in range(5):  # per-sample gradients, summed by hand
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        grad += torch.cat([p.grad.flatten() for p in model.parameters()])
    step = unrolled_update(model, x, sup, cross_entropy, cfg)
    assert torch.allclose(step.float(), 0.05 * 7 / 2 * grad, atol=1e-6)
    assert torch.allclose(unrolled_update(model, x, sup, cross_entropy, cfg, scale=3.0).float(),
                          3 * 0.05 * 7 / 2 * grad, atol=1e-6)
    cosine = TrainConfig(epochs=7, batch_size=2, lr=0.05, schedule="cosine")
    assert abs(lr_mass(cosine) - 0.05 * 7 / 2) < 1e-12

    data = UnlearnData(x_forget=x, sup_forget=sup, x_retain=None, sup_retain=None, num_classes=3,
                       paradigm="supervised", loss=cross_entropy)
    ctx = UnlearnContext(seed=0, device=torch.device("cpu"), train_cfg=cfg, model_key="mlp", input_shape=(1, 2, 2))
    theta = parameters_to_vector(model.parameters()).detach().clone()
    out = UNROLLING.unlearn(copy.deepcopy(model), data, UnrollingConfig(scale=1.0), ctx)
    assert torch.allclose(parameters_to_vector(out.parameters()), theta + 0.05 * 7 / 2 * grad, atol=1e-6)


def test_default_raises_the_forget_loss() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("unrolling", problem, original)
    out = UNROLLING.unlearn(copy.deepcopy(original), data, UnrollingConfig(), ctx)
    with torch.no_grad():
        before = float(data.loss(original.eval()(data.x_forget), data.sup_forget))
        after = float(data.loss(out.eval()(data.x_forget), data.sup_forget))
    assert after > before
    assert accuracy(out, data.x_forget, data.sup_forget.labels) <= accuracy(original, data.x_forget,
                                                                            data.sup_forget.labels)
