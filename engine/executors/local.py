"""Local executor: the jobs of a run on this machine, in worker processes (one per core) or one after another.

``LocalExecutor(workers=N)``; ``workers=None`` takes ``$UNLEARN_WORKERS``, else one per usable core
(``os.sched_getaffinity``).

* ``workers=1``: every job in order in the calling thread (no process is started), as the engine always did.
* ``workers>1``: independent jobs run at once in worker processes (:mod:`engine.executors.worker_pool`: ``spawn``,
  kept alive for every job of the run). The calling thread is the scheduler: a job starts once every dependency in
  this execution finished ``done`` or ``cached`` and it fits the run's :class:`~engine.executors.capacity.Capacity`
  (cores, threads per job, the GPU's shares); cached jobs are answered without a worker, dependents of a failed
  job are skipped with the same message as in process. Workers write to the store exactly as a job in process
  does (claims: two processes never compute one key; one transaction per result); their progress events are read
  back from the store and forwarded to ``on_event`` (:class:`~engine.executors.progress.ProgressRelay`, as the
  Ray executor does); ``cancel`` is handed to the workers, whose running jobs stop at their next progress report
  and write nothing.

Jobs on small models run with the same single intra-op thread as in process, so a parallel run stores the same
numbers and bytes as a sequential one; see :mod:`engine.executors.capacity` for the extra threads of big models.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from engine.device import resolve_device
from engine.errors import SpecError
from engine.executors.base import EventFn, ExecSettings, Executor, blocked_reason, deps_pending, run_one, settle
from engine.executors.capacity import Capacity, usable_cores
from engine.executors.progress import ProgressRelay
from engine.executors.worker_pool import WorkerPool
from engine.jobs.execution import JobEnv
from engine.jobs.model import Job, JobOutcome
from engine.store import Store

WORKERS_ENV = "UNLEARN_WORKERS"
MAX_WORKERS = 256


def check_workers(value: object, where: str = "") -> int:
    """``value`` (an int or its text) as a worker count from 1 to :data:`MAX_WORKERS`; else a :class:`SpecError`
    naming ``workers`` (``where`` says where the value came from, e.g. ``UNLEARN_WORKERS=``)."""
    text = str(value).strip()
    try:
        n = value if isinstance(value, int) and not isinstance(value, bool) else int(text)
    except ValueError:
        n = None
    if n is None or not 1 <= n <= MAX_WORKERS:
        raise SpecError("workers", f"{where}{value!r} is not a worker count; give a whole number from 1 to "
                                   f"{MAX_WORKERS} (1 = in process, one job at a time)")
    return n


def default_workers() -> int:
    """``$UNLEARN_WORKERS``, else one worker per usable core; a bad value is a :class:`SpecError` naming
    ``workers``."""
    raw = os.environ.get(WORKERS_ENV, "")
    return check_workers(raw, f"{WORKERS_ENV}=") if raw.strip() else usable_cores()


class LocalExecutor(Executor):
    """Runs jobs on this machine: ``workers`` at once in worker processes, or in process one after another (``1``).

    Args:
        workers: jobs at once (``None``: :func:`default_workers`); 1 = in the calling thread, no process started.
        poll: seconds between two looks at the workers' progress (a finished job is noticed at once).
    """

    name = "local"

    def __init__(self, workers: int | None = None, poll: float = 0.2) -> None:
        self.workers = default_workers() if workers is None else check_workers(workers)
        self.poll = poll

    def run(self, jobs: Sequence[Job], settings: ExecSettings, on_event: EventFn | None = None,
            cancel: threading.Event | None = None) -> dict[str, JobOutcome]:
        if self.workers == 1:
            return self._run_in_process(jobs, settings, on_event, cancel)
        return self._run_in_workers(jobs, settings, on_event, cancel)

    def _run_in_process(self, jobs: Sequence[Job], settings: ExecSettings, on_event: EventFn | None,
                        cancel: threading.Event | None) -> dict[str, JobOutcome]:
        """Sequential in-process execution; failed jobs skip their dependents, other jobs go on."""
        store = Store(settings.store_dir)
        env = JobEnv(store, settings.data_dir, resolve_device(settings.device),
                     cancel=cancel or threading.Event(), on_progress=on_event)
        outcomes: dict[str, JobOutcome] = {}
        try:
            for job in jobs:
                reason = blocked_reason(job, outcomes)
                if env.cancel.is_set():
                    outcomes[job.key] = JobOutcome("cancelled")
                elif reason is not None:
                    outcomes[job.key] = JobOutcome("skipped", reason)
                else:
                    outcomes[job.key] = run_one(job, env)
        finally:
            store.close()
        return outcomes

    def _run_in_workers(self, jobs: Sequence[Job], settings: ExecSettings, on_event: EventFn | None,
                        cancel: threading.Event | None) -> dict[str, JobOutcome]:
        """Parallel execution in worker processes (see the module docstring)."""
        cancel = cancel or threading.Event()
        device = resolve_device(settings.device)
        settings = replace(settings, store_dir=Path(settings.store_dir).expanduser().resolve(),
                           data_dir=Path(settings.data_dir).expanduser().resolve(), device=str(device))
        store = Store(settings.store_dir)
        env = JobEnv(store, settings.data_dir, device, cancel=cancel, on_progress=on_event)  # answers cached jobs
        capacity = Capacity.for_run(self.workers, device.type)
        keys = {j.key for j in jobs}
        outcomes: dict[str, JobOutcome] = {}
        threads: dict[str, int] = {}  # running job -> its intra-op threads
        waiting = list(jobs)
        pool = WorkerPool(settings, self.workers)  # starts its workers only when a job needs one
        relay = ProgressRelay(store, on_event, pool.run)
        clean = False
        try:
            while waiting or pool.running():
                running = pool.running()
                if cancel.is_set():
                    pool.cancel()
                ready: list[Job] = []
                for job in waiting:
                    if deps_pending(job, keys, outcomes):
                        continue
                    settled = settle(job, outcomes, cancel, env)
                    if settled is not None:
                        outcomes[job.key] = settled
                    else:
                        ready.append(job)
                admitted = capacity.admit(ready, [(j, threads[j.key]) for j in running.values()])
                if admitted and not pool.workers:  # the first job to compute: start the workers side by side
                    pool.prestart(min(self.workers, len(waiting)))
                for job, n in admitted:
                    pool.start(job, n)
                    threads[job.key] = n
                started = {job.key for job, _ in admitted}
                still = [j for j in waiting if j.key not in outcomes and j.key not in started]
                stuck = len(still) == len(waiting)
                waiting = still
                if not pool.running():
                    if stuck and waiting:
                        raise RuntimeError("jobs wait for dependencies that never run (invalid job order)")
                    continue
                for job, outcome in pool.wait(self.poll):
                    outcomes[job.key] = outcome
                    relay.finish(job, outcome)
                    threads.pop(job.key, None)
                for job in pool.running().values():
                    relay.forward(job)
            clean = True
        finally:
            pool.close(force=not clean)
            store.close()
        return {j.key: outcomes[j.key] for j in jobs if j.key in outcomes}

