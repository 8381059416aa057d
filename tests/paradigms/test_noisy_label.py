"""``noisy_label``: symmetric label flips with rate r (to a different class, or the official draw), GCE loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.paradigms import PARADIGMS, Supervision, one_hot_supervision
from engine.paradigms.noisy_label import GCE_Q, gce_loss
from tests.paradigms.conftest import N_LARGE, K, gen, labels, logits, np_softmax

P = PARADIGMS.get("noisy_label")


def draw(y: torch.Tensor, r: float | None, seed: int = 0, **kw: object) -> Supervision:
    return P.supervise(y, K, r, 1.0, gen(seed), **kw)


def test_registered_metadata() -> None:
    assert P.visible == "labels"
    assert P.rate_name == "r" and P.default_rate == 0.2
    assert P.loss is gce_loss
    assert GCE_Q == 0.7


def test_supervision_is_one_hot_of_the_noisy_labels() -> None:
    y = labels(1000)
    sup = draw(y, 0.3)
    assert sup.kind == "labels"
    assert bool(sup.labelled.all())
    assert bool(((sup.labels >= 0) & (sup.labels < K)).all())
    assert torch.equal(sup.candidates, torch.nn.functional.one_hot(sup.labels, K).bool())


@pytest.mark.parametrize("kw", [{}, {"official": True}, {"classes": (1, 2)}])
def test_same_seed_same_labels_different_seed_different(kw: dict) -> None:
    y = labels(3000)
    a, b, c = draw(y, 0.3, 4, **kw), draw(y, 0.3, 4, **kw), draw(y, 0.3, 5, **kw)
    assert torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, c.labels)


@pytest.mark.parametrize("kw", [{}, {"official": True}, {"classes": (0, 3)}])
def test_true_labels_not_modified(kw: dict) -> None:
    y = labels(3000)
    before = y.clone()
    sup = draw(y, 0.5, **kw)
    assert torch.equal(y, before)
    assert not torch.equal(sup.labels, y)


@pytest.mark.parametrize("r", [0.1, 0.2, 0.45])
def test_flip_rate_is_r_and_flips_go_to_other_classes_uniformly(r: float) -> None:
    y = labels(N_LARGE)
    noisy = draw(y, r, 1).labels
    flipped = noisy != y
    assert abs(flipped.float().mean().item() - r) < 0.01
    # the new class of a flipped sample is uniform over the K-1 other classes: offset (noisy - y) mod K in 1..K-1
    offsets = ((noisy[flipped] - y[flipped]) % K)
    counts = torch.bincount(offsets, minlength=K).float() / offsets.numel()
    assert counts[0] == 0
    assert float((counts[1:] - 1 / (K - 1)).abs().max()) < 0.025


def test_default_rate_is_point_two() -> None:
    y = labels(N_LARGE)
    assert torch.equal(draw(y, None, 3).labels, draw(y, 0.2, 3).labels)


def test_rate_zero_keeps_labels() -> None:
    y = labels(2000)
    assert torch.equal(draw(y, 0.0).labels, y)


def test_classes_restricts_the_noise() -> None:
    y = labels(N_LARGE)
    noisy = draw(y, 0.3, 2, classes=(0, 1, 2, 3, 4)).labels
    inside = y < 5
    assert torch.equal(noisy[~inside], y[~inside])  # other classes untouched
    assert abs((noisy[inside] != y[inside]).float().mean().item() - 0.3) < 0.015
    # flipped samples may land in any other class, restricted ones included
    assert set(noisy[inside & (noisy != y)].unique().tolist()) == set(range(K))


def test_official_draws_from_all_classes() -> None:
    y = labels(N_LARGE)
    r = 0.4
    noisy = draw(y, r, 6, official=True).labels
    # the true class itself can be drawn: effective flip rate r (K-1)/K
    assert abs((noisy != y).float().mean().item() - r * (K - 1) / K) < 0.01
    counts = torch.bincount(noisy, minlength=K).float() / N_LARGE
    truth = torch.bincount(y, minlength=K).float() / N_LARGE
    # noisy distribution = (1 - r) * truth + r * uniform
    assert float((counts - ((1 - r) * truth + r / K)).abs().max()) < 0.01


def test_gce_matches_hand_formula() -> None:
    y = labels(64, seed=8)
    z = logits(64)
    sup = one_hot_supervision(y, K)
    p_y = np_softmax(z.numpy())[np.arange(64), y.numpy()]
    ref = ((1.0 - p_y ** 0.7) / 0.7).mean()
    assert abs(float(gce_loss(z, sup)) - ref) < 1e-10


def test_gce_gradient_matches_hand_derivation() -> None:
    # d/dz (1 - p_y^q)/q = -p_y^q (e_y - p); the mean divides by N
    y = labels(32, seed=9)
    z = logits(32).requires_grad_(True)
    gce_loss(z, one_hot_supervision(y, K)).backward()
    p = np_softmax(z.detach().numpy())
    e = np.eye(K)[y.numpy()]
    p_y = p[np.arange(32), y.numpy()]
    ref = -(p_y ** 0.7)[:, None] * (e - p) / 32
    assert np.allclose(z.grad.numpy(), ref, atol=1e-12)


def test_gce_is_bounded_by_one_over_q() -> None:
    y = torch.zeros(4, dtype=torch.long)
    z = torch.tensor([[-50.0] + [50.0] * (K - 1)] * 4, dtype=torch.float64)  # p_y ~ 0
    assert abs(float(gce_loss(z, one_hot_supervision(y, K))) - 1 / 0.7) < 1e-9


def test_empty_batch_gives_zero_with_gradient() -> None:
    z = logits(0).requires_grad_(True)
    loss = gce_loss(z, one_hot_supervision(torch.zeros(0, dtype=torch.long), K))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert z.grad is not None and z.grad.shape == (0, K)


def test_gce_ignores_unlabelled_samples() -> None:
    y = labels(12, seed=10)
    z = logits(12)
    observed = y.clone()
    observed[:4] = -1
    got = gce_loss(z, one_hot_supervision(observed, K))
    assert torch.allclose(got, gce_loss(z[4:], one_hot_supervision(y[4:], K)), atol=1e-12)


def test_pair_noise_flips_to_the_partner_only() -> None:
    """``pair``: a flipped label becomes its class's mutual partner (PGU Sec. 4.5); default k -> k+1 mod K."""
    y = torch.arange(K).repeat(200)
    noisy = draw(y, 0.4, 3, noise="pair", pairs="0-1,2-3").labels
    changed = noisy != y
    assert changed.any()
    assert set(y[changed].tolist()) <= {0, 1, 2, 3}
    partner = {0: 1, 1: 0, 2: 3, 3: 2}
    assert all(partner[int(a)] == int(b) for a, b in zip(y[changed], noisy[changed], strict=True))
    default = draw(y, 0.4, 3, noise="pair").labels
    moved = default != y
    assert torch.equal(default[moved], (y[moved] + 1) % K)
    assert abs(float(moved.float().mean()) - 0.4) < 0.05


