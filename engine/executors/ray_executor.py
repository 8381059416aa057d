"""Ray executor: every job is a Ray task that runs :func:`engine.jobs.execution.execute` in a worker.

Two modes (``RayExecutor(shared_storage=...)``, default ``$UNLEARN_RAY_SHARED``, off):

* **Detached** (the default): workers never open the store. The driver claims the job's key, sends the metas and
  blobs of the results its body reads (:func:`engine.jobs.detached.input_keys`; each blob ``ray.put`` once per run,
  fetched by the worker only when read) and runs nothing else; the task runs the unchanged body against a
  :class:`~engine.jobs.detached.DetachedStore` and returns the results it would have written, which the driver
  writes (side results first, then the job's own, one transaction each, as in process) before releasing the claim.
  Only the driver's machine needs the cache directory; claims still make two drivers compute a key once.
* **Shared storage**: workers open the *same* diskcache store directory as the driver, read their inputs from it
  and write their results to it (one transaction per job, exactly as in process), so the store stays the only
  shared state: claims still make two identical requests compute once, and a killed worker leaves nothing but a
  stale claim. On a multi-node cluster that needs the directory on shared storage with working file locks.

* **Dependencies.** A job is submitted once every dependency in this execution finished ``done`` or
  ``cached``; dependents of a failed, cancelled or skipped job are skipped with the same outcome and
  message as :class:`~engine.executors.local.LocalExecutor`. Independent jobs run in parallel, as
  many as the cluster's resources allow. Jobs already in the store are answered ``cached`` by the
  driver without a task.
* **Resources.** Each task asks for what its job declares (:class:`~engine.jobs.model.Resources`: one CPU,
  and the GPU share it takes when the cluster has GPUs and the spec does not ask for ``cpu`` --
  :data:`~engine.jobs.model.SMALL_JOB_GPU` of a GPU for models not marked ``large``, a whole GPU otherwise;
  ``RayExecutor(num_gpus=...)`` overrides the share). Ray restricts the worker's ``CUDA_VISIBLE_DEVICES``, so
  ``auto`` resolves to the assigned GPU.
* **Progress.** Workers publish progress events, tagged with the run: to the store (``progress/<job>``) as they
  do in process (shared storage), or to the run's :class:`Board` actor, which the driver drains into its store at
  every poll (detached; a job's last event comes back with its result). The driver then forwards every new event of
  its run to ``on_event`` (:class:`~engine.executors.progress.ProgressRelay`, shared with the local executor), so
  the CLI and the dashboard show the same live progress.
* **Run record.** ``meta["run"]["concurrent"]`` is ``null``: how many tasks ran beside a job on the cluster is
  not tracked.
* **Cancellation.** The driver raises a flag -- in the store (``flag/<run id>/cancel``) with shared storage, on the
  run's :class:`Board` when detached -- that a watcher thread in every running worker turns into the job's
  cancellation event (checked at each progress report: the job stops and writes nothing), and cancels the tasks
  that have not started yet.

Connection: ``RayExecutor(address=...)``, else ``$RAY_ADDRESS``, else a fresh local runtime (an
already initialised Ray is reused). On a local runtime the workers share the driver's filesystem and
``sys.path``. **On a multi-node cluster** every node must find the data directory at the same path (jobs load the
dataset there) and be able to import the same version of ``engine`` (install the project on the nodes, or pass
``runtime_env={"working_dir": ...}``); paths are resolved to absolute paths in the driver. Only with
``shared_storage=True`` must the cache directory be on storage every node mounts at the same path (NFS, a shared
volume; SQLite-on-network-filesystem caveats apply: prefer a filesystem with working POSIX locks).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from engine.device import resolve_device
from engine.executors.base import EventFn, ExecSettings, Executor, deps_pending, run_one, settle
from engine.executors.progress import ProgressRelay
from engine.jobs.detached import DetachedStore, Inputs, Written, input_keys
from engine.jobs.execution import JobEnv
from engine.jobs.model import Job, JobOutcome
from engine.store import Store

RAY_ADDRESS_ENV = "RAY_ADDRESS"
SHARED_ENV = "UNLEARN_RAY_SHARED"  # "1": workers open the driver's store directory (shared storage)
WATCH_SECONDS = 0.25  # how often a worker looks at its run's cancellation flag


def _cancel_flag(run_id: str) -> str:
    return f"{run_id}/cancel"


def _started_flag(run_id: str, job_key: str) -> str:
    return f"{run_id}/started/{job_key}"


def _watch(store: Store, flag: str, cancel: threading.Event, stop: threading.Event) -> None:
    """Worker side: turn the store's cancellation flag into ``cancel`` until ``stop`` is set."""
    while not stop.wait(WATCH_SECONDS):
        if store.has_flag(flag):
            cancel.set()
            return


