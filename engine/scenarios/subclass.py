"""``subclass``: forget one fine class inside a coarse class (UGradSL's group forgetting, Sec. 5.4.1).

The model classifies the 20 CIFAR-100 super-classes; the forget set is every training sample of one
of the 100 fine classes. As in the paper, the test split is not modified: ``test_forget`` is the
forgotten sub-class's test samples, ``test_retain`` the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.errors import SpecError
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection


@dataclass(frozen=True)
class SubclassConfig:
    """Parameters of group (sub-class) forgetting."""

    forget_group: int = param(0, "fine class (sub-class) to forget; its super-class stays", range=(0, 999))


def select(inp: SelectInputs, cfg: SubclassConfig) -> Selection:
    """All training samples of fine class ``forget_group``."""
    data = inp.data
    if data.groups_train is None or data.groups_test is None:
        raise SpecError("scenario", f"'subclass' needs a dataset with sub-classes (cifar100 with coarse labels); "
                                    f"{data.name} has none")
    n_groups = len(data.group_names) or int(data.groups_train.max()) + 1
    if not 0 <= cfg.forget_group < n_groups:
        raise SpecError("forget_group", f"sub-class {cfg.forget_group} is out of range 0..{n_groups - 1}")
    idx = torch.nonzero(data.groups_train.cpu() == cfg.forget_group).flatten()
    parent = int(data.y_train.cpu()[idx[0]]) if idx.numel() else -1
    mask = data.groups_test == cfg.forget_group
    return Selection((idx,), (), (parent,) if parent >= 0 else (), mask)


SCENARIOS.register(Scenario(
    key="subclass", title="Sub-class (group)", config=SubclassConfig, select=select, needs_groups=True,
    description="Forget one fine class inside its super-class (CIFAR-100 trained on the 20 coarse labels).",
    source="UGradSL group forgetting (Sec. 5.4)",
))
