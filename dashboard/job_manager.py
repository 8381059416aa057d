"""Comparisons running in the background for the dashboard: one thread per comparison, progress, cancel.

Plain Python (no Streamlit calls: its worker threads have no session); a page keeps one instance per cache
directory with ``st.cache_resource``. It runs comparisons only through :mod:`engine.api`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.results import Results, stored_results
from engine import api

FINISHED = ("done", "cached", "failed", "cancelled", "not_applicable", "skipped")  # job states that ended


@dataclass
class _Run:
    spec: api.ComparisonSpec
    plan: api.Plan | None
    cancel: threading.Event
    started: float
    executor: str = "local"
    workers: int | None = None  # local executor's worker processes (None: its default)
    state: str = "running"  # running | done | failed | cancelled
    ticket: str | None = None  # demo mode: place in the run queue
    error: str = ""
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: float | None = None
    thread: threading.Thread | None = None


class JobManager:
    """Runs comparisons in background threads and answers status, progress and result per comparison key.

    Thread-safe; worker threads only touch this object and the engine, never Streamlit.
    """

    def __init__(self, cache_dir: Path | str, data_dir: Path | str | None = None,
                 queue: api.RunQueue | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.data_dir = Path(data_dir) if data_dir is not None else api.default_data_dir()
        self.queue = queue  # demo mode: at most ``queue.slots`` comparisons run at once, the others wait in order
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._executors: dict[str, api.Executor] = {}

    def _executor(self, name: str, workers: int | None = None) -> api.Executor:
        """One executor per name (and local worker count) for this server (a Ray connection is made once)."""
        with self._lock:
            key = name if workers is None else f"{name}:{workers}"
            if key not in self._executors:
                self._executors[key] = (api.make_executor(name) if workers is None
                                        else api.make_executor(name, workers=workers))
            return self._executors[key]

    def start(self, spec: api.ComparisonSpec, p: api.Plan | None = None, executor: str = "local",
              workers: int | None = None) -> str:
        """Start ``spec`` unless it is already running; returns its comparison key (non-blocking). ``workers``: the
        local executor's worker processes (``None``: its default, one per core)."""
        api.check_demo(spec, self.data_dir)  # the demo caps the page and the CLI apply (no-op outside demo mode)
        key = spec.comparison_key()
        with self._lock:
            cur = self._runs.get(key)
            if cur is not None and cur.state == "running":
                return key
            run = _Run(spec, p, threading.Event(), time.time(), executor, workers=workers)
            if self.queue is not None:
                run.ticket = self.queue.join()
            run.thread = threading.Thread(target=self._work, args=(key, run), daemon=True, name=f"compare-{key}")
            self._runs[key] = run
        run.thread.start()
        return key

    def _work(self, key: str, run: _Run) -> None:
        def on_event(job_key: str, event: dict[str, Any]) -> None:
            with self._lock:
                run.events[job_key] = {**event, "time": time.time()}

        try:
            if run.plan is None:
                p = api.plan(run.spec, self.data_dir)
                with self._lock:
                    run.plan = p
            admitted = True
            if self.queue is not None and run.ticket is not None:
                admitted = self.queue.wait_turn(run.ticket, run.cancel)
            if admitted:
                api.run(run.spec, cache_dir=self.cache_dir, data_dir=self.data_dir,
                        executor=self._executor(run.executor, run.workers), on_event=on_event, cancel=run.cancel,
                        plan=run.plan)
            state, error = ("cancelled" if run.cancel.is_set() else "done"), ""
        except api.SpecError as e:
            state, error = "failed", str(e)
        except Exception as e:  # shown on the page; the thread must not die silently
            state, error = "failed", f"{type(e).__name__}: {e}"
        finally:
            if self.queue is not None and run.ticket is not None:
                self.queue.leave(run.ticket)
        with self._lock:
            run.state, run.error, run.finished = state, error, time.time()

    def status(self, key: str) -> str:
        """``idle`` (never started here), ``running``, ``done``, ``failed`` or ``cancelled``."""
        with self._lock:
            run = self._runs.get(key)
            return "idle" if run is None else run.state

    def queue_position(self, key: str) -> int | None:
        """Demo mode: ``0`` while the run holds a slot, ``k`` while ``k - 1`` runs wait before it; else ``None``."""
        with self._lock:
            run = self._runs.get(key)
        if run is None or run.ticket is None or self.queue is None or run.state != "running":
            return None
        return self.queue.position(run.ticket)

    def error(self, key: str) -> str:
        with self._lock:
            run = self._runs.get(key)
            return "" if run is None else run.error

    def cancel(self, key: str) -> None:
        with self._lock:
            run = self._runs.get(key)
        if run is not None:
            run.cancel.set()

    def wait(self, key: str, timeout: float | None = None) -> str:
        """Block until the run ends (for scripts and tests); returns its status."""
        with self._lock:
            run = self._runs.get(key)
        if run is not None and run.thread is not None:
            run.thread.join(timeout)
        return self.status(key)

    def progress(self, key: str) -> pd.DataFrame:
        """One row per job of the run: job, state, step (done/total), message, elapsed seconds."""
        cols = ["job", "kind", "state", "step", "progress", "message", "elapsed (s)"]
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.plan is None:
                return pd.DataFrame(columns=cols)
            jobs = list(run.plan.jobs)
            events = {k: dict(v) for k, v in run.events.items()}
            running = run.state == "running"
        rows = []
        for j in jobs:
            e = events.get(j.key)
            state = e["state"] if e else ("queued" if running else "not run")
            done, total = (int(e.get("done", 0)), int(e.get("total", 0))) if e else (0, 0)
            if state in ("done", "cached"):
                frac = 1.0
            else:
                frac = done / total if total else 0.0
            elapsed = float(e.get("elapsed", 0.0)) if e else 0.0
            if e and state == "running":
                elapsed += time.time() - e["time"]  # time since the last event
            rows.append({"job": j.label, "kind": j.kind, "state": state,
                         "step": f"{done}/{total}" if total else "", "progress": frac,
                         "message": e.get("message", "") if e else "", "elapsed (s)": round(elapsed, 1)})
        return pd.DataFrame(rows, columns=cols)

    def result(self, key: str) -> Results | None:
        """The finished (or partly finished) run's results, read from the store."""
        with self._lock:
            run = self._runs.get(key)
        if run is None or run.plan is None:
            return None
        return stored_results(run.plan, self.cache_dir)
