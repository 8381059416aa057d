"""Results bundles: exact round trip without computing, weights only on request, and every bad bundle refused
before the store is touched (corrupted hash, extra member, path traversal, truncation, pickles, schema)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import bundle
from engine.bundle import BundleError, export_bundle, import_bundle, read_bundle
from engine.cli import main
from engine.runner import collect, make_plan, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store, arrays_to_bytes

DATA = Path("data")
SPEC = ComparisonSpec(model="mlp", scenario_params=(("forget_class", 3),), train=(("epochs", 1),),
                      methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),))))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A cache holding one finished comparison, and its bundle (without weights) as bytes."""
    root = tmp_path_factory.mktemp("bundle")
    result = run_comparison(SPEC, cache_dir=root / "src", data_dir=DATA, executor="local")
    assert set(result.wide["status"]) == {"ok"}
    buf = io.BytesIO()
    assert export_bundle(root / "src", buf) == [SPEC.comparison_key()]
    return {"cache": root / "src", "result": result, "bundle": buf.getvalue()}


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def rebuild(data: bytes, change: Callable[[dict[str, bytes]], None], fix_manifest: bool = True) -> bytes:
    """Apply ``change`` to the members; with ``fix_manifest`` the hashes are recomputed (a consistent forgery)."""
    m = members(data)
    change(m)
    if fix_manifest:
        manifest = json.loads(m["manifest.json"])
        manifest["members"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                               for n, d in m.items() if n != "manifest.json"}
        m["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, d in m.items():
            z.writestr(n, d)
    return out.getvalue()


def snapshot(cache: Path) -> dict[str, object]:
    store = Store(cache)
    try:
        return {k: store.cache.get(k) for k in store.keys()}
    finally:
        store.close()


def test_round_trip_is_exact_marked_imported_and_never_satisfies_a_local_job(source, tmp_path):
    keys = import_bundle(tmp_path / "dst", source["bundle"])
    assert keys == [SPEC.comparison_key()]
    src, dst = Store(source["cache"]), Store(tmp_path / "dst")
    rec = dst.imported_comparison(keys[0])
    assert rec is not None and dst.comparison(keys[0]) is None  # imported, not computed here
    assert rec["imported"]["bundle_sha256"] == hashlib.sha256(source["bundle"]).hexdigest()
    assert {k: v for k, v in rec.items() if k != "imported"} == src.comparison(keys[0])
    plan = make_plan(SPEC, DATA)
    for job in plan.jobs:
        if dst.imported_result(job.key) is not None:
            assert not dst.has(job.key)  # never visible to execution
            assert dst.imported_result_json(job.key) == src.result_json(job.key)  # meta byte for byte
            assert all(dst.imported_blob(job.key, n) == src.blob(job.key, n)
                       for n in dst.imported_result(job.key).meta["blobs"])
    shown = collect(plan, dst.with_imported()).wide  # shown when asked: identical numbers, marked imported
    assert set(shown["source"]) == {"imported"}
    pd.testing.assert_frame_equal(shown.drop(columns="source"), source["result"].wide.drop(columns="source"))
    assert set(collect(plan, dst).wide["status"]) == {"pending"}  # not computed here
    # running the comparison locally computes every job (and, on CPU, reproduces the bundle's numbers)
    again = run_comparison(SPEC, cache_dir=tmp_path / "dst", data_dir=DATA, executor="local")
    assert {o.status for o in again.outcomes.values()} == {"done"}
    assert set(again.wide["source"]) == {"computed"}
    numbers = [c for c in again.wide.columns if c not in ("unlearn_seconds", "speedup_vs_retrain")]
    pd.testing.assert_frame_equal(again.wide[numbers], source["result"].wide[numbers])


def test_default_bundle_has_no_weights_and_no_pickles(source):
    m = members(source["bundle"])
    assert not any(n.endswith(".pt") for n in m)
    kinds = {n.split("/")[1].split("-")[0] for n in m if n.startswith("jobs/")}
    assert kinds == {"problem", "evaluate"}
    manifest = json.loads(m["manifest.json"])
    assert manifest["format"] == bundle.FORMAT and manifest["version"] == bundle.FORMAT_VERSION
    assert set(manifest["members"]) == set(m) - {"manifest.json"}
    for n, d in m.items():
        if n.endswith(".npz"):
            with np.load(io.BytesIO(d), allow_pickle=False) as z:
                assert all(z[k].dtype != object for k in z.files)


def test_a_new_method_after_import_retrains_the_models_it_needs(source, tmp_path):
    import_bundle(tmp_path, source["bundle"])
    spec = replace(SPEC, methods=(*SPEC.methods, MethodSpec("gradient_ascent", (("epochs", 1),))))
    res = run_comparison(spec, cache_dir=tmp_path, data_dir=DATA, executor="local")
    assert set(res.wide["status"]) == {"ok"}
    done = {j.kind for j in res.plan.jobs if j.key in res.outcomes and res.outcomes[j.key].status == "done"}
    assert done == {"problem", "original", "retrain", "unlearn", "evaluate"}  # imported results are never reused
    numbers = [c for c in res.wide.columns if c not in ("unlearn_seconds", "speedup_vs_retrain")]  # recomputed
    pd.testing.assert_frame_equal(res.wide.iloc[:3][numbers], source["result"].wide[numbers])


def test_with_weights_the_models_come_along(source, tmp_path):
    path = tmp_path / "w.zip"
    export_bundle(source["cache"], path, [SPEC.comparison_key()], with_weights=True)
    assert any(n.endswith("state.pt") for n in members(path.read_bytes()))
    import_bundle(tmp_path / "dst", path)
    spec = replace(SPEC, methods=(MethodSpec("gradient_ascent", (("epochs", 1),)),))
    res = run_comparison(spec, cache_dir=tmp_path / "dst", data_dir=DATA, executor="local")
    done = {j.kind for j in res.plan.jobs if res.outcomes[j.key].status == "done"}
    assert done == {"problem", "original", "retrain", "unlearn", "evaluate"}  # imported weights are never reused


def _first(m: dict[str, bytes], suffix: str) -> str:
    return next(n for n in sorted(m) if n.endswith(suffix))


def _flip_byte(m: dict[str, bytes]) -> None:
    n = _first(m, "outputs.npz")
    m[n] = m[n][:100] + bytes([m[n][100] ^ 1]) + m[n][101:]


def _pickled_npz(m: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    np.savez(buf, logits_train=np.array([{"evil": 1}], dtype=object))  # np.savez pickles object arrays
    m[_first(m, "outputs.npz")] = buf.getvalue()


def _meta(m: dict[str, bytes], edit: Callable[[dict], None]) -> None:
    n = next(n for n in sorted(m) if n.startswith("jobs/evaluate-") and n.endswith("meta.json"))
    meta = json.loads(m[n])
    edit(meta)
    m[n] = json.dumps(meta).encode()


def _comparison(m: dict[str, bytes], edit: Callable[[dict], None]) -> None:
    n = next(n for n in m if n.startswith("comparisons/"))
    rec = json.loads(m[n])
    edit(rec)
    m[n] = json.dumps(rec).encode()


def _manifest(m: dict[str, bytes], edit: Callable[[dict], None]) -> None:
    manifest = json.loads(m["manifest.json"])
    edit(manifest)
    m["manifest.json"] = json.dumps(manifest).encode()


BAD: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "corrupted hash": (lambda b: rebuild(b, _flip_byte, fix_manifest=False), "SHA-256"),
    "extra member": (lambda b: rebuild(b, lambda m: m.update(
        {_first(m, "outputs.npz").replace("outputs", "extra"): arrays_to_bytes({"a": np.zeros(1)})}),
        fix_manifest=False), "not in the manifest"),
    "extra member listed in the manifest": (lambda b: rebuild(b, lambda m: m.update(
        {_first(m, "outputs.npz").replace("outputs", "extra"): arrays_to_bytes({"a": np.zeros(1)})})), "blobs"),
    "missing member": (lambda b: rebuild(b, lambda m: m.pop(_first(m, "per_sample.npz")), fix_manifest=False),
                       "missing"),
    "path traversal": (lambda b: rebuild(b, lambda m: m.update({"../evil.json": b"{}"})), "unexpected member"),
    "nested traversal": (lambda b: rebuild(b, lambda m: m.update({"jobs/../../etc/x.npz": b""})), "unexpected member"),
    "absolute path": (lambda b: rebuild(b, lambda m: m.update({"/tmp/x.json": b"{}"})), "unexpected member"),
    "truncated archive": (lambda b: b[: len(b) // 2], "zip"),
    "not a zip": (lambda b: b"hello", "zip"),
    "pickle inside npz": (lambda b: rebuild(b, _pickled_npz), "pickle"),
    "format version": (lambda b: rebuild(b, lambda m: _manifest(m, lambda x: x.update(version=99))), "version 99"),
    "engine version": (lambda b: rebuild(b, lambda m: _manifest(m, lambda x: x.update(engine_version="0"))),
                       "engine version"),
    "no manifest": (lambda b: rebuild(b, lambda m: m.pop("manifest.json"), fix_manifest=False), "manifest"),
    "metric not a number": (lambda b: rebuild(b, lambda m: _meta(m, lambda x: x["metrics"].update(test_acc="1"))),
                            "metrics"),
    "meta kind": (lambda b: rebuild(b, lambda m: _meta(m, lambda x: x.update(kind="problem"))), "kind"),
    "altered spec": (lambda b: rebuild(b, lambda m: _comparison(m, lambda r: r["spec"].update(model="cnn"))),
                     "comparison key"),
    "NaN in JSON": (lambda b: rebuild(b, lambda m: _meta(m, lambda x: x.update(finished_at=float("nan")))),
                    "JSON"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_bundle_is_refused_and_the_store_is_unchanged(source, tmp_path, case):
    make, message = BAD[case]
    bad = make(source["bundle"])
    other = tmp_path / "nonempty"  # a store with content: it must stay exactly as it was
    Store(other).put("problem-" + "0" * 24, {"n": 1}, {"problem.npz": arrays_to_bytes({"a": np.arange(3)})})
    before = snapshot(other)
    with pytest.raises(BundleError) as e:
        import_bundle(other, bad)
    assert e.value.field == "bundle" and message.lower() in e.value.message.lower(), e.value.message
    assert snapshot(other) == before
    with pytest.raises(BundleError):
        import_bundle(tmp_path / "empty", bad)
    assert not (tmp_path / "empty").exists()  # not even created


def test_size_caps(source, monkeypatch):
    monkeypatch.setattr(bundle, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(BundleError, match="larger than 1000 bytes"):
        read_bundle(source["bundle"])


def test_cli_export_import(source, tmp_path, capsys):
    path = tmp_path / "b.zip"
    key = SPEC.comparison_key()
    assert main(["bundle", "export", "--out", str(path), "--comparison", key, "--cache-dir", str(source["cache"])]) == 0
    assert main(["bundle", "import", str(path), "--cache-dir", str(tmp_path / "dst")]) == 0
    assert key in capsys.readouterr().out
    dst = Store(tmp_path / "dst")
    assert dst.comparison(key) is None and dst.imported_comparison(key) is not None  # stored as imported


def test_cli_bad_bundle_and_unknown_key_exit_2(source, tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(BAD["corrupted hash"][0](source["bundle"]))
    assert main(["bundle", "import", str(bad), "--cache-dir", str(tmp_path / "dst")]) == 2
    assert "error: bundle:" in capsys.readouterr().err and not (tmp_path / "dst").exists()
    assert main(["bundle", "export", "--out", str(tmp_path / "x.zip"), "--comparison", "f" * 24,
                 "--cache-dir", str(source["cache"])]) == 2
    assert "not in the store" in capsys.readouterr().err and not (tmp_path / "x.zip").exists()


def test_shadow_attack_travels_in_a_bundle(tmp_path):
    """A comparison with shadow models (PGU's attack): its shadow job (XGBoost JSON + arrays) is exported
    by default and the imported comparison shows the same tables (marked imported) without computing anything."""
    import dataclasses

    spec = dataclasses.replace(SPEC, shadow_models=2,
                               scenario_params=(("forget_class", 3),), train=(("epochs", 1),))
    result = run_comparison(spec, cache_dir=tmp_path / "src", data_dir=DATA, executor="local")
    buf = io.BytesIO()
    export_bundle(tmp_path / "src", buf)
    m = members(buf.getvalue())
    shadow = [n for n in m if n.startswith("jobs/shadow-")]
    assert any(n.endswith("/attacker.json") for n in shadow) and any(n.endswith("/shadow.npz") for n in shadow)
    json.loads(next(m[n] for n in shadow if n.endswith("/attacker.json")))
    import_bundle(tmp_path / "dst", buf.getvalue())
    shown = collect(make_plan(spec, DATA), Store(tmp_path / "dst").with_imported()).wide
    assert set(shown["source"]) == {"imported"}
    pd.testing.assert_frame_equal(shown.drop(columns="source"), result.wide.drop(columns="source"))
    assert shown["mia_shadow_auc"].notna().all()
    # an attacker that is not JSON is refused
    bad = rebuild(buf.getvalue(), lambda mm: mm.update({next(n for n in mm if n.endswith("/attacker.json")): b"\x80"}))
    with pytest.raises(bundle.BundleError):
        import_bundle(tmp_path / "dst2", bad)


# -- what an imported record is checked against (engine/bundle.py, "What is verified") ------------------------------
PLAN_SPECS = {
    "two seeds": replace(SPEC, seeds=(0, 1)),
    "training-time state, shadow models, SISA's extra row": replace(
        SPEC, shadow_models=2, methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("sisa"),
                                        MethodSpec("amnesiac"), MethodSpec("pgu"), MethodSpec("ppu_after"))),
    "an infeasible state (SISA 100 shards x 50 slices > digits' training set)": replace(
        SPEC, seeds=(0, 3), methods=(MethodSpec("retrain"), MethodSpec("sisa", (("shards", 100), ("slices", 50))),
                                     MethodSpec("amnesiac"))),
    "label_free: methods not applicable": ComparisonSpec(
        model="mlp", paradigm="label_free", scenario="random", scenario_params=(("fraction", 0.1),),
        methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("laf"), MethodSpec("finetune"),
                 MethodSpec("sisa"))),
    "noisy labels with options": ComparisonSpec(
        model="mlp", paradigm="noisy_label", rate=0.2, paradigm_params=(("train_loss", "ce"),),
        scenario="noisy_labels", methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("udru"))),
}


def _record_of(plan) -> dict:  # noqa: ANN001
    """What ``record_comparison`` stores for ``plan``, through JSON."""
    return json.loads(json.dumps({
        "spec": plan.spec.to_json(), "created": 1.0, "updated": 2.0,
        "rows": [{"method": r.method, "seed": r.seed, "eval_job": r.eval_job, "status": r.status,
                  "reason": r.reason} for r in plan.rows],
        "jobs": [{"key": j.key, "kind": j.kind, "label": j.label} for j in plan.jobs]}))


def _contents(plan) -> dict:  # noqa: ANN001
    """Problem key -> training content of each seed (what the importer reads from the bundle's problem.npz)."""
    from engine.problem import build_problem

    return {plan.setting.problem_key(s): build_problem(plan.setting, s, DATA).content() for s in plan.spec.seeds}


def _forgeries(record: dict) -> list[dict]:
    """The record with one row changed: a not-applicable row that claims an evaluation, a pending row that hides
    one."""
    out = []
    for i, r in enumerate(record["rows"]):
        forged = json.loads(json.dumps(record))
        if r["status"] == "pending":
            forged["rows"][i].update(status="not_applicable", eval_job=None, reason="<b>not run</b>")
        else:
            forged["rows"][i].update(status="pending", eval_job=record["jobs"][-1]["key"], reason="")
        out.append(forged)
    return out


@pytest.mark.parametrize("case", list(PLAN_SPECS))
def test_the_plan_recomputed_without_data_is_make_plans(case):
    """The bundle check recomputes a record's jobs and rows from its spec without loading data (the models' keys
    from the digests of the bundle's problem arrays); it must agree with the planner entry for entry, or real
    bundles would be refused (or forged ones accepted)."""
    spec = PLAN_SPECS[case]
    plan = make_plan(spec, DATA)
    if "infeasible" in case:
        assert any(r.status == "not_applicable" for r in plan.rows)
        assert not any(j.kind == "train_state" and j.label.startswith("SISA") for j in plan.jobs)
    record = _record_of(plan)
    checked = bundle._check_record("comparisons/x.json", spec.comparison_key(), record, _contents(plan))
    assert list(checked.jobs) == [j.key for j in plan.jobs] and checked.record is record
    assert not any(j["unverified"] for j in checked.jobs.values())
    # without its problems (a comparison that never ran where it was exported) the keys that hold their content
    # cannot be checked: kinds and labels still are, no such job may travel (test_bundle_hostile), rows are checked
    unchecked = bundle._check_record("comparisons/x.json", spec.comparison_key(), record, {})
    assert list(unchecked.jobs) == [j.key for j in plan.jobs]
    assert {j["kind"] for j in unchecked.jobs.values() if j["unverified"]} <= {
        "original", "retrain", "train_state", "unlearn", "evaluate"}
    assert {j["kind"] for j in unchecked.jobs.values() if not j["unverified"]} <= {"problem", "shadow"}
    for contents in (_contents(plan), {}):
        for forged in _forgeries(record):
            with pytest.raises(BundleError, match="not the plan of its spec"):
                bundle._check_record("comparisons/x.json", spec.comparison_key(), forged, contents)
    relabelled = json.loads(json.dumps(record))
    relabelled["jobs"][1]["label"] = "original seed 9"
    with pytest.raises(BundleError, match="not the plan of its spec"):
        bundle._check_record("comparisons/x.json", spec.comparison_key(), relabelled, {})


# -- bundles exported before content identities (models keyed by their problem) -----------------------------------
# sha256 of the job keys, one a line, of each PLAN_SPECS plan, recorded with the engine before content identities
# (commit 2e3be3a): the importer's legacy identities (engine.jobs.identity.ProblemIdentities) must reproduce them.
# Re-pinned when metrics and tuned defaults were added (issues 15-16: the keys hold the metric list and the methods'
# hyper-parameters; a bundle exported with fewer metrics is refused on import anyway), with the legacy identities
# otherwise unchanged.
LEGACY_PLANS = {
    "two seeds": "91c358bf97786570648bb95687cb54a8768b90075582073b97c5faee2fe1ca5b",
    "training-time state, shadow models, SISA's extra row":
        "45bfa1c875ac07e05b0adedb43f8844669f3e61ea6a58ebb5bc1ccb9945998a0",
    "an infeasible state (SISA 100 shards x 50 slices > digits' training set)":
        "686ee47d395741843b320d4731446a4e60a97f3bc9da95e34203013ef06ffe65",
    "label_free: methods not applicable": "8624dd178ae84058dca2020160946744bb8ee276a32b3fd53c673cfd6826810e",
    "noisy labels with options": "c76e95d07dfdda8be9c160ae8f479432240c1ca21f43ddf6984cfe1407e00619",
}


def _legacy_record(plan, record: dict) -> tuple[dict, dict[str, str]]:  # noqa: ANN001
    """The record the engine before content identities stored for ``plan`` (its keys pinned by
    :data:`LEGACY_PLANS`), and today's key -> that engine's."""
    from engine.jobs.identity import ContentIdentities, ProblemIdentities
    from engine.runner.plan import method_configs

    setting, cfgs = plan.setting, method_configs(plan.spec)
    contents = {s: c for s, c in zip(plan.spec.seeds, _contents(plan).values(), strict=True)}
    _, infeasible = bundle._shape_for(record["jobs"], plan.spec, setting, cfgs, ContentIdentities(setting, contents),
                                      set(plan.spec.seeds))
    legacy = bundle._plan_shape(plan.spec, setting, cfgs, infeasible, ProblemIdentities(setting))
    old = {**record, "jobs": legacy.jobs,
           "rows": [{**r, "eval_job": w["eval_job"]} for r, w in zip(record["rows"], legacy.rows, strict=True)]}
    return old, {a["key"]: b["key"] for a, b in zip(record["jobs"], legacy.jobs, strict=True)}


@pytest.mark.parametrize("case", list(PLAN_SPECS))
def test_a_record_exported_before_content_identities_is_checked_and_moved_to_todays_keys(case):
    plan = make_plan(PLAN_SPECS[case], DATA)
    record = _record_of(plan)
    old, _ = _legacy_record(plan, record)
    assert hashlib.sha256("\n".join(j["key"] for j in old["jobs"]).encode()).hexdigest() == LEGACY_PLANS[case]
    checked = bundle._check_record("comparisons/x.json", plan.spec.comparison_key(), old, _contents(plan))
    assert checked.record == record  # rewritten with today's keys: the plan make_plan builds now
    assert [j["store_as"] for j in checked.jobs.values()] == [j.key for j in plan.jobs]
    # without the problems nothing can move: accepted as exported (no job of it may travel)
    kept = bundle._check_record("comparisons/x.json", plan.spec.comparison_key(), old, {})
    assert kept.record is old and all(k == j["store_as"] for k, j in kept.jobs.items())
    for forged in _forgeries(old):
        with pytest.raises(BundleError, match="not the plan of its spec"):
            bundle._check_record("comparisons/x.json", plan.spec.comparison_key(), forged, _contents(plan))


def _as_exported_before(data: bytes, plan) -> bytes:  # noqa: ANN001
    """``data`` (a bundle of ``plan``'s comparison) as the engine before content identities exported it: the same
    metas and blobs under that engine's job keys, its record listing them."""
    m = members(data)
    name = f"comparisons/{plan.key}.json"
    record = json.loads(m[name])
    old, to_old = _legacy_record(plan, record)
    m[name] = json.dumps(old).encode()
    for n in [n for n in m if n.startswith("jobs/")]:
        key = n.split("/")[1]
        m[n.replace(key, to_old[key], 1)] = m.pop(n)
    def change(x: dict[str, bytes]) -> None:
        x.clear()
        x.update(m)

    return rebuild(data, change)


def test_a_bundle_exported_before_content_identities_imports_under_todays_keys(source, tmp_path):
    """Its comparison shows the same tables, marked imported, when reopened from its spec (planned with today's
    keys); running it here computes everything under today's keys and reproduces the numbers."""
    plan = make_plan(SPEC, DATA)
    old = _as_exported_before(source["bundle"], plan)
    assert not set(members(old)) & {n for n in members(source["bundle"]) if n.startswith("jobs/original")}
    keys = import_bundle(tmp_path / "dst", old)
    src, dst = Store(source["cache"]), Store(tmp_path / "dst")
    rec = dst.imported_comparison(keys[0])
    assert {k: v for k, v in rec.items() if k != "imported"} == src.comparison(keys[0])
    for job in plan.jobs:
        if dst.imported_result(job.key) is not None:
            assert dst.imported_result_json(job.key) == src.result_json(job.key)
    shown = collect(plan, dst.with_imported()).wide
    assert set(shown["source"]) == {"imported"}
    pd.testing.assert_frame_equal(shown.drop(columns="source"), source["result"].wide.drop(columns="source"))


def test_a_comparison_that_never_ran_travels_and_imports(tmp_path):
    """A recorded comparison none of whose jobs finished (cancelled at once): its bundle carries no problem, so its
    models' keys cannot be checked against their content; it imports, pending."""
    from engine.runner import record_comparison

    plan = make_plan(replace(SPEC, seeds=(5,)), DATA)
    store = Store(tmp_path / "src")
    record_comparison(plan, store)
    store.close()
    buf = io.BytesIO()
    export_bundle(tmp_path / "src", buf)
    assert not any(n.startswith("jobs/") for n in members(buf.getvalue()))
    assert import_bundle(tmp_path / "dst", buf.getvalue()) == [plan.key]
    assert set(collect(plan, Store(tmp_path / "dst").with_imported()).wide["status"]) == {"pending"}


def test_every_metric_declares_the_range_an_import_is_checked_against():
    from engine.metrics import METRICS

    for key, info in METRICS.items():
        assert info.range is not None, key
        lo, hi = info.range
        assert lo < hi, key
