"""Forgetting scenarios. Importing this package registers every scenario."""

from engine.scenarios import (  # noqa: F401  (registration)
    class_wise,
    incremental,
    noisy_samples,
    random_samples,
    selective,
    subclass,
    within_class,
)
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection

__all__ = ["SCENARIOS", "Scenario", "SelectInputs", "Selection"]
