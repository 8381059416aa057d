"""Executors: where jobs run (in-process by default)."""

from engine.executors.base import ExecSettings, Executor, JobOutcome
from engine.executors.local import LocalExecutor

EXECUTORS = {"local": LocalExecutor}

__all__ = ["EXECUTORS", "ExecSettings", "Executor", "JobOutcome", "LocalExecutor"]
