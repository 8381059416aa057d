"""Comparisons: spec -> plan of content-keyed jobs -> execution (``engine.executors``) -> result tables.

The comparison level, above the job layer (``engine.jobs``) and the executors: :mod:`~engine.runner.plan` (the
job graph and its rows), :mod:`~engine.runner.comparison` (run_comparison, needed_jobs, collect),
:mod:`~engine.runner.results` (tables, row titles) and :mod:`~engine.runner.breakdowns` (read-only per-class /
per-sample views). ``Job``, ``JobEnv``, ``execute`` and ``Cancelled`` are the job layer's, re-exported here.
"""

from engine.jobs.execution import Cancelled, JobEnv, execute
from engine.jobs.model import Job
from engine.runner import breakdowns
from engine.runner.comparison import ComparisonResult, collect, needed_jobs, record_comparison, run_comparison
from engine.runner.plan import Plan, Row, check_spec, make_plan
from engine.runner.results import ID_COLUMNS, SIZE_COLUMNS, per_sample, summary_table, tidy_table, wide_table

__all__ = ["ID_COLUMNS", "SIZE_COLUMNS", "Cancelled", "ComparisonResult", "Job", "JobEnv", "Plan", "Row",
           "breakdowns", "check_spec", "collect", "execute", "make_plan", "needed_jobs", "per_sample",
           "record_comparison", "run_comparison", "summary_table", "tidy_table", "wide_table"]
