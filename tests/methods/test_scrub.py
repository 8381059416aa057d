"""SCRUB's defining mechanism: the max step moves the student away from the teacher on the forget set, the min
step's loss is gamma * CE + alpha * T^2 * KL(teacher || student) (batch mean), the LR schedule, and SCRUB+R's
checkpoint selection."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from engine.config import build_config
from engine.errors import SpecError
from engine.methods import METHODS
from engine.methods.scrub import (
    ScrubConfig,
    forget_class_weights,
    lr_at,
    max_step_loss,
    min_step_loss,
    reference_error,
    select_rewind,
)
from engine.methods.shared.distill import kl_t
from engine.paradigms.base import one_hot_supervision
from tests.methods.conftest import accuracy, cached_problem, view_for


def _hand_kl(s: torch.Tensor, t: torch.Tensor, temp: float) -> float:
    total = 0.0
    for i in range(s.shape[0]):
        ps = [math.exp(v / temp) for v in s[i].tolist()]
        pt = [math.exp(v / temp) for v in t[i].tolist()]
        zs, zt = sum(ps), sum(pt)
        total += sum((b / zt) * math.log((b / zt) / (a / zs)) for a, b in zip(ps, pt, strict=True))
    return total / s.shape[0] * temp ** 2


def test_kl_t_and_min_step_loss_match_a_hand_computation() -> None:
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1])
    for temp in (1.0, 2.0, 4.0):
        assert float(kl_t(s, t, temp)) == pytest.approx(_hand_kl(s, t, temp), rel=1e-9)
    ce = F.cross_entropy(s, y)
    ce_hand = -sum(math.log(math.exp(s[i, y[i]].item()) / sum(math.exp(v) for v in s[i].tolist()))
                   for i in range(5)) / 5
    got = min_step_loss(s, t, ce, alpha=0.5, gamma=0.99, temperature=2.0)
    assert float(got) == pytest.approx(0.99 * ce_hand + 0.5 * _hand_kl(s, t, 2.0), rel=1e-9)
    assert float(max_step_loss(s, t, 4.0)) == pytest.approx(-_hand_kl(s, t, 4.0), rel=1e-9)
    assert float(kl_t(t, t, 2.0)) == pytest.approx(0.0, abs=1e-12)


def test_max_step_increases_kl_to_the_teacher_on_the_forget_set() -> None:
    problem, original = cached_problem()
    data, _ = view_for("scrub", problem, original)
    student = copy.deepcopy(original)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # at student == teacher the KL's gradient is 0: start from a slightly moved student
        for p in student.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=g))
    x = data.x_forget
    with torch.no_grad():
        t_logits = original.eval()(x)
    opt = torch.optim.SGD(student.parameters(), lr=1e-2)
    kls = []
    for _ in range(3):
        student.train()
        loss = max_step_loss(student(x), t_logits, 2.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        student.eval()
        with torch.no_grad():
            kls.append(float(kl_t(student(x), t_logits, 2.0)))
    assert kls[0] > 0 and kls[1] > kls[0] and kls[2] > kls[1]


def test_lr_schedule_decays_after_each_decay_epoch() -> None:
    decay = (5, 8, 9)
    got = [lr_at(e, 1.0, decay) for e in range(1, 11)]
    assert got == pytest.approx([1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.001])


def test_select_rewind_picks_the_checkpoint_closest_to_the_reference() -> None:
    assert select_rewind([0.05, 0.30, 0.62, 0.95], 0.55) == 2
    assert select_rewind([0.9, 1.0], 0.0) == 0
    assert select_rewind([0.2, 0.4, 0.4], 0.41) == 2  # ties -> the later checkpoint
    assert select_rewind([0.3, 0.5], 0.4) == 1
    with pytest.raises(ValueError):
        select_rewind([], 0.3)


def test_reference_error_weights_test_error_by_forget_class() -> None:
    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x  # inputs are logits

    # class 0: 2 test samples, 1 wrong; class 1: 2 samples, both right; class 2: 1 sample, wrong
    logits = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0], [0, 1.0, 0], [1.0, 0, 0]])
    y = torch.tensor([0, 0, 1, 1, 2])
    w = forget_class_weights(one_hot_supervision(torch.tensor([0, 0, 0]), 3), 3)
    assert w.tolist() == [1.0, 0.0, 0.0]
    assert reference_error(Fixed(), logits, y, w) == pytest.approx(0.5)
    w2 = forget_class_weights(one_hot_supervision(torch.tensor([0, 2]), 3), 3)
    assert reference_error(Fixed(), logits, y, w2) == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)


def test_scrub_forgets_the_class_and_keeps_the_rest() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("scrub", problem, original)
    cfg = build_config(ScrubConfig, {"epochs": 4, "msteps": 2}, "m")
    out = METHODS.get("scrub").unlearn(copy.deepcopy(original), data, cfg, ctx)
    y_f = data.sup_forget.labels
    y_r = data.sup_retain.labels
    assert accuracy(out, data.x_forget, y_f) < 0.5 * accuracy(original, data.x_forget, y_f)
    assert accuracy(out, data.x_retain, y_r) > 0.9


def test_rewind_returns_one_of_the_epoch_checkpoints() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("scrub", problem, original)
    cfg = build_config(ScrubConfig, {"epochs": 2, "msteps": 1, "rewind": True}, "m")
    out = METHODS.get("scrub").unlearn(copy.deepcopy(original), data, cfg, ctx)
    ends = []
    for epochs in (1, 2):  # the same run stopped after epoch 1 / 2 gives the two checkpoints
        c = build_config(ScrubConfig, {"epochs": epochs, "msteps": 1, "lr_decay_epochs": "5,8,9"}, "m")
        ends.append(METHODS.get("scrub").unlearn(copy.deepcopy(original), data, c, ctx).state_dict())
    assert any(all(torch.equal(a, b) for a, b in zip(out.state_dict().values(), e.values(), strict=True))
               for e in ends)


def test_bad_decay_epochs_name_the_field() -> None:
    with pytest.raises(SpecError, match="lr_decay_epochs"):
        build_config(ScrubConfig, {"lr_decay_epochs": "3,x"}, "methods.scrub")
    assert ScrubConfig(lr_decay_epochs="").lr_decay_epochs == ""
