"""Read-only views over every registry (for the CLI's ``list`` and the dashboard's menus)."""

from __future__ import annotations

from engine.data import DATASETS
from engine.methods import METHODS
from engine.metrics import METRICS
from engine.models import MODELS
from engine.paradigms import PARADIGMS
from engine.scenarios import SCENARIOS


def describe(kind: str) -> list[tuple[str, str]]:
    """``(key, one-line description)`` for every component of ``kind``."""
    if kind == "datasets":
        return [(k, f"{d.title} - {d.num_classes} classes, {'x'.join(map(str, d.input_shape))}"
                 f"{' (offline)' if d.offline else ''}") for k, d in DATASETS.items()]
    if kind == "paradigms":
        return [(k, f"{p.title} - loss: {p.loss_name}") for k, p in PARADIGMS.items()]
    if kind == "scenarios":
        return [(k, f"{s.title} - {s.description}") for k, s in SCENARIOS.items()]
    if kind == "models":
        return [(k, m.title) for k, m in MODELS.items()]
    if kind == "methods":
        return [(k, f"{m.title} [{m.family}] - needs {m.needs.describe()}") for k, m in METHODS.items()]
    if kind == "metrics":
        return [(k, f"{m.title} ({m.direction})") for k, m in METRICS.items()]
    raise ValueError(kind)
