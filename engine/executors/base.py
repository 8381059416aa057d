"""Executor interface: runs a plan's jobs (in dependency order) against a store: in process or on Ray.

Executors sit on the job layer (:mod:`engine.jobs`: :class:`Job`, :class:`JobOutcome`, ``execute``) and know nothing
of comparisons. ``JobOutcome`` is re-exported here.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.jobs.model import Job, JobOutcome

EventFn = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class ExecSettings:
    """Plain, picklable settings a worker needs to open the store and the data."""

    store_dir: Path
    data_dir: Path
    device: str = "auto"


class Executor(ABC):
    """Runs jobs; implementations must honour ``deps`` and never write partial results."""

    name: str = "executor"

    @abstractmethod
    def run(self, jobs: Sequence[Job], settings: ExecSettings, on_event: EventFn | None = None,
            cancel: threading.Event | None = None) -> dict[str, JobOutcome]:
        """Run ``jobs`` (given in a valid dependency order); return each job's outcome."""


def blocked_reason(job: Job, outcomes: dict[str, JobOutcome]) -> str | None:
    """Why ``job`` must be skipped (a dependency ended but did not finish), or ``None``.

    Dependencies without an outcome (not part of this execution) count as satisfied, as in
    :class:`~engine.executors.local.LocalExecutor`.
    """
    bad = [d for d in job.deps if d in outcomes and outcomes[d].status not in ("done", "cached")]
    if not bad:
        return None
    return f"depends on a job that did not finish: {outcomes[bad[0]].error or outcomes[bad[0]].status}"
