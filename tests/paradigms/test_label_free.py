"""``label_free``: true labels for a seeded labelled fraction, -1 elsewhere; CE on the labelled part; kind "none"."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.paradigms import PARADIGMS, Supervision, cross_entropy
from tests.paradigms.conftest import K, gen, labels, logits, np_softmax

P = PARADIGMS.get("label_free")


def draw(y: torch.Tensor, fraction: float, seed: int = 0) -> Supervision:
    return P.supervise(y, K, None, fraction, gen(seed))


def test_registered_metadata() -> None:
    assert P.visible == "none"
    assert P.rate_name is None
    assert P.loss is cross_entropy


@pytest.mark.parametrize("fraction", [0.1, 0.37, 0.5, 0.999])
def test_labelled_fraction_share_kept_rest_unlabelled(fraction: float) -> None:
    n = 5000
    y = labels(n)
    sup = draw(y, fraction)
    kept = sup.labels >= 0
    assert int(kept.sum()) == int(round(fraction * n))
    assert torch.equal(sup.labels[kept], y[kept])  # kept labels are the true ones
    assert bool((sup.labels[~kept] == -1).all())
    assert torch.equal(sup.labelled, kept)
    assert not bool(sup.candidates[~kept].any())
    assert torch.equal(sup.candidates[kept], F.one_hot(y[kept], K).bool())
    assert sup.kind == "none"


def test_full_fraction_keeps_every_label() -> None:
    y = labels(1000)
    sup = draw(y, 1.0)
    assert torch.equal(sup.labels, y) and bool(sup.labelled.all()) and sup.kind == "none"


def test_same_seed_same_mask_different_seed_different() -> None:
    y = labels(2000)
    a, b, c = draw(y, 0.5, 1), draw(y, 0.5, 1), draw(y, 0.5, 2)
    assert torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labelled, c.labelled)


@pytest.mark.parametrize("fraction", [0.3, 1.0])
def test_true_labels_not_modified(fraction: float) -> None:
    y = labels(2000)
    before = y.clone()
    sup = draw(y, fraction)
    sup.labels[:] = -1
    assert torch.equal(y, before)


def test_loss_is_cross_entropy_on_the_labelled_part() -> None:
    y = labels(80, seed=3)
    z = logits(80)
    sup = draw(y, 0.4, 5)
    keep = sup.labelled
    got = P.loss(z, sup)
    assert torch.allclose(got, F.cross_entropy(z[keep], y[keep]), atol=1e-12)
    p = np_softmax(z.numpy())
    ref = -np.log(p[keep.numpy(), y[keep].numpy()]).mean()
    assert abs(float(got) - ref) < 1e-10


def test_unlabelled_samples_do_not_get_gradient() -> None:
    y = labels(40, seed=4)
    z = logits(40).requires_grad_(True)
    sup = draw(y, 0.5, 6)
    P.loss(z, sup).backward()
    assert torch.equal(z.grad[~sup.labelled], torch.zeros_like(z.grad[~sup.labelled]))
    assert bool((z.grad[sup.labelled].abs().sum(1) > 0).all())


def test_no_labelled_sample_and_empty_batch_give_zero_with_gradient() -> None:
    y = labels(6, seed=5)
    sup = Supervision("none", torch.full((6,), -1), torch.zeros(6, K, dtype=torch.bool),
                      torch.zeros(6, dtype=torch.bool))
    for z, s in ((logits(6), sup), (logits(0), draw(y[:0], 1.0))):
        z.requires_grad_(True)
        loss = P.loss(z, s)
        assert float(loss.detach()) == 0.0
        loss.backward()
        assert z.grad is not None and torch.equal(z.grad, torch.zeros_like(z))
