"""In-process executor: runs jobs one after another in the calling thread (the default)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from engine.device import resolve_device
from engine.errors import RunFailed
from engine.executors.base import EventFn, ExecSettings, Executor, blocked_reason
from engine.jobs.execution import Cancelled, JobEnv, execute
from engine.jobs.model import Job, JobOutcome
from engine.store import Store


class LocalExecutor(Executor):
    """Sequential in-process execution; failed jobs skip their dependents, other jobs go on."""

    name = "local"

    def run(self, jobs: Sequence[Job], settings: ExecSettings, on_event: EventFn | None = None,
            cancel: threading.Event | None = None) -> dict[str, JobOutcome]:
        store = Store(settings.store_dir)
        env = JobEnv(store, settings.data_dir, resolve_device(settings.device),
                     cancel=cancel or threading.Event(), on_progress=on_event)
        outcomes: dict[str, JobOutcome] = {}
        try:
            for job in jobs:
                reason = blocked_reason(job, outcomes)
                if env.cancel.is_set():
                    outcomes[job.key] = JobOutcome("cancelled")
                    continue
                if reason is not None:
                    outcomes[job.key] = JobOutcome("skipped", reason)
                    continue
                try:
                    outcomes[job.key] = JobOutcome(execute(job, env))
                except Cancelled:
                    outcomes[job.key] = JobOutcome("cancelled")
                except RunFailed as e:
                    outcomes[job.key] = JobOutcome("failed", str(e))
                except Exception as e:  # a crashing method must not stop the others
                    outcomes[job.key] = JobOutcome("failed", f"{type(e).__name__}: {e}")
                    logging.getLogger(__name__).debug("job %s failed", job.label, exc_info=True)
        finally:
            store.close()
        return outcomes
