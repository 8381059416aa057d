"""``class``: forget every training sample of one class (LAF, UGradSL, PGU, PPU class removal).

The test split is divided into ``test_forget`` (that class) and ``test_retain`` (the others).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection, check_class


@dataclass(frozen=True)
class ClassConfig:
    """Parameters of class-wise forgetting."""

    forget_class: int = param(0, "class to forget (LAF: 0, PPU: 5)", range=(0, 999))


def select(inp: SelectInputs, cfg: ClassConfig) -> Selection:
    """All training samples of ``forget_class``."""
    check_class(cfg.forget_class, inp.data.num_classes)
    idx = torch.nonzero(inp.data.y_train.cpu() == cfg.forget_class).flatten()
    mask = inp.data.y_test == cfg.forget_class
    return Selection((idx,), (cfg.forget_class,), (cfg.forget_class,), mask)


SCENARIOS.register(Scenario(
    key="class", title="Class-wise", config=ClassConfig, select=select,
    description="Forget a whole class; the test split is split into the forgotten and the remaining classes.",
    source="LAF (class 0), UGradSL, PGU (classes 0-4 TinyImageNet), PPU (class 5)",
))
