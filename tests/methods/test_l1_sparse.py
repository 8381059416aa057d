"""l1_sparse: the decaying l1 penalty lowers ||theta||_1 compared with plain fine-tuning on the same batches."""

from __future__ import annotations

import copy

import torch

from engine.methods import METHODS
from engine.methods.finetune import FinetuneConfig
from engine.methods.l1_sparse import L1SparseConfig, gamma_at
from tests.methods.conftest import cached_problem, view_for


def _l1(model: torch.nn.Module) -> float:
    return float(sum(p.detach().abs().sum() for p in model.parameters()))


def test_schedule_decays_linearly_to_zero() -> None:
    cfg = L1SparseConfig(gamma=1e-3, epochs=5, no_l1_epochs=1)
    assert [gamma_at(e, cfg) for e in range(5)] == [1e-3, 0.75e-3, 0.5e-3, 0.25e-3, 0.0]


def test_penalty_reduces_l1_norm_and_gamma_zero_is_finetune() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("l1_sparse", problem, original)
    method = METHODS.get("l1_sparse")
    sparse = method.unlearn(copy.deepcopy(original), data, L1SparseConfig(epochs=2), ctx)
    plain = method.unlearn(copy.deepcopy(original), data, L1SparseConfig(epochs=2, gamma=0.0), ctx)
    ft = METHODS.get("finetune").unlearn(copy.deepcopy(original), data, FinetuneConfig(epochs=2), ctx)
    for a, b in zip(plain.parameters(), ft.parameters(), strict=True):
        assert torch.allclose(a, b), "gamma = 0 must be exactly fine-tuning"
    assert _l1(sparse) < 0.97 * _l1(plain)
