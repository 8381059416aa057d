"""``within_class``: a seeded fraction of one class; at 100 % it is class-wise forgetting."""

from __future__ import annotations

import pytest
import torch

from engine.data import ImageData
from engine.errors import SpecError
from engine.scenarios.within_class import WithinClassConfig
from tests.scenarios.conftest import TRAIN_COUNTS, assert_sorted_unique, make_data, members, select


@pytest.mark.parametrize("c,fraction", [(0, 0.2), (1, 0.4), (4, 0.6), (8, 0.8), (7, 0.5)])
def test_fraction_of_one_class(c: int, fraction: float) -> None:
    data = make_data()
    sel = select("within_class", data, WithinClassConfig(forget_class=c, fraction=fraction))
    idx = sel.requests[0]
    assert len(sel.requests) == 1
    assert idx.numel() == int(round(fraction * TRAIN_COUNTS[c]))
    assert_sorted_unique(idx)
    assert bool((data.y_train[idx] == c).all())
    assert sel.forget_classes == () and sel.test_forget_mask is None
    assert sel.touched_classes == (c,)


def test_whole_class_is_class_wise() -> None:
    data = make_data()
    sel = select("within_class", data, WithinClassConfig(forget_class=3, fraction=1.0))
    assert torch.equal(sel.requests[0], members(data, 3))
    assert sel.forget_classes == (3,) and sel.touched_classes == (3,)
    assert torch.equal(sel.test_forget_mask, data.y_test == 3)


def test_real_digits(digits: ImageData) -> None:
    sel = select("within_class", digits, WithinClassConfig(forget_class=5, fraction=0.2))
    n_c = int((digits.y_train == 5).sum())
    assert sel.requests[0].numel() == round(0.2 * n_c)
    assert bool((digits.y_train[sel.requests[0]] == 5).all())


def test_tiny_fraction_selects_nothing() -> None:
    sel = select("within_class", make_data(), WithinClassConfig(forget_class=0, fraction=0.001))
    assert sel.requests[0].numel() == 0


def test_seeded() -> None:
    data = make_data()
    cfg = WithinClassConfig(forget_class=4, fraction=0.4)
    a, b, c = (select("within_class", data, cfg, seed=s).requests[0] for s in (0, 0, 1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("c", [10, -1])
def test_class_out_of_range(c: int) -> None:
    with pytest.raises(SpecError) as e:
        select("within_class", make_data(), WithinClassConfig(forget_class=c, fraction=0.5))
    assert e.value.field == "forget_class"
