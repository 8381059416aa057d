"""The job layer: content-keyed units of work and how one runs (DESIGN.md data flow).

* :mod:`engine.jobs.model` -- :class:`Job`, :func:`make_job`, the kinds, payload and meta dataclasses, blob names,
  :class:`Resources`, :class:`JobOutcome` (light: no torch).
* :mod:`engine.jobs.identity` -- what each job's key holds (only what its result depends on: the models' keys
  hold digests of the supervision they train on, not the scenario), and the identities before that (bundles).
* :mod:`engine.jobs.execution` -- :class:`JobEnv`, :func:`execute` (claims, waiting, writing results),
  :class:`Cancelled`.
* :mod:`engine.jobs.bodies` -- what each kind computes (problem, train, record state, unlearn, evaluate, and the
  metrics' preparation jobs).
* :mod:`engine.jobs.method_inputs` -- what a method may see: applicability, the sealed view and its audit.

Executors run jobs (they import this package, never the reverse); the comparison level (``engine.runner``: plan,
tables) sits above both.

Importing the package (or :mod:`engine.jobs.model`) stays light: the execution names are imported on first use.
"""

from __future__ import annotations

from typing import Any

from engine.jobs.model import Job, JobOutcome, JobResult, Resources, job_key, make_job

_EXECUTION = ("Cancelled", "JobEnv", "execute")

__all__ = ["Cancelled", "Job", "JobEnv", "JobOutcome", "JobResult", "Resources", "execute", "job_key", "make_job"]


def __getattr__(name: str) -> Any:
    """``Cancelled``, ``JobEnv`` and ``execute`` from :mod:`engine.jobs.execution`, imported when first asked for."""
    if name in _EXECUTION:
        from engine.jobs import execution

        return getattr(execution, name)
    raise AttributeError(f"module 'engine.jobs' has no attribute {name!r}")
