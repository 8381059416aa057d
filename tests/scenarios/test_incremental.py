"""``incremental``: ``steps`` disjoint seeded requests of ``count`` samples, balanced over classes."""

from __future__ import annotations

import pytest
import torch

from engine.data import ImageData
from engine.errors import SpecError
from engine.scenarios.incremental import IncrementalConfig
from tests.scenarios.conftest import TRAIN_COUNTS, assert_sorted_unique, make_data, select


def per_class_share(count: int, k: int = 10) -> list[int]:
    """Equal shares of ``count`` over ``k`` classes; the remainder goes to the first classes."""
    return [count // k + (1 if c < count % k else 0) for c in range(k)]


@pytest.mark.parametrize("count,steps", [(50, 4), (20, 1), (13, 3), (10, 2), (5, 4)])
def test_disjoint_balanced_requests(count: int, steps: int) -> None:
    data = make_data()
    sel = select("incremental", data, IncrementalConfig(count=count, steps=steps))
    assert len(sel.requests) == steps
    seen: set[int] = set()
    for r in sel.requests:
        assert r.numel() == count
        assert_sorted_unique(r)
        assert not seen & set(r.tolist())
        seen |= set(r.tolist())
        assert torch.bincount(data.y_train[r], minlength=10).tolist() == per_class_share(count)
    union = torch.tensor(sorted(seen))
    assert sel.touched_classes == tuple(sorted(set(data.y_train[union].tolist())))
    assert sel.forget_classes == () and sel.test_forget_mask is None


def test_one_class() -> None:
    data = make_data()
    sel = select("incremental", data, IncrementalConfig(count=5, steps=4, forget_class=6))
    assert [r.numel() for r in sel.requests] == [5] * 4
    union = torch.cat(sel.requests)
    assert union.unique().numel() == 20
    assert bool((data.y_train[union] == 6).all())
    assert sel.touched_classes == (6,)


def test_real_digits_pgu_like(digits: ImageData) -> None:
    sel = select("incremental", digits, IncrementalConfig(count=100, steps=4))
    union = torch.cat(sel.requests)
    assert union.unique().numel() == 400
    assert torch.bincount(digits.y_train[union], minlength=10).tolist() == [40] * 10
    assert sel.touched_classes == tuple(range(10))


def test_seeded() -> None:
    data = make_data()
    cfg = IncrementalConfig(count=20, steps=3)
    a, b, c = (select("incremental", data, cfg, seed=s).requests for s in (2, 2, 3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_count_too_large() -> None:
    # class 8 has 22 samples: 3 requests of 8 from it alone need 24
    with pytest.raises(SpecError) as e:
        select("incremental", make_data(), IncrementalConfig(count=8, steps=3, forget_class=8))
    assert e.value.field == "count"
    # balanced: 10 steps x 3 per class = 30 > 22 samples of class 8
    with pytest.raises(SpecError) as e:
        select("incremental", make_data(), IncrementalConfig(count=30, steps=10))
    assert e.value.field == "count"
    assert min(TRAIN_COUNTS) == 22


@pytest.mark.parametrize("c", [10, -1])
def test_class_out_of_range(c: int) -> None:
    with pytest.raises(SpecError) as e:
        select("incremental", make_data(), IncrementalConfig(count=2, steps=1, forget_class=c))
    assert e.value.field == "forget_class"
