"""``class``: every training sample of one class; the test split's forget mask is that class."""

from __future__ import annotations

import pytest
import torch

from engine.config import build_config
from engine.data import ImageData
from engine.errors import SpecError
from engine.scenarios import SCENARIOS
from engine.scenarios.class_wise import ClassConfig
from tests.scenarios.conftest import TRAIN_COUNTS, make_data, members, select


def test_registered() -> None:
    sc = SCENARIOS.get("class")
    assert sc.config is ClassConfig and sc.paradigms is None and not sc.needs_groups


@pytest.mark.parametrize("c", [0, 4, 9])
def test_forgets_exactly_the_class(c: int) -> None:
    data = make_data()
    sel = select("class", data, ClassConfig(forget_class=c))
    assert len(sel.requests) == 1
    assert torch.equal(sel.requests[0], members(data, c))
    assert sel.requests[0].numel() == TRAIN_COUNTS[c]
    assert sel.forget_classes == (c,) and sel.touched_classes == (c,)
    assert torch.equal(sel.test_forget_mask, data.y_test == c)


def test_real_digits_class(digits: ImageData) -> None:
    sel = select("class", digits, ClassConfig(forget_class=3))
    assert torch.equal(sel.requests[0], torch.nonzero(digits.y_train == 3).flatten())
    assert int(sel.test_forget_mask.sum()) == int((digits.y_test == 3).sum())


def test_does_not_depend_on_the_seed() -> None:
    data = make_data()
    a, b = select("class", data, ClassConfig(2), seed=0), select("class", data, ClassConfig(2), seed=1)
    assert torch.equal(a.requests[0], b.requests[0])


@pytest.mark.parametrize("c", [10, 11, -1])
def test_class_out_of_range(c: int) -> None:
    with pytest.raises(SpecError) as e:
        select("class", make_data(), ClassConfig(forget_class=c))
    assert e.value.field == "forget_class"
    assert "0..9" in e.value.message


def test_config_coercion_and_range() -> None:
    assert build_config(ClassConfig, {"forget_class": "5"}, "scenario") == ClassConfig(5)
    assert build_config(ClassConfig, {}, "scenario") == ClassConfig(0)
    with pytest.raises(SpecError) as e:
        build_config(ClassConfig, {"forget_class": -1}, "scenario")
    assert e.value.field == "scenario.forget_class"