def _untracked() -> int | None:
    """``JobEnv.concurrent`` of a Ray task: not tracked (``null`` in ``meta["run"]``)."""
    return None


def run_job(job: Job, settings: ExecSettings, run_id: str) -> tuple[str, str]:
    """Worker side of one task: ``execute`` the job against the shared store; returns ``(status, error)``.

    Errors are caught here (as :class:`~engine.executors.local.LocalExecutor` does) so that the driver
    gets the same messages; a cancelled or failed job writes nothing but its progress event.
    """
    store = Store(settings.store_dir)
    try:
        store.set_flag(_started_flag(run_id, job.key))
        if store.has_flag(_cancel_flag(run_id)):
            return "cancelled", ""
        device = "cuda" if settings.device.startswith("cuda") else settings.device  # Ray picks the GPU
        cancel, stop = threading.Event(), threading.Event()
        watcher = threading.Thread(target=_watch, args=(store, _cancel_flag(run_id), cancel, stop), daemon=True,
                                   name=f"cancel-watch-{job.key}")
        watcher.start()
        try:  # how many tasks ran beside it is not tracked on a cluster: meta["run"]["concurrent"] is null
            env = JobEnv(store, settings.data_dir, resolve_device(device), cancel=cancel, concurrent=_untracked,
                         run=run_id)
            outcome = run_one(job, env)
            return outcome.status, outcome.error
        finally:
            stop.set()
            watcher.join()
    finally:
        store.close()


class Board:
    """A detached run's meeting point (a Ray actor the driver creates per run): workers post progress events and
    whether they started; the driver drains the events and raises the cancellation flag."""

    def __init__(self) -> None:
        self._events: dict[str, dict[str, Any]] = {}
        self._started: set[str] = set()
        self._cancelled = False

    def publish(self, key: str, event: dict[str, Any]) -> None:
        self._events[key] = event

    def drain(self) -> dict[str, dict[str, Any]]:
        """The newest event of every job that posted one since the last drain."""
        events, self._events = self._events, {}
        return events

    def start(self, key: str) -> bool:
        """Record that ``key``'s task started; returns whether the run is cancelled."""
        self._started.add(key)
        return self._cancelled

    def started(self, key: str) -> bool:
        return key in self._started

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


def _watch_board(board: Any, cancel: threading.Event, stop: threading.Event) -> None:
    """Worker side of a detached task: turn the board's cancellation flag into ``cancel`` until ``stop`` is set."""
    import ray

    while not stop.wait(WATCH_SECONDS):
        if ray.get(board.cancelled.remote()):
            cancel.set()
            return


def run_detached(job: Job, settings: ExecSettings, run_id: str, inputs: Inputs, board: Any
                 ) -> tuple[str, str, Written, dict[str, Any] | None]:
    """Worker side of a detached task: ``execute`` the job against its shipped inputs, never opening a store.

    Returns ``(status, error, written, last event)``: ``written`` is what the job would have stored (side results,
    then its own; empty unless ``done``) for the driver to write, and the last event its progress it publishes.
    """
    import ray

    if ray.get(board.start.remote(job.key)):
        return "cancelled", "", [], None
    device = "cuda" if settings.device.startswith("cuda") else settings.device  # Ray picks the GPU
    view = DetachedStore(inputs, ray.get, on_progress=lambda key, event: board.publish.remote(key, event))
    cancel, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=_watch_board, args=(board, cancel, stop), daemon=True,
                               name=f"cancel-watch-{job.key}")
    watcher.start()
    try:
        env = JobEnv(view, settings.data_dir, resolve_device(device), cancel=cancel,  # type: ignore[arg-type]
                     concurrent=_untracked, run=run_id)
        outcome = run_one(job, env)
        return outcome.status, outcome.error, view.written if outcome.status == "done" else [], \
            view.progress(job.key)
    finally:
        stop.set()
        watcher.join()


def shared_default() -> bool:
    """``$UNLEARN_RAY_SHARED`` set to ``1`` / ``true`` / ``yes``: workers open the store directory themselves."""
    return os.environ.get(SHARED_ENV, "").strip().lower() in ("1", "true", "yes")


