"""IU: the WoodFisher recursion equals the dense inverse of I + (1/N) sum g g^T; the official loop's closed form."""

from __future__ import annotations

import copy
import dataclasses

import torch

from engine.methods import METHODS
from engine.methods.influence import (
    InfluenceConfig,
    per_sample_grads,
    per_sample_logit_grads,
    summed_grad,
    woodfisher_exact,
    woodfisher_official,
)
from tests.methods.conftest import accuracy, cached_problem, view_for


def test_woodfisher_recursion_equals_dense_inverse() -> None:
    gen = torch.Generator().manual_seed(0)
    grads = torch.randn(25, 10, generator=gen, dtype=torch.float64)  # more samples than dimensions
    v = torch.randn(10, generator=gen, dtype=torch.float64)
    for n_damp in (1.0, 7.0, 1000.0):
        dense = torch.eye(10, dtype=torch.float64) + grads.T @ grads / n_damp
        assert torch.allclose(woodfisher_exact(grads, v, n_damp), torch.linalg.solve(dense, v), atol=1e-10)


def test_woodfisher_recursion_step_by_step_matches_sherman_morrison() -> None:
    gen = torch.Generator().manual_seed(1)
    grads = torch.randn(6, 40, generator=gen, dtype=torch.float64)  # fewer samples than dimensions
    v = torch.randn(40, generator=gen, dtype=torch.float64)
    inv = torch.eye(40, dtype=torch.float64)
    for g in grads:  # the textbook recursion on the explicit matrix
        u = inv @ g
        inv = inv - torch.outer(u, u) / (3.0 + g @ u)
    assert torch.allclose(woodfisher_exact(grads, v, 3.0), inv @ v, atol=1e-10)


def test_official_loop_is_v_minus_a_multiple_of_the_first_gradient() -> None:
    gen = torch.Generator().manual_seed(2)
    grads = torch.randn(20, 8, generator=gen, dtype=torch.float64)
    v = torch.randn(8, generator=gen, dtype=torch.float64)
    k = woodfisher_official(grads, v, 10.0)
    diff = k - v
    cos = diff @ grads[0] / (diff.norm() * grads[0].norm())
    assert abs(abs(float(cos)) - 1.0) < 1e-10
    dense = torch.eye(8, dtype=torch.float64) + grads.T @ grads / 10.0
    assert not torch.allclose(k, torch.linalg.solve(dense, v), atol=1e-3)


def test_per_sample_and_summed_gradients_match_autograd() -> None:
    problem, original = cached_problem()
    data, _ = view_for("influence", problem, original)
    net = copy.deepcopy(original).eval()
    x, sup = data.x_retain[:5], data.sup_retain.take(torch.arange(5))
    rows = per_sample_grads(net, x, per_sample_logit_grads(net, x, sup, data.loss), chunk=2)
    for i in range(5):
        loss = data.loss(net(x[i:i + 1]), sup.take(torch.tensor([i])))
        ref = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(net.parameters()))])
        assert torch.allclose(rows[i], ref, atol=1e-6)
    assert torch.allclose(summed_grad(net, x, sup, data.loss, batch_size=2), rows.sum(0), atol=1e-5)


def test_influence_step_forgets_on_digits() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("influence", problem, original)
    cfg = InfluenceConfig(n_samples=300, alpha=6.0)  # this shorter-trained original forgets at a smaller alpha
    out = METHODS.get("influence").unlearn(copy.deepcopy(original), data, cfg, ctx)
    y_f = problem.data.y_train[problem.step(0)[0]]
    y_r = problem.data.y_train[problem.step(0)[1]]
    assert accuracy(out, data.x_forget, y_f) < 0.5 * accuracy(original, data.x_forget, y_f)
    assert accuracy(out, data.x_retain, y_r) > 0.9
    assert dataclasses.is_dataclass(InfluenceConfig)
