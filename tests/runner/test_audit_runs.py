"""The representation audit and U-LiRA / RMIA run end to end on digits (issue 16): per-row preparation jobs, their
values bracketed by the original and retrain, and not applicable where they cannot be computed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from engine.errors import SpecError
from engine.executors import LocalExecutor
from engine.metrics.mia_ulira import APPLY_KIND, SHADOW_KIND, membership_matrix
from engine.metrics.representation import FEATURES_KIND
from engine.runner import make_plan
from engine.runner.comparison import run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from tests.runner.conftest import DATA, SETTINGS

pytestmark = pytest.mark.usefixtures("one_thread")
METHODS = (MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),)),
           MethodSpec("sisa"), MethodSpec("pgu"))
BASE = dataclasses.replace(SETTINGS["mlp"], methods=METHODS)


def _row(wide, method):  # noqa: ANN001, ANN202
    return wide[wide["method"] == method].iloc[0]


def test_audits_are_opt_in_and_leave_every_other_key_alone():
    plain = make_plan(BASE, DATA)
    both = make_plan(dataclasses.replace(BASE, feature_audit=True, ulira_shadows=4), DATA)
    assert "ulira_shadows" not in BASE.to_json() and "feature_audit" not in BASE.to_json()
    kinds = {j.kind for j in both.jobs} - {j.kind for j in plain.jobs}
    assert kinds == {FEATURES_KIND, SHADOW_KIND, APPLY_KIND}
    models = {j.key for j in plain.jobs if j.kind in ("problem", "original", "retrain", "unlearn")}
    assert models <= {j.key for j in both.jobs}  # the models are shared
    rows = [j for j in both.jobs if j.kind == FEATURES_KIND]
    assert len(rows) == len({r.method for r in both.rows if r.eval_job}) and len({j.key for j in rows}) == len(rows)
    with pytest.raises(SpecError) as e:
        ComparisonSpec(ulira_shadows=2)
    assert e.value.field == "ulira_shadows"
    with pytest.raises(SpecError) as e:
        ComparisonSpec(feature_audit="yes")  # type: ignore[arg-type]
    assert e.value.field == "feature_audit"


def test_membership_puts_every_sample_in_half_of_the_shadows():
    m = membership_matrix(6, 50, seed=3)
    assert m.shape == (6, 50) and (m.sum(axis=0) == 3).all()
    assert not np.array_equal(m, membership_matrix(6, 50, seed=4))
    np.testing.assert_array_equal(m, membership_matrix(6, 50, seed=3))


def test_feature_audit_and_ulira_end_to_end(tmp_path, trained_caches):
    cache = trained_caches("mlp", tmp_path / "c")
    spec = dataclasses.replace(BASE, feature_audit=True, ulira_shadows=4)
    res = run_comparison(spec, cache, DATA, LocalExecutor(workers=1))
    wide = res.wide
    assert not [o for o in res.outcomes.values() if o.status == "failed"]
    orig, ret, ft = _row(wide, "original"), _row(wide, "retrain"), _row(wide, "finetune")
    # representation: retrain is itself, the original is itself
    assert ret["cka_retrain"] == pytest.approx(1.0) and orig["cka_original"] == pytest.approx(1.0)
    assert ret["weight_distance_retrain"] == 0 and orig["weight_distance_original"] == 0
    assert 0 < ft["weight_distance_original"] < ft["weight_distance_retrain"]
    assert orig["probe_forget_acc"] > ret["probe_forget_acc"]  # the original's features still know class 3
    assert 0 <= ft["knn_forget_acc"] <= 1
    assert 1 - np.log(2) <= ft["zrf"] <= 1
    # U-LiRA: retrain is chance by construction, the original (which forgot nothing) is found out
    assert ret["mia_ulira"] == pytest.approx(0.5) and ret["mia_rmia"] == pytest.approx(0.5)
    assert orig["mia_ulira"] > 0.9 and orig["mia_rmia"] > 0.9
    assert 0 <= ft["mia_ulira"] <= 1 and 0 <= ft["mia_ulira_tpr_0_01"] <= 1
    tidy = res.tidy
    why = tidy[(tidy["method"] == "pgu") & (tidy["metric"] == "mia_ulira")]["reason"].iloc[0]
    assert "training-time state" in why
    why = tidy[(tidy["method"] == "sisa") & (tidy["metric"] == "cka_retrain")]["reason"].iloc[0]
    assert "ensemble" in why
    why = tidy[(tidy["method"] == "finetune") & (tidy["metric"] == "mia_ulira_tpr_0_001")]["reason"].iloc[0]
    assert "cannot resolve" in why  # 0.1 % FPR needs 1000 non-members
    # the same spec again: everything cached
    again = run_comparison(spec, cache, DATA, LocalExecutor(workers=1))
    assert {o.status for o in again.outcomes.values()} <= {"cached"}
    # a results bundle of it travels without weights (the U-LiRA shadows' are left out) and imports cleanly
    from engine import api

    blob = api.export_comparisons([res.plan.key], cache)
    assert api.import_comparisons(blob, tmp_path / "imported") == [res.plan.key]
    got = api.stored(res.plan, tmp_path / "imported", include_imported=True).wide
    cols = ["mia_ulira", "cka_retrain", "probe_forget_acc"]
    pd.testing.assert_frame_equal(got[cols], wide[cols])


def test_per_example_scores_reach_the_forget_sample_table(tmp_path, trained_caches):
    from engine.data import load_dataset
    from engine.runner.breakdowns import SCORE_COLUMNS, forget_samples
    from engine.store import Store

    cache = trained_caches("mlp", tmp_path / "c")
    spec = dataclasses.replace(BASE, methods=METHODS[:3], ulira_shadows=4)
    res = run_comparison(spec, cache, DATA, LocalExecutor(workers=1))
    store = Store(cache)
    try:
        samples = forget_samples(res.plan, store, load_dataset("digits", DATA))
    finally:
        store.close()
    assert set(SCORE_COLUMNS) <= set(samples.columns)
    ft = samples[samples["method"] == "finetune"]
    audited = ft["ulira_score"].notna()
    assert 0 < audited.sum() <= len(ft) and ft.loc[audited, "rmia_score"].notna().all()
    assert samples["shadow_score"].isna().all()  # PGU's shadow attack did not run
