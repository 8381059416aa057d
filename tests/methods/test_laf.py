"""LAF / LAF+R (seed 001): VAE fit, the signs of Eq. 10, Eq. 11 by hand, label-freeness, head handling, forgetting."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from engine.config import build_config
from engine.methods import METHODS
from engine.methods.laf import PAPER_DEFAULTS, LafConfig, ra_loss, train_vae, ue_loss, ue_terms
from engine.methods.laf_r import LafRConfig
from tests.methods.conftest import accuracy, cached_problem, view_for


def test_vae_training_reduces_its_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    basis = torch.randn(3, 16, generator=gen)
    emb = torch.randn(256, 3, generator=gen) @ basis - 0.5  # low-rank embeddings with negative entries
    cfg = LafConfig(latent_dim=4, vae_epochs=15, batch_size=32)
    vae, history = train_vae(emb, cfg, torch.Generator().manual_seed(1))
    assert history[-1] < 0.5 * history[0]
    assert not any(p.requires_grad for p in vae.parameters()), "the VAE must be frozen after its training"


def test_ue_loss_value_and_gradient_signs_follow_eq10() -> None:
    e_r = torch.tensor([[1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    e_f = torch.tensor([[3.0, 0.0]], requires_grad=True)
    rec_r = torch.tensor([[0.0, 2.0], [0.0, 1.0]])  # d = 1, 4
    rec_f = torch.tensor([[1.0, 1.0]])  # d = 5
    loss = ue_loss(e_r, rec_r, e_f, rec_f)
    assert loss.item() == pytest.approx(1 / 2 + 4 / 5 - 5 / 6)
    assert ue_loss(e_r, rec_r, e_f, rec_f, exp_form=True).item() == pytest.approx(
        math.exp(1 / 2) + math.exp(4 / 5) - math.exp(5 / 6))
    loss.backward()
    # d/de [d/(d+1)] = 2 (e - rec) / (d+1)^2: descent pulls retain embeddings onto the all-data VAE's
    # reconstruction and pushes forget embeddings away from the forget VAE's
    assert torch.allclose(e_r.grad, 2 * (e_r - rec_r).detach() / torch.tensor([[4.0], [25.0]]))
    assert torch.allclose(e_f.grad, -2 * (e_f - rec_f).detach() / 36.0)
    with torch.no_grad():
        new_r, new_f = e_r - 0.1 * e_r.grad, e_f - 0.1 * e_f.grad
    assert (ue_terms(new_r, rec_r) < ue_terms(e_r, rec_r)).all()
    assert (ue_terms(new_f, rec_f) > ue_terms(e_f, rec_f)).all()


def test_ra_loss_matches_a_hand_computation() -> None:
    s_r = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    t_r = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s_f = torch.tensor([[0.0, 1.0], [-1.0, 0.0], [1.0, 2.0]])
    t_f = torch.tensor([[1.0, 0.0], [1.0, 0.0], [2.0, 4.0]])
    tau = 5.0
    c_r = [1 - 1.0, 1 - 1 / math.sqrt(2)]
    c_f = [1 - 0.0, 1 - (-1.0), 1 - 1.0]
    log_denominator = math.log(sum(math.exp(c / tau) for c in c_f))
    expected = sum(c - log_denominator for c in c_r)
    assert ra_loss(s_r, t_r, s_f, t_f, tau).item() == pytest.approx(expected, rel=1e-6)


def test_paper_defaults_are_valid_configs() -> None:
    assert PAPER_DEFAULTS["mnist"]["random"]["tau"] == 5.0 and PAPER_DEFAULTS["mnist"]["class"]["tau"] == 20.0
    assert PAPER_DEFAULTS["cifar10"]["noisy_labels"]["tau"] == 5.0
    for per_task in PAPER_DEFAULTS.values():
        for values in per_task.values():
            build_config(LafConfig, values, "methods.laf")


def test_laf_runs_label_free_without_any_label() -> None:
    problem, original = cached_problem(paradigm="label_free")
    data, ctx = view_for("laf", problem, original)
    assert data.sup_forget is None and data.sup_retain is None and data.retain_sample_idx is None
    out = METHODS.get("laf").unlearn(copy.deepcopy(original), data, LafConfig(epochs=2, vae_epochs=2), ctx)
    assert all(torch.isfinite(p).all() for p in out.parameters())


def test_laf_r_sees_only_the_labelled_sample() -> None:
    problem, original = cached_problem(paradigm="label_free")
    data, _ = view_for("laf_r", problem, original)
    assert data.sup_forget is None and data.sup_retain is not None
    assert int(data.sup_retain.labelled.sum()) == data.x_forget.shape[0] == data.retain_sample_idx.numel()
    assert bool(data.sup_retain.labelled[data.retain_sample_idx].all())


@pytest.fixture(scope="module")
def laf_result() -> tuple:
    problem, original = cached_problem()
    data, ctx = view_for("laf", problem, original)
    return problem, original, METHODS.get("laf").unlearn(copy.deepcopy(original), data, LafConfig(), ctx)


def test_laf_changes_the_extractor_only(laf_result: tuple) -> None:
    _, original, out = laf_result
    for p, q in zip(original.head.parameters(), out.head.parameters(), strict=True):
        assert torch.equal(p, q), "the head must get no update from Eq. 10/11"
    assert any(not torch.equal(p, q) for p, q in zip(original.features.parameters(), out.features.parameters(),
                                                      strict=True))


def test_laf_forgets_the_class_and_keeps_the_rest(laf_result: tuple) -> None:
    problem, original, out = laf_result
    forget_idx, retain_idx = problem.step(0)
    x, y = problem.data.x_train, problem.data.y_train
    assert accuracy(original, x[forget_idx], y[forget_idx]) > 0.9
    assert accuracy(out, x[forget_idx], y[forget_idx]) < 0.5
    assert accuracy(out, x[retain_idx], y[retain_idx]) > 0.85


def test_laf_r_repairs_the_head_only() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("laf_r", problem, original)
    cfg = LafRConfig(epochs=1, vae_epochs=1)
    laf_only = METHODS.get("laf").unlearn(copy.deepcopy(original), data, cfg, ctx)
    out = METHODS.get("laf_r").unlearn(copy.deepcopy(original), data, cfg, ctx)
    for p, q in zip(laf_only.features.parameters(), out.features.parameters(), strict=True):
        assert torch.equal(p, q), "the repair must not touch the extractor"
    assert any(not torch.equal(p, q) for p, q in zip(original.head.parameters(), out.head.parameters(), strict=True))


def test_laf_r_is_not_offered_without_hard_labels() -> None:
    assert "partial_label" not in METHODS.get("laf_r").paradigms
    assert METHODS.get("laf").paradigms is None
