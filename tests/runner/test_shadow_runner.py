"""Runner: the opt-in shadow job (mia_shadow_auc), white-box evaluation (mia_whitebox), and stable cache keys."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from engine.errors import SpecError
from engine.executors import LocalExecutor
from engine.metrics.mia_shadow import DISABLED
from engine.runner import make_plan, per_sample, run_comparison
from engine.spec import ComparisonSpec, MethodSpec, stable_hash
from engine.store import Store
from engine.version import ENGINE_VERSION
from tests.runner.conftest import SETTINGS

DATA = Path("data")
FAST = (("epochs", 4),)
METHODS = (MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),)))


def spec(**kw) -> ComparisonSpec:  # noqa: ANN003
    base = dict(scenario_params=(("forget_class", 3),), train=FAST, methods=METHODS)
    base.update(kw)
    return ComparisonSpec(**base)


def test_shadow_models_at_default_leave_every_existing_key_unchanged():
    s = spec()
    assert "shadow_models" not in s.to_json()
    legacy = json.loads(json.dumps(dataclasses.asdict(s)))  # the JSON before the field existed
    legacy.pop("shadow_models")
    legacy.pop("paradigm_params")  # also left out at its default (added after shadow_models)
    legacy.pop("ulira_shadows")  # and the issue-16 audits
    legacy.pop("feature_audit")
    assert s.comparison_key() == stable_hash(legacy)
    assert ComparisonSpec.from_json(legacy) == s
    if ENGINE_VERSION == "0.1.0":  # keys recorded before shadow_models was added
        assert ComparisonSpec().comparison_key() == "f610fec3cbbbb6c968ff319e"
        assert ComparisonSpec().setting_key() == "e80a5358467edad5f39b3f96"
        assert s.comparison_key() == "15ff1118d9fd53ce676abc8f" and s.setting_key() == "48c827614b2f16d95a75158a"
        keys = {j.kind: j.key for j in make_plan(s, DATA).jobs if j.kind != "evaluate"}
        assert keys == {"problem": "problem-9cc2e079adca8cf0895a0cbe", "original": "original-0fda6905ad8b31bc65a16c49",
                        "retrain": "retrain-0fda6905ad8b31bc65a16c49", "unlearn": "unlearn-1458e982b6187cf47871064a"}


def test_shadow_models_add_one_job_per_seed_and_share_the_models():
    off, on = make_plan(spec(seeds=(0, 1)), DATA), make_plan(spec(seeds=(0, 1), shadow_models=4), DATA)
    assert on.spec.to_json()["shadow_models"] == 4 and on.key != off.key
    assert ComparisonSpec.from_json(on.spec.to_json()) == on.spec
    models = ("problem", "original", "retrain", "unlearn")
    assert {j.key for j in off.jobs if j.kind in models} == {j.key for j in on.jobs if j.kind in models}
    shadow = [j for j in on.jobs if j.kind == "shadow"]
    assert len(shadow) == 2 and not any(j.kind == "shadow" for j in off.jobs)
    assert {j.payload.seed for j in shadow} == {0, 1}
    evals = [j for j in on.jobs if j.kind == "evaluate"]
    assert all(any(s.key in j.deps for s in shadow) for j in evals)
    assert not {j.key for j in evals} & {j.key for j in off.jobs}
    order = [j.key for j in on.jobs]
    assert all(order.index(d) < order.index(j.key) for j in on.jobs for d in j.deps)  # dependencies first
    assert make_plan(spec(shadow_models=8), DATA).jobs != on.jobs


@pytest.mark.parametrize("bad", [1, -1, 101, 2.5, True])
def test_bad_shadow_models_name_the_field(bad):
    with pytest.raises(SpecError) as e:
        spec(shadow_models=bad)
    assert e.value.field == "shadow_models"


def test_tiny_digits_mlp_with_four_shadow_pairs(trained_caches, tmp_path):
    s = spec(model="mlp", shadow_models=4)
    assert spec(model="mlp").setting_key() == SETTINGS["mlp"].setting_key()
    cache = trained_caches("mlp", tmp_path / "cache")  # the run's original and retrain come trained
    res = run_comparison(s, cache_dir=cache, data_dir=DATA)
    assert set(res.wide["status"]) == {"ok"}, res.wide[["method", "note"]]
    w = res.wide.set_index("method")
    assert w.loc["retrain", "mia_shadow_auc"] == 0.5  # scored against itself: every pair a tie
    assert ((w["mia_shadow_auc"] >= 0) & (w["mia_shadow_auc"] <= 1)).all()
    store = Store(cache)
    try:
        (sj,) = [j for j in res.plan.jobs if j.kind == "shadow"]
        meta = store.result(sj.key).meta
        assert meta["n_pairs"] == 4 and meta["split"] == [3, 0, 1] and meta["batched"] is True
        assert 0.0 <= meta["test_auc"] <= 1.0 and meta["shadow_original_test_acc"] > 0.8
        doc = json.loads(store.blob(sj.key, "attacker.json"))  # XGBoost JSON, no pickle
        assert "learner" in doc
        row = next(r for r in res.plan.rows if r.method == "original")
        arrays = per_sample(store, row.eval_job)
        fpr, tpr = arrays["mia_shadow_auc.fpr"], arrays["mia_shadow_auc.tpr"]
        assert fpr[0] == 0.0 and tpr[-1] == 1.0 and np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
        assert arrays["mia_shadow_auc"].shape == arrays["mia_shadow_auc.forget_idx"].shape
        # a whole class is forgotten: the white-box attack has no member of it and says so
        wb = res.tidy[(res.tidy["metric"] == "mia_whitebox") & (res.tidy["method"] == "original")].iloc[0]
        assert np.isnan(wb["value"]) and "whole class" in wb["reason"]
    finally:
        store.close()
    # the same comparison without shadow models reuses every model; only the evaluations run again
    res0 = run_comparison(spec(model="mlp"), cache_dir=cache, data_dir=DATA)
    kinds = {res0.plan.jobs[i].kind for i, j in enumerate(res0.plan.jobs) if res0.outcomes[j.key].status == "done"}
    assert kinds == {"evaluate"}
    row = res0.tidy[(res0.tidy["metric"] == "mia_shadow_auc") & (res0.tidy["method"] == "original")].iloc[0]
    assert np.isnan(row["value"]) and row["reason"] == DISABLED


def test_whitebox_in_the_runner_and_not_applicable_for_the_sisa_ensemble(tmp_path):
    s = spec(model="mlp", scenario="random", scenario_params=(("fraction", 0.1),),
             methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("sisa")))
    res = run_comparison(s, cache_dir=tmp_path, data_dir=DATA)
    w = res.wide.set_index("method")
    tidy = res.tidy[res.tidy["metric"] == "mia_whitebox"].set_index("method")
    for m in ("original", "retrain"):
        assert 0.0 <= w.loc[m, "mia_whitebox_attacker_acc"] <= 1.0  # the attacker's own accuracy: always there
        if np.isnan(w.loc[m, "mia_whitebox"]):  # digits generalises: the attacker is at chance
            assert tidy.loc[m, "reason"].startswith("not informative")
        else:
            assert 0.0 <= w.loc[m, "mia_whitebox"] <= 1.0
    for m in ("sisa", "sisa_original"):
        assert np.isnan(tidy.loc[m, "value"]) and "ensemble" in tidy.loc[m, "reason"]
    store = Store(tmp_path)
    try:
        row = next(r for r in res.plan.rows if r.method == "original")
        arrays = per_sample(store, row.eval_job)
        assert arrays["mia_whitebox.proba"].shape == arrays["mia_whitebox.forget_idx"].shape
        assert arrays["mia_whitebox.attacker_acc"].shape == (1,)
    finally:
        store.close()


def test_a_diverged_shadow_training_leaves_the_metric_not_applicable(trained_caches, tmp_path, monkeypatch):
    import engine.training.shadow as shadow_training
    from engine.errors import RunFailed

    def diverge(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        raise RunFailed("shadow-model training diverged at epoch 1")

    monkeypatch.setattr(shadow_training, "train_shadow_models", diverge)
    res = run_comparison(spec(model="mlp", shadow_models=2, methods=(MethodSpec("original"),)),
                         cache_dir=trained_caches("mlp", tmp_path / "cache"), data_dir=DATA,
                         executor=LocalExecutor(workers=1))  # in process: the patch is in this process only
    assert set(res.wide["status"]) == {"ok"}  # the other metrics are there
    row = res.tidy[(res.tidy["metric"] == "mia_shadow_auc") & (res.tidy["method"] == "original")].iloc[0]
    assert np.isnan(row["value"]) and "diverged" in row["reason"]
