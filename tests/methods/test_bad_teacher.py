"""Bad Teacher's defining mechanism: forget outputs move towards the random (incompetent) teacher's, retain
outputs stay with the original; the random teacher is seeded from the run and leaves the global RNG alone."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.methods import METHODS
from engine.methods.bad_teacher import BadTeacherConfig, bad_teacher_loss
from engine.methods.shared.distill import kl_t
from engine.methods.shared.networks import random_network
from tests.methods.conftest import accuracy, cached_problem, view_for


def _kl(student: torch.nn.Module, teacher: torch.nn.Module, x: torch.Tensor) -> float:
    student.eval()
    teacher.eval()
    with torch.no_grad():
        return float(kl_t(student(x), teacher(x), 1.0))


def test_forget_outputs_move_towards_the_random_teacher() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("bad_teacher", problem, original)
    assert data.sup_forget is None and data.sup_retain is None  # needs no labels
    out = METHODS.get("bad_teacher").unlearn(copy.deepcopy(original), data, BadTeacherConfig(), ctx)
    bad = random_network(ctx, data.num_classes, stream=1)  # the same incompetent teacher the run used
    before, after = _kl(original, bad, data.x_forget), _kl(out, bad, data.x_forget)
    assert after < 0.25 * before
    # the retain set keeps the original's outputs (much closer to it than the forget set is)
    assert _kl(out, original, data.x_retain) < 0.2 * _kl(out, original, data.x_forget)
    y_f = problem.supervision.take(problem.step(0)[0]).labels
    assert accuracy(out, data.x_forget, y_f) < 0.5


def test_random_network_is_seeded_by_the_run_and_leaves_the_global_rng_alone() -> None:
    problem, original = cached_problem()
    _, ctx = view_for("bad_teacher", problem, original)
    torch.manual_seed(5)
    state = torch.get_rng_state()
    a = random_network(ctx, 10, stream=1)
    assert torch.equal(torch.get_rng_state(), state)
    b = random_network(ctx, 10, stream=1)
    c = random_network(ctx, 10, stream=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert not all(torch.equal(sa[k], v) for k, v in original.state_dict().items())


def test_loss_is_alpha_good_kl_plus_beta_bad_kl() -> None:
    g = torch.Generator().manual_seed(0)
    s_r, t_r, s_f, t_f = (torch.randn(6, 5, generator=g, dtype=torch.float64) for _ in range(4))
    got = bad_teacher_loss(s_r, t_r, s_f, t_f, alpha=0.3, beta=2.0, temperature=4.0)
    want = 0.3 * kl_t(s_r, t_r, 4.0) + 2.0 * kl_t(s_f, t_f, 4.0)
    assert float(got) == pytest.approx(float(want), rel=1e-12)
