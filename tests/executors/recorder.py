"""What the executor tests share: a thread-safe ``on_event`` callback that keeps every progress event, and a run
cancelled once its trainings have started."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from engine.runner import run_comparison


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


def cancelled_run(spec: Any, plan: Any, cache_dir: Path, data_dir: Path, executor: Any) -> tuple[Any, set[str]]:
    """Run ``spec`` with ``executor`` in a thread, cancel it once a training (original / retrain) has reported its
    first epoch, wait for the run to end; returns its result and the training jobs' keys."""
    training = {j.key for j in plan.jobs if j.kind in ("original", "retrain")}
    cancel, started = threading.Event(), threading.Event()

    def on_event(key: str, e: dict) -> None:
        if key in training and e["state"] == "running" and e.get("done", 0) >= 1:
            started.set()

    out: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: out.update(res=run_comparison(
        spec, cache_dir=cache_dir, data_dir=data_dir, executor=executor, on_event=on_event, cancel=cancel)))
    worker.start()
    assert started.wait(120), "no training progress arrived from the workers"
    cancel.set()
    worker.join(120)
    assert not worker.is_alive()
    return out["res"], training
