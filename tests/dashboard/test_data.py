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


def test_unknown_method_keys_fall_back_gracefully():
    assert data.method_title("finetune") == data.methods()["finetune"]
    assert data.method_title("sisa_original") == "Original (SISA ensemble)"
    assert data.method_family("sisa_original") == "reference"
    assert data.method_title("made_up") == "made_up" and data.method_family("made_up") == ""
    assert data.method_schema("made_up") == []


@pytest.mark.parametrize("key", list(data.presets()))
def test_preset_selection_is_the_presets_setting(key):
    from engine.methods import METHODS  # test set-up only: the engine's own spec of the preset
    from engine.presets import PRESETS
    from engine.specs import setting_id

    sel = data.preset_selection(key)
    spec = data.build_spec(sel)
    assert setting_id(spec) == setting_id(PRESETS.get(key).spec(METHODS.keys()))
    assert key in data.matching_presets(spec)
    assert [m.name for m in spec.methods] == data.preset_info(key)["methods"]
    values, errors = url.to_state(url.to_params(sel))  # a preset's selection survives the URL
    assert errors == []


def test_matching_ignores_methods_seeds_and_device_only():
    sel = data.preset_selection("udru_sl")
    sel.methods, sel.seeds, sel.device = ["retrain", "finetune"], 1, "cpu"
    assert data.matching_presets(data.build_spec(sel)) == ["udru_sl"]
    sel.epochs = 3
    assert data.matching_presets(data.build_spec(sel)) == []
    assert data.matching_presets(data.build_spec(data.Selection(scenario_params={"forget_class": 7}))) == []


def test_short_labels_name_what_differs():
    a = data.build_spec(data.Selection(methods=["retrain"]))
    b = data.build_spec(data.Selection(methods=["retrain"], paradigm="noisy_label", rate=0.2))
    c = data.build_spec(data.Selection(methods=["retrain", "finetune"]))
    labels = data.short_labels({"a": a, "b": b})
    assert labels == {"a": "paradigm=supervised", "b": "paradigm=noisy_label 0.2"}
    same = data.short_labels({"a" * 8: a, "c" * 8: c})  # only the methods differ: the keys tell them apart
    assert len(set(same.values())) == 2 and all(k[:6] in v for k, v in same.items())


def test_shadow_models_in_url_spec_and_roc(tmp_path):
    """PGU's shadow attack from the dashboard: URL round trip, spec field, and the ROC data of a real run."""
    from dashboard import charts

    sel = data.Selection(model="mlp", methods=["original", "retrain", "finetune"], epochs=1,
                         scenario_params={"forget_class": 1}, shadow_models=2)
    q = url.to_params(sel)
    assert q["shadow"] == "2"
    values, errors = url.to_state(q)
    assert not errors and values[state.SHADOW] == 2
    spec = data.build_spec(sel)
    assert spec.shadow_models == 2
    assert data.build_spec(data.Selection()).shadow_models == 0
    with pytest.raises(data.SpecError) as err:
        data.build_spec(data.Selection(shadow_models=1))
    assert err.value.field == "shadow_models"
    mgr = data.JobManager(tmp_path / "cache")
    key = mgr.start(spec)
    assert mgr.wait(key, 300) == "done", mgr.error(key)
    res = mgr.result(key)
    assert res.summary.set_index("method").loc["retrain", "mia_shadow_auc"] == 0.5
    roc = res.shadow_roc()
    assert set(roc["method"]) == {"original", "retrain", "finetune", "attacker on shadow models"}
    assert roc["fpr"].between(0, 1).all() and roc["tpr"].between(0, 1).all()
    fig = charts.shadow_roc(roc)
    assert len(fig.data) == 4
    assert "ideal = retrain" in str(charts.mia_panel(res.summary).layout.annotations)


def test_paradigm_options_reach_the_spec_and_the_url():
    """The noise type / train loss selects under the paradigm: departures from defaults go into the spec (same
    cache key as the CLI's) and survive the shareable URL."""
    names = {p.name for p in data.paradigm_schema("noisy_label")}
    assert {"noise", "pairs", "classes", "targets", "official", "train_loss"} <= names
    assert data.paradigm_schema("supervised") == []
    sel = data.Selection(paradigm="noisy_label", rate=0.3,
                         paradigm_params={"noise": "pair", "pairs": "", "train_loss": "ce", "official": False})
    spec = data.build_spec(sel)
    assert dict(spec.paradigm_params) == {"noise": "pair", "train_loss": "ce"}
    q = url.to_params(sel)
    assert q["p.noise"] == "pair" and q["p.train_loss"] == "ce" and "p.pairs" not in q
    values, errors = url.to_state(q)
    assert errors == []
    assert values[state.paradigm_param("noisy_label", "noise")] == "pair"
    _, errors = url.to_state({**q, "p.noise": "flip"})
    assert errors and errors[0].startswith("p.noise")
