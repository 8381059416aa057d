"""Executors: where jobs run -- in process (``local``, the default) or as Ray tasks (``ray``).

``$UNLEARN_EXECUTOR`` (``local`` | ``ray``) picks the default; the CLI's ``--executor`` and the
dashboard pass a name to :func:`make_executor`. Importing this package does not import Ray.
"""

from __future__ import annotations

import os

from engine.errors import SpecError
from engine.executors.base import ExecSettings, Executor, JobOutcome
from engine.executors.local import LocalExecutor
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


def make_executor(name: str | None = None) -> Executor:
    """A new executor by name (default :func:`default_executor_name`); Ray connects lazily on first run."""
    key = default_executor_name() if name is None else _check(name, "")
    return EXECUTORS[key]()


__all__ = ["EXECUTORS", "EXECUTOR_ENV", "ExecSettings", "Executor", "JobOutcome", "LocalExecutor", "RayExecutor",
           "default_executor_name", "executor_names", "make_executor"]
