"""``supervised``: the true labels as one-hot supervision, cross-entropy loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.paradigms import PARADIGMS, Supervision, cross_entropy, one_hot_supervision
from tests.paradigms.conftest import K, gen, labels, logits, np_softmax

P = PARADIGMS.get("supervised")


def test_registered_metadata() -> None:
    assert P.key == "supervised"
    assert P.visible == "labels"
    assert P.rate_name is None and P.default_rate is None
    assert P.loss is cross_entropy


def test_supervision_is_the_true_labels_one_hot() -> None:
    y = labels(500)
    sup = P.supervise(y, K, None, 1.0, gen(0))
    assert sup.kind == "labels"
    assert torch.equal(sup.labels, y)
    assert sup.candidates.dtype == torch.bool and sup.candidates.shape == (500, K)
    assert torch.equal(sup.candidates.sum(1), torch.ones(500, dtype=torch.long))
    assert torch.equal(sup.candidates.float().argmax(1), y)
    assert bool(sup.labelled.all())
    assert len(sup) == 500


def test_seed_does_not_matter_and_is_deterministic() -> None:
    y = labels(300)
    a = P.supervise(y, K, None, 1.0, gen(1))
    b = P.supervise(y, K, None, 1.0, gen(1))
    c = P.supervise(y, K, None, 1.0, gen(2))
    for s in (b, c):
        assert torch.equal(a.labels, s.labels) and torch.equal(a.candidates, s.candidates)


def test_true_labels_never_modified_and_not_aliased() -> None:
    y = labels(300)
    before = y.clone()
    sup = P.supervise(y, K, None, 1.0, gen(0))
    sup.labels[:] = -1  # writing into the supervision must not reach the true labels
    assert torch.equal(y, before)


def test_one_hot_supervision_marks_minus_one_unlabelled() -> None:
    y = torch.tensor([2, -1, 0, -1])
    sup = one_hot_supervision(y, 3)
    assert torch.equal(sup.labelled, torch.tensor([True, False, True, False]))
    assert torch.equal(sup.candidates, torch.tensor([[0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool))
    taken = sup.take(torch.tensor([2, 0]))
    assert isinstance(taken, Supervision) and torch.equal(taken.labels, torch.tensor([0, 2]))


def test_loss_equals_torch_and_numpy_cross_entropy() -> None:
    y = labels(64, seed=5)
    z = logits(64)
    sup = P.supervise(y, K, None, 1.0, gen(0))
    got = P.loss(z, sup)
    assert torch.allclose(got, F.cross_entropy(z, y), atol=1e-12)
    ref = -np.log(np_softmax(z.numpy())[np.arange(64), y.numpy()]).mean()
    assert abs(float(got) - ref) < 1e-10


def test_loss_ignores_unlabelled_samples() -> None:
    y = labels(40, seed=6)
    z = logits(40)
    observed = y.clone()
    observed[::3] = -1
    sup = one_hot_supervision(observed, K)
    keep = observed >= 0
    assert torch.allclose(cross_entropy(z, sup), F.cross_entropy(z[keep], y[keep]), atol=1e-12)


def test_all_unlabelled_and_empty_batch_give_zero_with_gradient() -> None:
    for n, lab in ((5, -1), (0, 0)):
        z = logits(n).requires_grad_(True)
        sup = one_hot_supervision(torch.full((n,), lab, dtype=torch.long), K)
        loss = cross_entropy(z, sup)
        assert float(loss.detach()) == 0.0
        loss.backward()
        assert z.grad is not None and torch.equal(z.grad, torch.zeros_like(z))
