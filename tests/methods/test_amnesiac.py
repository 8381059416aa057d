"""Amnesiac ML (Graves et al. 2021): exactly the recorded updates of the steps whose batch held a forget sample are
subtracted; undoing every step of a recorded run returns the initial weights."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

from engine.methods import METHODS, UnlearnContext, UnlearnData
from engine.methods.amnesiac import AmnesiacConfig, steps_to_undo
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.training import TrainConfig, fit
from engine.training.recording import UpdateRecorder

AMNESIAC = METHODS.get("amnesiac")


def _data(x: torch.Tensor, y: torch.Tensor, forget: torch.Tensor, state: dict) -> UnlearnData:
    keep = torch.ones(x.shape[0], dtype=torch.bool)
    keep[forget] = False
    return UnlearnData(x_forget=x[forget], sup_forget=None, x_retain=x[keep],
                       sup_retain=one_hot_supervision(y[keep], 3), num_classes=3, paradigm="supervised",
                       loss=cross_entropy, train_state={"batch_updates": state}, forget_train_idx=forget)


def _ctx(cfg: TrainConfig) -> UnlearnContext:
    return UnlearnContext(seed=0, device=torch.device("cpu"), train_cfg=cfg, model_key="mlp", input_shape=(1, 2, 2))


def test_steps_to_undo() -> None:
    batch_index = torch.tensor([0, 1, 2, 3, 4, 5, 6, 0, 3])
    batch_sizes = torch.tensor([3, 2, 2, 2])  # steps: {0,1,2} {3,4} {5,6} {0,3}
    assert steps_to_undo(batch_index, batch_sizes, torch.tensor([3])).tolist() == [1, 3]
    assert steps_to_undo(batch_index, batch_sizes, torch.tensor([6, 2])).tolist() == [0, 2]
    assert steps_to_undo(batch_index, batch_sizes, torch.tensor([9])).tolist() == []


def test_subtracts_exactly_the_updates_of_batches_with_forget_samples() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 1, 2, 2, generator=gen), torch.randint(0, 3, (24,), generator=gen)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    theta_init = parameters_to_vector(model.parameters()).detach().clone()
    cfg = TrainConfig(epochs=3, batch_size=8, lr=0.1, optimizer="sgd", schedule="none")
    rec = UpdateRecorder()
    fit(model, x, one_hot_supervision(y, 3), cross_entropy, cfg, seed=1, hooks=[rec])
    state = rec.finish(model, x)
    theta = parameters_to_vector(model.parameters()).detach().clone()
    assert torch.allclose(theta_init + state["updates"].sum(0), theta, atol=1e-5)  # the record is complete

    forget = torch.tensor([2, 17])
    steps = steps_to_undo(state["batch_index"], state["batch_sizes"], forget)
    assert 0 < steps.numel() < state["updates"].shape[0]
    hit = [s for s in range(state["updates"].shape[0])
           if set(state["batch_index"][int(state["batch_sizes"][:s].sum()):int(state["batch_sizes"][:s + 1].sum())]
                  .tolist()) & {2, 17}]
    assert steps.tolist() == hit
    out = AMNESIAC.unlearn(copy.deepcopy(model), _data(x, y, forget, state), AmnesiacConfig(finetune_epochs=0),
                           _ctx(cfg))
    expected = theta - state["updates"][hit].sum(0)
    assert torch.allclose(parameters_to_vector(out.parameters()), expected, atol=1e-6)

    everything = torch.arange(24)  # 23 of 24 samples: every batch of 8 holds one, so back to the initial weights
    out = AMNESIAC.unlearn(copy.deepcopy(model), _data(x, y, everything[:23], state),
                           AmnesiacConfig(finetune_epochs=0), _ctx(cfg))
    assert torch.allclose(parameters_to_vector(out.parameters()), theta_init, atol=1e-5)


def test_incremental_requests_do_not_undo_a_step_twice() -> None:
    updates = torch.eye(3)  # 3 steps over 3 parameters
    state = {"updates": updates, "batch_index": torch.tensor([0, 1, 1, 2, 2, 0]),
             "batch_sizes": torch.tensor([2, 2, 2])}
    model = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    x, y = torch.zeros(3, 3), torch.zeros(3, dtype=torch.int64)
    ctx = _ctx(TrainConfig())
    first = AMNESIAC.unlearn(copy.deepcopy(model), _data(x, y, torch.tensor([0]), state),
                             AmnesiacConfig(finetune_epochs=0), ctx)  # steps 0 and 2
    assert first.weight.flatten().tolist() == [-1.0, 0.0, -1.0]
    ctx.request = 1
    second = AMNESIAC.unlearn(copy.deepcopy(first), _data(x, y, torch.tensor([1]), state),
                              AmnesiacConfig(finetune_epochs=0), ctx)  # steps 0 and 1; 0 already undone
    assert second.weight.flatten().tolist() == [-1.0, -1.0, -1.0]
