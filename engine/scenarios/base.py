"""Scenario contract: how the forget set is chosen from the training split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.data.base import ImageData
from engine.errors import SpecError
from engine.paradigms.base import Supervision
from engine.registry import Registry


@dataclass(frozen=True)
class Selection:
    """A scenario's output: one or more forget requests (indices into the training split).

    ``requests`` has one entry except for ``incremental``; the forget set is their union.
    ``forget_classes`` are classes removed entirely (their test samples form ``test_forget``);
    ``touched_classes`` are the classes with any forget sample. ``test_forget_mask`` marks the
    test samples of what is forgotten (class / subclass scenarios), else ``None``.
    """

    requests: tuple[torch.Tensor, ...]
    forget_classes: tuple[int, ...]
    touched_classes: tuple[int, ...]
    test_forget_mask: torch.Tensor | None


@dataclass(frozen=True)
class SelectInputs:
    """What a scenario may look at: the data, the observed supervision, the paradigm key and the seed's RNG."""

    data: ImageData
    supervision: Supervision
    paradigm: str
    generator: torch.Generator


@dataclass(frozen=True)
class Scenario:
    """A registered scenario: parameters config class and selection function."""

    key: str
    title: str
    config: type
    select: Callable[[SelectInputs, object], Selection]
    description: str
    source: str = ""
    paradigms: tuple[str, ...] | None = None  # None = any paradigm
    needs_groups: bool = False


SCENARIOS: Registry[Scenario] = Registry("scenario")


def check_class(c: int, num_classes: int, field: str = "forget_class") -> None:
    """Raise a :class:`SpecError` naming ``field`` if class ``c`` is out of range."""
    if not 0 <= c < num_classes:
        raise SpecError(field, f"class {c} is out of range; this dataset has classes 0..{num_classes - 1}")


def sample_fraction(idx: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """A seeded random subset of ``round(fraction * len(idx))`` indices (sorted)."""
    n = int(round(fraction * idx.numel()))
    perm = torch.randperm(idx.numel(), generator=generator)[:n]
    return idx.cpu()[perm].sort().values


def touched(y: torch.Tensor, idx: torch.Tensor) -> tuple[int, ...]:
    """The sorted classes present among samples ``idx``."""
    return tuple(int(c) for c in torch.unique(y.cpu()[idx.cpu()]).tolist())
