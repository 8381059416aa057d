"""Boundary Expanding (Chen et al. 2023): widening copies the old rows, pruning restores them; the returned model
has K outputs and the forget samples are pushed off their labels."""

from __future__ import annotations

import copy

import torch
from torch import nn

from engine.methods import METHODS
from engine.methods.boundary_expand import BoundaryExpandConfig, last_linear, prune, widen
from tests.methods.conftest import accuracy, cached_problem, view_for

EXPAND = METHODS.get("boundary_expand")


def test_widen_copies_rows_and_prune_undoes_it() -> None:
    layer = nn.Linear(5, 3)
    wide = widen(layer, torch.Generator().manual_seed(0))
    assert wide.out_features == 4
    assert torch.equal(wide.weight[:3], layer.weight) and torch.equal(wide.bias[:3], layer.bias)
    assert float(wide.bias[3].detach()) == 0.0 and float(wide.weight[3].detach().abs().sum()) > 0
    back = prune(wide, 3)
    assert torch.equal(back.weight, layer.weight) and torch.equal(back.bias, layer.bias)


def test_last_linear_finds_the_classifier() -> None:
    head = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    parent, attr, layer = last_linear(head)
    assert parent is head and attr == "2" and layer is head[2]


def test_returns_k_outputs_and_forgets() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("boundary_expand", problem, original)
    out = EXPAND.unlearn(copy.deepcopy(original), data, BoundaryExpandConfig(), ctx)
    k = problem.data.num_classes
    assert out(problem.data.x_test[:3]).shape == (3, k)
    assert [m for m in out.modules() if isinstance(m, nn.Linear)][-1].out_features == k
    assert set(out.state_dict()) == set(original.state_dict())
    before = accuracy(original, data.x_forget, data.sup_forget.labels)
    after = accuracy(out, data.x_forget, data.sup_forget.labels)
    assert before > 0.9 and after < before - 0.5
