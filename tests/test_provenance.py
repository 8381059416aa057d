"""Provenance (issue 11 item 1; DESIGN.md "provenance"): imported results are stored as imported and never
satisfy a local job. Regression test of the review's finding: after importing a bundle with fabricated
metrics, a *different* local comparison printed finetune ``forget_acc 0.000`` (real 1.000) in 0.0 s."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from engine.bundle import export_bundle, import_bundle
from engine.runner import collect, make_plan, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store
from tests.test_bundle import rebuild

DATA = Path("data")
TRAIN = (("epochs", 2),)
SPEC = ComparisonSpec(model="mlp", scenario_params=(("forget_class", 3),), train=TRAIN,
                      methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),))))
# a different comparison sharing the setting (so the same job keys: problem, original, retrain, finetune's jobs)
OTHER = ComparisonSpec(model="mlp", scenario_params=(("forget_class", 3),), train=TRAIN,
                       methods=(MethodSpec("finetune", (("epochs", 1),)), MethodSpec("gradient_ascent")))


def _forge(bundle: bytes, job_key: str, metric: str, value: float) -> bytes:
    """The bundle with ``metric`` of evaluation ``job_key`` set to ``value`` and the manifest made consistent."""
    name = f"jobs/{job_key}/meta.json"

    def change(m: dict[str, bytes]) -> None:
        meta = json.loads(m[name])
        meta["metrics"][metric] = value
        m[name] = json.dumps(meta).encode()

    return rebuild(bundle, change)


@pytest.fixture(scope="module")
def forged(tmp_path_factory):
    root = tmp_path_factory.mktemp("prov")
    real = run_comparison(SPEC, cache_dir=root / "src", data_dir=DATA, executor="local")
    buf = io.BytesIO()
    export_bundle(root / "src", buf)
    row = next(r for r in real.plan.rows if r.method == "finetune")
    truth = float(real.wide.set_index("method").loc["finetune", "forget_acc"])
    fake = 1.0 - truth if truth >= 0.5 else 1.0
    return {"bundle": _forge(buf.getvalue(), row.eval_job, "forget_acc", fake), "truth": truth, "fake": fake,
            "eval_job": row.eval_job}


def test_fabricated_metrics_cannot_change_what_a_local_comparison_reports(forged, tmp_path):
    cache = tmp_path / "victim"
    import_bundle(cache, forged["bundle"])
    res = run_comparison(OTHER, cache_dir=cache, data_dir=DATA, executor="local")
    w = res.wide.set_index("method")
    assert w.loc["finetune", "source"] == "computed"
    assert w.loc["finetune", "forget_acc"] == pytest.approx(forged["truth"])  # the engine's own number
    assert w.loc["finetune", "forget_acc"] != forged["fake"]
    store = Store(cache)
    try:
        assert store.has(forged["eval_job"])  # computed here, beside the imported one
        assert store.imported_result(forged["eval_job"]).meta["metrics"]["forget_acc"] == forged["fake"]
        # the imported comparison is shown only through the explicit view, marked as imported
        shown = collect(make_plan(SPEC, DATA), store.with_imported()).wide.set_index("method")
        assert shown.loc["finetune", "source"] == "computed"  # a computed result wins over the imported one
        assert shown.loc["original", "source"] == "imported"  # OTHER never evaluated the original row
        assert np.isfinite(shown.loc["original", "forget_acc"])
    finally:
        store.close()


def test_an_imported_comparison_shows_only_when_asked_and_marked(forged, tmp_path):
    cache = tmp_path / "viewer"
    keys = import_bundle(cache, forged["bundle"])
    store = Store(cache)
    try:
        plan = make_plan(SPEC, DATA)
        assert keys == [plan.key]
        assert set(collect(plan, store).wide["status"]) == {"pending"}
        shown = collect(plan, store.with_imported()).wide.set_index("method")
        assert set(shown["source"]) == {"imported"}
        assert shown.loc["finetune", "forget_acc"] == forged["fake"]  # what the bundle says, labelled as such
        rec = store.imported_comparison(plan.key)
        assert rec["imported"]["bundle_sha256"] == hashlib.sha256(forged["bundle"]).hexdigest()
        assert rec["imported"]["imported_at"] > 0
    finally:
        store.close()


def test_the_dashboard_marks_imported_comparisons(forged, tmp_path):
    from dashboard import data

    cache = tmp_path / "dash"
    (key,) = import_bundle(cache, forged["bundle"])
    hist = data.history(cache)
    assert hist.loc[hist["key"] == key, "source"].iloc[0].startswith("imported (bundle ")
    plan = make_plan(SPEC, DATA)
    assert data.has_imported(plan, cache) and data.comparison_source(key, cache).startswith("imported")
    assert data.stored_results(plan, cache).n_imported == 0
    shown = data.stored_results(plan, cache, include_imported=True)
    assert shown.n_imported == 3
    assert set(shown.forget_entropy_samples()["method"]) == {"original", "retrain", "finetune"}  # per-sample arrays
    assert not shown.inspect(data_dir=DATA).per_class.empty
