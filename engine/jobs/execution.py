"""Running one job against the store: its environment, the claim protocol, and writing its result.

:func:`execute` returns at once if the job's result exists; otherwise it claims the key (``Store.claim``: only one
process computes a key at a time, a dead process's claim on this host is broken), runs the kind's body
(:func:`engine.jobs.bodies.body_for`) and writes the body's side results, then its own meta and blobs, each in one
transaction. An interruption at any point leaves no partial result.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from engine.data import ImageData, load_dataset
from engine.errors import NotApplicable, RunFailed
from engine.jobs.bodies import body_for
from engine.jobs.model import Job, as_meta
from engine.rng import fix_threads
from engine.store import Store


def _alone() -> int | None:
    """``JobEnv.concurrent`` of an executor that runs one job at a time: this one."""
    return 1


class Cancelled(Exception):
    """The user cancelled the comparison; the running job stops and writes nothing."""


@dataclass
class JobEnv:
    """What an executor hands a job: store, data directory, device, cancellation and progress.

    ``threads``: the intra-op thread count a CPU job runs with (``None``: :func:`engine.rng.thread_count`; a worker
    process of the parallel local executor sets it per job); ``concurrent``: the most jobs the executor had running
    at once during this one, itself included, read when its result is written (``None``: not tracked, e.g. Ray);
    ``run``: a tag put in every progress event this environment publishes (``"run"``), so that an executor relaying
    its workers' events from the store forwards its own and not another run's events of the same job.
    ``cancel`` is anything with ``is_set()`` (a ``threading.Event``, or a ``multiprocessing`` one in a worker).
    """

    store: Store
    data_dir: Path
    device: torch.device
    cancel: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[str, dict[str, Any]], None] | None = None
    threads: int | None = None
    concurrent: Callable[[], int | None] = _alone
    run: str | None = None
    _data: dict[tuple[str, bool], ImageData] = field(default_factory=dict)

    def dataset(self, name: str, coarse: bool) -> ImageData:
        """The dataset on the device, loaded once per environment."""
        if (name, coarse) not in self._data:
            self._data[(name, coarse)] = load_dataset(name, self.data_dir, coarse=coarse, device=self.device)
        return self._data[(name, coarse)]

    def progress(self, job: Job, state: str, done: int = 0, total: int = 0, message: str = "",
                 started: float | None = None, **fields: Any) -> None:
        """Publish a progress event (store + callback); raises :class:`Cancelled` when cancelled.

        ``fields``: extra JSON values the event carries, e.g. a training loop's per-epoch ``epoch``, ``loss``,
        ``acc`` (:func:`engine.training.loop.report`); they never replace the keys above.
        """
        event = {**fields, "job": job.key, "kind": job.kind, "label": job.label, "state": state, "done": done,
                 "total": total, "message": message,
                 "elapsed": 0.0 if started is None else time.perf_counter() - started}
        if self.run is not None:
            event["run"] = self.run
        self.store.set_progress(job.key, event)
        if self.on_progress is not None:
            self.on_progress(job.key, event)
        if state == "running" and self.cancel.is_set():
            raise Cancelled(job.label)

    def reporter(self, job: Job, started: float) -> JobProgress:
        """The ``progress(done, total, message, **fields)`` callback a job body hands its loops."""
        return JobProgress(self, job, started)


@dataclass(frozen=True, eq=False)
class JobProgress:
    """A running job's progress callback: ``(done, total, message, **fields)`` publishes a ``running`` event with
    the loop's per-epoch ``fields`` (``takes_fields``: :func:`engine.training.loop.report` passes them)."""

    env: JobEnv
    job: Job
    started: float
    takes_fields: ClassVar[bool] = True

    def __call__(self, done: int, total: int, message: str, **fields: Any) -> None:
        self.env.progress(self.job, "running", done, total, message, self.started, **fields)


WAIT_ENV = "UNLEARN_WAIT_TIMEOUT"
DEFAULT_WAIT = 6 * 3600.0  # seconds a job waits for another live process computing the same key
WAIT_NOTE_EVERY = 30.0  # seconds between "waiting for ..." progress events


