"""Runner: spec -> plan of content-keyed jobs -> execution -> result tables."""

from engine.runner.jobs import Cancelled, Job, JobEnv, execute
from engine.runner.plan import Plan, Row, make_plan
from engine.runner.results import ID_COLUMNS, SIZE_COLUMNS, per_sample, summary_table, tidy_table, wide_table
from engine.runner.run import ComparisonResult, collect, record_comparison, run_comparison

__all__ = ["ID_COLUMNS", "SIZE_COLUMNS", "Cancelled", "ComparisonResult", "Job", "JobEnv", "Plan", "Row",
           "collect", "execute", "make_plan", "per_sample", "record_comparison", "run_comparison", "summary_table",
           "tidy_table", "wide_table"]
