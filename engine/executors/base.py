"""Executor interface: runs a plan's jobs (in dependency order) against a store; local now, Ray later."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runner.jobs import Job

EventFn = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class ExecSettings:
    """Plain, picklable settings a worker needs to open the store and the data."""

    store_dir: Path
    data_dir: Path
    device: str = "auto"


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended in this execution."""

    status: str  # "done" | "cached" | "failed" | "cancelled" | "skipped"
    error: str = ""


class Executor(ABC):
    """Runs jobs; implementations must honour ``deps`` and never write partial results."""

    name: str = "executor"

    @abstractmethod
    def run(self, jobs: Sequence[Job], settings: ExecSettings, on_event: EventFn | None = None,
            cancel: threading.Event | None = None) -> dict[str, JobOutcome]:
        """Run ``jobs`` (given in a valid dependency order); return each job's outcome."""
