"""A thread-safe ``on_event`` callback that keeps every progress event (shared by the executor tests)."""

from __future__ import annotations

import threading


class Recorder:
    """Records ``(job key, event)`` pairs as an executor reports them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, key: str, event: dict) -> None:
        with self.lock:
            self.events.append((key, dict(event)))

    def states(self, state: str) -> list[str]:
        """Keys of the jobs that reported ``state``, in order."""
        return [k for k, e in self.events if e["state"] == state]