def wait_limit() -> float:
    """Seconds to wait for another process's claim: ``$UNLEARN_WAIT_TIMEOUT`` (default 6 h)."""
    raw = os.environ.get(WAIT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_WAIT
    except ValueError:
        return DEFAULT_WAIT
    return value if value >= 0 and value == value else DEFAULT_WAIT


def _claim(job: Job, env: JobEnv, poll: float) -> bool:
    """Claim ``job``'s key, waiting for another live process's claim; ``False`` if its result exists.

    Publishes "waiting for process P on H" every :data:`WAIT_NOTE_EVERY` s and gives up (:class:`RunFailed`) after
    :func:`wait_limit` seconds; raises :class:`Cancelled` when cancelled while waiting.
    """
    store = env.store
    waited_since: float | None = None
    last_note = 0.0
    limit = wait_limit()
    while True:
        if store.has(job.key):
            return False
        if store.claim(job.key):
            return True
        if env.cancel.is_set():
            raise Cancelled(job.label)
        now = time.time()
        waited_since = now if waited_since is None else waited_since
        owner = store.claim_info(job.key) or {}
        who = (f"process {owner.get('pid', '?')} on {owner.get('host', '?')} (claimed "
               f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(owner.get('since', now))))})")
        if now - waited_since > limit:
            raise RunFailed(f"gave up after {limit:g} s waiting for {who} to finish {job.label}; if that process is "
                            f"gone, run again (a dead process's claim on this host is broken automatically) or raise "
                            f"${WAIT_ENV}")
        if now - last_note >= WAIT_NOTE_EVERY:  # say what we wait for, not on every poll
            env.progress(job, "waiting", message=f"waiting for {who} to finish it "
                                                  f"(gives up after {limit:g} s; ${WAIT_ENV})")
            last_note = now
        time.sleep(poll)


@functools.cache
def warm_up() -> None:
    """Pay, once per process, what torch imports lazily when the first optimiser is built (~1 s of CPU:
    ``torch._dynamo``), so that no job's clocks (the first training's, or a method's in a fresh worker) include it."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def pin_threads(env: JobEnv) -> int:
    """Pin torch's intra-op threads for a job in ``env``: ``env.threads`` on a CPU device when an executor chose a
    count, else :func:`engine.rng.fix_threads`; returns the count in use."""
    if env.threads is not None and env.device.type == "cpu":
        if torch.get_num_threads() != env.threads:
            torch.set_num_threads(env.threads)
        return torch.get_num_threads()
    return fix_threads(env.device)


def execute(job: Job, env: JobEnv, poll: float = 0.2) -> str:
    """Run ``job`` unless its result exists; returns ``"cached"``, ``"done"``; raises on failure.

    CPU jobs run with a fixed intra-op thread count (:func:`pin_threads`); the stored meta's ``run`` records device,
    threads, torch version, wall seconds, process CPU seconds, this thread's CPU seconds and ``concurrent`` (the most
    jobs the executor had running during this one, see :class:`JobEnv`); side results get the same ``run``, and no
    ``kind``/``label``.
    """
    store = env.store
    if not _claim(job, env, poll):
        env.progress(job, "cached")
        return "cached"
    begun = time.perf_counter()  # the terminal events' elapsed seconds
    try:
        if store.has(job.key):  # finished between our check and our claim
            env.progress(job, "cached")
            return "cached"
        warm_up()
        threads = pin_threads(env)
        wall0, cpu0, tcpu0 = time.perf_counter(), time.process_time(), time.thread_time()
        out = body_for(job.kind)(job, env)
        run_info = {"device": str(env.device), "threads": threads, "torch": torch.__version__,
                    "wall_seconds": time.perf_counter() - wall0, "cpu_seconds": time.process_time() - cpu0,
                    "thread_cpu_seconds": time.thread_time() - tcpu0, "concurrent": env.concurrent()}
        for key, (side_meta, side_blobs) in out.side.items():
            store.put(key, {**as_meta(side_meta), "run": run_info}, side_blobs)
        meta = as_meta(out.meta)
        store.put(job.key, {**meta, "kind": job.kind, "label": job.label, "run": run_info}, out.blobs)
        env.progress(job, "done", message=f"{meta.get('seconds', 0.0):.2f}s" if "seconds" in meta else "",
                     started=begun)
        return "done"
    except Cancelled:
        env.progress(job, "cancelled", started=begun)
        raise
    except NotApplicable as e:
        env.progress(job, "not_applicable", message=e.reason, started=begun)
        raise
    except Exception as e:  # published like every other state: to the store and to the executor's callback
        env.progress(job, "failed", message=f"{type(e).__name__}: {e}", started=begun)
        raise
    finally:
        store.release(job.key)
