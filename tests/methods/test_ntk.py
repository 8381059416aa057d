"""NTK forgetting: the kernel step equals the ridge fit of the linearised model on the retain set (primal least
squares) and the paper's projection form, the official trapezium scale, the Jacobian size limit, the rebuilt
initial weights, the Fisher option, and one end-to-end run on digits."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

from engine.errors import NotApplicable
from engine.methods import METHODS, UnlearnContext, UnlearnData
from engine.methods.fisher import FisherConfig
from engine.methods.fisher import unlearn as fisher_unlearn
from engine.methods.ntk import (
    MAX_JACOBIAN_BYTES,
    NTKConfig,
    initial_weights,
    jacobian_bytes,
    linearised_fits,
    logit_jacobian,
    retain_subset,
    trapezium_scale,
)
from engine.models import build_model
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision
from engine.training import TrainConfig
from tests.methods.conftest import cached_problem, view_for

K = 3
NO_NOISE = NTKConfig(retain_per_class=1000, scale=1.0, fisher_noise=False)


def _toy(model: nn.Module, wd: float, n_r: int = 6, n_f: int = 3) -> tuple[UnlearnData, UnlearnContext]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n_r + n_f, 4, generator=gen, dtype=torch.float64)
    y = torch.arange(n_r + n_f) % K
    data = UnlearnData(x_forget=x[n_r:], sup_forget=one_hot_supervision(y[n_r:], K), x_retain=x[:n_r],
                       sup_retain=one_hot_supervision(y[:n_r], K), num_classes=K, paradigm="supervised",
                       loss=cross_entropy)
    ctx = UnlearnContext(seed=0, device=torch.device("cpu"), train_cfg=TrainConfig(weight_decay=wd),
                         model_key="mlp", input_shape=(1, 1, 4))
    return data, ctx


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _residual(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return (torch.softmax(model(x), -1) - nn.functional.one_hot(y, K).double()).flatten()


def _ridge_lstsq(j: torch.Tensor, r: torch.Tensor, ridge: float) -> torch.Tensor:
    """``argmin_w ||J w + r||^2 + ridge ||w||^2`` by plain least squares on the stacked (primal) system."""
    a = torch.cat([j, math.sqrt(ridge) * torch.eye(j.shape[1], dtype=j.dtype)])
    b = torch.cat([-r, torch.zeros(j.shape[1], dtype=j.dtype)])
    return torch.linalg.lstsq(a, b.unsqueeze(1)).solution.squeeze(1)


def test_step_equals_ridge_fit_of_the_linear_model_on_the_retain_set() -> None:
    # logits linear in (W, b): the linearisation is exact, the Jacobian is known in closed form
    torch.manual_seed(0)
    net = nn.Linear(4, K).double()
    wd = 1e-2
    data, ctx = _toy(net, wd)
    x = torch.cat([data.x_retain, data.x_forget])
    y = torch.cat([data.sup_retain.labels, data.sup_forget.labels])
    rows = []
    for xi in x:
        for k in range(K):
            e = torch.zeros(K, dtype=torch.float64)
            e[k] = 1.0
            rows.append(torch.cat([torch.outer(e, xi).flatten(), e]))  # d z_k / d(W, b)
    j = torch.stack(rows)
    r = _residual(net, x, y)
    n_r, n = data.x_retain.shape[0], x.shape[0]
    w_lin_d = _ridge_lstsq(j, r, n * wd)  # the linear model refitted on D = retain + forget
    w_lin_r = _ridge_lstsq(j[:n_r * K], r[:n_r * K], n_r * wd)  # ... and on the retain set only
    out = METHODS.get("ntk").unlearn(copy.deepcopy(net), data, NO_NOISE, ctx)
    assert torch.allclose(_flat(out) - _flat(net), w_lin_r - w_lin_d, atol=1e-10, rtol=1e-8)
    # the same from the kernel (dual) form used by the method
    w_d, w_r, delta = linearised_fits(logit_jacobian(net.eval(), x), r, n_r, K, wd)
    assert torch.allclose(w_d, w_lin_d, atol=1e-10) and torch.allclose(w_r, w_lin_r, atol=1e-10)
    assert torch.allclose(delta, w_r - w_d, atol=1e-12)


def test_step_is_the_papers_projection_form_and_keeps_linearised_retain_outputs() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, K)).double()  # P = 131 > n K = 27
    data, ctx = _toy(net, 1e-13)
    x = torch.cat([data.x_retain, data.x_forget])
    y = torch.cat([data.sup_retain.labels, data.sup_forget.labels])
    rows = []  # reference Jacobian: one autograd.grad per sample and logit
    for xi in x:
        out = net(xi.unsqueeze(0))[0]
        for k in range(K):
            grads = torch.autograd.grad(out[k], list(net.parameters()), retain_graph=True)
            rows.append(torch.cat([g.flatten() for g in grads]))
    j = torch.stack(rows)
    assert torch.allclose(logit_jacobian(net, x, chunk=4), j, atol=1e-12)
    r = _residual(net, x, y)
    m = data.x_retain.shape[0] * K
    jr, jf, rr, rf = j[:m], j[m:], r[:m], r[m:]
    t_rr_inv = torch.linalg.inv(jr @ jr.T)
    proj = torch.eye(j.shape[1], dtype=torch.float64) - jr.T @ t_rr_inv @ jr
    t_fr = jf @ jr.T
    big_m = torch.linalg.inv(jf @ jf.T - t_fr @ t_rr_inv @ t_fr.T)
    v = rf - t_fr @ t_rr_inv @ rr
    paper = proj @ jf.T @ big_m @ v  # w_lin(D_r) - w_lin(D) = P J_f^T M V (lambda -> 0)
    out = METHODS.get("ntk").unlearn(copy.deepcopy(net), data, NO_NOISE, ctx)
    step = _flat(out) - _flat(net)
    assert torch.allclose(step, paper, atol=1e-7 * float(paper.abs().max()))
    assert float((jr @ step).norm()) < 1e-6 * float((jf @ step).norm())  # retain outputs unchanged to first order


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_trapezium_scale_matches_the_official_branches(sign: float) -> None:
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(50, generator=gen, dtype=torch.float64)
    delta = sign * base  # the cosine with m has the sign of ``sign``: both official branches are exercised
    w_retain = torch.randn(50, generator=gen, dtype=torch.float64)
    disp = w_retain + torch.randn(50, generator=gen, dtype=torch.float64) + 2 * base
    m = disp - w_retain
    inner = float(delta @ m / (delta.norm() * m.norm()))
    assert (inner < 0) == (sign < 0)
    if inner < 0:  # the notebook's two branches, transcribed
        angle = math.acos(inner) - math.pi / 2
        norm = float(delta.norm()) + 2 * math.sin(angle) * float(m.norm())
    else:
        angle = math.acos(inner)
        norm = float(delta.norm()) + 2 * math.cos(angle) * float(m.norm())
    assert trapezium_scale(delta, w_retain, disp) == pytest.approx(norm / float(delta.norm()), rel=1e-12)


def test_not_applicable_above_the_jacobian_limit() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("ntk", problem, original)
    n = 5 * 9 + data.x_forget.shape[0]  # default retain sample of the 9 remaining classes + the forgotten class
    for key in ("cnn", "mlp"):  # both digits models fit with the defaults
        p = sum(q.numel() for q in build_model(key, problem.data.input_shape, 10, seed=0).parameters())
        assert jacobian_bytes(n, 10, p) < MAX_JACOBIAN_BYTES
    wide = nn.Sequential(nn.Flatten(), nn.Linear(64, 4096), nn.ReLU(), nn.Linear(4096, 10))  # 307,210 params
    assert jacobian_bytes(n, 10, 307_210) > MAX_JACOBIAN_BYTES
    with pytest.raises(NotApplicable, match=r"307,210 parameters .* GiB, above the 1\.5 GiB limit"):
        METHODS.get("ntk").unlearn(wide, data, NTKConfig(), ctx)


def test_needs_hard_labels() -> None:
    assert METHODS.get("ntk").paradigms == ("supervised", "noisy_label")
    net = nn.Linear(4, K).double()
    data, ctx = _toy(net, 1e-3)
    n_f = data.x_forget.shape[0]
    cand = torch.ones(n_f, K, dtype=torch.bool)
    pll = Supervision("candidates", torch.full((n_f,), -1), cand, torch.ones(n_f, dtype=torch.bool))
    with pytest.raises(NotApplicable, match="hard label"):
        METHODS.get("ntk").unlearn(net, dataclasses.replace(data, sup_forget=pll), NO_NOISE, ctx)


def test_initial_weights_rebuilt_as_the_runner_seeds_them() -> None:
    problem, original = cached_problem()
    _, ctx = view_for("ntk", problem, original)
    state = torch.random.get_rng_state()
    init = initial_weights(original, ctx, problem.data.num_classes)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    torch.manual_seed(problem.seed)  # as engine.jobs.bodies and tests.methods.conftest build the original
    ref = build_model("cnn", problem.data.input_shape, problem.data.num_classes, seed=problem.seed)
    for a, b in zip(init.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)


def test_end_to_end_digits() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("ntk", problem, original)
    f_idx, r_idx = torch.arange(20), torch.arange(150)  # small forget and retain sets keep the test fast
    data = dataclasses.replace(data, x_forget=data.x_forget[f_idx], sup_forget=data.sup_forget.take(f_idx),
                               x_retain=data.x_retain[r_idx], sup_retain=data.sup_retain.take(r_idx))
    cfg = NTKConfig(retain_per_class=2, fisher_noise=False)  # trapezium scale, linearised at the trained weights
    method = METHODS.get("ntk")
    out = method.unlearn(copy.deepcopy(original), data, cfg, ctx)
    step = (_flat(out) - _flat(original)).double()
    assert float(step.norm()) > 0
    # the step moves the forget outputs and (almost) not the outputs of the retain sample it was fitted on
    pick = retain_subset(data.sup_retain, 2, ctx.generator(2))
    assert pick.numel() == 2 * 9  # two of each remaining class
    net = copy.deepcopy(original).eval()
    jr = logit_jacobian(net, data.x_retain[pick]).double()
    jf = logit_jacobian(net, data.x_forget).double()
    assert float((jr @ step).norm()) < 0.1 * float((jf @ step).norm())
    # NTK + Fisher = Fisher forgetting applied to the NTK-scrubbed model; equal weights from a second, independent
    # run also show that the same seed gives the same retain sample and the same step
    both = method.unlearn(copy.deepcopy(original), data, dataclasses.replace(cfg, fisher_noise=True), ctx)
    ref = fisher_unlearn(copy.deepcopy(out), data, FisherConfig(alpha=cfg.fisher_alpha), ctx)
    for a, b in zip(both.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b)
