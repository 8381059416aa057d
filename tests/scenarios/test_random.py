"""``random``: a seeded fraction of the training set, or stratified over listed classes."""

from __future__ import annotations

import pytest
import torch

from engine.config import build_config
from engine.data import ImageData
from engine.errors import SpecError
from engine.scenarios.random_samples import RandomConfig, parse_classes
from tests.scenarios.conftest import TRAIN_COUNTS, assert_sorted_unique, make_data, members, select

N = sum(TRAIN_COUNTS)


@pytest.mark.parametrize("fraction", [0.0001, 0.1, 0.25, 0.5, 0.99])
def test_size_is_round_fraction_of_n(fraction: float) -> None:
    data = make_data()
    sel = select("random", data, RandomConfig(fraction=fraction))
    idx = sel.requests[0]
    assert len(sel.requests) == 1
    assert idx.numel() == int(round(fraction * N))
    assert_sorted_unique(idx)
    assert idx.numel() == 0 or (int(idx.min()) >= 0 and int(idx.max()) < N)
    assert sel.forget_classes == () and sel.test_forget_mask is None
    assert sel.touched_classes == tuple(sorted(set(data.y_train[idx].tolist())))


def test_real_digits_ten_percent(digits: ImageData) -> None:
    sel = select("random", digits, RandomConfig(fraction=0.1))
    n = digits.y_train.numel()
    assert sel.requests[0].numel() == round(0.1 * n)
    assert sel.touched_classes == tuple(range(10))


@pytest.mark.parametrize("classes,fraction", [("5,6", 0.4), ("0, 9 ,3", 0.5), ("7", 1 / 3)])
def test_listed_classes_are_stratified(classes: str, fraction: float) -> None:
    data = make_data()
    sel = select("random", data, RandomConfig(fraction=fraction, classes=classes))
    idx = sel.requests[0]
    listed = sorted(int(c) for c in classes.split(","))
    assert_sorted_unique(idx)
    got = torch.bincount(data.y_train[idx], minlength=10)
    for c in range(10):
        want = int(round(fraction * TRAIN_COUNTS[c])) if c in listed else 0
        assert int(got[c]) == want, c
    assert set(idx.tolist()) <= set(torch.cat([members(data, c) for c in listed]).tolist())
    assert sel.touched_classes == tuple(listed)


def test_seeded() -> None:
    data = make_data()
    cfg = RandomConfig(fraction=0.2)
    a, b, c = (select("random", data, cfg, seed=s).requests[0] for s in (3, 3, 4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    cfg = RandomConfig(fraction=0.3, classes="1,2")
    a, b, c = (select("random", data, cfg, seed=s).requests[0] for s in (3, 3, 4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_parse_classes() -> None:
    assert parse_classes("", 10) == ()
    assert parse_classes("   ", 10) == ()
    assert parse_classes("6, 5,5,", 10) == (5, 6)


@pytest.mark.parametrize("text", ["5,x", "1.5", "five", "10", "-1", "3,12"])
def test_bad_classes_string(text: str) -> None:
    with pytest.raises(SpecError) as e:
        select("random", make_data(), RandomConfig(fraction=0.2, classes=text))
    assert e.value.field == "classes"


def test_config_with_classes_builds() -> None:
    cfg = build_config(RandomConfig, {"fraction": "0.4", "classes": "5,6,7,8,9"}, "scenario")
    assert cfg == RandomConfig(fraction=0.4, classes="5,6,7,8,9")


def test_config_fraction_range() -> None:
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(SpecError) as e:
            build_config(RandomConfig, {"fraction": bad, "classes": "1"}, "scenario")
        assert e.value.field == "scenario.fraction"


def test_config_defaults_build() -> None:
    assert build_config(RandomConfig, {"fraction": 0.1}, "scenario") == RandomConfig(fraction=0.1)



def test_stratified_draws_the_fraction_from_every_class() -> None:
    """UGradSL Sec. 5.3: with ``stratified`` every class contributes round(fraction * n_c) samples."""
    from engine.scenarios.random_samples import RandomConfig
    from tests.scenarios.conftest import TRAIN_COUNTS, make_data, select

    data = make_data()
    sel = select("random", data, RandomConfig(fraction=0.2, stratified=True))
    counts = torch.bincount(data.y_train[sel.requests[0]], minlength=data.num_classes)
    assert counts.tolist() == [int(round(0.2 * n)) for n in TRAIN_COUNTS]
    plain = select("random", data, RandomConfig(fraction=0.2))
    assert plain.requests[0].numel() == int(round(0.2 * sum(TRAIN_COUNTS)))
