"""Run a comparison end to end: plan, record it in the store, execute missing jobs, collect the tables."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.data import default_data_dir
from engine.executors import make_executor
from engine.executors.base import EventFn, ExecSettings, Executor
from engine.jobs.model import Job, JobOutcome
from engine.runner.plan import Plan, make_plan
from engine.runner.results import row_status, summary_table, tidy_table, wide_table
from engine.spec import ComparisonSpec
from engine.store import Store, default_cache_dir


@dataclass(frozen=True)
class ComparisonResult:
    """A finished (or partly finished) comparison's tables and per-job outcomes."""

    plan: Plan
    wide: pd.DataFrame
    tidy: pd.DataFrame
    summary: pd.DataFrame
    outcomes: dict[str, JobOutcome]
    seconds: float


def record_comparison(plan: Plan, store: Store) -> None:
    """Save the comparison's spec and plan so that History can list and reopen it."""
    existing = store.comparison(plan.key)
    store.put_comparison(plan.key, {
        "spec": plan.spec.to_json(), "created": existing["created"] if existing else time.time(),
        "updated": time.time(),
        "rows": [{"method": r.method, "seed": r.seed, "eval_job": r.eval_job, "status": r.status,
                  "reason": r.reason} for r in plan.rows],
        "jobs": [{"key": j.key, "kind": j.kind, "label": j.label} for j in plan.jobs],
    })


def collect(plan: Plan, store: Store, outcomes: dict[str, JobOutcome] | None = None,
            seconds: float = 0.0) -> ComparisonResult:
    """Build the result tables from whatever the store holds for ``plan``."""
    records = row_status(plan, store, outcomes)
    wide = wide_table(records)
    return ComparisonResult(plan, wide, tidy_table(records), summary_table(wide), outcomes or {}, seconds)


ANSWERED = ("ok", "not_applicable")  # row statuses of a finished comparison whose tables are saved as its answer


def table_csv(df: pd.DataFrame) -> str:
    """A result table as CSV text, exactly as the CLI writes it (missing values ``NA``)."""
    return df.to_csv(index=False, na_rep="NA")


def save_answer(result: ComparisonResult, store: Store) -> None:
    """Save a finished comparison's tables (``Store.put_answer``) so that asking again is answered without
    planning or importing torch; a comparison with a pending, failed or cancelled row saves none."""
    wide = result.wide
    if not wide["status"].isin(ANSWERED).all():
        return
    evals = sorted(r.eval_job for r in result.plan.rows if r.eval_job is not None)
    store.put_answer(result.plan.key, {"wide_csv": table_csv(wide), "summary_csv": table_csv(result.summary),
                                       "evals": evals})


def needed_jobs(plan: Plan, store: Store) -> tuple[Job, ...]:
    """The plan's jobs that some missing result row needs (in plan order).

    A job is needed when it is an ancestor of (or is) a row's evaluation that the store does not hold.
    Jobs whose every dependent evaluation is stored are left out even when they are not stored
    themselves -- e.g. the models of a results bundle imported without weights -- so asking again for
    a finished comparison computes nothing.
    """
    needed = plan.ancestors(r.eval_job for r in plan.rows if r.eval_job is not None and not store.has(r.eval_job))
    return tuple(j for j in plan.jobs if j.key in needed or store.has(j.key))


def run_comparison(spec: ComparisonSpec, cache_dir: Path | None = None, data_dir: Path | None = None,
                   executor: Executor | str | None = None, on_event: EventFn | None = None,
                   cancel: threading.Event | None = None, plan: Plan | None = None) -> ComparisonResult:
    """Validate, plan and run ``spec``; finished jobs are reused from the cache, never recomputed.

    ``executor`` is an :class:`Executor`, a name (``"local"``, ``"ray"``) or ``None`` for the default
    (``$UNLEARN_EXECUTOR``, else local). Only :func:`needed_jobs` are handed to it.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    runner = executor if isinstance(executor, Executor) else make_executor(executor)
    plan = plan or make_plan(spec, data_dir)
    start = time.perf_counter()
    store = Store(cache_dir)
    try:
        record_comparison(plan, store)
        outcomes = runner.run(needed_jobs(plan, store), ExecSettings(cache_dir, data_dir, spec.device),
                              on_event=on_event, cancel=cancel)
        result = collect(plan, store, outcomes, time.perf_counter() - start)
        save_answer(result, store)
        return result
    finally:
        store.close()
