"""The per-metric result store (issue 16 deliverable 6): adding a metric computes only that metric.

Every evaluation also records each metric's result under a key without the metric list (``EvaluatePayload.records``,
kind ``metric``); an evaluation with a longer list reads the recorded metrics and computes the new ones alone.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from engine import metrics as metrics_pkg
from engine.executors import ExecSettings, LocalExecutor
from engine.jobs.model import EVALUATE, METRIC_RECORD
from engine.runner import make_plan
from engine.runner.comparison import collect, needed_jobs
from engine.spec import MethodSpec
from engine.store import Store
from tests.runner.conftest import DATA, SETTINGS

pytestmark = pytest.mark.usefixtures("one_thread")
SPEC = dataclasses.replace(SETTINGS["mlp"], methods=(MethodSpec("original"), MethodSpec("retrain"),
                                                     MethodSpec("finetune", (("epochs", 1),))))
FIRST = ("forget_acc", "retain_acc", "test_acc")
MORE = (*FIRST, "mia_efficacy", "forget_entropy")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Every metric computation, by metric."""
    calls: Counter = Counter()
    real_get = metrics_pkg.METRICS.get

    def get(key, field=None):  # noqa: ANN001, ANN202
        info = real_get(key, field)

        def fn(inp):  # noqa: ANN001, ANN202
            calls[key] += 1
            return info.fn(inp)
        return dataclasses.replace(info, fn=fn)

    monkeypatch.setattr(metrics_pkg.METRICS, "get", get)
    return calls


def _run(cache, metrics):  # noqa: ANN001, ANN202
    plan = make_plan(SPEC, DATA, metrics=metrics)
    store = Store(cache)
    try:
        LocalExecutor(workers=1).run(needed_jobs(plan, store), ExecSettings(cache, DATA, SPEC.device))
        return plan, collect(plan, store).wide
    finally:
        store.close()


def test_a_new_metric_is_the_only_one_computed(tmp_path, trained_caches, counted):
    cache = trained_caches("mlp", tmp_path / "c")
    _, first = _run(cache, FIRST)
    evals = 3  # original, retrain, finetune (one seed)
    assert counted == Counter({m: evals for m in FIRST})
    store = Store(cache)
    try:
        assert sum(1 for _ in store.keys(f"result/{METRIC_RECORD}-")) == evals * len(FIRST)
    finally:
        store.close()
    counted.clear()
    plan, more = _run(cache, MORE)
    assert counted == Counter({"mia_efficacy": evals, "forget_entropy": evals})  # the recorded ones are read
    for m in FIRST:
        np.testing.assert_array_equal(first[m].to_numpy(), more[m].to_numpy())
    # the same numbers as a cache that computed the longer list at once
    _, fresh = _run(trained_caches("mlp", tmp_path / "fresh"), MORE)
    for m in MORE:
        np.testing.assert_allclose(fresh[m].to_numpy(dtype=float), more[m].to_numpy(dtype=float))


def test_records_are_per_model_and_per_metric():
    plan = make_plan(SPEC, DATA, metrics=MORE)
    evals = [j for j in plan.jobs if j.kind == EVALUATE]
    keys = [k for j in evals for k in j.payload.records.values()]
    assert len(keys) == len(set(keys)) == len(evals) * len(MORE)
    assert all(k.startswith(f"{METRIC_RECORD}-") for k in keys)
    other = make_plan(SPEC, DATA, metrics=FIRST)  # a shorter list: other evaluation keys, the same records
    assert {j.key for j in other.jobs if j.kind == EVALUATE}.isdisjoint(j.key for j in evals)
    shared = {k for j in other.jobs if j.kind == EVALUATE for k in j.payload.records.values()}
    assert shared <= set(keys)
