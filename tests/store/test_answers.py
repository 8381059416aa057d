"""Saved answers (issue 13, "warm answers without torch"): a finished comparison's tables, valid only while every
evaluation they were read from is stored."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from engine.runner import run_comparison
from engine.runner.comparison import table_csv
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store

TINY = ComparisonSpec(train=(("epochs", 2),), methods=(MethodSpec("original"), MethodSpec("retrain"),
                                                      MethodSpec("finetune", (("epochs", 1),))))


def test_an_answer_needs_every_evaluation_it_was_read_from(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.put("evaluate-a", {"metrics": {}}, {})
    store.put_answer("k", {"wide_csv": "x\n", "summary_csv": "y\n", "evals": ["evaluate-a", "evaluate-b"]})
    assert store.answer("k") is None  # evaluate-b is not stored
    store.put("evaluate-b", {"metrics": {}}, {})
    assert store.answer("k")["wide_csv"] == "x\n"
    assert store.answer("other") is None
    store.close()


def test_a_finished_comparison_saves_its_tables_as_the_csv_the_cli_writes(tmp_path: Path) -> None:
    result = run_comparison(TINY, cache_dir=tmp_path / "c", data_dir=tmp_path / "d", executor="local")
    store = Store(tmp_path / "c")
    try:
        answer = store.answer(TINY.comparison_key())
    finally:
        store.close()
    assert answer is not None
    assert answer["wide_csv"] == table_csv(result.wide)
    assert sorted(answer["evals"]) == sorted(r.eval_job for r in result.plan.rows)
    summary = pd.read_csv(io.StringIO(answer["summary_csv"]), keep_default_na=False, na_values=["NA"])
    assert list(summary["method"]) == list(result.summary["method"])


def test_a_comparison_with_a_failed_row_saves_no_answer(tmp_path: Path) -> None:
    from engine.executors import LocalExecutor

    class Failing(LocalExecutor):  # the finetune job fails: its row is "failed"
        def run(self, jobs, settings, on_event=None, cancel=None):  # noqa: ANN001, ANN201
            keep = [j for j in jobs if not (j.kind == "unlearn")]
            outcomes = super().run(keep, settings, on_event, cancel)
            from engine.jobs.model import JobOutcome

            outcomes.update({j.key: JobOutcome("failed", "boom") for j in jobs if j.kind == "unlearn"})
            return outcomes

    run_comparison(TINY, cache_dir=tmp_path / "c", data_dir=tmp_path / "d", executor=Failing())
    store = Store(tmp_path / "c")
    try:
        assert store.answer(TINY.comparison_key()) is None
    finally:
        store.close()
