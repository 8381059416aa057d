"""Executors: where jobs run -- on this machine (``local``, the default: worker processes, one per core) or as Ray
tasks (``ray``).

``$UNLEARN_EXECUTOR`` (``local`` | ``ray``) picks the default; the CLI's ``--executor`` and the
dashboard pass a name to :func:`make_executor`. The local executor's worker count is ``workers=N``
(CLI ``--workers N``), else ``$UNLEARN_WORKERS``, else one per core; 1 runs the jobs in process one
after another. Importing this package does not import Ray.
"""

from __future__ import annotations

import os

from engine.errors import SpecError
from engine.executors.base import ExecSettings, Executor, JobOutcome
from engine.executors.local import WORKERS_ENV, LocalExecutor, check_workers, default_workers
from engine.executors.ray_executor import RayExecutor

EXECUTOR_ENV = "UNLEARN_EXECUTOR"
EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def executor_names() -> tuple[str, ...]:
    """The registered executor names (``local``, ``ray``)."""
    return tuple(EXECUTORS)


def _check(name: str, where: str) -> str:
    key = name.strip().lower()
    if key not in EXECUTORS:
        raise SpecError("executor", f"{where}{name!r} is not an executor; choose from {', '.join(EXECUTORS)}")
    return key


def default_executor_name() -> str:
    """``$UNLEARN_EXECUTOR`` or ``local``; an unknown value is a :class:`SpecError` naming ``executor``."""
    raw = os.environ.get(EXECUTOR_ENV, "")
    return _check(raw, f"{EXECUTOR_ENV}=") if raw.strip() else "local"


def make_executor(name: str | None = None, workers: int | str | None = None) -> Executor:
    """A new executor by name (default :func:`default_executor_name`); Ray connects lazily on first run.

    ``workers``: the local executor's jobs at once (``None``: :func:`default_workers`; 1 = in process); a bad
    count, or a count for another executor, is a :class:`SpecError` naming ``workers``.
    """
    key = default_executor_name() if name is None else _check(name, "")
    if key == "local":
        return LocalExecutor(workers=None if workers is None else check_workers(workers))
    if workers is not None:
        raise SpecError("workers", f"only the local executor runs worker processes; {key} sizes itself from its "
                                   f"cluster (give no worker count)")
    return EXECUTORS[key]()


__all__ = ["EXECUTORS", "EXECUTOR_ENV", "WORKERS_ENV", "ExecSettings", "Executor", "JobOutcome", "LocalExecutor",
           "RayExecutor", "check_workers", "default_executor_name", "default_workers", "executor_names",
           "make_executor"]
