"""The dashboard's engine door: selection -> spec, URL round trip, background jobs."""

from __future__ import annotations

import threading

import pytest

from dashboard import data, forms, state, url


def test_build_spec_keeps_only_departures_from_defaults():
    sel = data.Selection(methods=["original", "retrain", "finetune"],
                         hparams={"finetune": {"epochs": data.method_schema("finetune")[0].default, "lr": 0.5}},
                         scenario_params={"forget_class": 3}, epochs=data.default_epochs("digits", "cnn"))
    spec = data.build_spec(sel)
    assert spec.train == ()
    assert dict(spec.methods[2].hparams) == {"lr": 0.5}
    assert spec.seeds == (0,)
    assert data.build_spec(data.Selection(epochs=2, seeds=3)).train == (("epochs", 2),)


def test_unknown_method_is_a_spec_error():
    with pytest.raises(data.SpecError) as e:
        data.build_spec(data.Selection(methods=["nope"]))
    assert e.value.field == "methods"


def test_url_round_trip_through_state_keys():
    sel = data.Selection(paradigm="partial_label", rate=0.3, scenario="incremental",
                         scenario_params={"count": 10, "steps": 2, "forget_class": None}, model="mlp",
                         methods=["retrain", "udru"], hparams={"udru": {"steps": 7}}, seeds=3, epochs=5)
    values, errors = url.to_state(url.to_params(sel))
    assert errors == []
    assert values[state.PARADIGM] == "partial_label" and values[state.RATE] == 0.3
    assert values[state.scenario_param("incremental", "count")] == 10
    assert values[state.scenario_param("incremental", "forget_class")] == ""
    assert values[state.hparam("udru", "steps")] == 7
    assert values[state.METHODS] == ["retrain", "udru"]
    assert values[state.SEEDS] == 3 and values[state.epochs("digits", "mlp")] == 5


def test_form_coercion():
    p = next(p for p in data.scenario_schema("incremental") if p.name == "forget_class")
    assert forms.coerce(p, "") is None and forms.coerce(p, " 4 ") == 4 and forms.coerce(p, "x") == "x"
    with pytest.raises(ValueError):
        forms.from_text(next(p for p in data.method_schema("finetune") if p.name == "lr"), "-1")


def test_job_manager_cancel_and_progress(tmp_path):
    mgr = data.JobManager(tmp_path / "cache")
    spec = data.build_spec(data.Selection(methods=["original", "retrain"], epochs=50))
    key = mgr.start(spec, data.plan(spec))
    assert mgr.start(spec) == key  # a second start joins the running one
    for _ in range(200):  # wait until training has started, then cancel it
        if (mgr.progress(key)["state"] == "running").any():
            break
        threading.Event().wait(0.05)
    mgr.cancel(key)
    assert mgr.wait(key, timeout=60) == "cancelled"
    table = mgr.progress(key)
    assert list(table.columns)[:3] == ["job", "kind", "state"]
    res = mgr.result(key)
    assert res is not None and not res.any_ok
    assert mgr.status("unknown") == "idle"


def test_stored_results_show_failed_jobs_with_their_error(tmp_path):
    from engine.store import Store  # test set-up only: fake a failure recorded by an earlier run

    spec = data.build_spec(data.Selection(methods=["original", "retrain"]))
    p = data.plan(spec)
    res = data.stored_results(p, tmp_path)
    assert set(res.wide["status"]) == {"pending"} and not res.complete
    store = Store(tmp_path)
    problem = p.jobs[0]
    store.set_progress(problem.key, {"job": problem.key, "state": "failed", "message": "RuntimeError: boom"})
    store.close()
    res = data.stored_results(p, tmp_path)
    assert set(res.wide["status"]) == {"failed"} and res.complete
    assert "RuntimeError: boom" in res.issues()["note"].iloc[0]
