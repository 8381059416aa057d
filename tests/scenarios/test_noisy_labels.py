"""``noisy_labels``: the training samples whose observed (noisy) label differs from the true one."""

from __future__ import annotations

import pytest
import torch

from engine.data import ImageData
from engine.scenarios import SCENARIOS
from engine.scenarios.noisy_samples import NoisyConfig
from tests.scenarios.conftest import assert_sorted_unique, make_data, select, supervision


def test_requires_the_noisy_label_paradigm() -> None:
    assert SCENARIOS.get("noisy_labels").paradigms == ("noisy_label",)


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_forgets_exactly_the_mislabelled(rate: float) -> None:
    data = make_data()
    sup = supervision(data, "noisy_label", rate, seed=2)
    sel = select("noisy_labels", data, NoisyConfig(), sup=sup, paradigm="noisy_label")
    wrong = torch.nonzero(sup.labels != data.y_train).flatten()
    assert wrong.numel() > 0
    assert len(sel.requests) == 1
    assert torch.equal(sel.requests[0], wrong)
    assert sel.forget_classes == () and sel.test_forget_mask is None
    # touched classes are the true classes of those samples
    assert sel.touched_classes == tuple(sorted(set(data.y_train[wrong].tolist())))


def test_hand_made_noise() -> None:
    data = make_data()
    observed = data.y_train.clone()
    flip = torch.tensor([0, 5, 17, 100])
    observed[flip] = (observed[flip] + 1) % 10
    sup = supervision(data)  # replace its labels with the hand-made noisy ones
    sup = type(sup)("labels", observed, sup.candidates, sup.labelled)
    sel = select("noisy_labels", data, NoisyConfig(), sup=sup, paradigm="noisy_label")
    assert sel.requests[0].tolist() == flip.tolist()
    assert sel.touched_classes == tuple(sorted(set(data.y_train[flip].tolist())))


def test_fraction_of_the_mislabelled_is_seeded() -> None:
    data = make_data()
    sup = supervision(data, "noisy_label", 0.4, seed=3)
    wrong = set(torch.nonzero(sup.labels != data.y_train).flatten().tolist())
    cfg = NoisyConfig(fraction=0.5)
    a, b, c = (select("noisy_labels", data, cfg, seed=s, sup=sup, paradigm="noisy_label").requests[0]
               for s in (1, 1, 2))
    assert a.numel() == int(round(0.5 * len(wrong)))
    assert set(a.tolist()) <= wrong
    assert_sorted_unique(a)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_true_labels_give_an_empty_forget_set(digits: ImageData) -> None:
    sel = select("noisy_labels", digits, NoisyConfig(), sup=supervision(digits))
    assert sel.requests[0].numel() == 0
