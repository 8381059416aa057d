"""``partial_label``: candidate sets (true label + each wrong label w.p. q, or the official int(qK) labels), CC loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.paradigms import PARADIGMS, Supervision
from engine.paradigms.partial_label import cc_loss
from tests.paradigms.conftest import N_LARGE, K, gen, labels, logits, np_softmax

P = PARADIGMS.get("partial_label")


def draw(y: torch.Tensor, q: float | None, seed: int = 0, official: bool = False) -> Supervision:
    return P.supervise(y, K, q, 1.0, gen(seed), official=official)


def test_registered_metadata() -> None:
    assert P.visible == "candidates"
    assert P.rate_name == "q" and P.default_rate == 0.2
    assert P.loss is cc_loss


def test_supervision_shape_and_hidden_labels() -> None:
    y = labels(200)
    sup = draw(y, 0.3)
    assert sup.kind == "candidates"
    assert sup.candidates.dtype == torch.bool and sup.candidates.shape == (200, K)
    assert torch.equal(sup.labels, torch.full((200,), -1))  # the true label is never exposed
    assert bool(sup.labelled.all())


@pytest.mark.parametrize("official", [False, True])
def test_same_seed_same_sets_different_seed_different(official: bool) -> None:
    y = labels(2000)
    a, b, c = draw(y, 0.3, 4, official), draw(y, 0.3, 4, official), draw(y, 0.3, 5, official)
    assert torch.equal(a.candidates, b.candidates)
    assert not torch.equal(a.candidates, c.candidates)


@pytest.mark.parametrize("official", [False, True])
def test_true_labels_not_modified(official: bool) -> None:
    y = labels(2000)
    before = y.clone()
    draw(y, 0.5, official=official)
    assert torch.equal(y, before)


@pytest.mark.parametrize("official", [False, True])
@pytest.mark.parametrize("q", [0.0, 0.2, 0.7])
def test_true_label_always_a_candidate(q: float, official: bool) -> None:
    y = labels(5000)
    sup = draw(y, q, official=official)
    assert bool(sup.candidates[torch.arange(5000), y].all())


@pytest.mark.parametrize("q", [0.1, 0.2, 0.5])
def test_share_of_extra_candidates_is_q(q: float) -> None:
    y = labels(N_LARGE)
    cand = draw(y, q).candidates
    extra = cand.clone()
    extra[torch.arange(N_LARGE), y] = False
    share = extra.sum().item() / (N_LARGE * (K - 1))
    assert abs(share - q) < 0.01
    # each wrong class is equally likely (independent per label): per-class shares all close to q
    per_class = extra.float().sum(0) / (N_LARGE - torch.bincount(y, minlength=K)).float()
    assert float((per_class - q).abs().max()) < 0.02


def test_default_rate_is_point_two() -> None:
    y = labels(N_LARGE)
    assert torch.equal(draw(y, None, 3).candidates, draw(y, 0.2, 3).candidates)


def test_rate_zero_gives_one_hot() -> None:
    y = labels(1000)
    cand = draw(y, 0.0).candidates
    assert torch.equal(cand, torch.nn.functional.one_hot(y, K).bool())


@pytest.mark.parametrize("q", [0.2, 0.35, 0.5])
def test_official_ors_int_qk_random_labels(q: float) -> None:
    y = labels(N_LARGE)
    k = int(q * K)
    cand = draw(y, q, 1, official=True).candidates
    sizes = cand.sum(1)
    # k distinct random labels OR the true one: k + 1 labels, or k when the true label was among those drawn
    assert set(sizes.unique().tolist()) == {k, k + 1}
    # the true label is drawn with probability k / K (std of the share <= 0.0036: 0.015 is > 4 sigma)
    assert abs((sizes == k).float().mean().item() - k / K) < 0.015


def test_official_with_small_q_is_one_hot() -> None:
    y = labels(1000)
    cand = draw(y, 0.05, official=True).candidates  # int(0.05 * 10) = 0 extra labels
    assert torch.equal(cand, torch.nn.functional.one_hot(y, K).bool())


def test_cc_loss_matches_numpy_reference() -> None:
    y = labels(50, seed=9)
    z = logits(50)
    sup = draw(y, 0.4, 2)
    p = np_softmax(z.numpy())
    cand = sup.candidates.numpy()
    ref = -np.log((p * cand).sum(1)).mean()
    assert abs(float(cc_loss(z, sup)) - ref) < 1e-10


def test_cc_loss_gradient_matches_hand_derivation() -> None:
    # d/dz [-log sum_{j in S} p_j] = p - p restricted to S and renormalised; the mean divides by N
    y = labels(30, seed=10)
    z = logits(30).requires_grad_(True)
    sup = draw(y, 0.4, 2)
    cc_loss(z, sup).backward()
    p = np_softmax(z.detach().numpy())
    cand = sup.candidates.numpy()
    ps = p * cand
    ref = (p - ps / ps.sum(1, keepdims=True)) / 30
    assert np.allclose(z.grad.numpy(), ref, atol=1e-12)


def test_cc_loss_special_cases() -> None:
    z = logits(20)
    full = Supervision("candidates", torch.full((20,), -1), torch.ones(20, K, dtype=torch.bool),
                       torch.ones(20, dtype=torch.bool))
    assert abs(float(cc_loss(z, full))) < 1e-12  # every class allowed: nothing to learn
    y = labels(20, seed=11)
    single = Supervision("candidates", torch.full((20,), -1), torch.nn.functional.one_hot(y, K).bool(),
                         torch.ones(20, dtype=torch.bool))
    assert torch.allclose(cc_loss(z, single), torch.nn.functional.cross_entropy(z, y), atol=1e-12)


def test_empty_batch_gives_zero_with_gradient() -> None:
    z = logits(0).requires_grad_(True)
    sup = draw(torch.zeros(0, dtype=torch.long), 0.2)
    loss = cc_loss(z, sup)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert z.grad is not None and z.grad.shape == (0, K)


def test_cc_loss_ignores_unlabelled_samples() -> None:
    y = labels(10, seed=12)
    z = logits(10)
    sup = draw(y, 0.3, 3)
    cand = sup.candidates.clone()
    labelled = torch.ones(10, dtype=torch.bool)
    cand[:3] = False
    labelled[:3] = False
    masked = Supervision("candidates", sup.labels, cand, labelled)
    assert torch.allclose(cc_loss(z, masked), cc_loss(z[3:], sup.take(torch.arange(3, 10))), atol=1e-12)
