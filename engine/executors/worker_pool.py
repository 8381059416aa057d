"""Worker processes of the parallel local executor: started with ``spawn``, kept for every job of one run.

Each worker is a fresh interpreter (the ``spawn`` start method: a process with torch's thread pools running is never
forked) that imports the engine once (~1.5 s for torch, plus ~1 s of torch's lazy imports, see
:func:`engine.jobs.execution.warm_up`) and then runs job after job: it receives ``(job, threads)`` over its pipe,
calls :func:`engine.executors.base.run_one` against the run's store directory (the same claims, all-or-nothing
writes and progress events as in process; datasets stay loaded between jobs) and sends the
:class:`~engine.jobs.model.JobOutcome` back. When a run first needs a worker, as many start side by side as the run
has jobs left to compute (at most its size), so that their start-up overlaps.

A worker dies with its parent (a killed run leaves no worker computing on). Shared with the parent, per run: its
tag for progress events (``JobEnv.run``), a cancellation event (the workers' ``JobEnv.cancel``: a running job stops
at its next progress report and writes nothing) and one counter per worker, the most jobs the parent had running
during that worker's current job (its ``meta["run"]["concurrent"]``).

As with any ``spawn`` process, a script that starts a run must guard its top level with
``if __name__ == "__main__":`` (``python -m engine``, pytest and Streamlit do).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from engine.device import resolve_device
from engine.executors.base import ExecSettings, run_one
from engine.jobs.execution import JobEnv, warm_up
from engine.jobs.model import Job, JobOutcome
from engine.store import Store

STOP_SECONDS = 10.0  # how long closing waits for a worker to finish before it is terminated


PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal this process gets when its parent dies


def _die_with_parent(parent_pid: int) -> None:
    """End this worker as soon as its parent dies, as a job in the parent's own process would end: nothing
    written, its claim left to be broken by the next run. Linux: the kernel sends SIGKILL (``PR_SET_PDEATHSIG``);
    elsewhere a thread waits on the parent's sentinel."""
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        parent = multiprocessing.parent_process()
        if parent is not None:
            threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True, name="parent-watch").start()
    if os.getppid() != parent_pid:  # it died before we asked
        os._exit(1)


def worker_main(conn: Connection, settings: ExecSettings, slot: int, cancel: Any, peaks: Any, run: str,
                parent_pid: int) -> None:
    """A worker process: run the jobs the parent sends until it sends ``None`` or goes away."""
    _die_with_parent(parent_pid)
    warm_up()  # while the parent may still be deciding what to send
    store = Store(settings.store_dir)
    env = JobEnv(store, settings.data_dir, resolve_device(settings.device), cancel=cancel,
                 concurrent=lambda: int(peaks[slot]), run=run)
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent is gone
                return
            if message is None:
                return
            job, threads = message
            env.threads = threads
            conn.send(run_one(job, env))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the job wrote nothing, the parent reports
        return
    finally:
        store.close()


@dataclass
class _Worker:
    process: Any
    conn: Connection
    job: Job | None = None  # the job it runs now


class WorkerPool:
    """Up to ``size`` worker processes for one run against ``settings`` (device already resolved)."""

    def __init__(self, settings: ExecSettings, size: int) -> None:
        self.settings = settings
        self.ctx = multiprocessing.get_context("spawn")
        self.cancel_event = self.ctx.Event()
        self.peaks = self.ctx.Array("i", size, lock=False)  # per worker slot: the most jobs running during its job
        self.workers: dict[int, _Worker] = {}
        self.size = size
        self.run = uuid.uuid4().hex  # the tag of this run's progress events (``JobEnv.run``)

    # -- the parent's side -----------------------------------------------------------------------------------------
    def running(self) -> dict[int, Job]:
        """Worker slot -> the job it runs now."""
        return {slot: w.job for slot, w in self.workers.items() if w.job is not None}

    def prestart(self, n: int) -> None:
        """Start workers until ``n`` are alive (they import the engine at once, side by side, before any job)."""
        for slot in range(self.size):
            if sum(w.process.is_alive() for w in self.workers.values()) >= n:
                return
            if slot not in self.workers or not self.workers[slot].process.is_alive():
                self._spawn(slot)

    def start(self, job: Job, threads: int) -> int:
        """Send ``job`` to an idle worker (starting one if needed) to run with ``threads``; returns its slot."""
        slot = next((s for s, w in sorted(self.workers.items()) if w.job is None and w.process.is_alive()), None)
        if slot is None:
            slot = next(s for s in range(self.size) if s not in self.workers or not self.workers[s].process.is_alive())
            self._spawn(slot)
        worker = self.workers[slot]
        worker.job = job
        busy = self.running()
        self.peaks[slot] = len(busy)
        for s in busy:  # every job running now ran beside as many as are running
            self.peaks[s] = max(self.peaks[s], len(busy))
        worker.conn.send((job, threads))
        return slot

    def _spawn(self, slot: int) -> None:
        old = self.workers.pop(slot, None)
        if old is not None:
            old.conn.close()
        parent, child = self.ctx.Pipe()
        process = self.ctx.Process(target=worker_main, args=(child, self.settings, slot, self.cancel_event,
                                                             self.peaks, self.run, os.getpid()),
                                   name=f"unlearn-worker-{slot}", daemon=True)
        process.start()
        child.close()
        self.workers[slot] = _Worker(process, parent)

    def wait(self, timeout: float) -> list[tuple[Job, JobOutcome]]:
        """The jobs that ended within ``timeout`` seconds, with their outcomes (a worker that died: ``failed``)."""
        busy = {slot: w for slot, w in self.workers.items() if w.job is not None}
        if not busy:
            return []
        handles: dict[Any, int] = {}
        for slot, w in busy.items():
            handles[w.conn] = slot
            handles[w.process.sentinel] = slot
        ended: dict[int, JobOutcome] = {}
        for handle in wait(list(handles), timeout):
            slot = handles[handle]
            if slot in ended:
                continue
            w = busy[slot]
            try:
                outcome = w.conn.recv() if w.conn.poll() else None
            except (EOFError, OSError):
                outcome = None
            if outcome is None:  # no answer: the process died (killed, out of memory, ...)
                w.process.join(1.0)
                outcome = JobOutcome("failed", f"the worker process running it died (exit code "
                                               f"{w.process.exitcode})")
            ended[slot] = outcome
        out = []
        for slot, outcome in ended.items():
            job = busy[slot].job
            busy[slot].job = None
            out.append((job, outcome))
        return out

    def cancel(self) -> None:
        """Tell every worker's running job to stop (it writes nothing)."""
        self.cancel_event.set()

    def close(self, force: bool = False) -> None:
        """Stop the workers. ``force`` (the run is going down): cancel the running jobs first, and terminate a
        worker that has not stopped after :data:`STOP_SECONDS` (its claim is broken by the next run; nothing was
        written)."""
        if force:
            self.cancel()
        for w in self.workers.values():
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        for slot, w in self.workers.items():
            w.process.join(STOP_SECONDS if force or w.job is not None else None)
            if w.process.is_alive():
                logging.getLogger(__name__).warning("terminating worker %d (job %s)", slot,
                                                    None if w.job is None else w.job.label)
                w.process.terminate()
                w.process.join()
            w.conn.close()
        self.workers.clear()
