"""``selective``: ``count`` seeded samples of one class."""

from __future__ import annotations

import pytest
import torch

from engine.data import ImageData
from engine.errors import SpecError
from engine.scenarios.selective import SelectiveConfig
from tests.scenarios.conftest import TRAIN_COUNTS, assert_sorted_unique, make_data, members, select


@pytest.mark.parametrize("c,count", [(0, 1), (5, 10), (4, 25), (8, TRAIN_COUNTS[8])])
def test_count_samples_of_the_class(c: int, count: int) -> None:
    data = make_data()
    sel = select("selective", data, SelectiveConfig(forget_class=c, count=count))
    idx = sel.requests[0]
    assert len(sel.requests) == 1
    assert idx.numel() == count
    assert_sorted_unique(idx)
    assert bool((data.y_train[idx] == c).all())
    assert sel.forget_classes == () and sel.touched_classes == (c,) and sel.test_forget_mask is None


def test_whole_class_count() -> None:
    data = make_data()
    sel = select("selective", data, SelectiveConfig(forget_class=2, count=TRAIN_COUNTS[2]))
    assert torch.equal(sel.requests[0], members(data, 2))


def test_real_digits(digits: ImageData) -> None:
    sel = select("selective", digits, SelectiveConfig(forget_class=5, count=25))
    assert sel.requests[0].numel() == 25 and bool((digits.y_train[sel.requests[0]] == 5).all())


def test_seeded() -> None:
    data = make_data()
    cfg = SelectiveConfig(forget_class=7, count=10)
    a, b, c = (select("selective", data, cfg, seed=s).requests[0] for s in (5, 5, 6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_count_larger_than_the_class() -> None:
    with pytest.raises(SpecError) as e:
        select("selective", make_data(), SelectiveConfig(forget_class=8, count=TRAIN_COUNTS[8] + 1))
    assert e.value.field == "count"


@pytest.mark.parametrize("c", [10, -1])
def test_class_out_of_range(c: int) -> None:
    with pytest.raises(SpecError) as e:
        select("selective", make_data(), SelectiveConfig(forget_class=c, count=1))
    assert e.value.field == "forget_class"
