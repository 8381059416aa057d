"""``random``: forget a random fraction of the training set across all classes (UGradSL: 10 %).

``classes`` optionally restricts the draw to some classes, stratified per class (LAF's data
removal: 40 % of each of classes 5-9). ``stratified`` draws the fraction from every class separately
(UGradSL Sec. 5.3: "select data randomly from every class ... making sure all the classes are selected",
10 % of the training set); off, the draw is uniform over the whole training set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.errors import SpecError
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection, check_class, sample_fraction, touched


@dataclass(frozen=True)
class RandomConfig:
    """Parameters of random forgetting."""

    fraction: float = param(0.1, "share of the training set (or of each listed class) to forget",
                            range=(0.0001, 0.99), source="UGradSL: 10 %", cost="linear")
    classes: str = param("", "comma-separated classes to draw from, stratified (empty = all classes; "
                             "LAF's data removal: 5,6,7,8,9 with fraction 0.4)")
    stratified: bool = param(False, "draw the fraction from every class separately, so every class is selected "
                                    "in proportion (always so when classes are listed)",
                             source="UGradSL Sec. 5.3 (random forgetting across all classes)")


def parse_classes(text: str, num_classes: int) -> tuple[int, ...]:
    """Parse ``"5,6,7"`` into validated class indices."""
    if not text.strip():
        return ()
    items = [t.strip() for t in text.split(",") if t.strip()]  # lenient: "6, 5,5," is the set {5, 6}
    if not all(t.isascii() and t.lstrip("-").isdigit() for t in items):
        raise SpecError("classes", f"expected comma-separated integers, got {text!r}")
    out = tuple(sorted({int(t) for t in items}))
    for c in out:
        check_class(c, num_classes, "classes")
    return out


def select(inp: SelectInputs, cfg: RandomConfig) -> Selection:
    """A seeded random ``fraction`` of all training samples, or of each listed class."""
    y = inp.data.y_train.cpu()
    classes = parse_classes(cfg.classes, inp.data.num_classes)
    if not classes and cfg.stratified:
        classes = tuple(range(inp.data.num_classes))
    if classes:
        parts = [sample_fraction(torch.nonzero(y == c).flatten(), cfg.fraction, inp.generator) for c in classes]
        idx = torch.cat(parts).sort().values
    else:
        idx = sample_fraction(torch.arange(y.numel()), cfg.fraction, inp.generator)
    return Selection((idx,), (), touched(y, idx), None)


SCENARIOS.register(Scenario(
    key="random", title="Random samples", config=RandomConfig, select=select,
    description="Forget a random share of the training set across all classes (or stratified over chosen classes).",
    source="UGradSL (10 %), LAF data removal (40 % of classes 5-9)",
))
