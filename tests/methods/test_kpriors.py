"""K-priors (Khan & Swaroop 2021, as in UDRU): the K-prior regulariser is zero at the original and grows with
both function and weight drift; gradients do not accumulate across steps; the removal term forgets."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch.nn.utils import parameters_to_vector

from engine.methods import METHODS
from engine.methods.kpriors import KPriorsConfig, kprior_regulariser
from tests.methods.conftest import accuracy, cached_problem, view_for

KPRIORS = METHODS.get("kpriors")


def _prior_inputs(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        p0 = F.softmax(model.eval()(x), dim=1)
    return p0, parameters_to_vector(model.parameters()).detach().clone()


def test_regulariser_is_zero_at_the_original_and_positive_elsewhere() -> None:
    problem, original = cached_problem()
    model = copy.deepcopy(original)
    x = problem.data.x_train[:64]
    p0, theta0 = _prior_inputs(model, x)
    assert abs(float(kprior_regulariser(model, x, p0, theta0, 1.0, 1.0).detach())) < 1e-6
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    reg = float(kprior_regulariser(model, x, p0, theta0, 1.0, 1.0).detach())
    drift = float((parameters_to_vector(model.parameters()) - theta0).pow(2).mean().detach())
    assert reg > drift > 0  # the weight term plus a positive KL
    assert abs(float(kprior_regulariser(model, x, p0, theta0, 0.0, 2.0).detach()) - 2 * drift) < 1e-6


def test_steps_do_not_accumulate_gradients() -> None:
    """Two full-batch steps equal two steps of a reference loop that zeroes gradients (the official bug fixed)."""
    problem, original = cached_problem()
    data, ctx = view_for("kpriors", problem, original)
    cfg = KPriorsConfig(epochs=2, lr=1e-3)
    out = KPRIORS.unlearn(copy.deepcopy(original), data, cfg, ctx)
    ref = copy.deepcopy(original)
    p0, theta0 = _prior_inputs(copy.deepcopy(original), data.x_forget)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    ref.train()
    for _ in range(2):
        loss = -data.loss(ref(data.x_forget), data.sup_forget) + kprior_regulariser(
            ref, data.x_forget, p0, theta0, 1.0, 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for a, b in zip(out.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_forgets_with_defaults() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("kpriors", problem, original)
    out = KPRIORS.unlearn(copy.deepcopy(original), data, KPriorsConfig(), ctx)
    assert accuracy(out, data.x_forget, data.sup_forget.labels) < accuracy(original, data.x_forget,
                                                                           data.sup_forget.labels) - 0.3
