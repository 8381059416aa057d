"""A job's inputs without the store: what a worker that cannot see the cache directory runs a job against.

:func:`input_keys` names the finished jobs whose results a job's body reads (its dependencies, its seed's problem and
the keys its payload names); the driver sends their metas and blobs (:class:`Inputs`), and the worker runs the
unchanged body through :func:`engine.jobs.execution.execute` against a :class:`DetachedStore`: a read-only view over
those inputs that records the ``put`` s instead of writing them, answers every claim (the driver holds the real one)
and hands progress events to a callback. The worker returns :attr:`DetachedStore.written` and the driver writes it to
its store in the same order and transactions as a job in process (side results first, the job's own last).

Blobs are fetched on first read (``fetch``: e.g. ``ray.get`` of an object reference), so a job receives only the
bytes it reads. Nothing here imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.jobs.model import EVALUATE, PROBLEM, TRAIN_STATE, UNLEARN, Job, Payload
from engine.store.store import JobResult


def input_keys(job: Job) -> tuple[str, ...]:
    """The job keys whose stored results ``job``'s body may read (sorted, without ``job.key``).

    Its dependencies, its seed's ``problem`` (every body but the problem's rebuilds and checks it), and the keys its
    payload names: the original of a ``train_state`` / ``unlearn`` job, an unlearn job's training-time states, an
    evaluation's model, retrain, retrain reference, timing source, preparations and metric records.
    """
    from engine.jobs.bodies import setting_of  # bodies import torch and the components: only when used

    keys = set(job.deps)
    p = job.payload
    if job.kind != PROBLEM and isinstance(p, Payload):
        keys.add(setting_of(p).problem_key(int(p.seed)))
    if job.kind in (TRAIN_STATE, UNLEARN):
        keys.add(p.original)
    if job.kind == UNLEARN:
        keys.update(p.train_state.values())
    if job.kind == EVALUATE:
        keys.update(k for k in (p.model_job, p.retrain_job, p.retrain_eval, p.seconds_from) if k)
        keys.update(p.prepared.values())
        keys.update(p.records.values())  # the metrics recorded for this model before (absent ones are not sent)
    keys.discard(job.key)
    return tuple(sorted(keys))


@dataclass
class Inputs:
    """The inputs shipped with one job: job key -> its stored meta, and (key, blob name) -> a handle that
    ``fetch`` turns into the blob's bytes."""

    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[tuple[str, str], Any] = field(default_factory=dict)


Written = list[tuple[str, dict[str, Any], dict[str, bytes]]]


class DetachedStore:
    """The store a detached job sees: its :class:`Inputs` read-only, and every ``put`` recorded in :attr:`written`.

    Answers what :mod:`engine.jobs.execution` and the bodies ask of a store (``has``, ``result``, ``blob``, ``put``,
    ``claim`` / ``release`` / ``claim_info``, ``set_progress``, ``progress``); a read of a key that was not shipped
    is a :class:`KeyError` naming it (a body reading an input :func:`input_keys` does not name).
    """

    def __init__(self, inputs: Inputs, fetch: Callable[[Any], bytes],
                 on_progress: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.inputs = inputs
        self._fetch = fetch
        self._on_progress = on_progress
        self._bytes: dict[tuple[str, str], bytes] = {}
        self._progress: dict[str, dict[str, Any]] = {}
        self.written: Written = []

    def has(self, key: str) -> bool:
        return key in self.inputs.metas or any(k == key for k, _, _ in self.written)

    def result(self, key: str) -> JobResult | None:
        meta = self.inputs.metas.get(key)
        return None if meta is None else JobResult(key, meta)

    def blob(self, key: str, name: str) -> bytes:
        if (key, name) not in self._bytes:
            if (key, name) not in self.inputs.blobs:
                raise KeyError(f"no blob {name!r} for job {key} among the inputs shipped to this worker")
            self._bytes[(key, name)] = bytes(self._fetch(self.inputs.blobs[(key, name)]))
        return self._bytes[(key, name)]

    def put(self, key: str, meta: dict[str, Any], blobs: dict[str, bytes]) -> None:
        """Record a result for the driver to write (``Store.put`` adds ``blobs`` and ``finished_at`` there)."""
        self.written.append((key, meta, blobs))

    def claim(self, key: str) -> bool:  # the driver claimed the key before it sent the job
        return True

    def release(self, key: str) -> None:
        pass

    def claim_info(self, key: str) -> dict[str, Any] | None:
        return None

    def set_progress(self, key: str, event: dict[str, Any]) -> None:
        self._progress[key] = event
        if self._on_progress is not None:
            self._on_progress(key, event)

    def progress(self, key: str) -> dict[str, Any] | None:
        return self._progress.get(key)

    def close(self) -> None:
        pass
