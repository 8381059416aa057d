"""The shared descent helper (engine/methods/shared/descent.py) is the hand-written loop it replaced, bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from engine.errors import RunFailed
from engine.methods.shared.descent import batches, descend, descend_epochs, descend_steps, sgd, sgd_descent, take_step
from engine.paradigms.base import cross_entropy, one_hot_supervision


def _toy() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net, torch.randn(37, 5, generator=g), torch.randint(0, 3, (37,), generator=g)


def _hand_loop(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, gen: torch.Generator) -> nn.Module:
    """The loop every method used to write by hand."""
    opt = sgd(net, 0.1)
    sup = one_hot_supervision(y, 3)
    net.train()
    for _ in range(epochs):
        for idx in batches(x.shape[0], 8, gen, torch.device("cpu")):
            loss = cross_entropy(net(x[idx]), sup.take(idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net


def test_sgd_descent_is_the_hand_written_loop_bit_for_bit() -> None:
    net, x, y = _toy()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    ref = _hand_loop(copy.deepcopy(net), x, y, 3, g1)
    seen: list[tuple[int, int, str]] = []
    out = sgd_descent(copy.deepcopy(net), x, one_hot_supervision(y, 3), cross_entropy, 3, 0.1, 8, g2,
                      torch.device("cpu"), lambda d, t, m: seen.append((d, t, m)), "toy")
    for a, b in zip(ref.state_dict().values(), out.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(g1.get_state(), g2.get_state())  # the same random draws, in the same order
    assert seen == [(1, 3, "epoch 1/3"), (2, 3, "epoch 2/3"), (3, 3, "epoch 3/3")]


def test_hooks_run_around_the_step_and_losses_come_back() -> None:
    net, x, y = _toy()
    opt = sgd(net, 0.1)
    order: list[str] = []

    def before() -> None:
        order.append("before" if all(p.grad is not None for p in net.parameters()) else "no grad")

    loss = take_step(opt, net(x).pow(2).mean(), before_step=before, after_step=lambda: order.append("after"))
    assert order == ["before", "after"] and loss.ndim == 0
    losses = list(descend_steps(opt, [x[:4], x[4:9]], lambda b: net(b).pow(2).mean()))
    assert len(losses) == 2
    assert float(descend(opt, [], lambda b: net(b).sum())) == 0.0  # no batch: a zero loss


def test_a_diverging_descent_names_the_method() -> None:
    net, x, _ = _toy()
    opt = sgd(net, 0.1)
    with pytest.raises(RunFailed, match="toy: loss became nan"):
        descend_epochs(opt, 2, lambda _: [x], lambda b: net(b).sum() * float("nan"), name="toy")


def test_report_every_checks_and_reports_every_kth_and_the_last_epoch() -> None:
    net, x, _ = _toy()
    seen: list[int] = []
    descend_epochs(sgd(net, 1e-4), 7, lambda _: [x], lambda b: net(b).pow(2).mean(), name="toy",
                   progress=lambda d, t, m: seen.append(d), report_every=3)
    assert seen == [3, 6, 7]
