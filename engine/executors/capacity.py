"""How many jobs the parallel local executor runs at once, and with how many intra-op threads each.

A machine's cores are a budget of threads. Every job runs with the base count (``$UNLEARN_THREADS``, default 1, as
in process), at most ``workers`` jobs at a time, and a job starts only while its threads fit in the budget (so two
jobs never fight over one core unless ``workers`` asks for more jobs than cores; then the budget is one thread per
worker). On a CUDA device the jobs also share
the one GPU: a job takes its declared share (:attr:`engine.jobs.model.Resources.gpu`: a quarter for small models, the
whole GPU for ``large`` ones) and starts only while the shares fit.

**Wider jobs (opt-in, ``UNLEARN_WIDEN=1``).** When every ready job has started and cores are still idle, jobs on
big models (a model marked ``large``, e.g. ResNets, or a job declaring ``Resources.cpus > 1``) share those idle
cores as extra intra-op threads. The count a job ran with is in its ``meta["run"]["threads"]``. Float reductions
are summed in another order with another thread count, so such a job's numbers would depend on how many jobs
happened to be ready: widening is off by default (the same spec gives the same numbers on the same device).
``$UNLEARN_THREADS`` pins every job to that count and also turns widening off; small models are never widened.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from engine.jobs.model import Job
from engine.rng import THREADS_ENV, thread_count

WIDEN_ENV = "UNLEARN_WIDEN"  # "1": idle cores go to big jobs as extra threads (numbers may differ in the last bits)
GPU_SLACK = 1e-9  # shares that add up to one GPU (4 x 0.25) fit


def usable_cores() -> int:
    """The cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is missing)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def is_big(job: Job) -> bool:
    """Whether ``job`` may get extra threads: its model is marked ``large``, or it declares several CPUs."""
    from engine.models import MODELS

    if job.resources.cpus > 1:
        return True
    spec = getattr(job.payload, "spec", None)
    model = spec.get("model") if isinstance(spec, dict) else None
    return isinstance(model, str) and model in MODELS and bool(MODELS.get(model).large)


@dataclass(frozen=True)
class Capacity:
    """The budget of one parallel run: ``workers`` jobs at most, ``cores`` threads, ``base`` threads per job;
    ``widen``: idle cores go to big jobs; ``gpu``: jobs share one CUDA device by their declared shares."""

    workers: int
    cores: int
    base: int
    widen: bool
    gpu: bool

    @classmethod
    def for_run(cls, workers: int, device_type: str, cores: int | None = None) -> Capacity:
        """The budget of a run on a ``device_type`` device (``cpu`` | ``cuda``) with ``workers`` processes."""
        pinned = bool(os.environ.get(THREADS_ENV, "").strip())
        opted = os.environ.get(WIDEN_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        return cls(workers=workers, cores=usable_cores() if cores is None else cores, base=thread_count(),
                   widen=device_type == "cpu" and opted and not pinned, gpu=device_type == "cuda")

    def admit(self, ready: Sequence[Job], running: Sequence[tuple[Job, int]]) -> list[tuple[Job, int]]:
        """Which of the ``ready`` jobs (in order) start now beside ``running`` ((job, threads) pairs), and with how
        many threads each. First come, first served: a job that does not fit stops the ones behind it (a big job is
        never overtaken for ever). With nothing running the first ready job always starts."""
        limit = max(self.cores, self.workers)  # more workers than cores: the caller's choice, one thread each
        used = sum(t for _, t in running)
        share = sum(j.resources.gpu for j, _ in running) if self.gpu else 0.0
        chosen: list[Job] = []
        for job in ready:
            if len(running) + len(chosen) >= self.workers:
                break
            alone = not running and not chosen
            need = job.resources.gpu if self.gpu else 0.0
            if not alone and (used + self.base > limit or share + need > 1.0 + GPU_SLACK):
                break
            chosen.append(job)
            used += self.base
            share += need
        threads = {job.key: self.base for job in chosen}
        big = [job for job in chosen if is_big(job)]
        spare = self.cores - used
        if self.widen and big and spare > 0 and len(chosen) == len(ready):  # every ready job started, cores idle
            for i, job in enumerate(big):
                threads[job.key] += spare // len(big) + (1 if i < spare % len(big) else 0)
        return [(job, threads[job.key]) for job in chosen]
