"""Executor interface: runs a plan's jobs (in dependency order) against a store: in process or on Ray.

Executors sit on the job layer (:mod:`engine.jobs`: :class:`Job`, :class:`JobOutcome`, ``execute``) and know nothing
of comparisons. ``JobOutcome`` is re-exported here. The helpers below are what every executor shares: when a job is
ready (:func:`deps_pending`), the outcome it gets without running (:func:`settle`: cancelled, skipped, cached) and
the outcome of running it (:func:`run_one`), so that in-process, worker-process and Ray runs end alike.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import RunFailed
from engine.jobs.execution import Cancelled, JobEnv, execute
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


def deps_pending(job: Job, keys: Collection[str], outcomes: dict[str, JobOutcome]) -> bool:
    """Whether a dependency of ``job`` that is part of this execution (``keys``) has not ended yet."""
    return any(d in keys and d not in outcomes for d in job.deps)


def settle(job: Job, outcomes: dict[str, JobOutcome], cancel: threading.Event, env: JobEnv) -> JobOutcome | None:
    """The outcome a ready job gets without running: ``cancelled`` (the run is cancelled), ``skipped`` (a dependency
    did not finish, :func:`blocked_reason`) or ``cached`` (its result exists; the ``cached`` event is published
    through ``env``); ``None`` when it must run."""
    if cancel.is_set():
        return JobOutcome("cancelled")
    reason = blocked_reason(job, outcomes)
    if reason is not None:
        return JobOutcome("skipped", reason)
    if env.store.has(job.key):
        env.progress(job, "cached")
        return JobOutcome("cached")
    return None


def run_one(job: Job, env: JobEnv) -> JobOutcome:
    """``execute`` one job and say how it ended; errors become ``failed`` outcomes (a crashing method must not stop
    the others), a cancellation ``cancelled``. Shared by the in-process, worker-process and Ray executors."""
    try:
        return JobOutcome(execute(job, env))
    except Cancelled:
        return JobOutcome("cancelled")
    except RunFailed as e:
        return JobOutcome("failed", str(e))
    except Exception as e:
        logging.getLogger(__name__).debug("job %s failed", job.label, exc_info=True)
        return JobOutcome("failed", f"{type(e).__name__}: {e}")
