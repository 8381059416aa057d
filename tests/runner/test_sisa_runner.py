"""SISA in the runner: its own training-time state job, the ``sisa_original`` row (the SISA ensemble before
unlearning), ensembles rebuilt by the evaluation, refusals with a reason, and an end-to-end run on digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.runner import make_plan, run_comparison
from engine.runner.results import row_title
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store
from tests.runner.conftest import SETTINGS

DATA = Path("data")
SISA = MethodSpec("sisa", (("shards", 3), ("slices", 2)))


def spec(**kw) -> ComparisonSpec:  # noqa: ANN003
    base = dict(scenario_params=(("forget_class", 3),), model="mlp", train=(("epochs", 4),),
                methods=(MethodSpec("original"), MethodSpec("retrain"), SISA))
    base.update(kw)
    return ComparisonSpec(**base)


def test_plan_adds_the_sisa_original_row_and_a_separate_state_job():
    plan = make_plan(spec(seeds=(0, 1)), DATA)
    assert [(r.method, r.seed) for r in plan.rows] == [
        (m, s) for s in (0, 1) for m in ("original", "retrain", "sisa_original", "sisa")]
    jobs = {j.key: j for j in plan.jobs}
    for seed in (0, 1):
        before = next(r for r in plan.rows if r.method == "sisa_original" and r.seed == seed)
        after = next(r for r in plan.rows if r.method == "sisa" and r.seed == seed)
        bj, uj = jobs[before.model_job], jobs[after.model_job]
        assert bj.kind == uj.kind == "unlearn" and bj.payload.requests == "none" and uj.payload.requests is None
        assert bj.payload.train_state == uj.payload.train_state  # the same recorded shards
        state = jobs[uj.payload.train_state["sisa_shards"]]
        assert state.kind == "train_state" and state.payload.options == {"shards": 3, "slices": 2}
        assert state.deps == (next(j.key for j in plan.jobs if j.kind == "problem" and j.payload.seed == seed),)
        assert state.key not in jobs[uj.payload.original].payload.state_jobs.values()  # not on the side
        assert jobs[before.eval_job].payload.seconds_from is None  # no unlearning time for the model before it
        assert jobs[after.eval_job].payload.seconds_from == uj.key
    other = make_plan(spec(methods=(MethodSpec("sisa", (("shards", 4), ("slices", 2))),)), DATA)
    keys = {j.key for j in other.jobs if j.kind == "train_state"}
    assert keys.isdisjoint(j.key for j in plan.jobs if j.kind == "train_state")  # S, R are part of the identity
    assert row_title("sisa_original") == "Original (SISA ensemble)" and row_title("sisa") == "SISA"


def test_infeasible_storage_and_label_free_are_not_applicable(monkeypatch):
    import engine.training.recording as recording

    monkeypatch.setattr(recording, "MAX_CHECKPOINT_BYTES", 1024)
    plan = make_plan(spec(), DATA)
    rows = {r.method: r for r in plan.rows}
    for m in ("sisa", "sisa_original"):
        assert rows[m].status == "not_applicable" and "GiB" in rows[m].reason and rows[m].eval_job is None
    assert not any(j.kind == "train_state" for j in plan.jobs)
    monkeypatch.undo()
    rows = {r.method: r for r in make_plan(spec(paradigm="label_free"), DATA).rows}
    assert rows["sisa"].status == rows["sisa_original"].status == "not_applicable"
    assert "label" in rows["sisa"].reason


def test_end_to_end_on_digits(trained_caches, tmp_path):
    s = spec()
    assert s.setting_key() == SETTINGS["mlp"].setting_key()
    cache = trained_caches("mlp", tmp_path / "cache")  # the original and retrain come trained
    res = run_comparison(s, cache_dir=cache, data_dir=DATA)
    w = res.wide.set_index("method")
    assert set(w["status"]) == {"ok"}, w["note"].to_dict()
    assert w.loc["sisa", "forget_acc"] == 0.0  # every shard held class 3 and was retrained without it
    assert w.loc["sisa_original", "forget_acc"] > 0.5 and w.loc["sisa_original", "test_acc"] > 0.5
    assert np.isnan(w.loc["sisa_original", "unlearn_seconds"]) and w.loc["sisa", "unlearn_seconds"] > 0
    assert set(res.summary["method"]) == {"original", "retrain", "sisa_original", "sisa"}
    assert set(res.tidy["method"]) == {"original", "retrain", "sisa_original", "sisa"}
    store = Store(cache)
    row = next(r for r in res.plan.rows if r.method == "sisa")
    assert store.result(row.model_job).meta["ensemble"] == {"members": 3, "aggregation": "average"}
    again = run_comparison(s, cache_dir=cache, data_dir=DATA)  # all cached, same numbers
    assert {o.status for o in again.outcomes.values()} == {"cached"}
    cols = [c for c in res.wide.columns if c not in ("note",) and res.wide[c].dtype.kind == "f"]
    np.testing.assert_array_equal(res.wide[cols].to_numpy(), again.wide[cols].to_numpy())


def test_incremental_requests_with_a_vote(tmp_path):
    s = spec(scenario="incremental", scenario_params=(("count", 20), ("steps", 2)),
             methods=(MethodSpec("sisa", (("shards", 2), ("slices", 2), ("aggregation", "vote"))),))
    w = run_comparison(s, cache_dir=tmp_path, data_dir=DATA).wide.set_index("method")
    assert w.loc["sisa", "status"] == "ok" and w.loc["sisa_original", "status"] == "ok"
