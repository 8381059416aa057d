"""A metric's preparation job (``MetricInfo.preparation``) is planned, run and loaded generically: a toy metric
registered only in this test gets its per-seed job, the evaluations depend on it and its metric reads what it
stored -- with no name of it anywhere in the planner or the job layer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.executors import LocalExecutor
from engine.metrics import METRICS, MetricInfo, MetricValue, Preparation, PrepareContext, StoredPreparation
from engine.metrics.base import UNIT, not_applicable
from engine.runner import make_plan, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store, arrays_from_bytes, arrays_to_bytes
from tests.runner.conftest import SETTINGS

DATA = Path("data")
KIND = "toyprep"


def _run(ctx: PrepareContext) -> tuple[dict, dict[str, bytes]]:
    ctx.progress(0, 1, "counting the forget set")
    forget = ctx.problem.forget_idx.cpu().numpy()
    return ({"seconds": 0.0, "n_forget": int(forget.size), "k": ctx.options["k"]},
            {"toy.npz": arrays_to_bytes({"forget_idx": forget})})


def _load(stored: StoredPreparation) -> tuple[int, np.ndarray]:
    return stored.meta["n_forget"], arrays_from_bytes(stored.blob("toy.npz"))["forget_idx"]


def _metric(inp) -> MetricValue:  # noqa: ANN001
    if KIND not in inp.prepared:
        return not_applicable("the toy preparation is off")
    n, idx = inp.prepared[KIND]
    return MetricValue(float(n == len(inp.forget_idx) and np.array_equal(idx, inp.forget_idx)))


PREP = Preparation(kind=KIND, enabled=lambda spec: len(spec.seeds) > 1, identity=lambda spec: {"recipe": 1},
                   options=lambda spec: {"k": 3}, label=lambda spec, seed: f"toy seed {seed}", run=_run, load=_load,
                   blobs=("toy.npz",), required_blobs=("toy.npz",))


@pytest.fixture
def toy_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    info = MetricInfo(key="toy_prepared", title="Toy", direction="higher", fn=_metric, description="toy",
                      papers="none", range=UNIT, preparation=PREP)
    monkeypatch.setattr(METRICS, "_items", {**dict(METRICS.items()), info.key: info})


def spec(seeds: tuple[int, ...]) -> ComparisonSpec:
    """The shared mlp setting (its models come trained), references only."""
    return dataclasses.replace(SETTINGS["mlp"], seeds=seeds, methods=(MethodSpec("original"), MethodSpec("retrain")))


def test_the_planner_adds_one_preparation_job_per_seed_and_the_evaluations_depend_on_it(toy_metric):
    plan = make_plan(spec((0, 1)), DATA)
    toy = [j for j in plan.jobs if j.kind == KIND]
    problems = {j.payload.seed: j.key for j in plan.jobs if j.kind == "problem"}
    assert [(j.label, j.deps, j.payload.options) for j in toy] == [
        (f"toy seed {s}", (problems[s],), {"k": 3}) for s in (0, 1)]
    for ev in (j for j in plan.jobs if j.kind == "evaluate"):
        (prep,) = [t for t in toy if t.payload.seed == ev.payload.seed]
        assert prep.key in ev.deps and ev.payload.prepared == {KIND: prep.key}
    off = make_plan(spec((0,)), DATA)  # not enabled: no job, no dependency
    assert not any(j.kind == KIND for j in off.jobs)
    assert all(j.payload.prepared == {} for j in off.jobs if j.kind == "evaluate")


def test_the_preparation_runs_and_its_metric_reads_it(toy_metric, trained_caches, tmp_path):
    cache = trained_caches("mlp", tmp_path / "cache")
    # in process: the toy metric is registered in this process only, spawned workers would not know it
    res = run_comparison(spec((0, 1)), cache_dir=cache, data_dir=DATA, executor=LocalExecutor(workers=1))
    assert set(res.wide["status"]) == {"ok"}
    assert (res.wide["toy_prepared"] == 1.0).all()
    store = Store(cache)
    try:
        for j in (j for j in res.plan.jobs if j.kind == KIND):
            meta = store.result(j.key).meta
            assert meta["k"] == 3 and meta["kind"] == KIND and meta["blobs"] == ["toy.npz"]
    finally:
        store.close()
    off = run_comparison(spec((0,)), cache_dir=cache, data_dir=DATA, executor=LocalExecutor(workers=1))
    assert off.wide["toy_prepared"].isna().all()
    assert set(off.tidy[off.tidy["metric"] == "toy_prepared"]["reason"]) == {"the toy preparation is off"}
