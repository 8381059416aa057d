"""Live progress of jobs that run in other processes: read from the store, forwarded to the caller's callback.

Workers (the local executor's worker processes, Ray tasks) publish their progress events to the store
(``progress/<job>``) exactly as a job in process does, tagged with their run (``JobEnv.run``: the event's ``"run"``);
the executor that started them holds a :class:`ProgressRelay` for that tag and, every time it looks at its running
jobs, forwards each job's newest event of its own run that it has not forwarded yet. Events of the same job that
another run published (a concurrent comparison computing the shared job, an earlier execution) are not forwarded.
Intermediate events between two looks are dropped (the newest one says everything); the terminal event (``done``,
``cached``, ``cancelled``, ``failed``) is forwarded by :meth:`ProgressRelay.finish`.
"""

from __future__ import annotations

from typing import Any

from engine.executors.base import EventFn
from engine.jobs.model import Job, JobOutcome
from engine.store import Store


class ProgressRelay:
    """Forwards the store's progress events that run ``run``'s workers published to ``on_event`` (``None``: nobody
    listens)."""

    def __init__(self, store: Store, on_event: EventFn | None, run: str) -> None:
        self.store = store
        self.on_event = on_event
        self.run = run
        self._seen: dict[str, float | None] = {}  # job key -> time of the last event already forwarded

    def forward(self, job: Job) -> dict[str, Any] | None:
        """Forward ``job``'s newest event if it is this run's and new; returns it (``None``: none of this run yet)."""
        event = self.store.progress(job.key)
        if event is None or event.get("run") != self.run:
            return None
        if event.get("time") != self._seen.get(job.key):
            self._seen[job.key] = event.get("time")
            if self.on_event is not None:
                self.on_event(job.key, event)
        return event

    def finish(self, job: Job, outcome: JobOutcome) -> None:
        """``job`` ended with ``outcome``: forward its last event, and a ``failed`` one when the worker died before
        it could publish one (the message is the outcome's error)."""
        event = self.forward(job)
        if outcome.status == "failed" and self.on_event is not None and (event is None or event["state"] != "failed"):
            self.on_event(job.key, {"job": job.key, "kind": job.kind, "label": job.label, "state": "failed",
                                    "done": 0, "total": 0, "message": outcome.error, "elapsed": 0.0})