class RayExecutor(Executor):
    """Runs jobs as Ray tasks (in parallel where dependencies allow) against a shared store directory.

    Args:
        address: Ray cluster address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); default
            ``$RAY_ADDRESS``, else a local runtime started on first use.
        num_cpus: CPUs of a local runtime started here (default: all); ignored when connecting.
        num_gpus: GPU share per job; ``None`` takes what each job declares (``Job.resources.gpu``) when the
            cluster has GPUs and 0 otherwise; ``0`` forces CPU tasks.
        poll: seconds between two looks at the store's progress events (and at finished tasks).
        runtime_env: passed to ``ray.init`` when this executor starts or joins Ray (e.g. ``working_dir``
            for nodes that do not have the project installed); ``UNLEARN_*`` environment variables of
            the driver are added to its ``env_vars``.
        max_retries: Ray's retries of a task whose worker process died (jobs are idempotent).
        shared_storage: workers open the driver's store directory (it must be on shared storage on a multi-node
            cluster) instead of receiving their inputs and returning their results through Ray (detached); default
            :func:`shared_default`.
    """

    name = "ray"
    _connect_lock = threading.Lock()

    def __init__(self, address: str | None = None, num_cpus: int | None = None, num_gpus: float | None = None,
                 poll: float = 0.2, runtime_env: dict[str, Any] | None = None, max_retries: int = 0,
                 shared_storage: bool | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.poll = poll
        self.runtime_env = runtime_env
        self.max_retries = max_retries
        self.shared_storage = shared_default() if shared_storage is None else shared_storage
        self._remote: Any = None
        self._remote_detached: Any = None

    # -- connection ------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Join the configured cluster, or start a local runtime; reuses an initialised Ray."""
        import ray

        with self._connect_lock:
            if ray.is_initialized():
                return
            address = self.address or os.environ.get(RAY_ADDRESS_ENV) or None
            runtime_env = dict(self.runtime_env or {})
            settings = {k: v for k, v in os.environ.items() if k.startswith("UNLEARN_")}
            if settings:  # the engine's own settings (e.g. UNLEARN_VERIFY_CHECKSUMS) hold in the workers too
                runtime_env["env_vars"] = {**settings, **runtime_env.get("env_vars", {})}
            kwargs: dict[str, Any] = {"runtime_env": runtime_env} if runtime_env else {}
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, **kwargs)

    def _gpu_share(self, job: Job, cluster_gpus: float, device: str) -> float:
        """The GPU share ``job``'s task asks for: the override, else none on a CPU-only cluster or for a ``cpu``
        spec, else what the job declares (``job.resources.gpu``)."""
        if self.num_gpus is not None:
            return self.num_gpus
        if cluster_gpus <= 0 or device == "cpu":
            return 0.0
        return job.resources.gpu

    def _options(self, job: Job, gpus: float) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": job.resources.cpus, "max_retries": self.max_retries,
                                "name": job.label or job.key}
        if gpus > 0:
            opts["num_gpus"] = gpus
        return opts

    def _submit(self, job: Job, settings: ExecSettings, run_id: str, gpus: float) -> Any:
        import ray

        if self._remote is None:
            self._remote = ray.remote(run_job)
        return self._remote.options(**self._options(job, gpus)).remote(job, settings, run_id)

    def _submit_detached(self, job: Job, settings: ExecSettings, run_id: str, gpus: float, store: Store,
                         board: Any, refs: dict[tuple[str, str], Any]) -> Any:
        """Send ``job`` with the stored results its body reads (each blob ``ray.put`` once per run, in ``refs``)."""
        import ray

        if self._remote_detached is None:
            self._remote_detached = ray.remote(run_detached)
        inputs = Inputs()
        for key in input_keys(job):
            res = store.result(key)
            if res is None:  # not computed (e.g. an input this execution does not need): the body says so if read
                continue
            inputs.metas[key] = res.meta
            for name in res.meta.get("blobs", []):
                if (key, name) not in refs:
                    refs[(key, name)] = ray.put(store.blob(key, name))
                inputs.blobs[(key, name)] = refs[(key, name)]
        return self._remote_detached.options(**self._options(job, gpus)).remote(job, settings, run_id, inputs, board)

    # -- execution -------------------------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job], settings: ExecSettings, on_event: EventFn | None = None,
            cancel: threading.Event | None = None) -> dict[str, JobOutcome]:
        import ray
        from ray.exceptions import RayError, TaskCancelledError

        settings = replace(settings, store_dir=Path(settings.store_dir).expanduser().resolve(),
                           data_dir=Path(settings.data_dir).expanduser().resolve())
        cancel = cancel or threading.Event()
        store = Store(settings.store_dir)
        # the driver's own env only answers cached jobs (progress to the store and to on_event)
        env = JobEnv(store, settings.data_dir, torch.device("cpu"), cancel=cancel, on_progress=on_event)
        keys = {j.key for j in jobs}
        outcomes: dict[str, JobOutcome] = {}
        waiting = list(jobs)
        running: dict[Any, Job] = {}
        run_id = uuid.uuid4().hex
        submitted: list[str] = []
        claimed: set[str] = set()  # detached: keys this driver claimed for its workers
        refs: dict[tuple[str, str], Any] = {}  # detached: blobs already sent to the object store
        board: Any = None
        cancel_sent = False
        finished_cleanly = False
        relay = ProgressRelay(store, on_event, run_id)

        try:
            if jobs and any(not store.has(j.key) for j in jobs):
                self.connect()
                if not self.shared_storage:
                    board = ray.remote(Board).options(num_cpus=0).remote()
            cluster_gpus = float(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0.0
            while waiting or running:
                if cancel.is_set() and not cancel_sent:
                    cancel_sent = True
                    self._cancel(store, run_id, running, board=board)
                still: list[Job] = []
                held = False  # a ready job waits for another process's claim
                for job in waiting:
                    if deps_pending(job, keys, outcomes):
                        still.append(job)
                        continue
                    settled = settle(job, outcomes, cancel, env)
                    if settled is not None:
                        outcomes[job.key] = settled
                        continue
                    gpus = self._gpu_share(job, cluster_gpus, settings.device)
                    if self.shared_storage:
                        running[self._submit(job, settings, run_id, gpus)] = job
                    elif store.claim(job.key):  # claims live on the driver: its workers never see the store
                        claimed.add(job.key)
                        if store.has(job.key):  # finished between our check and our claim
                            store.release(job.key)
                            claimed.discard(job.key)
                            still.append(job)
                            continue
                        running[self._submit_detached(job, settings, run_id, gpus, store, board, refs)] = job
                    else:  # another live process computes it: look again at the next poll
                        still.append(job)
                        held = True
                        continue
                    submitted.append(job.key)
                if len(still) == len(waiting) and not running and not held:
                    raise RuntimeError("jobs wait for dependencies that never run (invalid job order)")
                waiting = still
                if not running:
                    if held:
                        time.sleep(self.poll)
                    continue
                ready, _ = ray.wait(list(running), num_returns=1, timeout=self.poll)
                if ready:
                    ready, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
                if board is not None:  # detached workers' events, into the store the relay reads
                    for key, event in ray.get(board.drain.remote()).items():
                        store.set_progress(key, event)
                for job in running.values():
                    relay.forward(job)
                for ref in ready:
                    job = running.pop(ref)
                    try:
                        if self.shared_storage:
                            status, error = ray.get(ref)
                        else:
                            status, error = self._finish_detached(job, ray.get(ref), store, claimed)
                    except TaskCancelledError:
                        status, error = "cancelled", ""
                    except RayError as e:  # the worker died, could not start, ...
                        status, error = "failed", f"Ray task failed: {type(e).__name__}: {e}"
                    if job.key in claimed:
                        store.release(job.key)
                        claimed.discard(job.key)
                    outcomes[job.key] = JobOutcome(status, error)
                    relay.finish(job, outcomes[job.key])
            finished_cleanly = True
        finally:
            if not finished_cleanly and running:  # the driver is going down: stop the workers
                self._cancel(store, run_id, running, force_started=True, board=board)
            else:
                store.clear_flag(_cancel_flag(run_id))
                for key in submitted:
                    store.clear_flag(_started_flag(run_id, key))
            for key in claimed:
                store.release(key)
            if board is not None:
                try:
                    ray.kill(board)
                except Exception:  # the runtime is already gone
                    pass
            store.close()
        return {j.key: outcomes[j.key] for j in jobs if j.key in outcomes}

    @staticmethod
    def _finish_detached(job: Job, returned: tuple[str, str, Written, dict[str, Any] | None], store: Store,
                         claimed: set[str]) -> tuple[str, str]:
        """Write what a detached task returned, as ``execute`` does in process: its results (side results first,
        one transaction each), then its last progress event; returns ``(status, error)``."""
        status, error, written, last = returned
        if status == "done":
            for key, meta, blobs in written:
                store.put(key, meta, blobs)
        seen = store.progress(job.key)  # the board may have delivered it already: forward it once
        if last is not None and (seen is None or {k: v for k, v in seen.items() if k != "time"} != last):
            store.set_progress(job.key, last)
        return status, error

    def _cancel(self, store: Store, run_id: str, running: dict[Any, Job], force_started: bool = False,
                board: Any = None) -> None:
        """Raise the run's cancellation flag and cancel the tasks that have not started."""
        import ray

        if board is not None:
            try:
                ray.get(board.cancel.remote())
            except Exception:  # the runtime is going away: cancel every task below
                force_started = True
        else:
            store.set_flag(_cancel_flag(run_id))
        for ref, job in list(running.items()):
            if force_started or not (ray.get(board.started.remote(job.key)) if board is not None
                                     else store.has_flag(_started_flag(run_id, job.key))):
                try:
                    ray.cancel(ref)
                except Exception:  # already finished, or the runtime is going away
                    pass
