"""Fisher forgetting: the Fisher equals the batch-1 definition, noise shrinks where the Fisher is large, class rows."""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from engine.methods import METHODS
from engine.methods.fisher import FisherConfig
from engine.methods.shared.fisher_noise import diag_fisher, fisher_mean_var, removed_classes
from tests.methods.conftest import accuracy, cached_problem, view_for


def test_diag_fisher_matches_batch1_definition() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x = torch.randn(7, 4)
    fisher = diag_fisher(net, x, chunk=3)
    ref = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for i in range(7):
        out = net(x[i:i + 1])
        p = torch.softmax(out, -1)[0].detach()
        for y in range(3):
            g = torch.autograd.grad(nn.functional.cross_entropy(out, torch.tensor([y])), list(net.parameters()),
                                    retain_graph=True)
            for (n, _), gi in zip(net.named_parameters(), g, strict=True):
                ref[n] += p[y] * gi ** 2 / 7
    for n in ref:
        assert torch.allclose(fisher[n], ref[n], atol=1e-7, rtol=1e-5)


def test_noise_scales_with_inverse_fisher() -> None:
    # a hidden layer: row 0 has a large Fisher, row 1 a small one, row 2 none (clamped at 1e3)
    p0 = torch.zeros(3, 2)
    fisher = torch.tensor([[100.0, 100.0], [1.0, 1.0], [0.0, 0.0]])
    mu, var = fisher_mean_var(p0, fisher, alpha=1e-6, is_classifier=False, removed=[])
    assert torch.equal(mu, p0)
    assert torch.allclose(var[:, 0], torch.tensor([1e-8, 1e-6, 1e-3]), rtol=1e-5)
    # classifier: clamp at 1e2, x10, removed row: mean 0 and variance 1e-4 (x10)
    w = torch.ones(3, 2)
    mu, var = fisher_mean_var(w, torch.zeros(3, 2), alpha=1e-6, is_classifier=True, removed=[1])
    assert torch.equal(mu[1], torch.zeros(2)) and torch.equal(mu[0], w[0])
    assert torch.allclose(var[1], torch.full((2,), 1e-3)) and torch.allclose(var[0], torch.full((2,), 1e-3))


def _small(data):  # noqa: ANN001, ANN202 - a 300-sample retain set keeps the test fast
    idx = torch.arange(300)
    return dataclasses.replace(data, x_retain=data.x_retain[idx], sup_retain=data.sup_retain.take(idx))


def test_parameters_with_larger_fisher_move_less_end_to_end() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("fisher", problem, original)
    data = _small(data)
    out = METHODS.get("fisher").unlearn(copy.deepcopy(original), data, FisherConfig(class_rows=False), ctx)
    fisher = diag_fisher(copy.deepcopy(original), data.x_retain)
    name = "features.0.weight"  # conv1 (16, 1, 5, 5): the input-dim average is over one channel
    w0, w1 = dict(original.named_parameters())[name], dict(out.named_parameters())[name]
    move = (w1 - w0).detach().abs().flatten()
    f = fisher[name].flatten()
    lo, hi = f < f.quantile(0.2), f > f.quantile(0.8)
    assert move[lo].mean() > 1.5 * move[hi].mean()
    # every parameter moved by sqrt(var) * a standard normal draw
    z = []
    for n, p in original.named_parameters():
        _, var = fisher_mean_var(p.detach(), fisher[n], 1e-6, n.startswith("head.1"), [])
        z.append(((dict(out.named_parameters())[n] - p).detach() / var.sqrt()).flatten())
    z = torch.cat(z)
    assert abs(float(z.std()) - 1.0) < 0.02 and abs(float(z.mean())) < 0.02


def test_class_removal_zeroes_the_forgotten_row() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("fisher", problem, original)
    assert removed_classes(data) == [3]
    data = _small(data)
    assert removed_classes(data) == [3]
    out = METHODS.get("fisher").unlearn(copy.deepcopy(original), data, FisherConfig(), ctx)
    head = out.head[-1]
    assert head.weight[3].abs().max() < 0.2 and head.bias[3].abs() < 0.2
    y_f = problem.data.y_train[problem.step(0)[0]]
    y_r = problem.data.y_train[problem.step(0)[1]][:300]
    assert accuracy(out, data.x_forget, y_f) < 0.2
    assert accuracy(out, data.x_retain, y_r) > 0.9


def test_removed_class_found_from_candidate_sets_and_noisy_labels() -> None:
    from engine.paradigms.base import Supervision, one_hot_supervision
    problem, original = cached_problem()
    data, _ = view_for("fisher", problem, original)
    gen = torch.Generator().manual_seed(0)
    n_f = data.x_forget.shape[0]
    cand = torch.rand(n_f, 10, generator=gen) < 0.2  # partial labels: class 3 in every set, others at q = 0.2
    cand[:, 3] = True
    pll = Supervision("candidates", torch.full((n_f,), -1), cand, torch.ones(n_f, dtype=torch.bool))
    assert removed_classes(dataclasses.replace(data, sup_forget=pll, scenario="class")) == [3]
    noisy = torch.where(torch.rand(n_f, generator=gen) < 0.2, torch.randint(0, 10, (n_f,), generator=gen), 3)
    nll = one_hot_supervision(noisy, 10)
    assert removed_classes(dataclasses.replace(data, sup_forget=nll, scenario="class")) == [3]
    assert removed_classes(dataclasses.replace(data, sup_forget=pll, scenario="random")) == []
