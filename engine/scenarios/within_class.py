"""``within_class``: forget a fraction of one class (UDRU: 20, 40, 60, 80, 100 %; UGradSL appendix)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection, check_class, sample_fraction


@dataclass(frozen=True)
class WithinClassConfig:
    """Parameters of within-class forgetting."""

    forget_class: int = param(0, "class whose samples are partly forgotten", range=(0, 999))
    fraction: float = param(0.2, "share of that class to forget (UDRU: 0.2 ... 1.0)", range=(0.0001, 1.0),
                            source="UDRU Tables 1-3", cost="linear")


def select(inp: SelectInputs, cfg: WithinClassConfig) -> Selection:
    """A seeded random ``fraction`` of the samples of ``forget_class``."""
    check_class(cfg.forget_class, inp.data.num_classes)
    members = torch.nonzero(inp.data.y_train.cpu() == cfg.forget_class).flatten()
    idx = sample_fraction(members, cfg.fraction, inp.generator)
    whole = cfg.fraction >= 1.0
    mask = (inp.data.y_test == cfg.forget_class) if whole else None
    return Selection((idx,), (cfg.forget_class,) if whole else (), (cfg.forget_class,), mask)


SCENARIOS.register(Scenario(
    key="within_class", title="Within one class", config=WithinClassConfig, select=select,
    description="Forget a share of one class's training samples (100 % equals class-wise forgetting).",
    source="UDRU (20-100 %), UGradSL appendix",
))
