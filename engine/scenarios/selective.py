"""``selective``: forget n samples of one class (PGU: 500 of class 0; PPU: 100 of class 5, 25 small-scale)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.errors import SpecError
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection, check_class


@dataclass(frozen=True)
class SelectiveConfig:
    """Parameters of selective forgetting."""

    forget_class: int = param(0, "class the samples come from", range=(0, 999))
    count: int = param(25, "number of samples to forget (PGU 500, PPU 100 / 25)", range=(1, 10_000_000), cost="linear")


def select(inp: SelectInputs, cfg: SelectiveConfig) -> Selection:
    """A seeded random ``count`` samples of ``forget_class``."""
    check_class(cfg.forget_class, inp.data.num_classes)
    members = torch.nonzero(inp.data.y_train.cpu() == cfg.forget_class).flatten()
    if cfg.count > members.numel():
        raise SpecError("count", f"class {cfg.forget_class} has only {members.numel()} training samples, "
                                 f"cannot forget {cfg.count}")
    perm = torch.randperm(members.numel(), generator=inp.generator)[: cfg.count]
    idx = members[perm].sort().values
    return Selection((idx,), (), (cfg.forget_class,), None)


SCENARIOS.register(Scenario(
    key="selective", title="Selective (n of a class)", config=SelectiveConfig, select=select,
    description="Forget a fixed number of samples of one class.",
    source="PGU (500 of class 0), PPU (100 of class 5; 25 in small scale)",
))