def test_class_subset_noise_relabels_the_share_of_the_chosen_classes() -> None:
    """``class_subset`` (LAF Table 3): exactly round(r * n_c) samples of each chosen class get a wrong label."""
    y = torch.arange(K).repeat(50)
    noisy = draw(y, 0.6, 4, noise="class_subset", classes="0,1,2,3,4").labels
    for c in range(K):
        n_wrong = int((noisy[y == c] != c).sum())
        assert n_wrong == (30 if c < 5 else 0)
    only = draw(y, 0.6, 4, noise="class_subset", classes="0,1", targets="7,8").labels
    assert set(only[only != y].tolist()) <= {7, 8}


def test_noise_options_are_validated_with_the_field_named() -> None:
    from engine.errors import SpecError
    from engine.problem import resolve
    from engine.spec import ComparisonSpec

    ok = resolve(ComparisonSpec(paradigm="noisy_label", paradigm_params=(("noise", "pair"), ("train_loss", "ce"))))
    from engine.paradigms.base import cross_entropy
    assert ok.loss is cross_entropy
    assert resolve(ComparisonSpec(paradigm="noisy_label")).loss is P.loss  # GCE by default (UDRU)
    for params, field in (((("noise", "flip"),), "paradigm_params.noise"),
                          ((("noise", "symmetric"), ("pairs", "1-2")), "paradigm_params.pairs"),
                          ((("noise", "pair"), ("pairs", "1-12")), "paradigm_params.pairs"),
                          ((("classes", "a,b"),), "paradigm_params.classes"),
                          ((("train_loss", "mse"),), "paradigm_params.train_loss")):
        with pytest.raises(SpecError) as e:
            resolve(ComparisonSpec(paradigm="noisy_label", paradigm_params=params))
        assert e.value.field == field
    with pytest.raises(SpecError) as e:
        resolve(ComparisonSpec(paradigm="supervised", paradigm_params=(("noise", "pair"),)))
    assert e.value.field == "paradigm_params"


def test_noise_type_and_loss_are_part_of_the_problem_key() -> None:
    from engine.problem import resolve
    from engine.spec import ComparisonSpec

    keys = {resolve(ComparisonSpec(paradigm="noisy_label", paradigm_params=p)).problem_key(0)
            for p in ((), (("noise", "pair"),), (("train_loss", "ce"),))}
    assert len(keys) == 3
