"""``subclass``: one fine class (group) inside its coarse class; needs a dataset with groups."""

from __future__ import annotations

import pytest
import torch

from engine.data import ImageData
from engine.errors import SpecError
from engine.scenarios import SCENARIOS
from engine.scenarios.subclass import SubclassConfig
from tests.scenarios.conftest import gen, make_data, select

N_FINE, N_COARSE = 6, 3  # fine class g belongs to coarse class g // 2


def grouped(names: bool = True) -> ImageData:
    g_tr = torch.randint(0, N_FINE, (120,), generator=gen(5))
    g_tr[:N_FINE] = torch.arange(N_FINE)  # every fine class present
    g_te = torch.randint(0, N_FINE, (40,), generator=gen(6))
    g_te[:N_FINE] = torch.arange(N_FINE)
    return ImageData(
        name="grouped", x_train=torch.zeros(120, 1, 2, 2), y_train=g_tr // 2, x_test=torch.zeros(40, 1, 2, 2),
        y_test=g_te // 2, num_classes=N_COARSE, class_names=tuple(f"coarse{c}" for c in range(N_COARSE)),
        mean=(0.0,), std=(1.0,),
        groups_train=g_tr, groups_test=g_te,
        group_names=tuple(f"fine{g}" for g in range(N_FINE)) if names else (),
        group_parent=tuple(g // 2 for g in range(N_FINE)),
    )


def test_registered_needs_groups() -> None:
    sc = SCENARIOS.get("subclass")
    assert sc.needs_groups and sc.config is SubclassConfig


@pytest.mark.parametrize("g", range(N_FINE))
def test_forgets_the_fine_class_touches_its_parent(g: int) -> None:
    data = grouped()
    sel = select("subclass", data, SubclassConfig(forget_group=g))
    assert len(sel.requests) == 1
    assert torch.equal(sel.requests[0], torch.nonzero(data.groups_train == g).flatten())
    assert sel.touched_classes == (g // 2,)
    assert sel.forget_classes == ()  # the coarse class stays
    assert torch.equal(sel.test_forget_mask, data.groups_test == g)
    # the siblings of the same coarse class are kept
    sibling = g ^ 1
    assert not set(torch.nonzero(data.groups_train == sibling).flatten().tolist()) & set(sel.requests[0].tolist())


def test_does_not_depend_on_the_seed() -> None:
    data = grouped()
    a, b = (select("subclass", data, SubclassConfig(2), seed=s).requests[0] for s in (0, 1))
    assert torch.equal(a, b)


def test_no_groups_is_a_scenario_error() -> None:
    with pytest.raises(SpecError) as e:
        select("subclass", make_data(), SubclassConfig(forget_group=0))
    assert e.value.field == "scenario"


def test_no_groups_on_real_digits(digits: ImageData) -> None:
    with pytest.raises(SpecError) as e:
        select("subclass", digits, SubclassConfig(forget_group=0))
    assert e.value.field == "scenario"


@pytest.mark.parametrize("names", [True, False])
def test_group_out_of_range(names: bool) -> None:
    data = grouped(names)
    for g in (N_FINE, -1):
        with pytest.raises(SpecError) as e:
            select("subclass", data, SubclassConfig(forget_group=g))
        assert e.value.field == "forget_group"
    # without names the range comes from the largest group id
    assert select("subclass", data, SubclassConfig(forget_group=N_FINE - 1)).touched_classes == ((N_FINE - 1) // 2,)
